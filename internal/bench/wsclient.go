package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fleetConfig describes one process's share of the WebSocket clients.
type fleetConfig struct {
	URLs        []string // ws://host:port/ws of each instance; connection i dials URLs[i mod len]
	Conns       int      // connections this fleet opens
	Offset      int      // global index of the first one (for subscriptions)
	Symbols     []string // all symbols of the run
	SubsPerConn int      // symbols each connection subscribes to
	Sources     []net.IP // local addresses to dial from, round robin; none = kernel's choice
	Concurrency int      // dials in flight
	// Proto is the server's client protocol: "" or ProtoFindash (also the
	// bare baseline's), or ProtoCentrifugo (its JSON protocol).
	Proto string
	// SubscribeAtConnect (findash protocol) names the channels in the
	// handshake's ?subscribe= instead of sending a subscribe message.
	SubscribeAtConnect bool `json:",omitempty"`
}

// subscriptions returns the symbols of the connection with global index i:
// SubsPerConn consecutive symbols starting at i·SubsPerConn, wrapping, so
// the connections spread evenly over the symbols.
func subscriptions(i, perConn int, symbols []string) []string {
	n := min(perConn, len(symbols))
	out := make([]string, n)
	for j := range n {
		out[j] = symbols[(i*perConn+j)%len(symbols)]
	}
	return out
}

// instanceOf returns which of n instances connection g dials: round robin,
// shifted by one every pass over the symbols, so that each symbol's
// subscribers spread over every instance even when n divides the number of
// symbols (every tick then crosses the shared log to every instance).
func instanceOf(g, n, symbols int) int {
	return (g + g/max(symbols, 1)) % n
}

// subscribers counts, per symbol, the connections among the first n that
// subscribe to it.
func subscribers(n, perConn int, symbols []string) map[string]int64 {
	m := make(map[string]int64, len(symbols))
	for i := range n {
		for _, s := range subscriptions(i, perConn, symbols) {
			m[s]++
		}
	}
	return m
}

// fleetStats are a fleet's cumulative counters.
type fleetStats struct {
	Connected   int64 `json:"connected"`
	Failed      int64 `json:"failed"`
	Deliveries  int64 `json:"deliveries"`
	Gaps        int64 `json:"gaps"`
	OutOfOrder  int64 `json:"out_of_order"`
	Errors      int64 `json:"errors"` // error messages, read failures after connecting
	ConnectNano int64 `json:"connect_ns"`
	// CPUNano is a child process's own CPU time (user + system) when it
	// reported, added up over the children; 0 for clients in this process
	// (whose CPU is this process's).
	CPUNano int64 `json:"cpu_ns,omitempty"`
}

func (s *fleetStats) add(o fleetStats) {
	s.Connected += o.Connected
	s.Failed += o.Failed
	s.Deliveries += o.Deliveries
	s.Gaps += o.Gaps
	s.OutOfOrder += o.OutOfOrder
	s.Errors += o.Errors
	s.ConnectNano = max(s.ConnectNano, o.ConnectNano)
	s.CPUNano += o.CPUNano
}

// histShards spreads latency recording over several histograms so that
// thousands of readers do not queue on one lock.
const histShards = 32

// localFleet holds WebSocket clients in this process: one goroutine per
// connection reads frames, splits them into messages and records the
// ingest-to-client latency of each tick.
type localFleet struct {
	cfg     fleetConfig
	lat     [histShards]*Histogram
	connect *Histogram

	connected, failed, deliveries, gaps, outOfOrder, errs atomic.Int64
	connectTime                                           time.Duration
	closing                                               atomic.Bool // set by Close: read errors are expected

	// chans numbers the run's channels (ticks:<symbol>), read-only once
	// built: each reader keeps the last seq of channel i at seqs[i], a
	// lookup in one small shared map rather than a map per connection.
	chans   map[string]int
	readBuf int // each connection's read buffer, bytes (readBufferSize)

	mu    sync.Mutex
	conns []net.Conn
	subs  map[string]int64 // symbol → acknowledged subscribers
	wg    sync.WaitGroup
}

func newLocalFleet(cfg fleetConfig) *localFleet {
	f := &localFleet{cfg: cfg, connect: NewHistogram(), subs: make(map[string]int64),
		chans: make(map[string]int, len(cfg.Symbols)), readBuf: readBufferSize(cfg.Conns)}
	for i := range f.lat {
		f.lat[i] = NewHistogram()
	}
	for i, s := range cfg.Symbols {
		f.chans["ticks:"+s] = i
	}
	return f
}

// count adds one read's counts to the fleet's.
func (f *localFleet) count(m msgCounts) {
	if m.deliveries > 0 {
		f.deliveries.Add(m.deliveries)
	}
	if m.gaps > 0 {
		f.gaps.Add(m.gaps)
	}
	if m.outOfOrder > 0 {
		f.outOfOrder.Add(m.outOfOrder)
	}
	if m.errors > 0 {
		f.errs.Add(m.errors)
	}
}

// newReader returns the read state of a connection of f, recording its
// latencies in shard.
func (f *localFleet) newReader(shard *Histogram) *reader {
	return &reader{f: f, shard: shard, seqs: make([]uint64, len(f.chans)), buf: make([]byte, f.readBuf),
		centrifugo: f.cfg.Proto == ProtoCentrifugo}
}

// connectAll dials every connection and subscribes it, and returns when each
// has been acknowledged or has failed. The readers run until Close.
func (f *localFleet) connectAll(ctx context.Context) {
	t0 := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := range max(1, f.cfg.Concurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := f.dialer(w)
			for i := range jobs {
				if err := f.open(ctx, d, i); err != nil {
					f.failed.Add(1)
				}
			}
		}()
	}
	for i := range f.cfg.Conns {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	f.connectTime = time.Since(t0)
}

// dialer returns the dialer of dial worker w, bound to one of the sources.
func (f *localFleet) dialer(w int) *net.Dialer {
	nd := &net.Dialer{Timeout: 10 * time.Second}
	if len(f.cfg.Sources) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: f.cfg.Sources[w%len(f.cfg.Sources)]}
		nd.Control = bindAddressNoPort
	}
	return nd
}

// open dials connection i, subscribes it and waits for the ack.
func (f *localFleet) open(ctx context.Context, d *net.Dialer, i int) error {
	t0 := time.Now()
	g := f.cfg.Offset + i
	syms := subscriptions(g, f.cfg.SubsPerConn, f.cfg.Symbols)
	u := f.cfg.URLs[instanceOf(g, len(f.cfg.URLs), len(f.cfg.Symbols))]
	atConnect := f.cfg.SubscribeAtConnect && f.cfg.Proto != ProtoCentrifugo
	if atConnect {
		u += "?subscribe=ticks:" + strings.Join(syms, ",ticks:")
	}
	r := f.newReader(f.lat[i%histShards])
	c, rest, err := dialWS(ctx, d, u, 10*time.Second, r.buf)
	if err != nil {
		return err
	}
	r.c = c
	// The bytes after the 101 response are the first frames: keep them
	// where they are, at the front of the read buffer.
	r.wr = copy(r.buf, rest)
	sub, replies := subscribeMessage(f.cfg.Proto, syms)
	r.awaiting = replies
	if !atConnect {
		if err := writeFrame(c, opText, sub); err != nil {
			c.Close()
			return fmt.Errorf("subscribe: %w", err)
		}
	}
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	if r.wr > 0 {
		if err := r.frames(time.Now().UnixMicro()); err != nil {
			c.Close()
			return fmt.Errorf("await ack: %w", err)
		}
	}
	for !r.acked {
		if err := r.pump(); err != nil {
			c.Close()
			return fmt.Errorf("await ack: %w", err)
		}
	}
	c.SetReadDeadline(time.Time{})
	f.connect.Record(time.Since(t0))
	f.connected.Add(1)
	f.mu.Lock()
	f.conns = append(f.conns, c)
	for _, s := range syms {
		f.subs[s]++
	}
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			if err := r.pump(); err != nil {
				if !f.closing.Load() && !isClosed(err) {
					f.errs.Add(1)
				}
				return
			}
		}
	}()
	return nil
}

func isClosed(err error) bool {
	return errors.Is(err, errPeerClosed) || errors.Is(err, net.ErrClosed)
}

// Stats returns the cumulative counters.
func (f *localFleet) Stats() fleetStats {
	return fleetStats{
		Connected:   f.connected.Load(),
		Failed:      f.failed.Load(),
		Deliveries:  f.deliveries.Load(),
		Gaps:        f.gaps.Load(),
		OutOfOrder:  f.outOfOrder.Load(),
		Errors:      f.errs.Load(),
		ConnectNano: int64(f.connectTime),
	}
}

// Subscribers returns, per symbol, the connections subscribed to it.
func (f *localFleet) Subscribers() map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]int64, len(f.subs))
	for s, n := range f.subs {
		m[s] = n
	}
	return m
}

// Latency merges the latency shards into one histogram.
func (f *localFleet) Latency() *Histogram {
	h := NewHistogram()
	for _, s := range f.lat {
		h.Merge(s)
	}
	return h
}

// Close closes every connection and waits for the readers.
func (f *localFleet) Close() {
	f.mu.Lock()
	conns := f.conns
	f.conns = nil
	f.mu.Unlock()
	f.closing.Store(true)
	for _, c := range conns {
		c.Close()
	}
	f.wg.Wait()
}
