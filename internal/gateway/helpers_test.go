package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// env is a hub on a real httptest server fed through a real market.State.
type env struct {
	t     *testing.T
	hub   *Hub
	state *market.State
	srv   *httptest.Server
	url   string
	upd   market.Update
	ts    int64
}

const baseTS = 1764244800000

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	st := market.NewState()
	h := New(st, cfg, nil, prometheus.NewRegistry())
	srv := httptest.NewServer(h)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = h.Run(ctx) })
	e := &env{t: t, hub: h, state: st, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", ts: baseTS}
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
	c, resp, err := websocket.DefaultDialer.Dial(e.url+query, hdr)
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
