package feed_test

import (
	"testing"
	"time"

	"github.com/findash/findash/internal/feed"
	"github.com/findash/findash/internal/feed/fakeexchange"
	"github.com/findash/findash/internal/testenv"
)

var binanceSyms = map[string]string{"BTCUSDT": "BTC-USDT", "ETHUSDT": "ETH-USDT"}

// Cut mid-stream, trades made while disconnected and a gap in the live
// stream are all filled through the REST history: the log ends up holding
// exactly the venue's trades, none twice.
func TestBinanceCutMidStreamStoresExactlyTheVenuesTrades(t *testing.T) {
	b := openBus(t, t.TempDir())
	rig := newRig(t, fakeexchange.Config{Venue: fakeexchange.Binance, PingEvery: 50 * time.Millisecond}, "BTC-USDT", "ETH-USDT")
	f := feed.NewBinance(rig.cfg, b, feed.NewMetrics(rig.reg), discard())
	run(t, f)
	waitConns(t, rig.fake, 1)

	rig.fake.Publish("BTCUSDT", 500)
	rig.fake.Publish("ETHUSDT", 300)
	waitStored(t, b, rig.fake, binanceSyms)

	rig.fake.Drop()
	rig.fake.Publish("BTCUSDT", 1500) // while the feed reconnects: only REST has them
	waitConns(t, rig.fake, 2)
	rig.fake.Publish("ETHUSDT", 10)
	rig.fake.Skip(7)
	rig.fake.Publish("BTCUSDT", 20) // a hole in the live stream
	rig.fake.Publish("ETHUSDT", 10)
	waitStored(t, b, rig.fake, binanceSyms)

	if got := metric(t, rig.reg, "findash_feed_trades_total", "binance"); got != 2340 {
		t.Errorf("findash_feed_trades_total = %v, want 2340 (every trade once)", got)
	}
	if rig.fake.Backfills() == 0 {
		t.Error("the feed never asked the REST history")
	}
	if got := metric(t, rig.reg, "findash_feed_gaps_total", "binance"); got < 1 {
		t.Errorf("findash_feed_gaps_total = %v, want ≥ 1", got)
	}
	if rig.fake.Pongs() == 0 {
		t.Error("the feed answered no ping")
	}
	if st := f.Status(); st.State != feed.StateConnected || st.Reconnects != 1 {
		t.Errorf("Status = %+v, want connected after 1 reconnect", st)
	}
}

// Malformed and unknown messages are counted and skipped; the connection
// is kept and the trades around them are stored.
func TestBinanceMalformedIsCountedAndSkipped(t *testing.T) {
	b := openBus(t, t.TempDir())
	rig := newRig(t, fakeexchange.Config{Venue: fakeexchange.Binance}, "BTC-USDT", "ETH-USDT")
	f := feed.NewBinance(rig.cfg, b, feed.NewMetrics(rig.reg), discard())
	run(t, f)
	waitConns(t, rig.fake, 1)
	rig.fake.Publish("BTCUSDT", 10)
	for _, junk := range []string{
		`{not json`,
		`{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT","a":"x"}}`,
		`{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT","a":5,"p":"-1","q":"1","T":1764244800123}}`,
		`{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT","a":5,"p":"NaN","q":"1","T":1764244800123}}`,
	} {
		rig.fake.SendRaw([]byte(junk))
	}
	rig.fake.SendRaw([]byte(`{"stream":"btcusdt@depth","data":{}}`))     // unknown stream
	rig.fake.SendRaw([]byte(`{"e":"serverShutdown","E":1764244800123}`)) // unknown event
	rig.fake.Publish("BTCUSDT", 10)
	waitStored(t, b, rig.fake, map[string]string{"BTCUSDT": "BTC-USDT"})
	testenv.Eventually(t, 5*time.Second, func() bool {
		return metric(t, rig.reg, "findash_feed_malformed_total", "binance") == 4 &&
			metric(t, rig.reg, "findash_feed_unknown_total", "binance") == 2
	}, "malformed = %v, unknown = %v, want 4 and 2",
		metric(t, rig.reg, "findash_feed_malformed_total", "binance"), metric(t, rig.reg, "findash_feed_unknown_total", "binance"))
	if got := rig.fake.Accepted(); got != 1 {
		t.Errorf("connections accepted = %d, want 1 (the connection kept)", got)
	}
}

// A connection that goes silent (no trade, no ping) is replaced within the
// silence timeout, and what was traded meanwhile is filled.
func TestBinanceStallIsReplaced(t *testing.T) {
	b := openBus(t, t.TempDir())
	rig := newRig(t, fakeexchange.Config{Venue: fakeexchange.Binance, PingEvery: 50 * time.Millisecond}, "BTC-USDT")
	rig.cfg.Silence = 300 * time.Millisecond
	f := feed.NewBinance(rig.cfg, b, feed.NewMetrics(rig.reg), discard())
	run(t, f)
	waitConns(t, rig.fake, 1)
	rig.fake.Publish("BTCUSDT", 5)
	rig.fake.Stall(true)
	rig.fake.Publish("BTCUSDT", 5)
	start := time.Now()
	testenv.Eventually(t, 5*time.Second, func() bool { return rig.fake.Accepted() >= 2 }, "the stalled connection was not replaced")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("replaced after %v, want about the silence timeout (300ms) plus a short backoff", d)
	}
	rig.fake.Stall(false)
	rig.fake.Publish("BTCUSDT", 5)
	waitStored(t, b, rig.fake, map[string]string{"BTCUSDT": "BTC-USDT"})
	if got := metric(t, rig.reg, "findash_feed_silences_total", "binance"); got < 1 {
		t.Errorf("findash_feed_silences_total = %v, want ≥ 1", got)
	}
}

// A restarted feed learns its marks from the log and fills what the venue
// traded while it was down, without storing anything twice.
func TestBinanceRestartResumesFromTheLog(t *testing.T) {
	b := openBus(t, t.TempDir())
	rig := newRig(t, fakeexchange.Config{Venue: fakeexchange.Binance}, "BTC-USDT", "ETH-USDT")
	f := feed.NewBinance(rig.cfg, b, feed.NewMetrics(nil), discard())
	stop := run(t, f)
	waitConns(t, rig.fake, 1)
	rig.fake.Publish("BTCUSDT", 100)
	rig.fake.Publish("ETHUSDT", 100)
	waitStored(t, b, rig.fake, binanceSyms)
	stop()
	rig.fake.Publish("BTCUSDT", 1200)
	rig.fake.Publish("ETHUSDT", 3)

	f2 := feed.NewBinance(rig.cfg, b, feed.NewMetrics(nil), discard())
	run(t, f2)
	waitConns(t, rig.fake, 2)
	rig.fake.Publish("BTCUSDT", 10)
	waitStored(t, b, rig.fake, binanceSyms)
}
