package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// APIConfig configures RunAPI.
type APIConfig struct {
	// Target is the instance's public base URL (a comma list with Procs).
	Target string
	// Users is the number of concurrent keep-alive users, each on its own
	// connection. Without Rate each sends a request as soon as the previous
	// one is answered (closed loop: the server's throughput is measured and
	// latency is users ÷ throughput once it saturates).
	Users int
	// Rate > 0 is the total requests per second the users send between
	// them, each on a fixed schedule (open loop: what a service sees from
	// many users who do not wait for each other). Latency is measured from
	// the scheduled send time, so a request held up behind a slow one
	// counts the wait (no coordinated omission).
	Rate float64
	// Duration of the mix (and of each baseline phase).
	Duration time.Duration
	// Baseline also runs /api/v1/quotes alone against the target and then
	// against a bare net/http handler that answers the same bytes (in a
	// process of its own when BareCommand is set), and reports the ratios
	// of the mix's and the quotes' throughputs to the bare handler's; after
	// a closed-loop mix, it then runs the mix and the bare handler at half
	// the mix's throughput and compares their p99.
	Baseline bool
	// BareCommand starts the bare handler's process (`findash bench
	// api-bare`, RunAPIBare); nil runs it in this process.
	BareCommand func(ctx context.Context) Child
	// Procs > 0 sends the mix from that many child processes
	// (ChildCommand, RunAPIChild), each with its share of the users and of
	// the rate: one process holds at most the file limit's connections.
	// Target may then be a comma list: process i sends to target i mod n.
	Procs        int
	ChildCommand func(ctx context.Context) Child
	// APIKey, when set, seeds Symbols symbols with two hours of ticks first
	// so that quotes and candles have data.
	APIKey  string
	Symbols int
	// ServerPID is the target's process id on this machine: each phase
	// then reports the server's CPU per request from /proc/<pid>/stat
	// over the window its requests were counted in (as the bare child's
	// is read for the bare phases).
	ServerPID int
	// PinGenerator and PinServer, when set (ParsePin), pin this process
	// to the first CPUs and ServerPID and the bare child to the second
	// for the run, so that the generator and the servers do not take each
	// other's CPU; ServerPID's own affinity is restored at the end.
	PinGenerator, PinServer []int
	// Progress shows live status; nil shows none.
	Progress *Progress
}

// route is one kind of request of the mix.
type route struct {
	name   string
	weight int
	path   func(r *rand.Rand, symbols []string, now time.Time) string
}

var candleIntervals = []struct {
	name  string
	width time.Duration
}{{"1s", time.Second}, {"1m", time.Minute}, {"5m", 5 * time.Minute}, {"15m", 15 * time.Minute}, {"1h", time.Hour}, {"1d", 24 * time.Hour}}

// apiMix is what a dashboard user does: mostly quotes and candles of
// several intervals and ranges, sometimes the symbol list and the movers.
var apiMix = []route{
	{"quotes", 30, func(*rand.Rand, []string, time.Time) string { return "/api/v1/quotes" }},
	{"quotes?symbols", 15, func(r *rand.Rand, syms []string, _ time.Time) string {
		n := 1 + r.IntN(min(5, len(syms)))
		pick := make([]string, n)
		for i := range pick {
			pick[i] = syms[r.IntN(len(syms))]
		}
		return "/api/v1/quotes?symbols=" + strings.Join(pick, ",")
	}},
	{"candles", 30, func(r *rand.Rand, syms []string, now time.Time) string {
		iv := candleIntervals[r.IntN(len(candleIntervals))]
		p := "/api/v1/candles/" + syms[r.IntN(len(syms))] + "?interval=" + iv.name
		switch r.IntN(3) {
		case 0: // the latest buckets (the live chart)
			return p + "&limit=" + strconv.Itoa([]int{50, 100, 500}[r.IntN(3)])
		case 1: // the last hour
			return p + "&from=" + strconv.FormatInt(now.Add(-time.Hour).UnixMilli(), 10) + "&to=" + strconv.FormatInt(now.UnixMilli(), 10)
		default: // the last day, at most 1000 buckets
			return p + "&from=" + strconv.FormatInt(now.Add(-24*time.Hour).UnixMilli(), 10) + "&limit=1000"
		}
	}},
	{"symbols", 10, func(*rand.Rand, []string, time.Time) string { return "/api/v1/symbols" }},
	{"movers", 15, func(*rand.Rand, []string, time.Time) string { return "/api/v1/movers?limit=10" }},
}

var quotesOnly = []route{{"quotes", 1, func(*rand.Rand, []string, time.Time) string { return "/api/v1/quotes" }}}

// RunAPI runs `findash bench api`.
func RunAPI(ctx context.Context, cfg APIConfig) (*Result, error) {
	if cfg.Users <= 0 || cfg.Duration <= 0 || cfg.Rate < 0 || cfg.Procs < 0 {
		return nil, fmt.Errorf("%w: users and duration must be > 0, rate and procs ≥ 0", ErrUsage)
	}
	targets := strings.Split(cfg.Target, ",")
	for i := range targets {
		targets[i] = strings.TrimRight(strings.TrimSpace(targets[i]), "/")
	}
	switch {
	case len(targets) > 1 && cfg.Procs == 0:
		return nil, fmt.Errorf("%w: several targets need --procs (each process sends to one)", ErrUsage)
	case cfg.Procs > 0 && (cfg.ChildCommand == nil || cfg.Baseline):
		return nil, fmt.Errorf("%w: --procs needs a child command and does not run the baseline", ErrUsage)
	case cfg.Procs > cfg.Users:
		return nil, fmt.Errorf("%w: more processes than users", ErrUsage)
	case len(cfg.PinServer) > 0 && (cfg.ServerPID <= 0 || len(cfg.PinGenerator) == 0):
		return nil, fmt.Errorf("%w: --pin needs --server-pid (the server to pin)", ErrUsage)
	case len(cfg.PinServer) > 0 && cfg.Baseline && cfg.BareCommand == nil:
		return nil, fmt.Errorf("%w: --pin needs the bare handler in a process of its own", ErrUsage)
	}
	if cfg.Symbols <= 0 {
		cfg.Symbols = 20
	}
	if _, err := RaiseFileLimit(); err != nil {
		return nil, err
	}
	pin, err := pinAPI(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer pin.undo()
	target := targets[0]
	client := newLoadClient(cfg.Users)
	defer client.CloseIdleConnections()
	prog := cfg.Progress

	if cfg.APIKey != "" {
		prog.Phase("seed")
		if err := seed(ctx, newPoster(client, target, cfg.APIKey, ProtoFindash), Symbols(cfg.Symbols)); err != nil {
			return nil, err
		}
	}
	symbols, err := listSymbols(ctx, client, target)
	if err != nil {
		return nil, err
	}
	if len(symbols) == 0 {
		return nil, fmt.Errorf("%w: %s has no symbols yet; pass --api-key to seed some", ErrUsage, target)
	}

	res := &Result{Kind: "api", Target: cfg.Target, APIResult: &APIResult{Users: cfg.Users, OfferedPerS: cfg.Rate, Processes: cfg.Procs}}
	res.Pinned = pin.describe()
	probe := &cpuProbe{server: cfg.ServerPID}
	if cfg.Procs == 0 {
		probe.gen = os.Getpid()
	}
	mixLoad := load{users: cfg.Users, rate: cfg.Rate, dur: cfg.Duration, probe: probe}
	var mix loadResult
	if cfg.Procs > 0 {
		client.CloseIdleConnections() // the children send; this process is idle
		if mix, err = runProcLoad(ctx, cfg.ChildCommand, targets, cfg.Procs, mixLoad, symbols, prog); err != nil {
			return nil, err
		}
	} else {
		prog.Phase("mix")
		mix = runLoad(ctx, client, target, mixLoad, apiMix, symbols, prog)
	}
	res.DurationS = mix.elapsed.Seconds()
	res.ThroughputPerS = float64(mix.total.Count()) / mix.elapsed.Seconds()
	res.setLatency(mix.total.Quantiles())
	res.Errors = mix.errors
	for _, r := range apiMix {
		a := mix.routes[r.name]
		q := a.hist.Quantiles()
		res.Routes = append(res.Routes, RouteStats{
			Route: r.name, Requests: q.Count, Errors: a.errors.Load(),
			ThroughputPerS: float64(q.Count) / mix.elapsed.Seconds(),
			P50MS:          q.P50, P90MS: q.P90, P99MS: q.P99, MaxMS: q.Max,
		})
	}
	if mix.firstErr != "" {
		res.Notes = append(res.Notes, "first error: "+mix.firstErr)
	}
	res.Phases = append(res.Phases, mix.phase("mix", cfg.Rate, pin.genCPUs))
	if cfg.Baseline {
		if err := runBaseline(ctx, cfg, pin, probe, client, target, symbols, res); err != nil {
			return nil, err
		}
	}
	res.notePhases()
	res.Machine = ThisMachine()
	return res, nil
}

// runBaseline runs the phases of --baseline after the mix: /api/v1/quotes
// alone, the bare handler closed loop, and then either the bare handler at
// the offered rate (--rate) or, after a closed-loop mix, the mix and the
// bare handler both at half the mix's throughput.
func runBaseline(ctx context.Context, cfg APIConfig, pin *pinning, probe *cpuProbe, client *http.Client, target string, symbols []string, res *Result) error {
	prog := cfg.Progress
	prog.Phase("quotes alone")
	closed := load{users: cfg.Users, dur: cfg.Duration, probe: probe}
	q := runLoad(ctx, client, target, closed, quotesOnly, symbols, prog)
	body, ctype, err := fetch(ctx, client, target+"/api/v1/quotes")
	if err != nil {
		return err
	}
	bare, err := startBareChild(ctx, cfg.BareCommand, body, ctype)
	if err != nil {
		return err
	}
	defer bare.close()
	bareProbe := &cpuProbe{server: bare.pid, gen: probe.gen}
	if len(pin.server) > 0 && bare.pid > 0 {
		// Started by the pinned generator, it runs on the generator's
		// CPUs until moved.
		if _, err := pinProcess(bare.pid, pin.server); err != nil {
			return fmt.Errorf("bare baseline: %w", err)
		}
	}
	prog.Phase("bare net/http")
	client.CloseIdleConnections()
	closedBare := closed
	closedBare.probe = bareProbe
	b := runLoad(ctx, client, bare.url, closedBare, quotesOnly, symbols, prog)
	res.Phases = append(res.Phases, q.phase("quotes", 0, pin.genCPUs), b.phase("bare", 0, pin.genCPUs))
	a := res.APIResult
	a.QuotesPerS = float64(q.total.Count()) / q.elapsed.Seconds()
	a.QuotesP99MS = q.total.Quantiles().P99
	a.BarePerS = float64(b.total.Count()) / b.elapsed.Seconds()
	a.BareP99MS = b.total.Quantiles().P99
	if a.BarePerS > 0 {
		a.QuotesToBareRate = a.QuotesPerS / a.BarePerS
		if cfg.Rate == 0 {
			a.MixToBareRatio = res.ThroughputPerS / a.BarePerS
		}
	}
	res.Errors += q.errors + b.errors
	if cfg.Rate > 0 {
		// The machine's floor at the mix's offered rate: the same users
		// and schedule against the bare handler.
		prog.Phase("bare net/http at the offered rate")
		client.CloseIdleConnections()
		br := runLoad(ctx, client, bare.url, load{users: cfg.Users, rate: cfg.Rate, dur: cfg.Duration, probe: bareProbe}, quotesOnly, symbols, prog)
		a.BareAtRateP99MS = br.total.Quantiles().P99
		res.Phases = append(res.Phases, br.phase("bare_at_rate", cfg.Rate, pin.genCPUs))
		res.Errors += br.errors
	} else if half := res.ThroughputPerS / 2; half > 0 {
		// Latency below saturation: the mix and the bare handler, the same
		// users on the same schedule, at half what the mix reached.
		a.HalfRatePerS = half
		at := load{users: cfg.Users, rate: half, dur: cfg.Duration, probe: probe}
		prog.Phase("mix at half its throughput")
		client.CloseIdleConnections()
		m := runLoad(ctx, client, target, at, apiMix, symbols, prog)
		prog.Phase("bare net/http at the same rate")
		client.CloseIdleConnections()
		at.probe = bareProbe
		br := runLoad(ctx, client, bare.url, at, quotesOnly, symbols, prog)
		res.Phases = append(res.Phases, m.phase("mix_half", half, pin.genCPUs), br.phase("bare_half", half, pin.genCPUs))
		a.MixHalfP99MS = m.total.Quantiles().P99
		a.BareHalfP99MS = br.total.Quantiles().P99
		if a.BareHalfP99MS > 0 {
			a.HalfP99Ratio = a.MixHalfP99MS / a.BareHalfP99MS
		}
		res.Errors += m.errors + br.errors
	}
	res.Notes = append(res.Notes, fmt.Sprintf("baseline: /api/v1/quotes is %d bytes; the bare handler writes the same bytes and Content-Type", len(body)))
	return nil
}

func fetch(ctx context.Context, client *http.Client, url string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return b, resp.Header.Get("Content-Type"), nil
}

func listSymbols(ctx context.Context, client *http.Client, target string) ([]string, error) {
	b, _, err := fetch(ctx, client, target+"/api/v1/symbols?limit=1000")
	if err != nil {
		return nil, err
	}
	var page struct {
		Data []struct {
			Symbol string `json:"symbol"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return nil, fmt.Errorf("symbols: %w", err)
	}
	out := make([]string, 0, len(page.Data))
	for _, d := range page.Data {
		out = append(out, d.Symbol)
	}
	slices.Sort(out)
	return out, nil
}

// seed posts two hours of one-a-minute ticks (and a last one now) for each
// symbol, so that every interval has candles.
func seed(ctx context.Context, p *poster, symbols []string) error {
	now := time.Now()
	var b bytes.Buffer
	b.WriteByte('[')
	first := true
	for i, s := range symbols {
		for k := 120; k >= 0; k-- {
			if !first {
				b.WriteByte(',')
			}
			first = false
			ts := now.Add(-time.Duration(k) * time.Minute).UnixMilli()
			price := 100 + float64(i) + float64((k*7)%13)/10
			fmt.Fprintf(&b, `{"symbol":%q,"ts":%d,"price":%g,"size":%d}`, s, ts, price, 1+k%5)
		}
	}
	b.WriteByte(']')
	if _, err := p.post(ctx, b.Bytes(), 0); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	// wait until the quotes show every seeded symbol
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if syms, err := listSymbols(ctx, p.client, strings.TrimSuffix(p.url, "/api/v1/ticks")); err == nil && len(syms) >= len(symbols) {
			return nil
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("seed: the seeded symbols did not appear within 10s")
}
