package live_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/findash/findash/internal/bus"
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
	w := live.NewImportWatch(marks, state, feed, live.ImportWatchConfig{Every: time.Millisecond, Now: frozen(), LinkStale: stale.Load}, discard(), nil)
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

// failAfterFirst is the store's import marks whose first read takes slow
// on the clock clk, and whose later reads fail (the database unreachable);
// calls signals every read as it begins.
type failAfterFirst struct {
	live.Imports
	clk   *atomic.Int64
	slow  time.Duration
	calls chan struct{}
	n     int
}

func (m *failAfterFirst) ImportMarks(ctx context.Context) (map[string]int64, market.Positions, error) {
	select {
	case m.calls <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	if m.n++; m.n > 1 {
		return nil, nil, errors.New("database unreachable")
	}
	marks, pos, err := m.Imports.ImportMarks(ctx)
	m.clk.Add(int64(m.slow))
	return marks, pos, err
}

// TestRecentCandlesAgeFromReadStart: a read of the marks sees what was
// committed before it began, so memory's answers age from the read's
// start, and they stop about one period after it when the next read fails
// — not three periods after the slow read ended (review of 80ec680,
// finding 2: an import committed during the read stayed unseen ~3 s).
func TestRecentCandlesAgeFromReadStart(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	base := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute).UnixMilli()
	if err := b.Append(context.Background(), []market.Tick{{Symbol: "BTC-USD", TS: base, Price: 100, Size: 1}}); err != nil {
		t.Fatal(err)
	}
	state := market.NewState()
	feed := live.New(b, db, state, newRecorder(), live.Config{}, discard(), nil)
	defer runFeed(t, feed)()

	const every = time.Millisecond // the real ticker's; the watch's clock is clk
	var clk atomic.Int64
	c0 := time.Now().UnixNano()
	clk.Store(c0)
	marks := &failAfterFirst{Imports: db, clk: &clk, slow: every * 9 / 10, calls: make(chan struct{})}
	w := live.NewImportWatch(marks, state, feed, live.ImportWatchConfig{Every: every, Now: func() time.Time { return time.Unix(0, clk.Load()) }}, discard(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for range 2 { // the first read, then the second (failing) began
		select {
		case <-marks.calls:
		case <-time.After(10 * time.Second):
			t.Fatal("no read of the import marks in 10s")
		}
	}
	q := market.CandleQuery{Symbol: "BTC-USD", Interval: market.Interval1m, From: base, To: base + 60_000, Limit: 10}
	clk.Store(c0 + int64(every*14/10))
	if _, ok := w.RecentCandles(q); !ok {
		t.Error("1.4 periods after the read began: memory declined; want answered")
	}
	clk.Store(c0 + int64(every*16/10))
	if _, ok := w.RecentCandles(q); ok {
		t.Error("1.6 periods after the last successful read began (0.7 after it ended): memory answered; want declined")
	}
}

// frozen is a clock that does not move: an ImportWatch's reads never age
// on it, however slowly a loaded machine runs the test (the age rule has
// its own test, TestRecentCandlesAgeFromReadStart).
// appendTick logs one BTC-USD tick at ts (price 100, size 1).
func appendTick(t *testing.T, b *bus.Bus, ts int64) {
	t.Helper()
	if err := b.Append(context.Background(), []market.Tick{{Symbol: "BTC-USD", TS: ts, Price: 100, Size: 1}}); err != nil {
		t.Fatal(err)
	}
}

func frozen() func() time.Time {
	at := time.Now()
	return func() time.Time { return at }
}

// TestImportBetweenRestoreAndWatch: an import into the restored open
// minute committed after the feed restored the State but before the
// watch's first read. Memory's minute lacks the import; once the minute
// closes, memory must not answer it differently from the store (review of
// 80ec680, finding 3: the first read only trimmed the rings).
func TestImportBetweenRestoreAndWatch(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	base := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute).UnixMilli()
	send := func(ts int64) { appendTick(t, b, ts) }
	send(base)
	send(base + 1000)
	persistAll(t, b, db)
	state := market.NewState()
	sink := newRecorder()
	feed := live.New(b, db, state, sink, live.Config{}, discard(), nil)
	defer runFeed(t, feed)()
	imported := market.Tick{Symbol: "BTC-USD", TS: base + 2000, Price: 90, Size: 5, Seq: 1<<62 | 1}
	if n, err := db.ImportTicks(context.Background(), "csv", []market.Tick{imported}); err != nil || n != 1 {
		t.Fatalf("ImportTicks = %d, %v", n, err)
	}
	marks := &markReads{Imports: db, calls: make(chan struct{})}
	w := live.NewImportWatch(marks, state, feed, live.ImportWatchConfig{Every: time.Millisecond, Now: frozen()}, discard(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	marks.await(t, 2)   // the first read is done
	send(base + 60_000) // closes the minute
	sink.waitFor(t, "the closing tick never reached the sink", func() bool {
		m := sink.msgs
		return len(m) > 0 && m[len(m)-1].ticks[0].TS == base+60_000
	})
	persistAll(t, b, db)
	marks.await(t, 2)
	q := market.CandleQuery{Symbol: "BTC-USD", Interval: market.Interval1m, From: base, To: base + 120_000, Limit: 10}
	if mem, ok := w.RecentCandles(q); ok {
		got, _ := json.Marshal(mem)
		want, _ := json.Marshal(storeAnswer(t, db, state, q))
		if string(got) != string(want) {
			t.Errorf("memory answered unlike the store:\nmemory: %s\nstore:  %s", got, want)
		}
	}
}

// TestImportBeforeRestore: an import committed before the feed restores
// is in the restored snapshot (marks and candles alike): memory answers
// the symbol, and as the store does, import included, once its minute
// closes (review of 80ec680, finding 6).
func TestImportBeforeRestore(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	base := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute).UnixMilli()
	send := func(ts int64) { appendTick(t, b, ts) }
	send(base)
	persistAll(t, b, db)
	imported := market.Tick{Symbol: "BTC-USD", TS: base + 2000, Price: 90, Size: 5, Seq: 1<<62 | 1}
	if n, err := db.ImportTicks(context.Background(), "csv", []market.Tick{imported}); err != nil || n != 1 {
		t.Fatalf("ImportTicks = %d, %v", n, err)
	}
	state := market.NewState()
	sink := newRecorder()
	feed := live.New(b, db, state, sink, live.Config{}, discard(), nil)
	defer runFeed(t, feed)()
	marks := &markReads{Imports: db, calls: make(chan struct{})}
	w := live.NewImportWatch(marks, state, feed, live.ImportWatchConfig{Every: time.Millisecond, Now: frozen()}, discard(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	send(base + 60_000) // closes the minute
	sink.waitFor(t, "the closing tick never reached the sink", func() bool {
		m := sink.msgs
		return len(m) > 0 && m[len(m)-1].ticks[0].TS == base+60_000
	})
	persistAll(t, b, db)
	marks.await(t, 2)
	q := market.CandleQuery{Symbol: "BTC-USD", Interval: market.Interval1m, From: base, To: base + 120_000, Limit: 10}
	mem, ok := w.RecentCandles(q)
	if !ok {
		t.Fatal("memory declined a symbol imported before the restore")
	}
	got, _ := json.Marshal(mem)
	want, _ := json.Marshal(storeAnswer(t, db, state, q))
	if string(got) != string(want) {
		t.Errorf("memory answered unlike the store:\nmemory: %s\nstore:  %s", got, want)
	}
}
