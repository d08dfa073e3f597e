package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// WSConfig configures RunWS.
type WSConfig struct {
	// Targets are the public base URLs of the instances, e.g.
	// http://127.0.0.1:8080. Several instances must share one tick log (one
	// NATS): the clients are spread over them round robin and the ticks are
	// posted to them round robin, so a delivery may cross from one
	// instance's ingest to another's WebSocket clients.
	Targets []string
	// Admins are the instances' admin listeners (host:port or URL); the
	// servers' RSS and CPU per connection and CPU per delivery are read
	// from their /metrics and added up. Empty skips them.
	Admins []string
	// APIKey authenticates the tick POSTs.
	APIKey string
	// Conns WebSocket clients subscribe over Symbols symbols, SubsPerConn
	// symbols each (default 1).
	Conns, Symbols, SubsPerConn int
	// Rate is the total ticks per second sent through the ingest API for
	// Duration, spread round robin over the symbols.
	Rate     float64
	Duration time.Duration
	// Procs > 0 runs the clients in that many child processes (see
	// ChildCommand); 0 keeps them in this process.
	Procs int
	// ChildCommand starts one child process running RunWSChild with its
	// stdin and stdout wired to the given pipes. Required when Procs > 0.
	ChildCommand func(ctx context.Context) Child
	// Sources are local addresses to dial from, spread over the clients
	// (and split between the children). Empty: the kernel's choice, except
	// that for loopback targets the clients dial from 127.0.0.2, 127.0.0.3,
	// … one address per 2,000 connections (see connsPerSource).
	Sources []net.IP
	// DialConcurrency is the number of dials in flight per process
	// (default 64).
	DialConcurrency int
	// Progress shows live status; nil shows none.
	Progress *Progress
}

// ErrUsage marks a configuration a run cannot start with.
var ErrUsage = errors.New("bench: invalid configuration")

func (c *WSConfig) defaults() error {
	if c.SubsPerConn <= 0 {
		c.SubsPerConn = 1
	}
	if c.DialConcurrency <= 0 {
		c.DialConcurrency = 64
	}
	if c.Conns <= 0 || c.Symbols <= 0 || c.Rate <= 0 || c.Duration <= 0 {
		return fmt.Errorf("%w: conns, symbols, rate and duration must be > 0", ErrUsage)
	}
	if c.APIKey == "" {
		return fmt.Errorf("%w: an API key is needed to send ticks (--api-key or FINDASH_API_KEY)", ErrUsage)
	}
	if len(c.Targets) == 0 {
		return fmt.Errorf("%w: no target", ErrUsage)
	}
	if c.Procs > 0 && c.ChildCommand == nil {
		return fmt.Errorf("%w: procs needs a child command", ErrUsage)
	}
	return nil
}

// fleet is a set of WebSocket clients, in this process or in children.
type fleet interface {
	// Connect opens and subscribes every client; it returns once each has
	// been acknowledged or has failed.
	Connect(ctx context.Context) error
	// Stats returns the cumulative counters (of children: as last reported).
	Stats() fleetStats
	// Subscribers returns, per symbol, the acknowledged subscriptions.
	Subscribers() map[string]int64
	// ConnectLatency is the dial-to-ack time of each connection.
	ConnectLatency() *Histogram
	// Finish closes every client and returns the ingest-to-client latency
	// of every delivered tick with the final counters.
	Finish(ctx context.Context) (*Histogram, fleetStats, error)
}

func (f *localFleet) Connect(ctx context.Context) error { f.connectAll(ctx); return nil }
func (f *localFleet) ConnectLatency() *Histogram        { return f.connect }
func (f *localFleet) Finish(context.Context) (*Histogram, fleetStats, error) {
	st := f.Stats()
	h := f.Latency()
	f.Close()
	return h, st, nil
}

// RunWS runs `findash bench ws`: it connects the clients, reads the
// server's RSS before and after, drives ticks at cfg.Rate for cfg.Duration,
// waits for the deliveries to drain and reports.
func RunWS(ctx context.Context, cfg WSConfig) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	var wsURLs []string
	loopback, loopback4 := true, true
	for _, t := range cfg.Targets {
		u, err := url.Parse(t)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("%w: target %q is not an http:// URL", ErrUsage, t)
		}
		loopback = loopback && isLoopback(u.Hostname())
		ip := net.ParseIP(u.Hostname())
		loopback4 = loopback4 && (u.Hostname() == "localhost" || ip.To4() != nil && ip.IsLoopback())
		w := *u
		w.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
		w.Path = strings.TrimRight(u.Path, "/") + "/ws"
		wsURLs = append(wsURLs, w.String())
	}
	limit, err := RaiseFileLimit()
	if err != nil {
		return nil, err
	}
	if cfg.Procs == 0 && uint64(cfg.Conns)+200 > limit {
		return nil, fmt.Errorf("%w: %d connections need more than this process's %d open files: use --procs %d",
			ErrUsage, cfg.Conns, limit, (cfg.Conns+int(limit)-1000)/(int(limit)-1000)+1)
	}
	symbols := Symbols(cfg.Symbols)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, MaxConnsPerHost: 16}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	prog := cfg.Progress
	res := &Result{Kind: "ws", Target: strings.Join(cfg.Targets, ","), WSResult: &WSResult{Procs: cfg.Procs, Symbols: cfg.Symbols, Instances: len(cfg.Targets)}}

	// Baseline: bare loopback TCP connects, same machine, same moment.
	if loopback {
		prog.Phase("baseline")
		if r, err := loopbackConnectRate(ctx, min(cfg.Conns, 5000), cfg.DialConcurrency, net.IPv4(127, 0, 0, 254)); err == nil {
			res.LoopbackConnectPerS = r
		} else {
			res.Notes = append(res.Notes, err.Error())
		}
	}

	var metricsURLs []string
	for _, a := range cfg.Admins {
		metricsURLs = append(metricsURLs, adminMetricsURL(a))
	}
	var before serverSample
	if len(metricsURLs) > 0 {
		if before, err = sampleServers(ctx, client, metricsURLs); err == nil {
			res.ServerRSSBeforeBytes = before.RSSBytes
		} else {
			res.Notes = append(res.Notes, err.Error())
			metricsURLs = nil
		}
	}

	sources := cfg.Sources
	if len(sources) == 0 && loopback4 {
		sources = loopbackSources(cfg.Conns, cfg.Procs)
	}
	fc := fleetConfig{URLs: wsURLs, Conns: cfg.Conns, Symbols: symbols, SubsPerConn: cfg.SubsPerConn, Sources: sources, Concurrency: cfg.DialConcurrency}
	var fl fleet
	if cfg.Procs > 0 {
		fl = newProcFleet(fc, cfg.Procs, cfg.ChildCommand)
	} else {
		fl = newLocalFleet(fc)
	}
	prog.Phase("connect")
	pctx, stopProg := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		prog.Run(pctx, time.Second, func() string {
			s := fl.Stats()
			return fmt.Sprintf("connected %d/%d, failed %d", s.Connected, cfg.Conns, s.Failed)
		})
	}()
	err = fl.Connect(ctx)
	stopProg()
	pwg.Wait()
	if err != nil {
		fl.Finish(context.WithoutCancel(ctx))
		return nil, err
	}
	st := fl.Stats()
	res.Connections = int(st.Connected)
	res.ConnectFailures = st.Failed
	if st.ConnectNano > 0 {
		res.ConnectPerS = float64(st.Connected) / time.Duration(st.ConnectNano).Seconds()
	}
	res.ConnectP99MS = fl.ConnectLatency().Quantiles().P99
	prog.Printf("connected %d of %d in %.2fs (%.0f/s), %d failed", st.Connected, cfg.Conns, time.Duration(st.ConnectNano).Seconds(), res.ConnectPerS, st.Failed)
	if st.Connected == 0 {
		fl.Finish(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("bench ws: no connection could be opened to %s", strings.Join(wsURLs, ", "))
	}
	var connected serverSample
	if len(metricsURLs) > 0 {
		if connected, err = sampleServers(ctx, client, metricsURLs); err == nil {
			res.ServerCPUPerConnUS = (connected.CPUSeconds - before.CPUSeconds) * 1e6 / float64(st.Connected)
		}
		// Let the server's goroutines and buffers settle before reading
		// the RSS.
		sleep(ctx, time.Second)
		if s, err := sampleServers(ctx, client, metricsURLs); err == nil {
			connected = s // the run's CPU counts from here
			res.ServerRSSAfterBytes = s.RSSBytes
			res.ServerRSSPerConnBytes = (s.RSSBytes - res.ServerRSSBeforeBytes) / float64(st.Connected)
		}
	}

	// Drive ticks and watch deliveries.
	posters := make([]*poster, len(cfg.Targets))
	for i, t := range cfg.Targets {
		posters[i] = newPoster(client, t, cfg.APIKey)
	}
	d := newDriver(posters, symbols, cfg.Rate)
	prog.Phase("run")
	pctx, stopProg = context.WithCancel(ctx)
	pwg.Add(1)
	var lastDel int64
	lastT := time.Now()
	go func() {
		defer pwg.Done()
		prog.Run(pctx, time.Second, func() string {
			s := fl.Stats()
			now := time.Now()
			rate := float64(s.Deliveries-lastDel) / now.Sub(lastT).Seconds()
			lastDel, lastT = s.Deliveries, now
			return fmt.Sprintf("conns %d, ticks sent %d (%d errors), deliveries %s/s, gaps %d, out of order %d, errors %d",
				s.Connected, d.sent.Load(), d.errors.Load(), human(rate), s.Gaps, s.OutOfOrder, s.Errors)
		})
	}()
	t0 := time.Now()
	d.run(ctx, cfg.Duration)
	driveTime := time.Since(t0)
	accepted := d.acceptedBySymbol()
	subs := fl.Subscribers()
	var expected int64
	for s, n := range accepted {
		expected += n * subs[s]
	}
	// Drain: until every expected delivery arrived, or none for 2 s.
	var last int64 = -1
	quiet := time.Now()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		s := fl.Stats()
		if s.Deliveries >= expected {
			break
		}
		if s.Deliveries != last {
			last, quiet = s.Deliveries, time.Now()
		} else if time.Since(quiet) > 2*time.Second {
			break
		}
		if !sleep(ctx, 50*time.Millisecond) {
			break
		}
	}
	stopProg()
	pwg.Wait()

	var end serverSample
	if len(metricsURLs) > 0 {
		end, _ = sampleServers(ctx, client, metricsURLs)
	}
	lat, final, err := fl.Finish(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	if connected.CPUSeconds > 0 && end.CPUSeconds > connected.CPUSeconds && final.Deliveries > 0 {
		// Everything the servers did while ticks flowed: parse, log,
		// persist, fan out, write.
		res.ServerCPUPerDeliveryUS = (end.CPUSeconds - connected.CPUSeconds) * 1e6 / float64(final.Deliveries)
	}
	res.DurationS = driveTime.Seconds()
	res.TicksSent = d.sent.Load()
	res.TicksPerS = float64(res.TicksSent) / driveTime.Seconds()
	res.Deliveries = final.Deliveries
	res.ExpectedDeliveries = expected
	res.DeliveriesPerS = float64(final.Deliveries) / driveTime.Seconds()
	res.ThroughputPerS = res.DeliveriesPerS
	res.Gaps = final.Gaps
	res.OutOfOrder = final.OutOfOrder
	res.Drops = max(0, expected-final.Deliveries)
	res.Errors = d.errors.Load() + final.Errors
	res.setLatency(lat.Quantiles())
	if res.Drops > 0 && res.Gaps == 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d expected deliveries had not arrived when the drain ended and no gap reported them: the server or the clients fell behind (see p99)", res.Drops))
	}
	if n := d.behind.Load(); n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("the tick driver fell behind: %d ticks were not sent (rate not reached)", n))
	}
	if err := d.firstErr(); err != nil {
		res.Notes = append(res.Notes, "first tick POST error: "+err.Error())
	}
	res.Machine = ThisMachine()
	return res, nil
}

func adminMetricsURL(admin string) string {
	if admin == "" {
		return ""
	}
	if !strings.Contains(admin, "://") {
		admin = "http://" + admin
	}
	if !strings.HasSuffix(admin, "/metrics") {
		admin = strings.TrimRight(admin, "/") + "/metrics"
	}
	return admin
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// driver sends ticks at a fixed total rate through the ingest API: a
// scheduler cuts the due ticks into batches every 5 ms and hands them to
// driverWorkers posters over a queue of driverQueue batches. When the queue
// is full the batch is not sent and counted in behind (the rate was not
// reached); the schedule never builds a backlog.
type driver struct {
	p       []*poster // batch k goes to p[k mod len]
	symbols []string
	rate    float64

	sent, errors, behind atomic.Int64
	mu                   sync.Mutex
	accepted             []int64 // per symbol index
	err                  error
}

const (
	driverWorkers  = 8
	driverQueue    = 16
	driverMaxBatch = 2000
	driverTick     = 5 * time.Millisecond
)

func newDriver(p []*poster, symbols []string, rate float64) *driver {
	return &driver{p: p, symbols: symbols, rate: rate, accepted: make([]int64, len(symbols))}
}

// driverJob is one batch: n ticks from symbol index first, posted to
// instance k mod the number of posters (round robin over the batches).
type driverJob struct{ first, n, k int }

func (d *driver) run(ctx context.Context, dur time.Duration) {
	jobs := make(chan driverJob, driverQueue)
	var wg sync.WaitGroup
	for range driverWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := newBatch(len(d.symbols))
			for j := range jobs {
				body := b.build(d.symbols, j.first, j.n, time.Now())
				n, err := d.p[j.k%len(d.p)].post(ctx, body)
				if err != nil {
					d.errors.Add(1)
					d.mu.Lock()
					if d.err == nil {
						d.err = err
					}
					d.mu.Unlock()
					continue
				}
				d.sent.Add(int64(n))
				d.mu.Lock()
				for k := range j.n {
					d.accepted[(j.first+k)%len(d.symbols)]++
				}
				d.mu.Unlock()
			}
		}()
	}
	t0 := time.Now()
	tk := time.NewTicker(driverTick)
	var scheduled int64
	cursor, batches := 0, 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-tk.C:
			el := now.Sub(t0)
			if el >= dur {
				el = dur
			}
			due := int64(d.rate*el.Seconds()) - scheduled
			for due > 0 {
				n := int(min(due, driverMaxBatch))
				select {
				case jobs <- driverJob{first: cursor, n: n, k: batches}:
					batches++
				default:
					d.behind.Add(int64(n))
				}
				cursor = (cursor + n) % len(d.symbols)
				scheduled += int64(n)
				due -= int64(n)
			}
			if el >= dur {
				break loop
			}
		}
	}
	tk.Stop()
	close(jobs)
	wg.Wait()
}

func (d *driver) acceptedBySymbol() map[string]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := make(map[string]int64, len(d.symbols))
	for i, n := range d.accepted {
		m[d.symbols[i]] = n
	}
	return m
}

func (d *driver) firstErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}
