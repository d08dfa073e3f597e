package feed_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/findash/findash/internal/feed"
	"github.com/findash/findash/internal/feed/fakeexchange"
	"github.com/findash/findash/internal/testenv"
)

// clock is a wall clock a test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Status (and so /api/v1/feeds and the readiness check) says connected
// while the venue talks, with the counts of what arrived, and degraded once
// it has been silent past StaleAfter, although the connection stays open;
// the next message makes it connected again.
func TestStatusConnectedThenDegradedWhenTheVenueStalls(t *testing.T) {
	b := openBus(t, t.TempDir())
	clk := &clock{now: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	// The venue stamps its trades 250 ms before they reach findash.
	venueNow := func() time.Time { return clk.Now().Add(-250 * time.Millisecond) }
	rig := newRig(t, fakeexchange.Config{Venue: fakeexchange.Binance, Now: venueNow}, "BTC-USDT")
	rig.cfg.Now, rig.cfg.StaleAfter = clk.Now, 30*time.Second
	f := feed.NewBinance(rig.cfg, b, feed.NewMetrics(rig.reg), discard())

	if st := f.Status(); st.State != feed.StateConnecting || st.State.String() != "connecting" {
		t.Errorf("Status before Run: state %v, want connecting", st.State)
	}
	run(t, f)
	waitConns(t, rig.fake, 1)
	rig.fake.Publish("BTCUSDT", 40)
	waitStored(t, b, rig.fake, map[string]string{"BTCUSDT": "BTC-USDT"})

	st := f.Status()
	if st.State != feed.StateConnected || st.Trades != 40 || st.Messages != 40 || st.Reconnects != 0 {
		t.Errorf("Status = %+v, want connected, 40 trades in 40 messages, no reconnect", st)
	}
	if !st.HasLag || st.Lag != 250*time.Millisecond {
		t.Errorf("Status lag = %v (has %v), want 250ms", st.Lag, st.HasLag)
	}
	if !st.LastMessage.Equal(clk.Now()) || st.LastMessageAge != 0 {
		t.Errorf("Status last message = %v (age %v), want %v (age 0)", st.LastMessage, st.LastMessageAge, clk.Now())
	}
	if err := f.Check(t.Context()); err != nil {
		t.Errorf("Check while connected = %v", err)
	}

	rig.fake.Stall(true)
	clk.Add(31 * time.Second)
	st = f.Status()
	if st.State != feed.StateDegraded || st.State.String() != "degraded" || st.LastMessageAge != 31*time.Second {
		t.Errorf("Status after 31 s of silence = %v (age %v), want degraded (age 31s)", st.State, st.LastMessageAge)
	}
	if err := f.Check(t.Context()); err == nil || !strings.Contains(err.Error(), "silent for 31s") {
		t.Errorf("Check after 31 s of silence = %v, want silent for 31s", err)
	}
	if got := metric(t, rig.reg, "findash_feed_connected", "binance"); got != 0 {
		t.Errorf("findash_feed_connected while degraded = %v, want 0", got)
	}

	rig.fake.Stall(false)
	rig.fake.Publish("BTCUSDT", 1)
	testenv.Eventually(t, 10*time.Second, func() bool { return f.Status().State == feed.StateConnected },
		"Status after the venue spoke again = %v, want connected", f.Status().State)
}

// A feed that never reaches its venue is degraded once StaleAfter has
// passed since it started, with the connection error, not connecting
// forever.
func TestStatusDegradedWhenTheVenueIsUnreachable(t *testing.T) {
	b := openBus(t, t.TempDir())
	clk := &clock{now: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	rig := newRig(t, fakeexchange.Config{Venue: fakeexchange.Binance}, "BTC-USDT")
	rig.srv.Close() // nothing listens
	rig.cfg.Now, rig.cfg.StaleAfter = clk.Now, 30*time.Second
	f := feed.NewBinance(rig.cfg, b, feed.NewMetrics(rig.reg), discard())
	run(t, f)
	testenv.Eventually(t, 10*time.Second, func() bool { return f.Status().Reconnects >= 2 },
		"the feed did not retry: %+v", f.Status())
	if st := f.Status(); st.State != feed.StateReconnecting || st.LastError == "" || !st.LastMessage.IsZero() {
		t.Errorf("Status = %+v, want reconnecting with the error, no message ever", st)
	}
	clk.Add(31 * time.Second)
	if st := f.Status(); st.State != feed.StateDegraded {
		t.Errorf("Status 31 s after start = %v, want degraded", st.State)
	}
	if err := f.Check(t.Context()); err == nil {
		t.Error("Check of an unreachable venue = nil")
	}
}

// Only market data is a sign of life: a venue that keeps answering with
// subscription acknowledgements, errors or garbage, but sends no trade or
// heartbeat, is degraded all the same (it used to look connected, since
// every message refreshed the last-message time).
func TestStatusDegradedWhenTheVenueSendsOnlyNoise(t *testing.T) {
	b := openBus(t, t.TempDir())
	clk := &clock{now: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	rig := newRig(t, fakeexchange.Config{Venue: fakeexchange.Binance, Now: clk.Now}, "BTC-USDT")
	rig.cfg.Now, rig.cfg.StaleAfter = clk.Now, 30*time.Second
	f := feed.NewBinance(rig.cfg, b, feed.NewMetrics(rig.reg), discard())
	run(t, f)
	waitConns(t, rig.fake, 1)
	rig.fake.Publish("BTCUSDT", 1)
	waitStored(t, b, rig.fake, map[string]string{"BTCUSDT": "BTC-USDT"})

	clk.Add(31 * time.Second)
	before := f.Status().Messages
	for _, raw := range []string{
		`{"result":null,"id":1}`,                 // a subscription answer
		`{"code":-1121,"msg":"Invalid symbol."}`, // an error
		`{"stream":`,                             // garbage
	} {
		rig.fake.SendRaw([]byte(raw))
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return f.Status().Messages >= before+3 },
		"the feed did not read the three messages: %+v", f.Status())
	if st := f.Status(); st.State != feed.StateDegraded || st.LastMessageAge != 31*time.Second {
		t.Errorf("Status after 31 s of noise only = %v (age %v), want degraded (age 31s)", st.State, st.LastMessageAge)
	}
}
