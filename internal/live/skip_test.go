package live_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/findash/findash/internal/live"
	"github.com/findash/findash/internal/market"
)

// TestRecentCandlesAfterSkippedRestore: stored candles outside lowered
// limits are skipped at restore. Memory must not claim the buckets they
// hold — a minute between two restored ones, every interval of a symbol
// whose candles were all skipped — and answer without them where the
// store has them (review of 80ec680, finding 4).
func TestRecentCandlesAfterSkippedRestore(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	base := time.Now().UTC().Truncate(time.Minute).Add(-6 * time.Minute).UnixMilli()
	send := func(ticks ...market.Tick) {
		t.Helper()
		if err := b.Append(context.Background(), ticks); err != nil {
			t.Fatal(err)
		}
	}
	send(market.Tick{Symbol: "BTC-USD", TS: base, Price: 100, Size: 1})
	send(market.Tick{Symbol: "BTC-USD", TS: base + 60_000, Price: 600, Size: 1}) // above the lowered limit
	send(market.Tick{Symbol: "BTC-USD", TS: base + 120_000, Price: 101, Size: 1})
	send(market.Tick{Symbol: "ALL.X", TS: base + 60_000, Price: 600, Size: 1})
	persistAll(t, b, db)

	state := market.NewState()
	sink := newRecorder()
	defer runFeed(t, live.New(b, db, state, sink, live.Config{Limits: market.Limits{MaxPrice: 500}}, discard(), nil))()
	last := market.Tick{Symbol: "ALL.X", TS: base + 180_000, Price: 100, Size: 1}
	send(market.Tick{Symbol: "BTC-USD", TS: base + 180_000, Price: 102, Size: 1})
	send(last)
	sink.waitFor(t, "the live ticks never reached the sink", func() bool {
		m := sink.msgs
		return len(m) > 0 && m[len(m)-1].ticks[0].Symbol == last.Symbol && m[len(m)-1].ticks[0].TS == last.TS
	})
	persistAll(t, b, db)
	// ALL.X's live hour is the bucket of its skipped one: memory's would
	// lack it once closed.
	if _, ok := state.RecentCandles(market.CandleQuery{Symbol: "ALL.X", Interval: market.Interval1h, From: market.Interval1h.Start(base + 180_000), To: base + 600_000, Limit: 20}); ok {
		t.Error("ALL.X (every stored candle skipped): memory answered its hours; want declined")
	}
	for _, sym := range []string{"BTC-USD", "ALL.X"} {
		for _, iv := range market.Intervals {
			q := market.CandleQuery{Symbol: sym, Interval: iv, From: base - iv.Millis(), To: base + 600_000, Limit: 20}
			mem, ok := state.RecentCandles(q)
			if !ok {
				continue
			}
			got, _ := json.Marshal(mem)
			want, _ := json.Marshal(storeAnswer(t, db, state, q))
			if string(got) != string(want) {
				t.Errorf("%s %s: memory answered unlike the store:\nmemory: %s\nstore:  %s", sym, iv, got, want)
			}
		}
	}
}
