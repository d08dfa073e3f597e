package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
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

	mu    sync.Mutex
	conns []*websocket.Conn
	subs  map[string]int64 // symbol → acknowledged subscribers
	wg    sync.WaitGroup
}

func newLocalFleet(cfg fleetConfig) *localFleet {
	f := &localFleet{cfg: cfg, connect: NewHistogram(), subs: make(map[string]int64)}
	for i := range f.lat {
		f.lat[i] = NewHistogram()
	}
	return f
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
func (f *localFleet) dialer(w int) *websocket.Dialer {
	nd := &net.Dialer{Timeout: 10 * time.Second}
	if len(f.cfg.Sources) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: f.cfg.Sources[w%len(f.cfg.Sources)]}
		nd.Control = bindAddressNoPort
	}
	return &websocket.Dialer{
		NetDialContext:   nd.DialContext,
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   2048,
		WriteBufferSize:  512,
	}
}

// open dials connection i, subscribes it and waits for the ack.
func (f *localFleet) open(ctx context.Context, d *websocket.Dialer, i int) error {
	t0 := time.Now()
	g := f.cfg.Offset + i
	syms := subscriptions(g, f.cfg.SubsPerConn, f.cfg.Symbols)
	u := f.cfg.URLs[instanceOf(g, len(f.cfg.URLs), len(f.cfg.Symbols))]
	atConnect := f.cfg.SubscribeAtConnect && f.cfg.Proto != ProtoCentrifugo
	if atConnect {
		u += "?subscribe=ticks:" + strings.Join(syms, ",ticks:")
	}
	c, resp, err := d.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return fmt.Errorf("dial: %w", err)
	}
	sub, replies := subscribeMessage(f.cfg.Proto, syms)
	if !atConnect {
		if err := c.WriteMessage(websocket.TextMessage, sub); err != nil {
			c.Close()
			return fmt.Errorf("subscribe: %w", err)
		}
	}
	r := &reader{f: f, shard: f.lat[i%histShards], last: make(map[string]uint64, len(syms)),
		centrifugo: f.cfg.Proto == ProtoCentrifugo, awaiting: replies}
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	for !r.acked {
		if err := r.frame(c); err != nil {
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
			if err := r.frame(c); err != nil {
				if !r.f.closing.Load() && !isClosed(err) {
					f.errs.Add(1)
				}
				return
			}
		}
	}()
	return nil
}

func isClosed(err error) bool {
	return websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) ||
		strings.Contains(err.Error(), "use of closed network connection")
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

// reader is the state of one connection's read loop.
type reader struct {
	f     *localFleet
	shard *Histogram
	buf   []byte
	lat   []int64
	last  map[string]uint64 // channel → last seq seen
	acked bool

	centrifugo bool // the server speaks Centrifugo's JSON protocol
	awaiting   int  // centrifugo: replies still expected before acked
	pong       bool // centrifugo: a ping ({}) arrived, answer it
}

// frame reads one frame and handles each message in it.
func (r *reader) frame(c *websocket.Conn) error {
	_, rd, err := c.NextReader()
	if err != nil {
		return err
	}
	r.buf = r.buf[:0]
	for {
		if len(r.buf) == cap(r.buf) {
			r.buf = append(r.buf, 0)[:len(r.buf)]
		}
		n, err := rd.Read(r.buf[len(r.buf):cap(r.buf)])
		r.buf = r.buf[:len(r.buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	now := time.Now().UnixMicro()
	r.lat = r.lat[:0]
	var m msgCounts
	for msg := range bytes.SplitSeq(r.buf, []byte{'\n'}) {
		r.handle(msg, now, &m)
	}
	if len(r.lat) > 0 {
		r.shard.RecordMicros(r.lat)
	}
	if m.deliveries > 0 {
		r.f.deliveries.Add(m.deliveries)
	}
	if m.gaps > 0 {
		r.f.gaps.Add(m.gaps)
	}
	if m.outOfOrder > 0 {
		r.f.outOfOrder.Add(m.outOfOrder)
	}
	if m.errors > 0 {
		r.f.errs.Add(m.errors)
	}
	if r.pong {
		r.pong = false
		// Centrifugo disconnects a client that does not answer its
		// pings (every 25 s) within the pong timeout.
		if err := c.WriteMessage(websocket.TextMessage, []byte("{}")); err != nil {
			return fmt.Errorf("pong: %w", err)
		}
	}
	return nil
}

type msgCounts struct{ deliveries, gaps, outOfOrder, errors int64 }

var (
	tickPrefix  = []byte(`{"type":"tick",`)
	gapPrefix   = []byte(`{"type":"gap",`)
	ackPrefix   = []byte(`{"type":"ack"`)
	errorPrefix = []byte(`{"type":"error"`)
)

// handle accounts for one message. now is the frame's arrival, µs since
// the Unix epoch.
func (r *reader) handle(msg []byte, now int64, m *msgCounts) {
	if r.centrifugo {
		r.handleCentrifugo(msg, now, m)
		return
	}
	switch {
	case bytes.HasPrefix(msg, tickPrefix):
		t, ok := parseTick(msg)
		if !ok {
			m.errors++
			return
		}
		r.delivered(t, now, m)
	case bytes.HasPrefix(msg, gapPrefix):
		m.gaps++
	case bytes.HasPrefix(msg, ackPrefix):
		r.acked = true
	case bytes.HasPrefix(msg, errorPrefix):
		m.errors++
	}
}

// delivered accounts for one tick delivered.
func (r *reader) delivered(t wireTick, now int64, m *msgCounts) {
	m.deliveries++
	if t.seq > 0 {
		// seq increases per symbol but is not dense (docs/reference/http.md), so a
		// jump is no loss; losses show as gap messages and as deliveries
		// short of the expected count. A seq that does not increase is an
		// order violation.
		if last, seen := r.last[string(t.channel)]; seen && t.seq <= last {
			m.outOfOrder++
		}
		r.last[string(t.channel)] = t.seq
	}
	if t.sentMicros > 0 {
		r.lat = append(r.lat, sinceSent(now, t.sentMicros))
	}
}

// wireTick is what the reader needs of a tick message.
type wireTick struct {
	channel    []byte
	seq        uint64
	sentMicros int64 // the tick's size: its send time in µs modulo sentModulus (see doc.go)
}

// parseTick extracts channel, seq and size from a tick message as the
// gateway writes it, without allocating.
func parseTick(msg []byte) (wireTick, bool) { return parseTickWith(msg, `"seq":`, true) }

// parseTickWith is parseTick with the name of the sequence field; when
// that field is optional and absent, seq is 0 (not checked).
func parseTickWith(msg []byte, seqKey string, seqRequired bool) (wireTick, bool) {
	var t wireTick
	ch, ok := after(msg, `"channel":"`)
	if !ok {
		return t, false
	}
	end := bytes.IndexByte(ch, '"')
	if end < 0 {
		return t, false
	}
	t.channel = ch[:end]
	if seq, ok := after(msg, seqKey); ok {
		s, ok := leadingUint(seq)
		if !ok {
			return t, false
		}
		t.seq = s
	} else if seqRequired {
		return t, false
	}
	size, ok := after(msg, `"size":`)
	if !ok {
		return t, false
	}
	num := size[:numberLen(size)]
	if v, ok := leadingUint(num); ok && len(num) == digitsLen(num) {
		t.sentMicros = int64(v)
	} else if f, err := strconv.ParseFloat(string(num), 64); err == nil {
		t.sentMicros = int64(f) // not one of ours, or formatted as a float
	}
	return t, true
}

func after(b []byte, key string) ([]byte, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil, false
	}
	return b[i+len(key):], true
}

func digitsLen(b []byte) int {
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	return n
}

func numberLen(b []byte) int {
	n := 0
	for n < len(b) && (b[n] >= '0' && b[n] <= '9' || b[n] == '.' || b[n] == 'e' || b[n] == 'E' || b[n] == '-' || b[n] == '+') {
		n++
	}
	return n
}

// leadingUint parses the decimal digits at the start of b.
func leadingUint(b []byte) (uint64, bool) {
	var v uint64
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + uint64(b[n]-'0')
		n++
	}
	return v, n > 0
}
