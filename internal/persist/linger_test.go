package persist_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/persist"
	"github.com/findash/findash/internal/testenv"
)

// TestLingersAtLowRates: a batch smaller than FlushMin is written Linger
// after its first tick, not at FlushInterval (decision 0071); a batch of
// FlushMin ticks, or one holding a tick more than Late behind the clock, is
// written at FlushInterval.
func TestLingersAtLowRates(t *testing.T) {
	// The clock at the ticks' time: they are on time (ts0 is in 2025).
	onTime := func() time.Time { return time.UnixMilli(ts0) }
	t.Run("small batch waits", func(t *testing.T) {
		b := openBus(t)
		st := wrap(openStore(t))
		const linger = 300 * time.Millisecond
		reg := prometheus.NewRegistry()
		stop := start(t, b, st, persist.Config{FlushInterval: time.Millisecond, Linger: linger, Now: onTime}, reg)
		defer stop()
		t0 := time.Now()
		publish(t, b, 0, 1, 1) // 20 messages of one tick
		waitPosition(t, st, 1)
		if waited := time.Since(t0); waited < linger {
			t.Errorf("first tick written after %v, want at least Linger (%v)", waited, linger)
		}
		if n := testenv.Counter(t, reg, "findash_persist_lingered_batches_total"); n < 1 {
			t.Errorf("findash_persist_lingered_batches_total = %v, want >= 1", n)
		}
	})
	t.Run("full batch does not wait", func(t *testing.T) {
		b := openBus(t)
		st := wrap(openStore(t))
		reg := prometheus.NewRegistry()
		stop := start(t, b, st, persist.Config{FlushInterval: time.Millisecond, FlushMin: 100, Linger: time.Hour, Now: onTime}, reg)
		defer stop()
		appendOne(t, b, 100, 0)            // one message of FlushMin ticks
		waitPosition(t, st, lastSeq(t, b)) // fails after 60 s if it lingers
		if n := testenv.Counter(t, reg, "findash_persist_lingered_batches_total"); n != 0 {
			t.Errorf("findash_persist_lingered_batches_total = %v, want 0", n)
		}
	})
	t.Run("late tick does not wait", func(t *testing.T) {
		b := openBus(t)
		st := wrap(openStore(t))
		stop := start(t, b, st, persist.Config{FlushInterval: time.Millisecond, Linger: time.Hour, Late: time.Second, Now: onTime}, nil)
		defer stop()
		appendOne(t, b, 1, 0)
		appendOne(t, b, 1, -1001)          // 1,001 ms behind the clock
		waitPosition(t, st, lastSeq(t, b)) // fails after 60 s if it lingers
	})
}

// TestBacklogDoesNotLinger: a tick on time when the consumer read it but
// more than Late behind the clock when the writer takes it (it waited in
// the queue behind a stalled write) is written at FlushInterval, not
// Linger after the writer took it. Before, lateness was judged only when
// the consumer read the tick: every recovery lingered one Linger more
// (REVIEW-A F4).
func TestBacklogDoesNotLinger(t *testing.T) {
	var calls atomic.Int64
	// The consumer's first reading of the clock is at the tick's time; the
	// writer's, later, is 2 s past it.
	clock := func() time.Time {
		if calls.Add(1) == 1 {
			return time.UnixMilli(ts0)
		}
		return time.UnixMilli(ts0 + 2000)
	}
	b := openBus(t)
	st := wrap(openStore(t))
	const linger = 5 * time.Second
	stop := start(t, b, st, persist.Config{FlushInterval: time.Millisecond, Linger: linger, Late: time.Second, Now: clock}, nil)
	defer stop()
	t0 := time.Now()
	appendOne(t, b, 1, 0)
	waitPosition(t, st, lastSeq(t, b))
	if waited := time.Since(t0); waited >= linger/2 {
		t.Errorf("a tick 2 s behind the clock when the writer took it was written after %v; want at FlushInterval, not after Linger (%v)", waited, linger)
	}
}

// TestLateWhenTakenEndsLinger: while a batch lingers, a message that was
// on time when the consumer read it but is more than Late behind the clock
// when the writer takes it (it waited in the queue) ends the linger: the
// batch is written then, not Linger after its first tick. Else such a tick
// could reach the store up to Late more than StoredWithin after its
// timestamp. TestBacklogDoesNotLinger covers only the batch's first
// message, judged when FlushInterval passes.
func TestLateWhenTakenEndsLinger(t *testing.T) {
	var split atomic.Bool  // set: the next reading is the tick's time, later ones 2 s past it
	var calls atomic.Int64 // readings since split was set
	clock := func() time.Time {
		if split.Load() && calls.Add(1) > 1 {
			return time.UnixMilli(ts0 + 2000)
		}
		return time.UnixMilli(ts0)
	}
	b := openBus(t)
	st := wrap(openStore(t))
	const linger = 5 * time.Second
	stop := start(t, b, st, persist.Config{FlushInterval: time.Millisecond, Linger: linger, Late: time.Second, Now: clock}, nil)
	defer stop()
	t0 := time.Now()
	appendOne(t, b, 1, 0)              // on time throughout: the batch lingers
	time.Sleep(200 * time.Millisecond) // past FlushInterval: lingering
	split.Store(true)
	// The consumer's reading (the first after split) finds it on time; the
	// writer's, when it takes it, 2 s late.
	appendOne(t, b, 1, 0)
	waitPosition(t, st, lastSeq(t, b))
	if waited := time.Since(t0); waited >= linger/2 {
		t.Errorf("a message late when taken during a linger was written after %v; want at once, not Linger (%v) after the first", waited, linger)
	}
	if n := st.writes.Load(); n != 1 {
		t.Errorf("%d batches written, want 1 (both messages)", n)
	}
}

// TestLingerOutlastsLate: fresh ticks that keep arriving while a batch
// lingers do not end the linger once its first tick is Late old: the batch
// is written Linger after its first tick, in one transaction. Judging the
// batch's oldest tick on each message taken ended every linger of live
// traffic Late after its first tick (0.5 s, not 1 s, at the defaults).
func TestLingerOutlastsLate(t *testing.T) {
	t0 := time.Now()
	clock := func() time.Time { return time.UnixMilli(ts0).Add(time.Since(t0)) }
	b := openBus(t)
	st := wrap(openStore(t))
	const late, linger = 100 * time.Millisecond, 3 * time.Second
	stop := start(t, b, st, persist.Config{FlushInterval: 10 * time.Millisecond, Late: late, Linger: linger, Now: clock}, nil)
	defer stop()
	// 20 one-tick messages, each stamped when sent, over ~5 Lates.
	for range 20 {
		appendOne(t, b, 1, clock().UnixMilli()-ts0)
		time.Sleep(late / 4)
	}
	waitPosition(t, st, lastSeq(t, b))
	if n := st.writes.Load(); n != 1 {
		t.Errorf("%d batches written for 20 on-time messages within Linger (%v), want 1", n, linger)
	}
}

// appendOne appends n ticks of one symbol from ts0+dt (ms): one log message.
func appendOne(t *testing.T, b *bus.Bus, n int, dt int64) {
	t.Helper()
	ticks := make([]market.Tick, n)
	for i := range ticks {
		ticks[i] = market.Tick{Symbol: "ONE.X", TS: ts0 + dt + int64(i), Price: 100, Size: 1}
	}
	if err := b.Append(context.Background(), ticks); err != nil {
		t.Fatal(fmt.Errorf("append %d ticks: %w", n, err))
	}
}

// TestStoredWithin: Late + Linger, with the defaults (500 ms and 1 s).
func TestStoredWithin(t *testing.T) {
	for _, c := range []struct {
		cfg  persist.Config
		want time.Duration
	}{
		{persist.Config{}, 1500 * time.Millisecond},
		{persist.Config{Linger: 3 * time.Second}, 3500 * time.Millisecond},
		{persist.Config{Linger: time.Millisecond}, 600 * time.Millisecond}, // never below FlushInterval
	} {
		if got := c.cfg.StoredWithin(); got != c.want {
			t.Errorf("%+v.StoredWithin() = %v, want %v", c.cfg, got, c.want)
		}
	}
}
