package live_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/live"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/persist"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/testenv"
)

var (
	_ live.Log      = (*bus.Bus)(nil)
	_ live.Restorer = (*sqlite.DB)(nil)
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openBus(tb testing.TB) *bus.Bus {
	tb.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: tb.TempDir()}, discard())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Close(ctx)
	})
	return b
}

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

// recorder is a Sink that keeps everything it is given, and signals got
// after each Publish.
type recorder struct {
	mu     sync.Mutex
	floor  uint64
	floors int
	msgs   []published
	got    chan struct{} // 1-buffered; made by newRecorder
}

func newRecorder() *recorder { return &recorder{got: make(chan struct{}, 1)} }

type published struct {
	ticks   []market.Tick
	quotes  int
	candles int
}

func (r *recorder) Publish(ticks []market.Tick, u *market.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, published{append([]market.Tick(nil), ticks...), len(u.Quotes), len(u.Candles)})
	select {
	case r.got <- struct{}{}:
	default: // a signal is pending: the waiter will look anyway
	}
}

// waitFor waits until cond, called with r locked, holds; it looks again
// after every Publish.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("after 30s: %s", what)
		}
	}
}

func (r *recorder) SetFloor(seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) > 0 {
		panic("SetFloor after Publish")
	}
	r.floor = seq
	r.floors++
}

var syms = []string{"BTC-USD", "BRK.B", "EUR/USD"}

// publish appends rounds of one batch per symbol, ts one second apart from
// base, and returns the ticks as the log numbered them.
func publish(t *testing.T, b *bus.Bus, base time.Time, r0, rounds int) []market.Tick {
	t.Helper()
	var all []market.Tick
	for r := r0; r < r0+rounds; r++ {
		var batch []market.Tick
		for s, sym := range syms {
			for i := 0; i < 3; i++ {
				batch = append(batch, market.Tick{Symbol: sym, TS: base.Add(time.Duration(r)*time.Second).UnixMilli() + int64(i),
					Price: float64(100*(s+1) + (r*7+i)%13), Size: float64(i + 1)})
			}
		}
		if err := b.Append(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		all = append(all, batch...)
	}
	return all
}

// positions is a persist.Store that signals written after each batch.
type positions struct {
	persist.Store
	written chan struct{} // 1-buffered
}

func (p *positions) WriteBatch(ctx context.Context, part int, ticks []market.Tick, candles []market.Candle, prevSeq, fromSeq, logSeq uint64) error {
	err := p.Store.WriteBatch(ctx, part, ticks, candles, prevSeq, fromSeq, logSeq)
	select {
	case p.written <- struct{}{}:
	default: // a signal is pending: the waiter will look anyway
	}
	return err
}

// persistAll runs the persister until it has written the whole log.
func persistAll(t *testing.T, b *bus.Bus, db *sqlite.DB) uint64 {
	t.Helper()
	last, err := b.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st := &positions{Store: db, written: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- persist.New(b, st, persist.Config{}, discard(), nil).Run(ctx) }()
	deadline := time.After(30 * time.Second)
	for {
		if pos, _ := db.LogPosition(context.Background(), market.Unpartitioned); pos >= last {
			break
		}
		select {
		case <-st.written:
		case <-deadline:
			t.Fatal("persister did not catch up in 30s")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return last
}

func runFeed(t *testing.T, f *live.Feed) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()
	select {
	case <-f.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("feed not ready after 10s")
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
}

func TestFeedRestoresThenFollows(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	persisted := publish(t, b, base, 0, 4) // messages 1..12
	pos := persistAll(t, b, db)
	fresh := publish(t, b, base, 4, 2) // messages 13..18

	tests := []struct {
		name      string
		window    time.Duration
		wantStart uint64
	}{
		// Everything is younger than 5 minutes: the whole log warms the sink.
		{"replay window covers the log", 5 * time.Minute, 1},
		// A window that ends before the log starts: only unpersisted messages.
		{"nothing to replay", time.Nanosecond, pos + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := market.NewState()
			sink := newRecorder()
			now := time.Now
			if tt.window == time.Nanosecond {
				now = func() time.Time { return time.Now().Add(time.Hour) }
			}
			f := live.New(b, db, state, sink, live.Config{ReplayWindow: tt.window, Now: now}, discard(), nil)
			stop := runFeed(t, f)
			defer stop()

			sink.mu.Lock()
			defer sink.mu.Unlock()
			if sink.floors != 1 || sink.floor != tt.wantStart<<16-1 {
				t.Errorf("SetFloor called %d times with %d, want once with %d", sink.floors, sink.floor, tt.wantStart<<16-1)
			}
			var got []market.Tick
			for _, m := range sink.msgs {
				warm := bus.StreamSeq(m.ticks[0].Seq) <= pos
				if warm != (m.quotes == 0 && m.candles == 0) {
					t.Errorf("message %d: %d quotes, %d candles in its update; warm = %v", bus.StreamSeq(m.ticks[0].Seq), m.quotes, m.candles, warm)
				}
				got = append(got, m.ticks...)
			}
			want := fresh
			if tt.wantStart == 1 {
				want = append(append([]market.Tick(nil), persisted...), fresh...)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ticks handed to the sink (-want +got):\n%s", diff)
			}

			// The State equals one built by applying every tick.
			ref := market.NewState()
			var u market.Update
			ref.Apply(append(append([]market.Tick(nil), persisted...), fresh...), &u)
			for _, sym := range syms {
				q, _ := state.Quote(sym)
				rq, _ := ref.Quote(sym)
				if q.Price != rq.Price || q.Seq != rq.Seq || q.TS != rq.TS {
					t.Errorf("Quote(%q) = %+v, want %+v", sym, q, rq)
				}
				for _, iv := range market.Intervals {
					c, _ := state.OpenCandle(sym, iv)
					rc, _ := ref.OpenCandle(sym, iv)
					if diff := cmp.Diff(rc, c); diff != "" {
						t.Errorf("OpenCandle(%q, %s) (-want +got):\n%s", sym, iv, diff)
					}
				}
			}
		})
	}
}

func TestFeedFollowsLiveTicks(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	state := market.NewState()
	sink := newRecorder()
	f := live.New(b, db, state, sink, live.Config{}, discard(), nil)
	stop := runFeed(t, f) // an empty log: ready at once
	defer stop()
	sink.mu.Lock()
	if sink.floor != 1<<16-1 {
		t.Errorf("floor on an empty log = %d, want %d", sink.floor, 1<<16-1)
	}
	sink.mu.Unlock()
	in := publish(t, b, time.Now(), 0, 3)
	lastTick := in[len(in)-1]
	// The sink is handed a message after the State applied it.
	sink.waitFor(t, "the last tick never reached the sink", func() bool {
		n := len(sink.msgs)
		if n == 0 {
			return false
		}
		m := sink.msgs[n-1].ticks
		return m[len(m)-1].Seq == lastTick.Seq
	})
	if q, ok := state.Quote(lastTick.Symbol); !ok || q.Seq != lastTick.Seq {
		t.Errorf("Quote(%q) = %+v, %v; want the last tick's (seq %d)", lastTick.Symbol, q, ok, lastTick.Seq)
	}
}

// TestFeedSkipsStoredBadValues: a log and a database written by a version
// that accepted a price of 1e-300, a size of 1e308 and a tick dated 2099
// (issue 13 items 1 and 4). The feed skips them with a metric: every quote
// stays finite, no bad tick reaches the sink, and a 2099 tick does not
// freeze its symbol.
func TestFeedSkipsStoredBadValues(t *testing.T) {
	b := openBus(t)
	db := openStore(t)
	ctx := context.Background()
	now := time.Now()
	ms := now.UnixMilli()
	y2099 := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	persisted := []market.Tick{
		{Symbol: "PSN-A", TS: ms - 60_000, Price: 1e-300, Size: 1},
		{Symbol: "PSN-A", TS: ms - 59_000, Price: 1e9, Size: 1},
		{Symbol: "PSN-B", TS: ms - 60_000, Price: 1, Size: 1e308},
		{Symbol: "PSN-B", TS: ms - 59_000, Price: 1, Size: 1e308},
		{Symbol: "PSN-C", TS: y2099, Price: 5, Size: 1},
	}
	if err := b.Append(ctx, persisted); err != nil {
		t.Fatal(err)
	}
	// What the old persister wrote: the ticks and their candles.
	roll := market.NewRollup()
	for i := range persisted {
		roll.Add(&persisted[i])
	}
	if err := db.WriteBatch(ctx, market.Unpartitioned, persisted, roll.Candles(), 0, bus.StreamSeq(persisted[0].Seq), bus.StreamSeq(persisted[4].Seq)); err != nil {
		t.Fatal(err)
	}
	logged := []market.Tick{
		{Symbol: "PSN-A", TS: ms - 58_000, Price: 1e-300, Size: 1},
		{Symbol: "PSN-A", TS: ms - 58_000, Price: 3, Size: 1},
		{Symbol: "PSN-B", TS: ms - 58_000, Price: 1, Size: 1e308},
		{Symbol: "PSN-C", TS: y2099 + 60_000, Price: 5, Size: 1},
	}
	if err := b.Append(ctx, logged); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	state := market.NewState()
	sink := newRecorder()
	f := live.New(b, db, state, sink, live.Config{}, discard(), reg)
	stop := runFeed(t, f)
	defer stop()

	good := []market.Tick{{Symbol: "PSN-C", TS: ms, Price: 6, Size: 1}, {Symbol: "PSN-B", TS: ms, Price: 2, Size: 1}}
	if err := b.Append(ctx, good); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, "the good ticks never reached the sink", func() bool {
		n := len(sink.msgs)
		return n > 0 && sink.msgs[n-1].ticks[0].Seq == good[1].Seq
	})
	lim := market.DefaultLimits()
	sink.mu.Lock()
	for _, m := range sink.msgs {
		for i := range m.ticks {
			if err := lim.CheckLogged(&m.ticks[i], time.Now()); err != nil {
				t.Errorf("the sink got a bad tick %+v: %v", m.ticks[i], err)
			}
		}
	}
	sink.mu.Unlock()
	for _, q := range state.Quotes(nil) {
		if _, err := json.Marshal(q); err != nil {
			t.Errorf("quote %+v does not encode: %v", q, err)
		}
	}
	if q, _ := state.Quote("PSN-C"); q.Price != 6 {
		t.Errorf("Quote(PSN-C) = %+v, want price 6 (not frozen by a 2099 tick)", q)
	}
	if q, _ := state.Quote("PSN-A"); q.Price != 3 {
		t.Errorf("Quote(PSN-A) = %+v, want price 3", q)
	}
	// Skipped: the 1m candles and newer buckets of PSN-A (a 1e-300 price),
	// PSN-B (an infinite volume) and PSN-C (dated 2099); the bad logged ticks.
	if got := testenv.Counter(t, reg, "findash_live_skipped_candles_total"); got < 3 {
		t.Errorf("findash_live_skipped_candles_total = %v, want >= 3", got)
	}
	// Of the persisted ticks (replayed only to warm the sink) 4 are bad,
	// of the logged ones (applied) 3.
	if got := testenv.Counter(t, reg, "findash_live_skipped_ticks_total"); got != 7 {
		t.Errorf("findash_live_skipped_ticks_total = %v, want 7", got)
	}
}
