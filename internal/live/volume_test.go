package live_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/findash/findash/internal/live"
	"github.com/findash/findash/internal/market"
)

// oneUnitIn12th returns one unit in the 12th significant digit of v: the
// rounding of stored volumes (decision 0009).
func oneUnitIn12th(v float64) float64 {
	if v == 0 {
		return 0
	}
	return math.Pow(10, math.Floor(math.Log10(math.Abs(v)))-11)
}

// TestRecentCandlesVolumeWithinRounding: with realistic sizes (8 decimals,
// up to 50) in log messages of 1-64 ticks, memory's volumes (summed tick by
// tick) and the store's (summed per batch, then merged) may differ, but by
// at most one unit in the 12th significant digit; every other field is
// equal (review of 80ec680, finding 5: decision 0048 said byte for byte).
func TestRecentCandlesVolumeWithinRounding(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	state := market.NewState()
	sink := newRecorder()
	defer runFeed(t, live.New(b, db, state, sink, live.Config{}, discard(), nil))()

	rng := rand.New(rand.NewPCG(48, 5))
	base := time.Now().UTC().Truncate(time.Minute).Add(-6 * time.Minute).UnixMilli()
	var last market.Tick
	for i := 0; i < 3000; {
		n := 1 + rng.IntN(64)
		batch := make([]market.Tick, 0, n)
		for ; len(batch) < n && i < 3000; i++ {
			size := math.Round(rng.Float64()*50*1e8) / 1e8
			batch = append(batch, market.Tick{Symbol: "BTC-USD", TS: base + int64(i)*100, Price: 100, Size: max(size, 1e-8)})
		}
		if err := b.Append(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		last = batch[len(batch)-1]
		if rng.IntN(4) == 0 {
			persistAll(t, b, db) // the store sums per persisted batch, then merges
		}
	}
	sink.waitFor(t, "the last tick never reached the sink", func() bool {
		m := sink.msgs
		return len(m) > 0 && m[len(m)-1].ticks[len(m[len(m)-1].ticks)-1].TS == last.TS
	})
	persistAll(t, b, db)

	var candles, differ int
	for _, iv := range []market.Interval{market.Interval1s, market.Interval1m, market.Interval5m} {
		q := market.CandleQuery{Symbol: "BTC-USD", Interval: iv, From: iv.Start(base), To: base + 600_000, Limit: 1000}
		mem, ok := state.RecentCandles(q)
		if !ok {
			t.Fatalf("%s: memory declined", iv)
		}
		st := storeAnswer(t, db, state, q)
		if len(mem) != len(st) {
			t.Fatalf("%s: memory %d candles, store %d", iv, len(mem), len(st))
		}
		for i := range mem {
			m, s := mem[i], st[i]
			candles++
			if m.Volume != s.Volume {
				differ++
				if d := math.Abs(m.Volume - s.Volume); d > oneUnitIn12th(s.Volume)*1.0001 {
					t.Errorf("%s %d: volume memory %v, store %v: more than one unit in the 12th digit", iv, m.Start, m.Volume, s.Volume)
				}
			}
			m.Volume = s.Volume
			if m != s {
				t.Errorf("%s %d: memory %+v, store %+v", iv, m.Start, m, s)
			}
		}
	}
	t.Logf("%d candles compared, %d volumes differ (within one unit in the 12th significant digit)", candles, differ)
}
