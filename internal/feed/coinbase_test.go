package feed_test

import (
	"testing"
	"time"

	"github.com/findash/findash/internal/feed"
	"github.com/findash/findash/internal/feed/fakeexchange"
	"github.com/findash/findash/internal/testenv"
)

var coinbaseSyms = map[string]string{"BTC-USD": "BTC-USD", "ETH-USD": "ETH-USD"}

// Cut mid-stream and a gap in trade ids (skipped sequence numbers) are
// filled through the REST history: the log holds exactly the venue's
// trades. The second gap has no live trade after it: only the heartbeat's
// last_trade_id reveals it.
func TestCoinbaseCutAndGapStoreExactlyTheVenuesTrades(t *testing.T) {
	b := openBus(t, t.TempDir())
	rig := newRig(t, fakeexchange.Config{Venue: fakeexchange.Coinbase, HeartbeatEvery: 50 * time.Millisecond}, "BTC-USD", "ETH-USD")
	rig.cfg.Silence = time.Second
	f := feed.NewCoinbase(rig.cfg, b, feed.NewMetrics(rig.reg), discard())
	run(t, f)
	waitConns(t, rig.fake, 1)
	waitSubscribed(t, rig)

	rig.fake.Publish("BTC-USD", 300)
	rig.fake.Publish("ETH-USD", 200)
	waitStored(t, b, rig.fake, coinbaseSyms)

	rig.fake.Skip(25)
	rig.fake.Publish("BTC-USD", 50) // a hole, then live trades
	rig.fake.Skip(5)
	rig.fake.Publish("ETH-USD", 5) // a hole at the end: the heartbeat tells
	waitStored(t, b, rig.fake, coinbaseSyms)

	rig.fake.Drop()
	rig.fake.Publish("BTC-USD", 1500)
	waitConns(t, rig.fake, 2)
	rig.fake.Publish("BTC-USD", 10)
	waitStored(t, b, rig.fake, coinbaseSyms)
	if got := metric(t, rig.reg, "findash_feed_trades_total", "coinbase"); got != 2065 {
		t.Errorf("findash_feed_trades_total = %v, want 2065 (every trade once)", got)
	}
}

// A connection without heartbeats is replaced within the silence timeout.
func TestCoinbaseStallIsReplacedWithinTheHeartbeatTimeout(t *testing.T) {
	b := openBus(t, t.TempDir())
	rig := newRig(t, fakeexchange.Config{Venue: fakeexchange.Coinbase, HeartbeatEvery: 50 * time.Millisecond}, "BTC-USD")
	rig.cfg.Silence = 300 * time.Millisecond
	f := feed.NewCoinbase(rig.cfg, b, feed.NewMetrics(rig.reg), discard())
	run(t, f)
	waitConns(t, rig.fake, 1)
	waitSubscribed(t, rig)
	rig.fake.Publish("BTC-USD", 5)
	rig.fake.Stall(true)
	start := time.Now()
	testenv.Eventually(t, 5*time.Second, func() bool { return rig.fake.Accepted() >= 2 }, "the silent connection was not replaced")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("replaced after %v, want about the heartbeat timeout (300ms) plus a short backoff", d)
	}
	rig.fake.Stall(false)
	rig.fake.Publish("BTC-USD", 5)
	waitStored(t, b, rig.fake, map[string]string{"BTC-USD": "BTC-USD"})
}

// Malformed and unknown messages are counted and skipped, the connection kept.
func TestCoinbaseMalformedIsCountedAndSkipped(t *testing.T) {
	b := openBus(t, t.TempDir())
	rig := newRig(t, fakeexchange.Config{Venue: fakeexchange.Coinbase}, "BTC-USD")
	f := feed.NewCoinbase(rig.cfg, b, feed.NewMetrics(rig.reg), discard())
	run(t, f)
	waitConns(t, rig.fake, 1)
	waitSubscribed(t, rig)
	rig.fake.Publish("BTC-USD", 3)
	for _, junk := range []string{
		`[1,2`,
		`{"type":"match","trade_id":99999,"product_id":"BTC-USD","time":"yesterday","price":"1","size":"1"}`,
		`{"type":"match","product_id":"BTC-USD","time":"2025-11-27T12:00:00Z","price":"1","size":"1"}`,
		`{"sequence":1}`,
	} {
		rig.fake.SendRaw([]byte(junk))
	}
	rig.fake.SendRaw([]byte(`{"type":"ticker","product_id":"BTC-USD"}`))
	rig.fake.Publish("BTC-USD", 3)
	waitStored(t, b, rig.fake, map[string]string{"BTC-USD": "BTC-USD"})
	testenv.Eventually(t, 5*time.Second, func() bool {
		return metric(t, rig.reg, "findash_feed_malformed_total", "coinbase") == 4 &&
			metric(t, rig.reg, "findash_feed_unknown_total", "coinbase") == 1
	}, "malformed = %v, unknown = %v, want 4 and 1",
		metric(t, rig.reg, "findash_feed_malformed_total", "coinbase"), metric(t, rig.reg, "findash_feed_unknown_total", "coinbase"))
	if got := rig.fake.Accepted(); got != 1 {
		t.Errorf("connections accepted = %d, want 1", got)
	}
}

// waitSubscribed waits for the answer to the feed's subscription: trades
// published before it reach no one (and the feed, without a mark yet,
// starts from the live stream).
func waitSubscribed(t *testing.T, rig *venueRig) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, func() bool { return metric(t, rig.reg, "findash_feed_messages_total", "coinbase") >= 1 },
		"no answer to the subscription")
}
