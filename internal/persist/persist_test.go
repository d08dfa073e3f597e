package persist_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/persist"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/testenv"
)

var (
	_ persist.Log   = (*bus.Bus)(nil)
	_ persist.Store = (*sqlite.DB)(nil)
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openBus(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir()}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Close(ctx)
	})
	return b
}

// openStore opens the real SQLite store in a temporary directory.
func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "findash.db"), discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// flaky wraps a store: while down is set, or for the first failFirst
// writes, WriteBatch fails without writing (as a crashed process or a
// locked database would). After every write that reached the store it
// signals written, so tests wait for the position without polling.
type flaky struct {
	persist.Store
	down      atomic.Bool
	failFirst atomic.Int32
	writes    atomic.Int32
	written   chan struct{} // 1-buffered; see wrap
}

// wrap returns a flaky store over st that does not fail until told to.
func wrap(st persist.Store) *flaky { return &flaky{Store: st, written: make(chan struct{}, 1)} }

func (f *flaky) WriteBatch(ctx context.Context, part int, ticks []market.Tick, candles []market.Candle, prevSeq, fromSeq, logSeq uint64) error {
	if f.down.Load() || f.failFirst.Add(-1) >= 0 {
		return errors.New("store unavailable")
	}
	f.writes.Add(1)
	err := f.Store.WriteBatch(ctx, part, ticks, candles, prevSeq, fromSeq, logSeq)
	select {
	case f.written <- struct{}{}:
	default: // a signal is already pending: the waiter will look anyway
	}
	return err
}

const ts0 = 1764244800000

// publish appends rounds batches of 20 symbols × per ticks, starting at round r0.
func publish(t *testing.T, b *bus.Bus, r0, rounds, per int) {
	t.Helper()
	for r := r0; r < r0+rounds; r++ {
		var batch []market.Tick
		for s := 0; s < 20; s++ {
			for i := 0; i < per; i++ {
				batch = append(batch, market.Tick{
					Symbol: fmt.Sprintf("S%02d.X", s), TS: ts0 + int64(r*per+i)*137,
					Price: 100 + float64((r+i)%17), Size: 1,
				})
			}
		}
		if err := b.Append(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
}

// start runs a persister until the returned stop is called.
func start(t *testing.T, b persist.Log, st persist.Store, cfg persist.Config, reg prometheus.Registerer) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	p := persist.New(b, st, cfg, discard(), reg)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return func() error { return stopRun(t, cancel, done) }
}

// waitPosition waits until the stored position reaches want, looking again
// after every write that reaches st.
func waitPosition(t *testing.T, st *flaky, want uint64) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		pos, err := st.LogPosition(context.Background(), market.Unpartitioned)
		if err == nil && pos >= want {
			return
		}
		select {
		case <-st.written:
		case <-deadline:
			t.Fatalf("position = %d, %v after 60s; want %d", pos, err, want)
		}
	}
}

// checkExactlyOnce verifies the store holds every tick of rounds×per per
// symbol once: in the ticks table and in the 1d candles' counts and volumes.
func checkExactlyOnce(t *testing.T, db *sqlite.DB, rounds, per int) {
	t.Helper()
	ctx := context.Background()
	want := rounds * per
	for s := 0; s < 20; s++ {
		sym := fmt.Sprintf("S%02d.X", s)
		ticks, err := db.Ticks(ctx, sym, 0, market.MaxTS, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[uint64]bool{}
		for _, tk := range ticks {
			if seen[tk.Seq] {
				t.Fatalf("%s: seq %d stored twice", sym, tk.Seq)
			}
			seen[tk.Seq] = true
		}
		if len(ticks) != want {
			t.Errorf("%s: %d ticks stored, want %d", sym, len(ticks), want)
		}
		candles, err := db.Candles(ctx, market.CandleQuery{Symbol: sym, Interval: market.Interval1d, From: 0, To: market.MaxTS, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var count int64
		var vol float64
		for _, c := range candles {
			count += c.Count
			vol += c.Volume
		}
		if count != int64(want) || vol != float64(want) {
			t.Errorf("%s: 1d candles count %d volume %v, want %d each", sym, count, vol, want)
		}
	}
}

func TestPersistsEverything(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	st := wrap(db)
	reg := prometheus.NewRegistry()
	stop := start(t, b, st, persist.Config{}, reg)
	publish(t, b, 0, 10, 30)
	last, _ := b.LastSeq(context.Background())
	waitPosition(t, st, last)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkExactlyOnce(t, db, 10, 30)
	if got := testenv.Counter(t, reg, "findash_persist_ticks_total"); got != 10*30*20 {
		t.Errorf("findash_persist_ticks_total = %v, want %d", got, 10*30*20)
	}
}

// TestExactlyOnceAcrossCrashes stops persisters mid-stream, twice: once
// gracefully, once as a crash (the store refuses the final write), and
// checks every tick is stored exactly once in the end.
func TestExactlyOnceAcrossCrashes(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	// FlushTimeout leaves a loaded machine time for the graceful final write
	// (300 ms timed out once under CI load); the crash is injected by the store.
	cfg := persist.Config{MaxBatch: 200, FlushInterval: 5 * time.Millisecond, FlushTimeout: 5 * time.Second}

	publish(t, b, 0, 20, 10)
	st := wrap(db)
	stop := start(t, b, st, cfg, nil)
	waitPosition(t, st, 3) // mid-stream
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	publish(t, b, 20, 20, 10)
	st = wrap(db)
	stop = start(t, b, st, cfg, nil)
	pos, _ := db.LogPosition(context.Background(), market.Unpartitioned)
	waitPosition(t, st, pos+3)
	st.down.Store(true) // the process "dies": nothing more reaches the disk
	if err := stop(); err == nil {
		t.Log("the crash came after the last write; nothing was pending")
	}

	publish(t, b, 40, 10, 10)
	st = wrap(db)
	stop = start(t, b, st, cfg, nil)
	last, _ := b.LastSeq(context.Background())
	waitPosition(t, st, last)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, db, 50, 10)
}

func TestRetriesStoreErrors(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	st := wrap(db)
	st.failFirst.Store(3)
	reg := prometheus.NewRegistry()
	stop := start(t, b, st, persist.Config{}, reg)
	publish(t, b, 0, 5, 10)
	last, _ := b.LastSeq(context.Background())
	waitPosition(t, st, last)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, db, 5, 10)
	if got := testenv.Counter(t, reg, "findash_persist_write_failures_total"); got != 3 {
		t.Errorf("write failures = %v, want 3", got)
	}
}

func TestBatchesByMaxBatch(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	st := wrap(db)
	publish(t, b, 0, 10, 10) // 200 messages of 10 ticks
	stop := start(t, b, st, persist.Config{MaxBatch: 100, FlushInterval: time.Hour}, nil)
	waitPosition(t, st, 200)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(int32(20), st.writes.Load()); diff != "" {
		t.Errorf("writes (-want +got): %s", diff)
	}
}

// gauge reads a gauge from reg (a scrape: gauge funcs are computed now).
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func lastSeq(t *testing.T, b *bus.Bus) uint64 {
	t.Helper()
	last, err := b.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// TestLagIsCurrent: findash_persist_lag reflects the log as it is at the
// scrape, also when nothing is written. Before the fix it was sampled after
// writes only, so with the store down it read 0 while messages piled up.
func TestLagIsCurrent(t *testing.T) {
	b := openBus(t)
	st := wrap(openStore(t))
	reg := prometheus.NewRegistry()
	stop := start(t, b, st, persist.Config{}, reg)
	defer stop()
	publish(t, b, 0, 5, 1)
	last1 := lastSeq(t, b)
	waitPosition(t, st, last1)
	// The store holds the position before the persister records it (after
	// WriteBatch returns): wait for the gauge, not just the store (CI read
	// 100 in between once).
	testenv.Eventually(t, 10*time.Second, func() bool { return gauge(t, reg, "findash_persist_lag") == 0 },
		"the lag never read 0 with everything persisted")
	st.down.Store(true) // nothing more is written
	publish(t, b, 5, 7, 1)
	last2 := lastSeq(t, b)
	if got := gauge(t, reg, "findash_persist_lag"); got != float64(last2-last1) {
		t.Errorf("lag with the store down and %d messages more = %v, want %d", last2-last1, got, last2-last1)
	}
	st.down.Store(false)
	waitPosition(t, st, last2)
	testenv.Eventually(t, 10*time.Second, func() bool { return gauge(t, reg, "findash_persist_lag") == 0 },
		"the lag never read 0 once the store was back and caught up")
}

// conflicting is a store on which another persister always seems to be
// ahead, for its first n writes: they fail with market.ErrConflict.
type conflicting struct {
	*flaky
	n atomic.Int32
}

func (c *conflicting) WriteBatch(ctx context.Context, part int, ticks []market.Tick, candles []market.Candle, prevSeq, fromSeq, logSeq uint64) error {
	if c.n.Add(-1) >= 0 {
		return fmt.Errorf("position moved: %w", market.ErrConflict)
	}
	return c.flaky.WriteBatch(ctx, part, ticks, candles, prevSeq, fromSeq, logSeq)
}

// records counts log records by level.
type records struct {
	mu     sync.Mutex
	levels map[slog.Level][]string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.levels[rec.Level] = append(r.levels[rec.Level], rec.Message)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func (r *records) at(l slog.Level) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.levels[l])
}

// TestResyncsLogOneLine: a persister sharing the log with another one (here
// the store answers conflict 20 times, as it does when another instance
// wrote first) logs one info line about it, not two per resync as before
// (~9 lines/s with two instances); the rest is debug and a counter. After a
// quiet minute the next resync is news again.
func TestResyncsLogOneLine(t *testing.T) {
	b := openBus(t)
	st := &conflicting{flaky: wrap(openStore(t))}
	st.n.Store(20)
	var now atomic.Int64
	now.Store(time.Unix(1_800_000_000, 0).UnixNano())
	recs := &records{levels: map[slog.Level][]string{}}
	reg := prometheus.NewRegistry()
	p := persist.New(b, st, persist.Config{FlushInterval: time.Millisecond, Now: func() time.Time { return time.Unix(0, now.Load()) }},
		slog.New(recs), reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	publish(t, b, 0, 1, 1)
	waitPosition(t, st.flaky, lastSeq(t, b))
	if got := testenv.Counter(t, reg, "findash_persist_resyncs_total"); got != 20 {
		t.Errorf("findash_persist_resyncs_total = %v, want 20", got)
	}
	info := recs.at(slog.LevelInfo)
	if len(info) != 2 {
		t.Errorf("info lines after 20 resyncs = %d, want 2 (started, sharing the log):\n%s", len(info), strings.Join(info, "\n"))
	}
	if debug := recs.at(slog.LevelDebug); len(debug) < 19 {
		t.Errorf("debug lines = %d, want at least 19 (one per further resync)", len(debug))
	}

	now.Add(int64(61 * time.Second)) // a quiet minute later
	st.n.Store(1)
	publish(t, b, 1, 1, 1)
	waitPosition(t, st.flaky, lastSeq(t, b))
	if info := recs.at(slog.LevelInfo); len(info) != 3 {
		t.Errorf("info lines after a resync a quiet minute later = %d, want 3:\n%s", len(info), strings.Join(info, "\n"))
	}
}

// TestSkipsBadLoggedTicks: ticks a looser version put in the log (a price
// of 1e-300, a size of 1e308, a tick dated 2099) are not written, nor any
// candle built from them, and are counted; the position still passes them.
func TestSkipsBadLoggedTicks(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	st := wrap(db)
	reg := prometheus.NewRegistry()
	ticks := []market.Tick{
		{Symbol: "PSN-A", TS: ts0, Price: 1e-300, Size: 1},
		{Symbol: "PSN-A", TS: ts0 + 1, Price: 3, Size: 1},
		{Symbol: "PSN-B", TS: ts0, Price: 1, Size: 1e308},
		{Symbol: "PSN-B", TS: ts0 + 1, Price: 1, Size: 1e308},
		{Symbol: "PSN-C", TS: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), Price: 5, Size: 1},
	}
	if err := b.Append(context.Background(), ticks); err != nil {
		t.Fatal(err)
	}
	stop := start(t, b, st, persist.Config{}, reg)
	last, _ := b.LastSeq(context.Background())
	waitPosition(t, st, last)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	ctx := context.Background()
	for sym, want := range map[string]int{"PSN-A": 1, "PSN-B": 0, "PSN-C": 0} {
		got, err := db.Ticks(ctx, sym, 0, market.MaxTS, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want {
			t.Errorf("%s: %d ticks stored (%+v), want %d", sym, len(got), got, want)
		}
		candles, err := db.Candles(ctx, market.CandleQuery{Symbol: sym, Interval: market.Interval1d, From: 0, To: market.MaxTS, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(candles) != want || (want == 1 && (candles[0].Low != 3 || candles[0].Volume != 1)) {
			t.Errorf("%s: 1d candles %+v, want %d built from the good tick only", sym, candles, want)
		}
	}
	if got := testenv.Counter(t, reg, "findash_persist_skipped_ticks_total"); got != 4 {
		t.Errorf("findash_persist_skipped_ticks_total = %v, want 4", got)
	}
}
