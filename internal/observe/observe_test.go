package observe_test

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/observe"
)

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func serve(t *testing.T, a *observe.Admin) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- a.Run(t.Context()) }()
	t.Cleanup(func() { <-done })
	return "http://" + a.Addr()
}

// TestAdminHidesCmdline: pprof profiles are served, the command line is not
// (issue 13 item 14: it showed --secret-key and the SMTP password).
func TestAdminHidesCmdline(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := observe.ListenAdmin("127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, a)
	if code, _ := get(t, base+"/debug/pprof/"); code != 200 {
		t.Errorf("/debug/pprof/ = %d, want 200", code)
	}
	if code, _ := get(t, base+"/metrics"); code != 200 {
		t.Errorf("/metrics = %d, want 200", code)
	}
	code, body := get(t, base+"/debug/pprof/cmdline")
	if code != 404 || strings.Contains(body, os.Args[0]) {
		t.Errorf("/debug/pprof/cmdline = %d %q, want 404 without the arguments", code, body)
	}
}

// TestMetricsListenerServesOnlyMetrics: the listener meant to be reachable
// by Prometheus has no pprof at all.
func TestMetricsListenerServesOnlyMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := observe.ListenMetrics("127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, a)
	if code, _ := get(t, base+"/metrics"); code != 200 {
		t.Errorf("/metrics = %d, want 200", code)
	}
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline"} {
		if code, _ := get(t, base+p); code != 404 {
			t.Errorf("%s = %d, want 404", p, code)
		}
	}
}

// contend makes goroutines block on a channel and wait for a mutex, so that
// the block and mutex profiles have something of this test's to show: each
// round's holder yields while it holds mu, so the other goroutine finds it
// locked and parks; the unbuffered channel makes one side wait for the other.
func contend(rounds int) {
	var mu sync.Mutex
	ch := make(chan int)
	done := make(chan struct{})
	go func() {
		for i := range rounds {
			mu.Lock()
			runtime.Gosched()
			mu.Unlock()
			ch <- i
		}
		close(done)
	}()
	for range rounds {
		mu.Lock()
		runtime.Gosched()
		mu.Unlock()
		<-ch
	}
	<-done
}

// TestContentionProfiles: off by default the admin listener's block and
// mutex profiles stay empty of what the process waited on; switched on they
// show it, and the returned function switches them off again.
func TestContentionProfiles(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := observe.ListenAdmin("127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, a)
	if f := runtime.SetMutexProfileFraction(-1); f != 0 {
		t.Fatalf("mutex profile fraction %d before the switch, want 0 (off)", f)
	}
	restore := observe.ContentionProfiles(1, 1)
	if f := runtime.SetMutexProfileFraction(-1); f != 1 {
		t.Errorf("mutex profile fraction %d with the switch, want 1", f)
	}
	contend(200)
	for _, p := range []string{"block", "mutex"} {
		code, body := get(t, base+"/debug/pprof/"+p+"?debug=1")
		if code != 200 || !strings.Contains(body, "observe_test.contend") {
			t.Errorf("/debug/pprof/%s = %d without observe_test.contend:\n%.2000s", p, code, body)
		}
	}
	restore()
	if f := runtime.SetMutexProfileFraction(-1); f != 0 {
		t.Errorf("mutex profile fraction %d after restore, want 0", f)
	}
}
