package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// APIConfig configures RunAPI.
type APIConfig struct {
	// Target is the instance's public base URL.
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
	// against a bare net/http handler, started here, that answers the same
	// bytes, and reports the ratio of their throughputs.
	Baseline bool
	// APIKey, when set, seeds Symbols symbols with two hours of ticks first
	// so that quotes and candles have data.
	APIKey  string
	Symbols int
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
	if cfg.Users <= 0 || cfg.Duration <= 0 || cfg.Rate < 0 {
		return nil, fmt.Errorf("%w: users and duration must be > 0, rate ≥ 0", ErrUsage)
	}
	if cfg.Symbols <= 0 {
		cfg.Symbols = 20
	}
	if _, err := RaiseFileLimit(); err != nil {
		return nil, err
	}
	target := strings.TrimRight(cfg.Target, "/")
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

	res := &Result{Kind: "api", Target: cfg.Target, APIResult: &APIResult{Users: cfg.Users, OfferedPerS: cfg.Rate}}
	prog.Phase("mix")
	mix := runLoad(ctx, client, target, load{users: cfg.Users, rate: cfg.Rate, dur: cfg.Duration}, apiMix, symbols, prog)
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

	if cfg.Baseline {
		prog.Phase("quotes alone")
		closed := load{users: cfg.Users, dur: cfg.Duration}
		q := runLoad(ctx, client, target, closed, quotesOnly, symbols, prog)
		body, ctype, err := fetch(ctx, client, target+"/api/v1/quotes")
		if err != nil {
			return nil, err
		}
		bare, err := startBare(body, ctype)
		if err != nil {
			return nil, err
		}
		prog.Phase("bare net/http")
		client.CloseIdleConnections()
		b := runLoad(ctx, client, bare.url, closed, quotesOnly, symbols, prog)
		if cfg.Rate > 0 {
			// The machine's floor at the mix's offered rate: the same
			// users and schedule against the bare handler.
			prog.Phase("bare net/http at the offered rate")
			client.CloseIdleConnections()
			br := runLoad(ctx, client, bare.url, load{users: cfg.Users, rate: cfg.Rate, dur: cfg.Duration}, quotesOnly, symbols, prog)
			res.BareAtRateP99MS = br.total.Quantiles().P99
			res.Errors += br.errors
		}
		bare.close()
		res.QuotesPerS = float64(q.total.Count()) / q.elapsed.Seconds()
		res.QuotesP99MS = q.total.Quantiles().P99
		res.BarePerS = float64(b.total.Count()) / b.elapsed.Seconds()
		res.BareP99MS = b.total.Quantiles().P99
		if res.BarePerS > 0 {
			res.QuotesToBareRate = res.QuotesPerS / res.BarePerS
		}
		res.Errors += q.errors + b.errors
		res.Notes = append(res.Notes, fmt.Sprintf("baseline: /api/v1/quotes is %d bytes; the bare handler writes the same bytes and Content-Type", len(body)))
	}
	res.Machine = ThisMachine()
	return res, nil
}

// newLoadClient returns a client keeping one connection per user alive.
// Compression is off: it would cost the generator CPU the server does not
// spend (the server's answers are small JSON).
func newLoadClient(users int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        users + 16,
			MaxIdleConnsPerHost: users + 16,
			MaxConnsPerHost:     users + 16,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
		Timeout: 30 * time.Second,
	}
}

type routeAgg struct {
	hist   *Histogram
	errors atomic.Int64
}

type loadResult struct {
	routes   map[string]*routeAgg
	total    *Histogram
	errors   int64
	elapsed  time.Duration
	firstErr string
}

// load is how runLoad drives: users connections, closed loop (rate 0) or
// at rate requests/s in total, for dur.
type load struct {
	users int
	rate  float64
	dur   time.Duration
}

// runLoad runs l.users users over mix against base for l.dur, after a
// warm-up of half a second (connections opened, not recorded).
func runLoad(ctx context.Context, client *http.Client, base string, l load, mix []route, symbols []string, prog *Progress) loadResult {
	lr := loadResult{routes: make(map[string]*routeAgg), total: NewHistogram()}
	weights := 0
	for _, r := range mix {
		lr.routes[r.name] = &routeAgg{hist: NewHistogram()}
		weights += r.weight
	}
	var (
		recording atomic.Bool
		count     atomic.Int64
		errs      atomic.Int64
		errOnce   sync.Once
		wg        sync.WaitGroup
	)
	warm := min(500*time.Millisecond, l.dur/4)
	// runCtx ends l.dur after recording starts (below).
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	// Open loop: user u sends at start + u·period/users + k·period, start
	// being when every user has opened its connection (one request, not
	// recorded): a schedule running while 1,000 connections are still
	// being opened measures the connecting, not the serving.
	var period time.Duration
	var opened sync.WaitGroup
	started := make(chan time.Time, l.users)
	if l.rate > 0 {
		period = time.Duration(float64(l.users) / l.rate * float64(time.Second))
		opened.Add(l.users)
	}
	for u := range l.users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(u), 0x5eed))
			buf := make([]byte, 32<<10)
			var next time.Time
			if period > 0 {
				err := get(runCtx, client, base+mix[0].path(rng, symbols, time.Now()), buf)
				opened.Done()
				if err != nil && runCtx.Err() == nil {
					errs.Add(1) // this user connects inside the schedule
					errOnce.Do(func() { lr.firstErr = "opening the connection: " + err.Error() })
				}
				select {
				case start := <-started:
					next = start.Add(time.Duration(float64(period) * float64(u) / float64(l.users)))
				case <-runCtx.Done():
					return
				}
				// Requests due but not sent when the run ends are the
				// slowest: count each (under the mix's first route) with
				// the time it has waited so far, or p99 would come out low
				// exactly when the server is behind.
				defer func() {
					if !recording.Load() {
						return
					}
					end := time.Now()
					for ; next.Before(end); next = next.Add(period) {
						lr.routes[mix[0].name].hist.Record(end.Sub(next))
						count.Add(1)
					}
				}()
			}
			for runCtx.Err() == nil {
				w := rng.IntN(weights)
				var rt route
				for _, rt = range mix {
					if w -= rt.weight; w < 0 {
						break
					}
				}
				t0 := time.Now()
				if period > 0 {
					if wait := time.Until(next); wait > 0 && !sleep(runCtx, wait) {
						return
					}
					t0 = next // latency counts from the scheduled time
					next = next.Add(period)
				}
				url := base + rt.path(rng, symbols, time.Now())
				err := get(runCtx, client, url, buf)
				d := time.Since(t0)
				if !recording.Load() {
					continue
				}
				if runCtx.Err() != nil {
					if period > 0 && err != nil {
						// Cut off by the end of the run: unanswered after d.
						lr.routes[rt.name].hist.Record(d)
						count.Add(1)
					}
					continue
				}
				agg := lr.routes[rt.name]
				if err != nil {
					agg.errors.Add(1)
					errs.Add(1)
					errOnce.Do(func() { lr.firstErr = err.Error() })
					continue
				}
				agg.hist.Record(d)
				count.Add(1)
			}
		}()
	}
	if period > 0 {
		opened.Wait()
		start := time.Now()
		for range l.users {
			started <- start
		}
	}
	sleep(ctx, warm)
	recording.Store(true)
	t0 := time.Now()
	end := time.AfterFunc(l.dur, stop)
	defer end.Stop()
	pctx, stopProg := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		var last int64
		prog.Run(pctx, time.Second, func() string {
			n := count.Load()
			s := fmt.Sprintf("%d users, %s req/s, %d errors", l.users, human(float64(n-last)), errs.Load())
			last = n
			return s
		})
	}()
	wg.Wait()
	lr.elapsed = time.Since(t0)
	stopProg()
	pwg.Wait()
	for _, a := range lr.routes {
		lr.total.Merge(a.hist)
	}
	lr.errors = errs.Load()
	return lr
}

// get fetches url and reads the whole body into buf (reused); a status
// other than 200 or 304 is an error.
func get(ctx context.Context, client *http.Client, url string, buf []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	for {
		_, err := resp.Body.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("GET %s: read: %w", url, err)
		}
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotModified {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
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

// bareServer is the baseline: net/http answering fixed bytes.
type bareServer struct {
	url   string
	srv   *http.Server
	close func()
}

func startBare(body []byte, ctype string) (*bareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bare baseline: %w", err)
	}
	clen := strconv.Itoa(len(body))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{ctype}
		h["Content-Length"] = []string{clen}
		w.Write(body)
	}), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	return &bareServer{url: "http://" + ln.Addr().String(), srv: srv, close: func() { srv.Close(); <-done }}, nil
}
