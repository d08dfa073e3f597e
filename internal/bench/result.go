package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
)

// Result is the summary of one bench run, printed as a table or, with
// --json, as one JSON object. The latency fields are those of the run's
// main measurement: for ws the ingest-to-client latency of every delivered
// tick, for api every request, for ingest every POST.
type Result struct {
	Kind           string  `json:"kind"` // ws, api or ingest
	Target         string  `json:"target"`
	DurationS      float64 `json:"duration_s"`
	ThroughputPerS float64 `json:"throughput_per_s"` // ws: deliveries/s; api: requests/s; ingest: accepted ticks/s
	Samples        int64   `json:"samples"`
	P50MS          float64 `json:"p50_ms"`
	P90MS          float64 `json:"p90_ms"`
	P99MS          float64 `json:"p99_ms"`
	P999MS         float64 `json:"p999_ms"`
	MaxMS          float64 `json:"max_ms"`
	MeanMS         float64 `json:"mean_ms"`
	Errors         int64   `json:"errors"`
	Drops          int64   `json:"drops"`

	*WSResult
	*APIResult
	*IngestResult

	Machine Machine  `json:"machine"`
	Notes   []string `json:"notes,omitempty"`
}

// setLatency copies q into the latency fields.
func (r *Result) setLatency(q Quantiles) {
	r.Samples, r.P50MS, r.P90MS, r.P99MS, r.P999MS, r.MaxMS, r.MeanMS = q.Count, q.P50, q.P90, q.P99, q.P999, q.Max, q.Mean
}

// WSResult holds what only `bench ws` measures.
type WSResult struct {
	Connections           int     `json:"connections"`
	ConnectFailures       int64   `json:"connect_failures"`
	ConnectPerS           float64 `json:"connect_per_s"`
	ConnectP99MS          float64 `json:"connect_p99_ms"`
	Procs                 int     `json:"procs"`
	Symbols               int     `json:"symbols"`
	TicksSent             int64   `json:"ticks_sent"`
	TicksPerS             float64 `json:"ticks_per_s"`
	Deliveries            int64   `json:"deliveries"`
	ExpectedDeliveries    int64   `json:"expected_deliveries"`
	DeliveriesPerS        float64 `json:"deliveries_per_s"`
	Gaps                  int64   `json:"gaps"`         // gap messages received
	OutOfOrder            int64   `json:"out_of_order"` // ticks whose seq did not increase on their channel
	ServerRSSBeforeBytes  float64 `json:"server_rss_before_bytes"`
	ServerRSSAfterBytes   float64 `json:"server_rss_after_bytes"`
	ServerRSSPerConnBytes float64 `json:"server_rss_per_conn_bytes"`
	// Proto is the client protocol spoken (findash or centrifugo).
	Proto        string `json:"proto,omitempty"`
	SubsPerConn  int    `json:"subs_per_conn,omitempty"`
	TicksPerPost int    `json:"ticks_per_post,omitempty"`
	// ServerCPUPerConnUS is the servers' CPU time spent while the clients
	// connected, per connection (accept, handshake, subscribe, ack); user
	// and system apart when the servers' pids were given.
	ServerCPUPerConnUS  float64 `json:"server_cpu_per_conn_us,omitempty"`
	ServerUserUSPerConn float64 `json:"server_user_us_per_conn,omitempty"`
	ServerSysUSPerConn  float64 `json:"server_sys_us_per_conn,omitempty"`
	// ClientCPUPerConnUS is the load client's own CPU time (this process,
	// user + system) spent while the clients connected, per connection:
	// on one machine the client and the servers share the cores, so the
	// connect rate is bound by the sum of both. Only with the clients in
	// this process (Procs 0).
	ClientCPUPerConnUS float64 `json:"client_cpu_per_conn_us,omitempty"`
	// WindowS is the measurement window: from a warm-up (1 s, or a fifth
	// of a shorter run) after the ticks started to the moment the driver
	// stopped; the CPU, GC and goroutine figures and
	// WindowDeliveriesPerS are all of that window.
	WindowS              float64 `json:"window_s,omitempty"`
	WindowDeliveriesPerS float64 `json:"window_deliveries_per_s,omitempty"`
	// ServerCPUPerDeliveryUS is the servers' CPU time in the window
	// (ingest, log, persistence, fan-out, writes) per tick delivered in
	// it; user and system apart when the servers' pids were given.
	ServerCPUPerDeliveryUS  float64 `json:"server_cpu_per_delivery_us,omitempty"`
	ServerUserUSPerDelivery float64 `json:"server_user_us_per_delivery,omitempty"`
	ServerSysUSPerDelivery  float64 `json:"server_sys_us_per_delivery,omitempty"`
	// ServerCPUUtil is the servers' CPU seconds per second of the window.
	ServerCPUUtil float64 `json:"server_cpu_util,omitempty"`
	// ClientCPUPerDeliveryUS is the load client's own CPU time in the
	// window (user + system of this process, which drives the ticks, and
	// of the child processes with Procs > 0) per tick delivered in it; on
	// one machine the client shares the cores with the servers, so it
	// bounds what a run can show. ClientCPUUtil is its CPU seconds per
	// second of the window.
	ClientCPUPerDeliveryUS float64 `json:"client_cpu_per_delivery_us,omitempty"`
	ClientCPUUtil          float64 `json:"client_cpu_util,omitempty"`
	// GC in the window: cycles, mean pause (go_gc_duration_seconds) and
	// the 99th percentile's bucket bound from the servers'
	// go_sched_pauses_total_gc_seconds histogram (0 when not exported).
	GCCycles      float64 `json:"gc_cycles,omitempty"`
	GCPauseMeanMS float64 `json:"gc_pause_mean_ms,omitempty"`
	GCPauseP99MS  float64 `json:"gc_pause_p99_ms,omitempty"`
	// Goroutines of the servers (go_goroutines) sampled every second in
	// the window (after connecting, for a connect-only run).
	GoroutinesMax  float64 `json:"goroutines_max,omitempty"`
	GoroutinesMean float64 `json:"goroutines_mean,omitempty"`
	// Instances is how many instances the clients were spread over.
	Instances           int     `json:"instances"`
	LoopbackConnectPerS float64 `json:"loopback_connect_per_s,omitempty"` // baseline: bare TCP dials/s, same run
}

// APIResult holds what only `bench api` measures.
type APIResult struct {
	Users int `json:"users"`
	// OfferedPerS is the open-loop rate asked for (--rate); 0: closed loop.
	OfferedPerS float64      `json:"offered_per_s,omitempty"`
	Routes      []RouteStats `json:"routes"`
	// Baseline, with --baseline: /api/v1/quotes alone against the target,
	// then against a bare net/http handler serving the same bytes.
	QuotesPerS       float64 `json:"quotes_per_s,omitempty"`
	QuotesP99MS      float64 `json:"quotes_p99_ms,omitempty"`
	BarePerS         float64 `json:"bare_per_s,omitempty"`
	BareP99MS        float64 `json:"bare_p99_ms,omitempty"`
	QuotesToBareRate float64 `json:"quotes_to_bare_ratio,omitempty"`
	// BareAtRateP99MS, with --rate and --baseline: the bare handler's p99
	// with the same users at the same offered rate (the machine's floor).
	BareAtRateP99MS float64 `json:"bare_at_rate_p99_ms,omitempty"`
	// MixToBareRatio, with --baseline and a closed-loop mix: the mix's
	// throughput over the bare handler's.
	MixToBareRatio float64 `json:"mix_to_bare_ratio,omitempty"`
	// HalfRatePerS, with --baseline and a closed-loop mix: half the mix's
	// throughput, at which the mix (MixHalfP99MS) and the bare handler
	// (BareHalfP99MS) then ran open loop; HalfP99Ratio is their ratio.
	HalfRatePerS  float64 `json:"half_rate_per_s,omitempty"`
	MixHalfP99MS  float64 `json:"mix_half_p99_ms,omitempty"`
	BareHalfP99MS float64 `json:"bare_half_p99_ms,omitempty"`
	HalfP99Ratio  float64 `json:"half_p99_ratio,omitempty"`
	// Procs is the number of generator processes (--procs; 0: this one).
	Processes int `json:"processes,omitempty"`
	// Phases are the run's phases with the CPU each side spent per
	// request (APIPhase); Pinned says what --pin pinned.
	Phases []APIPhase `json:"phases,omitempty"`
	Pinned string     `json:"pinned,omitempty"`
	// MixToBareByCPU, with --server-pid and --baseline: the bare child's
	// CPU per request over the server's in the closed-loop mix, the
	// throughput ratio the two servers' own costs give when neither
	// shares its CPUs (1: the mix costs findash what the bare handler
	// costs the bare server).
	MixToBareByCPU float64 `json:"mix_to_bare_by_cpu,omitempty"`
}

// RouteStats is the throughput and latency of one route of the mix.
type RouteStats struct {
	Route          string  `json:"route"`
	Requests       int64   `json:"requests"`
	Errors         int64   `json:"errors"`
	ThroughputPerS float64 `json:"throughput_per_s"`
	P50MS          float64 `json:"p50_ms"`
	P90MS          float64 `json:"p90_ms"`
	P99MS          float64 `json:"p99_ms"`
	MaxMS          float64 `json:"max_ms"`
}

// IngestResult holds what only `bench ingest` measures.
type IngestResult struct {
	BatchSize       int     `json:"batch_size"`
	Workers         int     `json:"workers"`
	Batches         int64   `json:"batches"`
	TicksAccepted   int64   `json:"ticks_accepted"`
	VisibilityP50MS float64 `json:"visibility_p50_ms"`
	VisibilityP99MS float64 `json:"visibility_p99_ms"`
	VisibilityMaxMS float64 `json:"visibility_max_ms"`
	VisibilityCount int64   `json:"visibility_samples"`
	Lost            int64   `json:"lost"` // probe ticks accepted but never seen in quotes
}

// Machine describes where the run took place, so that numbers are read
// beside it.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	GoVersion string `json:"go_version"`
	LoadAvg   string `json:"load_avg,omitempty"` // /proc/loadavg at the end of the run
}

// ThisMachine reads the machine's description (Linux /proc where present).
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// WriteJSON writes r as one JSON object and a newline.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// WriteTable writes r as a human-readable summary table.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...)
	}
	row("bench", "%s → %s", r.Kind, r.Target)
	row("duration", "%.1f s", r.DurationS)
	row("throughput", "%s/s", human(r.ThroughputPerS))
	row("latency", "p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%s samples)",
		ms(r.P50MS), ms(r.P90MS), ms(r.P99MS), ms(r.P999MS), ms(r.MaxMS), human(float64(r.Samples)))
	row("errors", "%d", r.Errors)
	row("drops", "%d", r.Drops)
	if ws := r.WSResult; ws != nil {
		row("connections", "%d (%d failed) to %d instance(s) at %s/s, p99 connect %s, %d process(es)", ws.Connections, ws.ConnectFailures, max(ws.Instances, 1), human(ws.ConnectPerS), ms(ws.ConnectP99MS), max(ws.Procs, 1))
		if ws.LoopbackConnectPerS > 0 {
			row("  baseline", "bare loopback TCP connect %s/s", human(ws.LoopbackConnectPerS))
		}
		row("ticks sent", "%d (%s/s) over %d symbols", ws.TicksSent, human(ws.TicksPerS), ws.Symbols)
		row("deliveries", "%d of %d expected, %s/s", ws.Deliveries, ws.ExpectedDeliveries, human(ws.DeliveriesPerS))
		row("gaps", "%d gap messages, %d ticks out of order", ws.Gaps, ws.OutOfOrder)
		row("server RSS", "%s before, %s after, %s per connection", bytesH(ws.ServerRSSBeforeBytes), bytesH(ws.ServerRSSAfterBytes), bytesH(ws.ServerRSSPerConnBytes))
		if ws.ServerCPUPerConnUS > 0 {
			row("server CPU/conn", "%.0f µs (user %.0f, system %.0f)", ws.ServerCPUPerConnUS, ws.ServerUserUSPerConn, ws.ServerSysUSPerConn)
		}
		if ws.ClientCPUPerConnUS > 0 {
			row("client CPU/conn", "%.0f µs (the load client itself)", ws.ClientCPUPerConnUS)
		}
		if ws.WindowS > 0 {
			row("window", "%.1f s at %s deliveries/s, server CPU %.0f%%", ws.WindowS, human(ws.WindowDeliveriesPerS), 100*ws.ServerCPUUtil)
			row("server CPU/delivery", "%.2f µs (user %.2f, system %.2f)", ws.ServerCPUPerDeliveryUS, ws.ServerUserUSPerDelivery, ws.ServerSysUSPerDelivery)
			row("server GC", "%.0f cycles, pause mean %s, p99 ≤ %s", ws.GCCycles, ms(ws.GCPauseMeanMS), ms(ws.GCPauseP99MS))
		}
		if ws.ClientCPUPerDeliveryUS > 0 {
			row("client CPU/delivery", "%.2f µs (the load client itself, %.0f%% of a core)", ws.ClientCPUPerDeliveryUS, 100*ws.ClientCPUUtil)
		}
		if ws.GoroutinesMax > 0 {
			row("server goroutines", "max %.0f, mean %.0f", ws.GoroutinesMax, ws.GoroutinesMean)
		}
	}
	if a := r.APIResult; a != nil {
		if a.OfferedPerS > 0 {
			row("users", "%d, open loop at %s req/s offered (latency from the scheduled send)", a.Users, human(a.OfferedPerS))
		} else {
			row("users", "%d, closed loop", a.Users)
		}
		fmt.Fprintln(tw, "route\trequests\terrors\treq/s\tp50\tp90\tp99\tmax")
		for _, rs := range a.Routes {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", rs.Route, rs.Requests, rs.Errors, human(rs.ThroughputPerS), ms(rs.P50MS), ms(rs.P90MS), ms(rs.P99MS), ms(rs.MaxMS))
		}
		if a.Processes > 0 {
			row("processes", "%d generator processes, percentiles of their merged histograms", a.Processes)
		}
		if a.BarePerS > 0 {
			row("baseline", "/api/v1/quotes alone %s/s (p99 %s), bare net/http same bytes %s/s (p99 %s): ratio %.2f",
				human(a.QuotesPerS), ms(a.QuotesP99MS), human(a.BarePerS), ms(a.BareP99MS), a.QuotesToBareRate)
		}
		if a.MixToBareRatio > 0 {
			row("  mix/bare", "%.2f (the mix's %s/s over the bare handler's %s/s)", a.MixToBareRatio, human(r.ThroughputPerS), human(a.BarePerS))
		}
		if a.HalfRatePerS > 0 {
			row("  at half", "%s req/s: mix p99 %s, bare net/http p99 %s: ratio %.2f", human(a.HalfRatePerS), ms(a.MixHalfP99MS), ms(a.BareHalfP99MS), a.HalfP99Ratio)
		}
		if a.BareAtRateP99MS > 0 {
			row("  at rate", "bare net/http at the same %s req/s offered: p99 %s", human(a.OfferedPerS), ms(a.BareAtRateP99MS))
		}
		a.writePhases(tw)
	}
	if in := r.IngestResult; in != nil {
		row("batches", "%d of %d ticks, %d workers, %d ticks accepted", in.Batches, in.BatchSize, in.Workers, in.TicksAccepted)
		row("visibility", "p50 %s  p99 %s  max %s  (%d probes, %d lost)", ms(in.VisibilityP50MS), ms(in.VisibilityP99MS), ms(in.VisibilityMaxMS), in.VisibilityCount, in.Lost)
	}
	row("machine", "%d CPUs, %s, %s, load %s", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.GoVersion, r.Machine.LoadAvg)
	for _, n := range r.Notes {
		row("note", "%s", n)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// human formats a count with a k/M suffix.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// ms formats milliseconds with a precision that suits the magnitude.
func ms(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	default:
		return fmt.Sprintf("%.2fms", v)
	}
}

func bytesH(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", v)
	}
}
