package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/findash/findash/internal/market"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a hub on a real server fed through a real market.State: an
// httptest server on loopback (newEnv), or an http.Server on in-memory pipes
// inside a testing/synctest bubble (newBubbleEnv).
type env struct {
	t      *testing.T
	hub    *Hub
	state  *market.State
	srv    *httptest.Server // newEnv only
	url    string
	dialer *websocket.Dialer
	upd    market.Update
	ts     int64
}

const baseTS = 1764244800000

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	return newEnvOn(t, cfg, nil)
}

// newEnvOn is newEnv with the server's listener wrapped by wrap (nil: as
// it is).
func newEnvOn(t *testing.T, cfg Config, wrap func(net.Listener) net.Listener) *env {
	t.Helper()
	st := market.NewState()
	h := New(st, cfg, nil, prometheus.NewRegistry())
	srv := httptest.NewUnstartedServer(h)
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = h.Run(ctx) })
	e := &env{t: t, hub: h, state: st, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", dialer: websocket.DefaultDialer, ts: baseTS}
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer dcancel()
		if err := h.Drain(dctx); err != nil {
			t.Errorf("Drain: %v", err)
		}
		srv.Close()
		cancel()
		wg.Wait()
	})
	return e
}

// newBubbleEnv is newEnv for a testing/synctest bubble: the hub is served
// by an http.Server on net.Pipe connections, since goroutines blocked on
// real sockets would keep the bubble's clock from advancing. Call it inside
// synctest.Test; its cleanup drains the hub and stops every goroutine.
func newBubbleEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	st := market.NewState()
	h := New(st, cfg, nil, prometheus.NewRegistry())
	l := newPipeListener()
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(l) })
	wg.Go(func() { _ = h.Run(ctx) })
	d := *websocket.DefaultDialer
	d.NetDialContext = l.dial
	e := &env{t: t, hub: h, state: st, url: "ws://pipe/ws", dialer: &d, ts: baseTS}
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer dcancel()
		if err := h.Drain(dctx); err != nil {
			t.Errorf("Drain: %v", err)
		}
		_ = srv.Close()
		cancel()
		wg.Wait()
	})
	return e
}

// pipeListener is a net.Listener whose connections are the server ends of
// net.Pipe pairs; dial makes a pair and returns the client end.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	cli, srv := net.Pipe()
	select {
	case l.conns <- srv:
		return cli, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// progress is a count one goroutine raises and one other goroutine waits
// on: an explicit event where a test would otherwise poll with sleeps.
type progress struct {
	n      atomic.Int64
	raised chan struct{} // one slot: raised since the waiter last looked
}

func newProgress() *progress { return &progress{raised: make(chan struct{}, 1)} }

// set makes the count n and wakes the waiter.
func (p *progress) set(n int64) {
	p.n.Store(n)
	select {
	case p.raised <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func (p *progress) load() int64 { return p.n.Load() }

// waitFor blocks until the count is at least n; it reports false when ctx
// ends first.
func (p *progress) waitFor(ctx context.Context, n int64) bool {
	for p.n.Load() < n {
		select {
		case <-p.raised:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// feed applies ticks seq from..to of sym (1 s apart in event time) to the
// state and publishes them, in batches of batch.
func (e *env) feed(sym string, from, to uint64, batch int) {
	var ticks []market.Tick
	flush := func() {
		if len(ticks) == 0 {
			return
		}
		e.upd.Reset()
		e.state.Apply(ticks, &e.upd)
		e.hub.Publish(ticks, &e.upd)
		ticks = ticks[:0]
	}
	for s := from; s <= to; s++ {
		ticks = append(ticks, market.Tick{Symbol: sym, TS: baseTS + int64(s)*1000, Price: 100 + float64(s%100)/4, Size: 0.5, Seq: s})
		if len(ticks) == batch {
			flush()
		}
	}
	flush()
}

type client struct {
	t       *testing.T
	c       *websocket.Conn
	pending []string
	frames  []string
}

type srvMsg struct {
	Type    string          `json:"type"`
	ID      *int64          `json:"id"`
	Channel string          `json:"channel"`
	Seq     uint64          `json:"seq"`
	From    uint64          `json:"from"`
	To      uint64          `json:"to"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	AfterMS int64           `json:"after_ms"`
	Data    json.RawMessage `json:"data"`
	raw     string
}

func (e *env) dial(query string, hdr http.Header) *client {
	e.t.Helper()
	c, resp, err := e.dialer.Dial(e.url+query, hdr)
	if err != nil {
		e.t.Fatalf("dial: %v (response %v)", err, resp)
	}
	e.t.Cleanup(func() { c.Close() })
	return &client{t: e.t, c: c}
}

// growBuffer gives a dialSmallBuffer client a normal receive buffer again.
func (c *client) growBuffer() {
	if tc, ok := c.c.NetConn().(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 20)
	}
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("send %s: %v", s, err)
	}
}

// next returns the next server message (frames are split on '\n').
func (c *client) next() srvMsg {
	c.t.Helper()
	m, err := c.tryNext(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *client) tryNext(wait time.Duration) (srvMsg, error) {
	for len(c.pending) == 0 {
		_ = c.c.SetReadDeadline(time.Now().Add(wait))
		_, b, err := c.c.ReadMessage()
		if err != nil {
			return srvMsg{}, err
		}
		c.frames = append(c.frames, string(b))
		c.pending = strings.Split(string(b), "\n")
	}
	raw := c.pending[0]
	c.pending = c.pending[1:]
	var m srvMsg
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		c.t.Fatalf("server sent bad JSON %q: %v", raw, err)
	}
	m.raw = raw
	return m, nil
}

// expectClose reads until the connection closes and returns the close code.
func (c *client) expectClose() (code int, msgs []srvMsg) {
	c.t.Helper()
	for {
		m, err := c.tryNext(5 * time.Second)
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, msgs
			}
			c.t.Fatalf("want a close frame, got %v", err)
		}
		msgs = append(msgs, m)
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

var _ = io.Discard

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// dialSmallBuffer dials with a 128 KiB socket receive buffer (above the
// loopback MSS, so the window still opens), so that a client
// that does not read soon stops taking data.
func (e *env) dialSmallBuffer() *client {
	e.t.Helper()
	d := *websocket.DefaultDialer
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(128 << 10)
		}
		return c, err
	}
	c, _, err := d.Dial(e.url, nil)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { c.Close() })
	return &client{t: e.t, c: c}
}
