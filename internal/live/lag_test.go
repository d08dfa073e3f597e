package live_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/findash/findash/internal/live"
	"github.com/findash/findash/internal/market"
)

// TestRecentCandlesDeclineWhileFeedLags: the live feed applied two minutes
// of ticks and stopped; the persister stored two more. Memory must not
// answer the symbol's candles (two where the store holds four) until the
// feed has applied what the store holds (review of 80ec680, finding 1).
func TestRecentCandlesDeclineWhileFeedLags(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	base := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute).UnixMilli()
	send := func(minute int64) {
		t.Helper()
		for i := range int64(3) {
			tk := market.Tick{Symbol: "BTC-USD", TS: base + minute*60_000 + i*1000, Price: 100 + float64(minute), Size: 1}
			if err := b.Append(context.Background(), []market.Tick{tk}); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(0)
	send(1)
	state := market.NewState()
	sink := newRecorder()
	feed := live.New(b, db, state, sink, live.Config{}, discard(), nil)
	stopFeed := runFeed(t, feed)
	sink.waitFor(t, "the feed did not apply the first two minutes", func() bool { return len(sink.msgs) == 6 })
	persistAll(t, b, db)

	marks := &markReads{Imports: db, calls: make(chan struct{})}
	var stale atomic.Bool // a mirror region's link to the primary's log
	w := live.NewImportWatch(marks, state, feed, live.ImportWatchConfig{Every: time.Millisecond, LinkStale: stale.Load}, discard(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	marks.await(t, 2) // the second read began: the first is done
	q := market.CandleQuery{Symbol: "BTC-USD", Interval: market.Interval1m, From: base, To: base + 10*60_000, Limit: 10}
	if cs, ok := w.RecentCandles(q); !ok || len(cs) != 2 {
		t.Fatalf("feed current: RecentCandles = %d candles, %v; want 2, true", len(cs), ok)
	}
	stale.Store(true)
	if _, ok := w.RecentCandles(q); ok {
		t.Error("region link stale: memory answered; want declined")
	}
	stale.Store(false)

	stopFeed() // the feed lags from here on
	send(2)
	send(3)
	persistAll(t, b, db)
	marks.await(t, 2) // a read that began after the persister wrote is done
	stored, err := db.Candles(context.Background(), q)
	if err != nil || len(stored) != 4 {
		t.Fatalf("store: %d candles, %v; want 4", len(stored), err)
	}
	if cs, ok := w.RecentCandles(q); ok {
		t.Errorf("feed behind the store: memory answered %d candles (the store holds 4); want declined", len(cs))
	}
}
