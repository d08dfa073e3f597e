package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/findash/findash/internal/market"
)

func TestSubscribeSnapshotLiveTicks(t *testing.T) {
	e := newEnv(t, Config{})
	e.feed("BTC-USD", 1, 3, 3)
	c := e.dial("", nil)
	c.send(`{"op":"subscribe","id":1,"channels":["ticks:BTC-USD","candles:BTC-USD:1m","quotes"]}`)
	var got []string
	for range 4 { // ack + 3 snapshots
		got = append(got, c.next().raw)
	}
	e.feed("BTC-USD", 4, 8, 2)
	for range 5 {
		m := c.next()
		for m.Type != "tick" { // candles and quotes interleave
			m = c.next()
		}
		got = append(got, m.raw)
	}
	golden(t, "subscribe", strings.Join(got, "\n")+"\n")
	for i, want := range []uint64{4, 5, 6, 7, 8} {
		var m srvMsg
		_ = jsonUnmarshal(got[4+i], &m)
		if m.Seq != want {
			t.Errorf("tick %d seq = %d, want %d", i, m.Seq, want)
		}
	}
}

func TestUnsubscribeAndPing(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dial("", nil)
	c.send(`{"op":"subscribe","id":1,"channels":["ticks:AAPL"]}`)
	if m := c.next(); m.Type != "ack" {
		t.Fatalf("got %s, want ack", m.raw)
	}
	if m := c.next(); m.Type != "snapshot" || string(m.Data) != "null" {
		t.Fatalf("got %s, want snapshot with null data", m.raw)
	}
	e.feed("AAPL", 1, 1, 1)
	if m := c.next(); m.Type != "tick" || m.Seq != 1 {
		t.Fatalf("got %s, want tick 1", m.raw)
	}
	c.send(`{"op":"unsubscribe","id":2,"channels":["ticks:AAPL"]}`)
	if m := c.next(); m.Type != "ack" || *m.ID != 2 {
		t.Fatalf("got %s, want ack 2", m.raw)
	}
	e.feed("AAPL", 2, 5, 1)
	c.send(`{"op":"ping","id":4}`)
	if m := c.next(); m.raw != `{"type":"pong","id":4}` {
		t.Fatalf("got %s, want pong 4 (and no ticks after unsubscribe)", m.raw)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dial("", nil)
	tests := []struct{ send, code string }{
		{`{"op":"subscribe","id":1,"channels":["ticks:btc"]}`, CodeInvalidChannel},
		{`{"op":"subscribe","id":2,"channels":["candles:BTC:2m"]}`, CodeInvalidChannel},
		{`{"op":"subscribe","id":3,"channels":["news"]}`, CodeInvalidChannel},
		{`{"op":"dance","id":4}`, CodeInvalidRequest},
		{`{"op":"subscribe",`, CodeInvalidJSON},
		{`{"op":"subscribe","id":6,"channels":["alerts"]}`, CodeUnauthorized},
	}
	var got []string
	for _, tt := range tests {
		c.send(tt.send)
		m := c.next()
		if m.Type != "error" || m.Code != tt.code {
			t.Errorf("%s: got %s, want error %s", tt.send, m.raw, tt.code)
		}
		got = append(got, m.raw)
	}
	golden(t, "errors", strings.Join(got, "\n")+"\n")
}

func TestResumeSince(t *testing.T) {
	e := newEnv(t, Config{})
	e.feed("ETH-USD", 1, 50, 7)
	c := e.dial("", nil)
	c.send(`{"op":"subscribe","id":1,"channels":["ticks:ETH-USD"],"since":{"ticks:ETH-USD":20}}`)
	c.next() // ack
	c.next() // snapshot
	done := make(chan struct{})
	go func() { defer close(done); e.feed("ETH-USD", 51, 80, 3) }() // live while replaying
	want := uint64(21)
	for want <= 80 {
		m := c.next()
		if m.Type != "tick" || m.Seq != want {
			t.Fatalf("got %s, want tick %d", m.raw, want)
		}
		want++
	}
	<-done
}

func TestResumeOlderThanRing(t *testing.T) {
	e := newEnv(t, Config{ReplayTicks: 10})
	e.feed("SOL-USD", 1, 30, 4)
	c := e.dial("", nil)
	c.send(`{"op":"subscribe","id":1,"channels":["ticks:SOL-USD"],"since":{"ticks:SOL-USD":5}}`)
	c.next()
	c.next()
	if m := c.next(); m.raw != `{"type":"gap","channel":"ticks:SOL-USD","from":6,"to":20}` {
		t.Fatalf("got %s, want gap 6..20", m.raw)
	}
	for want := uint64(21); want <= 30; want++ {
		if m := c.next(); m.Seq != want {
			t.Fatalf("got %s, want tick %d", m.raw, want)
		}
	}
}

func TestSetFloorGapForUnseenSymbol(t *testing.T) {
	e := newEnv(t, Config{})
	e.hub.SetFloor(1000)
	c := e.dial("", nil)
	c.send(`{"op":"subscribe","id":1,"channels":["ticks:XRP-USD"],"since":{"ticks:XRP-USD":900}}`)
	c.next()
	c.next()
	if m := c.next(); m.From != 901 || m.To != 1000 || m.Type != "gap" {
		t.Fatalf("got %s, want gap 901..1000", m.raw)
	}
	e.feed("XRP-USD", 1001, 1001, 1)
	if m := c.next(); m.Seq != 1001 {
		t.Fatalf("got %s, want tick 1001", m.raw)
	}
}

// A client that does not read gets gaps; one that reads gets everything;
// the slow one's queue never exceeds its bound in bytes.
func TestSlowClient(t *testing.T) {
	const queue = 256 << 10
	e := newEnv(t, Config{SendQueueBytes: queue, WriteTimeout: time.Minute, MaxLag: time.Minute})
	fast := e.dial("", nil)
	slow := e.dialSmallBuffer()
	for _, c := range []*client{fast, slow} {
		c.send(`{"op":"subscribe","id":1,"channels":["ticks:BTC-USD"]}`)
		c.next()
		c.next()
	}
	const total = 100000
	errc := make(chan error, 1)
	fastSeen := newProgress()
	go func() {
		for want := uint64(1); want <= total; want++ {
			m, err := fast.tryNext(10 * time.Second)
			if err != nil || m.Seq != want {
				errc <- fmt.Errorf("fast client: got %s (%v), want tick %d", m.raw, err, want)
				fastSeen.set(total) // release the publisher
				return
			}
			fastSeen.set(int64(want))
		}
		errc <- nil
	}()
	maxQ := 0
	t0 := time.Now()
	for s := uint64(1); s <= total; s += 100 {
		// the fast client keeps up: it is never 500 behind
		fastSeen.waitFor(t.Context(), int64(s)-500)
		e.feed("BTC-USD", s, s+99, 100)
		e.hub.connsMu.Lock()
		for c := range e.hub.conns {
			c.mu.Lock()
			maxQ = max(maxQ, c.heldLocked())
			c.mu.Unlock()
		}
		e.hub.connsMu.Unlock()
	}
	t.Logf("published in %v", time.Since(t0))
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Logf("fast client done after %v", time.Since(t0))
	if maxQ > queue {
		t.Errorf("a queue held %d bytes, bound %d", maxQ, queue)
	}
	slow.growBuffer()
	// the slow client now reads: every seq is a tick or inside a gap, in order
	next, gaps := uint64(1), 0
	for next <= total {
		m := slow.next()
		switch m.Type {
		case "tick":
			if m.Seq != next {
				t.Fatalf("slow client: tick %d, want %d", m.Seq, next)
			}
			next++
		case "gap":
			if m.From != next || m.To < m.From {
				t.Fatalf("slow client: %s, want a gap from %d", m.raw, next)
			}
			next = m.To + 1
			gaps++
		default:
			t.Fatalf("slow client: unexpected %s", m.raw)
		}
	}
	t.Logf("slow client done after %v, %d gaps, %d frames", time.Since(t0), gaps, len(slow.frames))
	if gaps == 0 {
		t.Errorf("slow client got no gap")
	}
}

// TestQuotesConflated runs in a synctest bubble: the quotes flush is timed
// by Run's ticker on the bubble's clock, so its delay is exact.
func TestQuotesConflated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{QuotesInterval: 250 * time.Millisecond, WriteCoalesce: 50 * time.Millisecond}
		e := newBubbleEnv(t, cfg)
		c := e.dial("", nil)
		c.send(`{"op":"subscribe","id":1,"channels":["quotes"]}`)
		c.next()
		if m := c.next(); m.Type != "snapshot" || string(m.Data) != "[]" {
			t.Fatalf("got %s, want empty quotes snapshot", m.raw)
		}
		start := time.Now()
		e.feed("AAA", 1, 200, 1) // 200 quote changes of AAA, 2 of BBB, at one instant
		e.feed("BBB", 1, 2, 1)
		m := c.next()
		var qs []market.Quote
		if err := jsonUnmarshal(string(m.Data), &qs); err != nil || m.Type != "quotes" {
			t.Fatalf("got %s, want quotes", m.raw)
		}
		if waited, most := time.Since(start), cfg.QuotesInterval+cfg.WriteCoalesce; waited > most {
			t.Errorf("quotes came after %v, want at most %v (QuotesInterval + WriteCoalesce)", waited, most)
		}
		got := map[string]uint64{}
		for _, q := range qs {
			got[q.Symbol] = q.Seq
		}
		if diff := cmp.Diff(map[string]uint64{"AAA": 200, "BBB": 2}, got); diff != "" {
			t.Errorf("one conflated quotes message (-want +got):\n%s", diff)
		}
	})
}

func TestCandlesConflated(t *testing.T) {
	// no writer runs for this connection: queue and pending slot are observed directly
	st := market.NewState()
	h := New(st, Config{}, nil, nil)
	c := newConn(h, 0)
	c.writing = true // as if a writer were busy, so none is started
	s := &subscription{c: c, ch: Channel{Kind: KindCandles, Symbol: "AAA", Interval: market.Interval1m}, name: "candles:AAA:1m", idx: -1}
	c.subs = []*subscription{s}
	h.register(s, 0, false)
	var u market.Update
	for seq := uint64(1); seq <= 100; seq++ {
		u.Reset()
		ticks := []market.Tick{{Symbol: "AAA", TS: baseTS + int64(seq), Price: float64(seq), Size: 1, Seq: seq}}
		st.Apply(ticks, &u)
		h.Publish(ticks, &u)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.q) != 1 { // the snapshot only
		t.Errorf("queue holds %d messages, want 1 (snapshot)", len(c.q))
	}
	var m srvMsg
	if err := jsonUnmarshal(string(s.pending), &m); err != nil {
		t.Fatal(err)
	}
	var cd market.Candle
	_ = jsonUnmarshal(string(m.Data), &cd)
	if m.Type != "candle" || cd.Close != 100 || cd.Count != 100 {
		t.Errorf("pending = %s, want the latest candle (close 100, count 100)", s.pending)
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		sends []string
		codes []string
	}{
		{"subscriptions", Config{MaxSubscriptions: 2},
			[]string{`{"op":"subscribe","id":1,"channels":["ticks:A","ticks:B","ticks:C"]}`, `{"op":"subscribe","id":2,"channels":["ticks:A","ticks:B","ticks:C"]}`, `{"op":"subscribe","id":3,"channels":["ticks:A","ticks:B","ticks:C"]}`},
			[]string{CodeTooManySubscriptions, CodeTooManySubscriptions, CodeTooManySubscriptions}},
		{"rate", Config{MessageRate: 0.01, MessageBurst: 2},
			[]string{`{"op":"ping","id":1}`, `{"op":"ping","id":2}`, `{"op":"ping","id":3}`, `{"op":"ping","id":4}`, `{"op":"ping","id":5}`},
			[]string{"", "", CodeRateLimited, CodeRateLimited, CodeRateLimited}},
		{"size", Config{MaxMessageBytes: 1024},
			[]string{`{"op":"ping","id":1,"pad":"` + strings.Repeat("x", 2000) + `"}`},
			[]string{CodeMessageTooLarge}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			c := e.dial("", nil)
			for _, s := range tt.sends {
				c.send(s)
			}
			code, msgs := c.expectClose()
			want := websocket.ClosePolicyViolation
			if tt.name == "size" {
				want = websocket.CloseMessageTooBig // refused from the frame header
			}
			if code != want {
				t.Errorf("close code %d, want %d", code, want)
			}
			var codes []string
			for _, m := range msgs {
				codes = append(codes, m.Code)
			}
			if diff := cmp.Diff(tt.codes, codes); diff != "" {
				t.Errorf("error codes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	e := newEnv(t, Config{AllowedOrigins: []string{"https://dash.example.com"}})
	tests := []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"https://dash.example.com", true},
		{"http://" + strings.TrimPrefix(e.srv.URL, "http://"), true},
		{"https://evil.example.com", false},
	}
	for _, tt := range tests {
		hdr := http.Header{}
		if tt.origin != "" {
			hdr.Set("Origin", tt.origin)
		}
		c, resp, err := websocket.DefaultDialer.Dial(e.url, hdr)
		if (err == nil) != tt.ok {
			t.Errorf("Origin %q: err %v, want ok=%v", tt.origin, err, tt.ok)
		}
		if !tt.ok && resp != nil && resp.StatusCode != http.StatusForbidden {
			t.Errorf("Origin %q: status %d, want 403", tt.origin, resp.StatusCode)
		}
		if c != nil {
			c.Close()
		}
	}
}

type tokens map[string]int64

func (m tokens) AuthenticateToken(_ context.Context, tok string) (int64, error) {
	if id, ok := m[tok]; ok {
		return id, nil
	}
	return 0, market.ErrNotFound
}

func TestAlerts(t *testing.T) {
	e := newEnv(t, Config{Auth: tokens{"secret": 7}})
	if _, resp, err := websocket.DefaultDialer.Dial(e.url+"?token=wrong", nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad token: err %v, want 401", err)
	}
	c := e.dial("?token=secret", nil)
	c.send(`{"op":"subscribe","id":1,"channels":["alerts"]}`)
	if m := c.next(); m.Type != "ack" {
		t.Fatalf("got %s, want ack", m.raw)
	}
	e.hub.PublishAlert(8, map[string]any{"alert_id": 1}) // someone else's
	e.hub.PublishAlert(7, map[string]any{"alert_id": 2, "symbol": "AAPL"})
	if m := c.next(); m.raw != `{"type":"alert","channel":"alerts","data":{"alert_id":2,"symbol":"AAPL"}}` {
		t.Fatalf("got %s, want alert 2", m.raw)
	}
}

func TestDrain(t *testing.T) {
	e := newEnv(t, Config{ReconnectAfter: 100 * time.Millisecond, ReconnectJitter: 50 * time.Millisecond})
	c := e.dial("", nil)
	c.send(`{"op":"subscribe","id":1,"channels":["ticks:BTC-USD"]}`)
	c.next()
	c.next()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- e.hub.Drain(ctx) }()
	code, msgs := c.expectClose()
	if code != websocket.CloseGoingAway {
		t.Errorf("close code %d, want 1001", code)
	}
	if len(msgs) != 1 || msgs[0].Type != "reconnect" || msgs[0].AfterMS < 100 || msgs[0].AfterMS >= 150 {
		t.Errorf("got %v, want one reconnect with after_ms in [100,150)", msgs)
	}
	if err := <-errc; err != nil {
		t.Errorf("Drain: %v", err)
	}
	_, resp, err := websocket.DefaultDialer.Dial(e.url, nil)
	if err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial while draining: %v, want 503", err)
	}
}

// TestPingsSpreadOverInterval checks that every client is pinged within
// one PingInterval and that the pings are spread over it, not sent to all
// connections at the same moment (a burst that held up deliveries at 50,000
// connections). It runs in a synctest bubble: Run's ticker and the clients'
// clock are the bubble's, so the instants compared are exact.
func TestPingsSpreadOverInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 480 * time.Millisecond
		e := newBubbleEnv(t, Config{PingInterval: interval})
		start := time.Now()
		const n = 32
		firstPing := make(chan time.Duration, n) // each client's first ping, after start
		clients := make([]*websocket.Conn, n)
		var wg sync.WaitGroup
		for i := range clients {
			c := e.dial("", nil).c
			clients[i] = c
			pinged := false // the reading goroutine's own
			c.SetPingHandler(func(string) error {
				if !pinged {
					pinged = true
					firstPing <- time.Since(start)
				}
				return c.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second))
			})
			wg.Go(func() {
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						return
					}
				}
			})
		}
		timeout := time.After(3 * interval)
		lo, hi := time.Duration(1<<62), time.Duration(0)
		for got := range n {
			select {
			case at := <-firstPing:
				lo, hi = min(lo, at), max(hi, at)
			case <-timeout:
				t.Fatalf("%d of %d clients pinged within %v", got, n, 3*interval)
			}
		}
		if hi > interval {
			t.Errorf("the last client was first pinged after %v, want within PingInterval (%v)", hi, interval)
		}
		if spread := hi - lo; spread < interval/2 {
			t.Errorf("first pings of %d clients spread over %v, want at least %v (all at once is a burst)", n, spread, interval/2)
		}
		for _, c := range clients {
			c.Close()
		}
		wg.Wait()
	})
}

// TestAckMeansSubscribed checks that a client that acts on the ack at once
// gets what follows: the ack used to be written while the channels were
// still being registered, so an alert fired (or a tick published) right on
// the ack could be missed (TestDrainResumeOnAnotherHub failed that way in CI).
func TestAckMeansSubscribed(t *testing.T) {
	e := newEnv(t, Config{Auth: tokens{"secret": 7}, MessageRate: 1000})
	// Forty ticks channels before alerts: registering them (a snapshot
	// each) keeps the window between the ack and the alerts registration
	// open long enough to be hit.
	chans := make([]string, 0, 41)
	for k := range 40 {
		chans = append(chans, fmt.Sprintf("%q", fmt.Sprintf("ticks:S%d", k)))
	}
	sub := `{"op":"subscribe","id":1,"channels":[` + strings.Join(append(chans, `"alerts"`), ",") + `]}`
	for i := range 100 {
		c := e.dial("?token=secret", nil)
		c.send(sub)
		if m := c.next(); m.Type != "ack" {
			t.Fatalf("got %s, want ack", m.raw)
		}
		e.hub.PublishAlert(7, map[string]any{"alert_id": i})
		want := fmt.Sprintf(`{"type":"alert","channel":"alerts","data":{"alert_id":%d}}`, i)
		for m := c.next(); m.raw != want; m = c.next() {
			if m.Type != "snapshot" {
				t.Fatalf("round %d: got %s, want %s", i, m.raw, want)
			}
		}
		c.c.Close()
	}
}
