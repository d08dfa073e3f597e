// Package observe sets up findash's logging and metrics and serves the admin
// listener (/metrics, /debug/pprof), which never shares the public port.
//
// It imports nothing of findash, only the Prometheus client and
// OpenTelemetry, and must not import a component it observes: components
// take the registerer and logger it builds from cmd/findash.
package observe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewLogger returns a slog logger writing one event per line to w, as JSON
// when format is "json" and as text otherwise, at level ("debug", "info",
// "warn", "error"). Durations read the same in both: "60ms", not JSON's
// default of nanoseconds.
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		opts.ReplaceAttr = durationString
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationString writes a duration as Go writes it ("1.5s") rather than as
// an integer of nanoseconds, which nobody reads correctly at a glance.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// NewRegistry returns a metrics registry with the Go runtime and process
// collectors; components register their own findash_* metrics on it. The
// Go collector adds the histogram of GC stop-the-world pauses
// (go_sched_pauses_total_gc_seconds): go_gc_duration_seconds's quantiles
// cover the process's whole life, and `findash bench ws` needs the 99th
// percentile of a window (bucket differences).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/sched/pauses/total/gc:seconds$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Admin is the admin HTTP server: /metrics and /debug/pprof/.
type Admin struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

// ListenAdmin binds addr and returns the admin server, not yet serving.
func ListenAdmin(addr string, reg *prometheus.Registry, log *slog.Logger) (*Admin, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen admin %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	// No /debug/pprof/cmdline: a process's arguments are nobody's business
	// on a network port (the Index's link to it answers 404).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return newAdmin(ln, mux, log), nil
}

// ListenMetrics binds addr for a listener that serves only /metrics: what
// Prometheus scrapes from outside the pod or host, while the admin listener
// (pprof) stays on loopback.
func ListenMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (*Admin, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return newAdmin(ln, mux, log), nil
}

func newAdmin(ln net.Listener, mux *http.ServeMux, log *slog.Logger) *Admin {
	return &Admin{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		ln:  ln,
		log: log,
	}
}

// Close releases the listener of a server that will not Run (wiring failed
// after it was bound).
func (a *Admin) Close() error { return a.ln.Close() }

// Addr is the bound address (useful with port 0).
func (a *Admin) Addr() string { return a.ln.Addr().String() }

// Run serves until ctx ends, then shuts down within a few seconds.
func (a *Admin) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(a.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("admin server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := a.srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// ContentionProfiles turns on the runtime's block and mutex profiles that
// the admin listener's /debug/pprof/block and /debug/pprof/mutex read:
// blocking events of at least blockRate ns (1: every one) and 1 in
// mutexFraction contended unlocks; 0 leaves a profile off. Both are off by
// default because they cost on every blocking event or contended unlock,
// and they are process-wide, so the returned function sets them back to
// what they were (for tests that serve more than once in a process).
func ContentionProfiles(blockRate, mutexFraction int) (restore func()) {
	if blockRate > 0 {
		runtime.SetBlockProfileRate(blockRate)
	}
	prevMutex := -1
	if mutexFraction > 0 {
		prevMutex = runtime.SetMutexProfileFraction(mutexFraction)
	}
	return func() {
		if blockRate > 0 {
			// The runtime has no getter for the block rate; off is the default.
			runtime.SetBlockProfileRate(0)
		}
		if prevMutex >= 0 {
			runtime.SetMutexProfileFraction(prevMutex)
		}
	}
}
