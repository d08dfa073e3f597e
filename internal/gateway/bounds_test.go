package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/findash/findash/internal/market"
)

// subscribeAll is a subscribe message for ticks of every symbol, resuming
// after since when since >= 0.
func subscribeAll(symbols []string, since int64) string {
	chans := make([]string, len(symbols))
	resume := make([]string, len(symbols))
	for i, s := range symbols {
		chans[i] = `"ticks:` + s + `"`
		resume[i] = fmt.Sprintf(`"ticks:%s":%d`, s, since)
	}
	m := `{"op":"subscribe","id":1,"channels":[` + strings.Join(chans, ",") + `]`
	if since >= 0 {
		m += `,"since":{` + strings.Join(resume, ",") + `}`
	}
	return m + "}"
}

func symbolNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

// seqChecker checks that each channel's ticks arrive in order, each seq
// once, with gaps only where allowed.
type seqChecker struct {
	t     *testing.T
	next  map[string]uint64 // channel → the seq expected next
	ticks int
	gaps  map[string]int
}

func newSeqChecker(t *testing.T, symbols []string, first uint64) *seqChecker {
	k := &seqChecker{t: t, next: map[string]uint64{}, gaps: map[string]int{}}
	for _, s := range symbols {
		k.next["ticks:"+s] = first
	}
	return k
}

// past reports whether every channel is past seq (ticks or gaps).
func (k *seqChecker) past(seq uint64) bool {
	for _, n := range k.next {
		if n <= seq {
			return false
		}
	}
	return true
}

func (k *seqChecker) see(m srvMsg) {
	k.t.Helper()
	switch m.Type {
	case "tick":
		if want := k.next[m.Channel]; m.Seq != want {
			k.t.Fatalf("%s: tick %d, want %d", m.Channel, m.Seq, want)
		}
		k.next[m.Channel]++
		k.ticks++
	case "gap":
		if want := k.next[m.Channel]; m.From != want || m.To < m.From {
			k.t.Fatalf("%s: %s, want a gap from %d", m.Channel, m.raw, want)
		}
		k.next[m.Channel] = m.To + 1
		k.gaps[m.Channel]++
	}
}

// TestStallDoesNotGap is issue 13 item 6: a client of 50 symbols that stops
// reading for 0.2 s while 10,000 ticks a second flow got gaps, because its
// queue of 1,024 entries counted one per symbol and publish. The queue is
// bounded in bytes now, and what does not fit is read from the rings.
func TestStallDoesNotGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, Config{})
		syms := symbolNames("STL", 50)
		c := e.dial("", nil)
		c.send(subscribeAll(syms, -1))
		for range 1 + len(syms) { // ack and snapshots
			c.next()
		}
		const rounds = 200 // 1 s at 200 rounds of 50 ticks a second
		done := make(chan struct{})
		go func() {
			defer close(done)
			for r := uint64(1); r <= rounds; r++ {
				for _, s := range syms {
					e.feed(s, r, r, 1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		k := newSeqChecker(t, syms, 1)
		stalled := false
		for !k.past(rounds) {
			if !stalled && k.ticks >= 20*len(syms) {
				stalled = true
				time.Sleep(200 * time.Millisecond) // the stall
			}
			k.see(c.next())
		}
		<-done
		if len(k.gaps) > 0 {
			t.Fatalf("gaps after a 0.2 s stall: %v", k.gaps)
		}
	})
}

// TestResumeStreamsFromRing is issue 13 item 2 in the small: a client
// resuming 100 channels with since and not reading holds at most its
// queue's bytes (the replay is read from the rings as it drains, not
// copied per connection), and once it reads it gets every held tick of
// every channel, in order, then live ticks, with no gap.
func TestResumeStreamsFromRing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const bound = 64 << 10
		e := newBubbleEnv(t, Config{SendQueueBytes: bound})
		syms := symbolNames("RSM", 100)
		for _, s := range syms {
			e.feed(s, 1, 1000, 250)
		}
		c := e.dial("", nil)
		c.send(subscribeAll(syms, 0))
		synctest.Wait() // the writer is blocked on the pipe: nothing reads
		e.hub.connsMu.Lock()
		for cn := range e.hub.conns {
			cn.mu.Lock()
			held := cn.heldLocked()
			cn.mu.Unlock()
			if held > 2*bound {
				t.Errorf("a connection holds %d bytes for its writer, bound %d (replies: twice that)", held, bound)
			}
		}
		e.hub.connsMu.Unlock()
		k := newSeqChecker(t, syms, 1)
		for k.ticks < len(syms)*1000 {
			k.see(c.next())
		}
		for _, s := range syms[:3] {
			e.feed(s, 1001, 1001, 1)
		}
		for k.ticks < len(syms)*1000+3 {
			k.see(c.next())
		}
		if len(k.gaps) > 0 {
			t.Fatalf("gaps in a replay the rings held: %v", k.gaps)
		}
	})
}

// TestSlowConsumerGapThenClose is issue 13 item 7: a client that reads,
// but more slowly than its channel runs, falls out of the replay ring: it
// gets a gap, and still behind MaxLag later, a gap for what it has not
// got and close 1008. Before, it got gaps for ever and was never closed.
func TestSlowConsumerGapThenClose(t *testing.T) {
	for _, withLog := range []bool{false, true} {
		t.Run(fmt.Sprintf("log=%v", withLog), func(t *testing.T) { testSlowConsumer(t, withLog) })
	}
}

// testSlowConsumer is TestSlowConsumerGapThenClose without or with History:
// with it, the client falls out of the ring but gets the ticks from the
// log, until MaxLag; its only gap comes with the close.
func testSlowConsumer(t *testing.T, withLog bool) {
	synctest.Test(t, func(t *testing.T) {
		l := &logHistory{ticks: map[string][]market.Tick{}, first: 1}
		cfg := Config{ReplayTicks: 1000, MaxLag: time.Second}
		if withLog {
			cfg.History = l
		}
		e := newBubbleEnv(t, cfg)
		c := e.dial("", nil)
		c.send(`{"op":"subscribe","id":1,"channels":["ticks:SLW"]}`)
		c.next()
		c.next()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // 10,000 ticks a second, for at most 10 s
			defer close(done)
			for s := uint64(1); s <= 100_000; s += 100 {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				e.feedLogged(l, "SLW", s, s+99)
			}
		}()
		defer func() { close(stop); <-done }()
		k := newSeqChecker(t, []string{"SLW"}, 1)
		start := time.Now()
		for {
			m, err := c.tryNext(time.Minute)
			if err != nil {
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
					t.Fatalf("connection ended with %v after %v (%d ticks, gaps %v), want close 1008", err, time.Since(start), k.ticks, k.gaps)
				}
				t.Logf("closed %d %q after %v; %d ticks, gaps %v", ce.Code, ce.Text, time.Since(start), k.ticks, k.gaps)
				break
			}
			k.see(m)
			if len(c.pending) == 0 {
				time.Sleep(100 * time.Millisecond) // one frame per 100 ms
			}
		}
		want := 2 // one on falling out of the ring, one before the close
		if withLog {
			want = 1 // the log has what the ring lost: only the close's
		}
		if k.gaps["ticks:SLW"] != want && !(want == 2 && k.gaps["ticks:SLW"] > 2) {
			t.Errorf("got %d gaps, want %d", k.gaps["ticks:SLW"], want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("closed after %v, want soon after MaxLag (1s) past falling out of the ring", d)
		}
	})
}

// TestStalledClientGetsCloseFrame is the other half of issue 13 item 7: a
// client that takes nothing for the write timeout was cut without a word.
// Now the frame being written is finished, then a gap and close 1008 follow
// if the client reads them within another write timeout.
func TestStalledClientGetsCloseFrame(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, Config{WriteTimeout: 10 * time.Second, MaxLag: time.Hour})
		c := e.dial("", nil)
		c.send(`{"op":"subscribe","id":1,"channels":["ticks:STD"]}`)
		c.next()
		c.next()
		done := make(chan struct{})
		go func() { // 1,000 ticks a second for 15 s
			defer close(done)
			for s := uint64(1); s <= 15_000; s += 100 {
				e.feed("STD", s, s+99, 100)
				time.Sleep(100 * time.Millisecond)
			}
		}()
		time.Sleep(15 * time.Second) // the client takes nothing
		k := newSeqChecker(t, []string{"STD"}, 1)
		for {
			m, err := c.tryNext(time.Minute)
			if err != nil {
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
					t.Fatalf("connection ended with %v after %d ticks and gaps %v, want close 1008", err, k.ticks, k.gaps)
				}
				t.Logf("closed %d %q; %d ticks, gaps %v", ce.Code, ce.Text, k.ticks, k.gaps)
				break
			}
			k.see(m)
		}
		<-done
		if k.gaps["ticks:STD"] == 0 {
			t.Errorf("no gap before the close")
		}
	})
}

// logHistory is the event log of a test: every tick fed, in seq order,
// from the first it still holds.
type logHistory struct {
	mu    sync.Mutex
	ticks map[string][]market.Tick
	first uint64 // ticks below it are dropped (retention)
	reads int
}

func (l *logHistory) add(ticks []market.Tick) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range ticks {
		l.ticks[t.Symbol] = append(l.ticks[t.Symbol], t)
	}
}

func (l *logHistory) Ticks(_ context.Context, symbol string, after, until uint64, atLeast int) ([]market.Tick, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	var lost uint64
	if after+1 < l.first {
		lost = l.first - 1
		after = lost
	}
	var out []market.Tick
	for _, t := range l.ticks[symbol] {
		if t.Seq > after && t.Seq >= l.first && t.Seq <= until && len(out) < atLeast {
			out = append(out, t)
		}
	}
	return out, lost, nil
}

// feedLogged is feed that also appends the ticks to the log.
func (e *env) feedLogged(l *logHistory, sym string, from, to uint64) {
	var ticks []market.Tick
	for s := from; s <= to; s++ {
		ticks = append(ticks, market.Tick{Symbol: sym, TS: baseTS + int64(s)*1000, Price: 100, Size: 0.5, Seq: s})
	}
	l.add(ticks)
	e.upd.Reset()
	e.state.Apply(ticks, &e.upd)
	e.hub.Publish(ticks, &e.upd)
}

// TestResumeFromHistory is issue 13 item 15: a resume from before the
// replay ring (after a drain at a high tick rate, or across a restart)
// reads the rest from the durable log instead of a gap; only what the log
// itself dropped is a gap.
func TestResumeFromHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &logHistory{ticks: map[string][]market.Tick{}, first: 1}
		e := newBubbleEnv(t, Config{ReplayTicks: 100, SendQueueBytes: 64 << 10, History: l})
		e.feedLogged(l, "HST", 1, 5000) // the ring holds 4901–5000
		c := e.dial("", nil)
		c.send(`{"op":"subscribe","id":1,"channels":["ticks:HST"],"since":{"ticks:HST":10}}`)
		c.next()
		c.next()
		k := newSeqChecker(t, []string{"HST"}, 11)
		for !k.past(5000) {
			k.see(c.next())
		}
		e.feedLogged(l, "HST", 5001, 5001)
		k.see(c.next())
		if len(k.gaps) > 0 || k.ticks != 4991 {
			t.Fatalf("got %d ticks and gaps %v, want 4991 ticks and no gap", k.ticks, k.gaps)
		}

		l.mu.Lock()
		l.first = 1001 // the log dropped 1–1000
		l.mu.Unlock()
		c2 := e.dial("", nil)
		c2.send(`{"op":"subscribe","id":1,"channels":["ticks:HST"],"since":{"ticks:HST":500}}`)
		c2.next()
		c2.next()
		if m := c2.next(); m.raw != `{"type":"gap","channel":"ticks:HST","from":501,"to":1000}` {
			t.Fatalf("got %s, want gap 501..1000 (dropped by the log)", m.raw)
		}
		k = newSeqChecker(t, []string{"HST"}, 1001)
		for !k.past(5001) {
			k.see(c2.next())
		}
		if len(k.gaps) > 0 {
			t.Fatalf("gaps %v after the log's own", k.gaps)
		}
	})
}

// TestDrainWaitsForLaggingClient is issue 13 item 15: on SIGTERM the server
// waited 1 s for a client's reply to its close frame, then closed the
// socket; a client still reading what came before answered later, and got
// a reset (its kernel then throws away what it had not read yet, the close
// frame too). The server now
// waits up to the write timeout: the lagging client reads what was queued
// (the rest it resumes with since), the reconnect and the close, answers,
// and then sees a clean end of stream.
func TestDrainWaitsForLaggingClient(t *testing.T) {
	e := newEnv(t, Config{ReconnectAfter: time.Millisecond, ReconnectJitter: time.Millisecond})
	c := e.dialSmallBuffer()
	c.send(`{"op":"subscribe","id":1,"channels":["ticks:LAG"]}`)
	c.next()
	c.next()
	e.feed("LAG", 1, 20_000, 1000) // ~2.6 MB: more than the socket buffers take
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- e.hub.Drain(ctx) }()
	time.Sleep(2 * time.Second) // the client lags: it reads nothing for 2 s
	// A lagging client still sends (a ping of its own, here): had the
	// server closed its socket already, this would bring the reset.
	c.send(`{"op":"ping","id":2}`)
	c.growBuffer()
	k := newSeqChecker(t, []string{"LAG"}, 1)
	sawReconnect := false
	for {
		m, err := c.tryNext(10 * time.Second)
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Fatalf("after %d ticks: %v, want close 1001", k.ticks, err)
			}
			break
		}
		k.see(m)
		sawReconnect = sawReconnect || m.Type == "reconnect"
	}
	if !sawReconnect || k.ticks == 0 {
		t.Errorf("got %d ticks, reconnect %v; want ticks in order, then reconnect (the rest: a resume)", k.ticks, sawReconnect)
	}
	// gorilla answered the close frame; the server then closes its side.
	nc := c.c.NetConn()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("after the close handshake: %v, want EOF (a reset means the server had closed before the reply)", err)
	}
	if err := <-drained; err != nil {
		t.Errorf("Drain: %v", err)
	}
}
