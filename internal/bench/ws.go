package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
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
	// ServerPIDs are the servers' process ids on this machine, in the
	// order of Targets (or Admins): their user and system CPU are read
	// from /proc/<pid>/stat. Without them the CPU comes from the admin
	// /metrics (process_cpu_seconds_total, user and system together).
	ServerPIDs []int
	// Proto is the servers' client protocol: ProtoFindash (default; also
	// the bare baseline's) or ProtoCentrifugo.
	Proto string
	// TicksPerPost is the most ticks one POST (or Centrifugo publish or
	// batch) carries (default 2,000); 1 makes every tick its own publish.
	TicksPerPost int
	// PostWorkers is the number of POSTs in flight (default 8).
	PostWorkers int
	// PostInterval is how often the driver cuts the ticks due into POSTs
	// (default 5 ms). At a low rate over many instances a longer interval
	// sends fewer, fuller POSTs: 1,000 ticks/s every 5 ms is 200 POSTs of
	// 5 ticks a second, every 100 ms 10 of 100.
	PostInterval time.Duration
	// SubscribeAtConnect (findash protocol: findash and the bare server)
	// subscribes each client in its handshake (?subscribe=) rather than
	// with a subscribe message after it.
	SubscribeAtConnect bool
	// ConnectOnly connects the clients, reads the servers and stops: no
	// ticks (the connect scenario).
	ConnectOnly bool
	// NoDialBaseline skips the bare loopback TCP dial baseline (a
	// scenario measures it once per repeat).
	NoDialBaseline bool
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
	if c.Proto == "" {
		c.Proto = ProtoFindash
	}
	if c.Proto != ProtoFindash && c.Proto != ProtoCentrifugo {
		return fmt.Errorf("%w: protocol %q: want %s or %s", ErrUsage, c.Proto, ProtoFindash, ProtoCentrifugo)
	}
	if c.TicksPerPost <= 0 {
		c.TicksPerPost = driverMaxBatch
	}
	if c.PostWorkers <= 0 {
		c.PostWorkers = driverWorkers
	}
	if c.Conns <= 0 || c.Symbols <= 0 || (!c.ConnectOnly && (c.Rate <= 0 || c.Duration <= 0)) {
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
// waits for the deliveries to drain and reports. The servers' CPU, GC
// pauses and goroutines per delivery are read over one window while the
// ticks flow, the same window the deliveries they divide are counted in
// (see doc.go).
func RunWS(ctx context.Context, cfg WSConfig) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	var wsURLs []string
	loopback, loopback4 := true, true
	wsPath := "/ws"
	if cfg.Proto == ProtoCentrifugo {
		wsPath = "/connection/websocket"
	}
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
		w.Path = strings.TrimRight(u.Path, "/") + wsPath
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
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.PostWorkers + 8, MaxConnsPerHost: cfg.PostWorkers + 8}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	prog := cfg.Progress
	res := &Result{Kind: "ws", Target: strings.Join(cfg.Targets, ","), WSResult: &WSResult{Procs: cfg.Procs, Symbols: cfg.Symbols, Instances: len(cfg.Targets), Proto: cfg.Proto, SubsPerConn: cfg.SubsPerConn, TicksPerPost: cfg.TicksPerPost}}

	// Baseline: bare loopback TCP connects, same machine, same moment.
	if loopback && !cfg.NoDialBaseline {
		prog.Phase("baseline")
		if r, err := loopbackConnectRate(ctx, min(cfg.Conns, 5000), cfg.DialConcurrency, net.IPv4(127, 0, 0, 254)); err == nil {
			res.LoopbackConnectPerS = r
		} else {
			res.Notes = append(res.Notes, err.Error())
		}
	}

	// Prime every symbol (decision 0075): its first tick costs a server
	// once in its life, and no step should pay it. Before the RSS is read.
	if err := primeSymbols(ctx, client, cfg, symbols); err != nil {
		res.Notes = append(res.Notes, err.Error())
	}

	refs := make([]serverRef, 0, max(len(cfg.Admins), len(cfg.ServerPIDs)))
	for i := range max(len(cfg.Admins), len(cfg.ServerPIDs)) {
		var r serverRef
		if i < len(cfg.Admins) {
			r.MetricsURL = adminMetricsURL(cfg.Admins[i])
		}
		if i < len(cfg.ServerPIDs) {
			r.PID = cfg.ServerPIDs[i]
		}
		refs = append(refs, r)
	}
	var before serverSample
	if len(refs) > 0 {
		if before, err = sampleServers(ctx, client, refs); err == nil {
			res.ServerRSSBeforeBytes = before.RSSBytes
		} else {
			res.Notes = append(res.Notes, err.Error())
			refs = nil
		}
	}

	sources := cfg.Sources
	if len(sources) == 0 && loopback4 {
		sources = loopbackSources(cfg.Conns, cfg.Procs)
	}
	fc := fleetConfig{URLs: wsURLs, Conns: cfg.Conns, Symbols: symbols, SubsPerConn: cfg.SubsPerConn, Sources: sources, Concurrency: cfg.DialConcurrency, Proto: cfg.Proto, SubscribeAtConnect: cfg.SubscribeAtConnect}
	var fl fleet
	if cfg.Procs > 0 {
		fl = newProcFleet(fc, cfg.Procs, cfg.ChildCommand)
	} else {
		fl = newLocalFleet(fc)
	}
	prog.Phase("connect")
	// The client's own CPU over the connect (clients in this process).
	self0, selfErr := readProcCPU(os.Getpid())
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
	self1, selfErr1 := readProcCPU(os.Getpid())
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
	if cfg.Procs == 0 && selfErr == nil && selfErr1 == nil && st.Connected > 0 {
		res.ClientCPUPerConnUS = (self1.UserS + self1.SysS - self0.UserS - self0.SysS) * 1e6 / float64(st.Connected)
	}
	prog.Printf("connected %d of %d in %.2fs (%.0f/s), %d failed", st.Connected, cfg.Conns, time.Duration(st.ConnectNano).Seconds(), res.ConnectPerS, st.Failed)
	if st.Connected == 0 {
		fl.Finish(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("bench ws: no connection could be opened to %s", strings.Join(wsURLs, ", "))
	}
	if len(refs) > 0 {
		if connected, err := sampleServers(ctx, client, refs); err == nil {
			w := windowOf(before, connected)
			n := float64(st.Connected)
			res.ServerCPUPerConnUS = w.CPUS * 1e6 / n
			if w.Proc {
				res.ServerUserUSPerConn, res.ServerSysUSPerConn = w.UserS*1e6/n, w.SysS*1e6/n
			}
		}
		// Let the server's goroutines and buffers settle before reading
		// the RSS.
		sleep(ctx, time.Second)
		if s, err := sampleServers(ctx, client, refs); err == nil {
			res.ServerRSSAfterBytes = s.RSSBytes
			res.ServerRSSPerConnBytes = (s.RSSBytes - res.ServerRSSBeforeBytes) / float64(st.Connected)
			res.GoroutinesMax = s.Goroutines
		}
	}
	if cfg.ConnectOnly {
		_, final, err := fl.Finish(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		res.Errors = final.Errors
		res.Machine = ThisMachine()
		return res, nil
	}

	// Drive ticks and watch deliveries.
	posters := make([]*poster, len(cfg.Targets))
	for i, t := range cfg.Targets {
		posters[i] = newPoster(client, t, cfg.APIKey, cfg.Proto)
	}
	d := newDriver(posters, symbols, cfg.Rate, cfg.TicksPerPost, cfg.PostWorkers, cfg.PostInterval)
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
	driven := make(chan struct{})
	go func() {
		defer close(driven)
		d.run(ctx, cfg.Duration)
	}()
	measureWindow(ctx, client, refs, fl, min(time.Second, cfg.Duration/5), driven, res.WSResult)
	<-driven
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

	lat, final, err := fl.Finish(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
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

// measureWindow reads the servers and the deliveries once warm after the
// ticks started and again the moment the driver stops (driven closes),
// and the servers' goroutines every second in between, and sets the
// window's figures in r: CPU (user and system with pids) per delivery
// counted in the same window, GC pauses, goroutines. Without servers to
// read it only waits for driven.
func measureWindow(ctx context.Context, client *http.Client, refs []serverRef, fl fleet, warm time.Duration, driven <-chan struct{}, r *WSResult) {
	t := time.NewTimer(warm)
	defer t.Stop()
	select {
	case <-t.C:
	case <-driven:
		return // too short a run to have a window
	case <-ctx.Done():
		return
	}
	if len(refs) == 0 {
		<-driven
		return
	}
	a, err := sampleServers(ctx, client, refs)
	t0, d0 := time.Now(), fl.Stats().Deliveries
	c0, cok0 := clientCPUS(fl)
	if err != nil {
		<-driven
		return
	}
	var gSum float64
	var gN int
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	for waiting := true; waiting; {
		select {
		case <-tk.C:
			if s, err := sampleServers(ctx, client, refs); err == nil && s.Metrics {
				gSum += s.Goroutines
				gN++
				r.GoroutinesMax = max(r.GoroutinesMax, s.Goroutines)
			}
		case <-driven:
			waiting = false
		case <-ctx.Done():
			return
		}
	}
	b, err := sampleServers(ctx, client, refs)
	el, dels := time.Since(t0), fl.Stats().Deliveries-d0
	c1, cok1 := clientCPUS(fl)
	if err != nil || dels <= 0 {
		return
	}
	w := windowOf(a, b)
	n := float64(dels)
	if cok0 && cok1 {
		r.ClientCPUPerDeliveryUS = (c1 - c0) * 1e6 / n
		r.ClientCPUUtil = (c1 - c0) / el.Seconds()
	}
	r.WindowS = el.Seconds()
	r.WindowDeliveriesPerS = n / el.Seconds()
	r.ServerCPUPerDeliveryUS = w.CPUS * 1e6 / n
	r.ServerCPUUtil = w.CPUS / el.Seconds()
	if w.Proc {
		r.ServerUserUSPerDelivery, r.ServerSysUSPerDelivery = w.UserS*1e6/n, w.SysS*1e6/n
	}
	if b.Metrics {
		gSum += b.Goroutines
		gN++
		r.GoroutinesMax = max(r.GoroutinesMax, b.Goroutines)
		r.GoroutinesMean = gSum / float64(gN)
		r.GCCycles, r.GCPauseMeanMS, r.GCPauseP99MS = w.GCCycles, w.GCPauseMeanMS, w.GCPauseP99MS
	}
}

// clientCPUS is the load client's CPU seconds so far: this process's
// (the tick driver, and the readers without --procs) plus the children's
// as they last reported (every 200 ms).
func clientCPUS(fl fleet) (float64, bool) {
	c, err := readProcCPU(os.Getpid())
	if err != nil {
		return 0, false
	}
	return c.UserS + c.SysS + float64(fl.Stats().CPUNano)/1e9, true
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
