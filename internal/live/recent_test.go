package live_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/findash/findash/internal/live"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

// storeAnswer is what the API's store path answers for q: the stored
// candles with the live open candle in place of its bucket (api.loadCandles).
func storeAnswer(t *testing.T, db *sqlite.DB, state *market.State, q market.CandleQuery) []market.Candle {
	t.Helper()
	cs, err := db.Candles(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if open, ok := state.OpenCandle(q.Symbol, q.Interval); ok && open.Start >= q.From && open.Start <= q.To {
		if n := len(cs); n > 0 && cs[n-1].Start == open.Start {
			cs[n-1] = open
		} else if n == 0 || cs[n-1].Start < open.Start {
			cs = append(cs, open)
		}
	}
	return cs
}

// TestRecentCandlesMatchStore: candles answered from memory are, byte for
// byte once encoded, the store's answer to the same query, over ticks that
// went through the log to both (the persister into SQLite, the feed into
// the State): before a restart (restored) and after it, with candles
// closing, gaps of several buckets, an hour and a day boundary, late ticks
// inside and before what memory holds, sizes whose sums round in binary,
// and a symbol with no ticks. Memory must answer what it covers and
// decline what it does not.
//
// Then an import (findash import writes the store without the log): once
// the ImportWatch has read the marks after it, memory declines the
// imported symbol's candles and the store answers them, import included.
func TestRecentCandlesMatchStore(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	// Three minutes before today's UTC midnight: the ticks cross a minute,
	// an hour and a day.
	midnight := time.Now().UTC().Truncate(24 * time.Hour)
	base := midnight.Add(-3 * time.Minute).UnixMilli()
	sizes := []float64{0.1, 0.7, 0.003, 1.25, 0.2}
	var n int
	tick := func(sym string, offMS int64) market.Tick {
		n++
		return market.Tick{Symbol: sym, TS: base + offMS, Price: 100 + float64(n%17)/8, Size: sizes[n%len(sizes)]}
	}
	send := func(ticks ...market.Tick) {
		t.Helper()
		if err := b.Append(context.Background(), ticks); err != nil {
			t.Fatal(err)
		}
	}
	// Before the restart: the first 90 s, one tick every 700 ms.
	for off := int64(0); off < 90_000; off += 700 {
		send(tick("BTC-USD", off), tick("EUR/USD", off+3))
	}
	persistAll(t, b, db)

	state := market.NewStateWith(market.StateConfig{RecentCandles: 40})
	sink := newRecorder()
	feed := live.New(b, db, state, sink, live.Config{}, discard(), nil)
	stop := runFeed(t, feed)
	defer stop()

	// After it: ticks every 450 ms to past midnight, with a gap of 20 s
	// and one of 100 s (a minute without a candle), then late ticks: into
	// a held bucket, into a gap (1 s and 1 m), and before what memory
	// holds (1 s, 1 m) but not before what it holds of 1 h and 1 d.
	var last market.Tick
	for off := int64(90_000); off < 260_000; off += 450 {
		if (off > 120_000 && off < 140_000) || (off > 150_000 && off < 250_000) {
			continue
		}
		last = tick("BTC-USD", off)
		send(last, tick("EUR/USD", off+1))
	}
	send(tick("BTC-USD", 255_100), tick("BTC-USD", 200_500), tick("BTC-USD", 100_100), tick("BTC-USD", 10_000))
	// A symbol new since the restart: the store holds nothing older, so
	// memory covers all time, its late tick before its first bucket too.
	send(tick("NEW.X", 250_000), tick("NEW.X", 251_500), tick("NEW.X", 5_000))
	last = tick("BTC-USD", 259_990)
	send(last)
	sink.waitFor(t, "the last tick never reached the sink", func() bool {
		if len(sink.msgs) == 0 {
			return false
		}
		m := sink.msgs[len(sink.msgs)-1].ticks
		return m[len(m)-1].TS == last.TS
	})
	persistAll(t, b, db)

	end := base + 260_000
	answered, declined := 0, 0
	for _, sym := range []string{"BTC-USD", "EUR/USD", "NEW.X", "NONE.X"} {
		for _, iv := range market.Intervals {
			w := iv.Millis()
			var qs []market.CandleQuery
			for _, limit := range []int{1, 2, 5, 39, 41, 100} {
				// The API's default range: the latest limit buckets to now
				// (q.Limit one more, as loadCandles asks).
				qs = append(qs, market.CandleQuery{Symbol: sym, Interval: iv, From: end - int64(limit)*w + 1, To: end, Limit: limit + 1})
				qs = append(qs, market.CandleQuery{Symbol: sym, Interval: iv, From: base + 95_000, To: end, Limit: limit, Newest: true})
			}
			for _, from := range []int64{0, 60_000, 95_000, 121_000, 150_000, 180_000, 200_000} {
				qs = append(qs, market.CandleQuery{Symbol: sym, Interval: iv, From: base + from, To: base + 230_000, Limit: 1000})
			}
			for _, q := range qs {
				mem, ok := state.RecentCandles(q)
				if !ok {
					declined++
					continue
				}
				answered++
				got, _ := json.Marshal(mem)
				want, _ := json.Marshal(storeAnswer(t, db, state, q))
				if string(got) != string(want) {
					t.Errorf("%+v\nmemory: %s\nstore:  %s", q, got, want)
				}
			}
		}
	}
	// What memory must decline: a symbol with no ticks, and ranges
	// reaching before the restored newest candle.
	for _, q := range []market.CandleQuery{
		{Symbol: "NONE.X", Interval: market.Interval1m, From: base, To: end, Limit: 10},
		{Symbol: "BTC-USD", Interval: market.Interval1s, From: base + 80_000, To: end, Limit: 10},
		{Symbol: "BTC-USD", Interval: market.Interval5m, From: base - 300_000, To: end, Limit: 10},
	} {
		if _, ok := state.RecentCandles(q); ok {
			t.Errorf("RecentCandles(%+v) answered; want declined", q)
		}
	}
	// What memory must answer: the 1 s candles after the restart, which
	// the ring of 40 no longer all holds (from moved on), and the minutes
	// since the restart.
	for _, q := range []market.CandleQuery{
		{Symbol: "BTC-USD", Interval: market.Interval1s, From: end - 20_000, To: end, Limit: 10},
		{Symbol: "BTC-USD", Interval: market.Interval1s, From: base + 200_000, To: base + 201_000, Limit: 10},
		{Symbol: "BTC-USD", Interval: market.Interval1m, From: base + 60_000, To: end, Limit: 10},
		{Symbol: "EUR/USD", Interval: market.Interval1d, From: base, To: end, Limit: 10},
		// The day of minutes before the restart was restored.
		{Symbol: "BTC-USD", Interval: market.Interval1m, From: base - 3_600_000, To: end, Limit: 10},
		{Symbol: "NEW.X", Interval: market.Interval1s, From: 0, To: end, Limit: 10},
	} {
		if _, ok := state.RecentCandles(q); !ok {
			t.Errorf("RecentCandles(%+v) declined; want answered", q)
		}
	}
	t.Logf("%d queries answered from memory (each equal to the store's), %d declined", answered, declined)
	if answered < 100 {
		t.Errorf("only %d queries answered from memory", answered)
	}
	if got := state.RecentLen(); got <= 0 || got > 3*6*40 {
		t.Errorf("RecentLen = %d, want within (0, %d]", got, 3*6*40)
	}

	// The import, watched.
	marks := &markReads{Imports: db, calls: make(chan struct{})}
	w := live.NewImportWatch(marks, state, feed, live.ImportWatchConfig{Every: time.Millisecond, Now: frozen()}, discard(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	marks.await(t, 2) // the second read began: the first is done
	q := market.CandleQuery{Symbol: "BTC-USD", Interval: market.Interval1m, From: base + 60_000, To: end, Limit: 10}
	if _, ok := w.RecentCandles(q); !ok {
		t.Fatal("memory declined before any import")
	}
	imported := market.Tick{Symbol: "BTC-USD", TS: base + 200_100, Price: 99, Size: 5, Seq: 1<<62 | 1}
	if n, err := db.ImportTicks(context.Background(), "csv", []market.Tick{imported}); err != nil || n != 1 {
		t.Fatalf("ImportTicks = %d, %v", n, err)
	}
	marks.await(t, 2) // a read that began after the import is done
	if cs, ok := w.RecentCandles(q); ok {
		t.Errorf("memory answered the imported symbol: %v", cs)
	}
	other := q
	other.Symbol = "EUR/USD"
	if _, ok := w.RecentCandles(other); !ok {
		t.Error("memory declined a symbol not imported")
	}
	found := false
	for _, c := range storeAnswer(t, db, state, q) {
		found = found || c.Start == market.Interval1m.Start(imported.TS) && c.Low == imported.Price
	}
	if !found {
		t.Error("the store's answer lacks the imported candle")
	}
}

// markReads is the store's import marks, signalling calls at each read.
type markReads struct {
	live.Imports
	calls chan struct{}
}

func (m *markReads) ImportMarks(ctx context.Context) (map[string]int64, market.Positions, error) {
	select {
	case m.calls <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	return m.Imports.ImportMarks(ctx)
}

// await waits until n more reads have begun.
func (m *markReads) await(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-m.calls:
		case <-time.After(10 * time.Second):
			t.Fatal("no read of the import marks in 10s")
		}
	}
}
