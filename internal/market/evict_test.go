package market

import (
	"fmt"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

// TestEvictThenReviveIsExact: a symbol evicted after a quiet day and
// revived by a tick dated a day later shows exactly what a State that never
// evicted shows — quotes, open candles and the updates published.
// day0 is 2025-11-27T00:00:00Z, an edge of every bucket.
const day0 int64 = 1764201600000

func TestEvictThenReviveIsExact(t *testing.T) {
	clock := time.UnixMilli(day0)
	now := func() time.Time { return clock }
	evicting, keeping := NewStateWith(StateConfig{Now: now}), NewState()
	apply := func(ticks ...Tick) {
		t.Helper()
		var ue, uk Update
		evicting.Apply(ticks, &ue)
		keeping.Apply(ticks, &uk)
		if diff := gocmp.Diff(uk, ue); diff != "" {
			t.Fatalf("Apply(%v) updates differ (-keeping +evicting):\n%s", ticks, diff)
		}
	}
	seq := uint64(0)
	tick := func(sym string, ts int64, price float64) Tick {
		seq++
		return Tick{Symbol: sym, TS: ts, Price: price, Size: 1, Seq: seq}
	}
	for i := range int64(100) { // ticks arrive as they are dated
		clock = time.UnixMilli(day0 + i*61_000)
		apply(tick("AAA", clock.UnixMilli(), float64(100+i)), tick("BBB", clock.UnixMilli(), 5))
	}
	if n, hot := evicting.Len(); n != 2 || hot != 2 {
		t.Fatalf("Len() = %d, %d; want 2, 2", n, hot)
	}
	clock = clock.Add(25 * time.Hour)
	apply(tick("BBB", clock.UnixMilli(), 6)) // BBB stays active
	if got := evicting.Evict(clock.Add(-25 * time.Hour)); got != 0 {
		t.Errorf("Evict(before the last ticks) = %d, want 0", got)
	}
	if got := evicting.Evict(clock.Add(-time.Hour)); got != 1 {
		t.Fatalf("Evict(an hour ago) = %d, want 1 (AAA)", got)
	}
	if n, hot := evicting.Len(); n != 2 || hot != 1 {
		t.Fatalf("Len() after Evict = %d, %d; want 2, 1", n, hot)
	}
	// The evicted symbol's quote stays; its open candles are the store's.
	qe, _ := evicting.Quote("AAA")
	qk, _ := keeping.Quote("AAA")
	if qe != qk {
		t.Errorf("evicted quote = %+v, want %+v", qe, qk)
	}
	if _, ok := evicting.OpenCandle("AAA", Interval1m); ok {
		t.Errorf("OpenCandle of an evicted symbol reported")
	}
	if gocmp.Diff(keeping.Quotes(nil), evicting.Quotes(nil)) != "" {
		t.Errorf("Quotes(nil) differ after Evict")
	}
	// A late tick is left to the store: nothing changes, it stays evicted.
	var u Update
	evicting.Apply([]Tick{tick("AAA", day0+5_000, 1)}, &u)
	if len(u.Quotes)+len(u.Candles) != 0 {
		t.Errorf("late tick for an evicted symbol published %+v", u)
	}
	if _, hot := evicting.Len(); hot != 1 {
		t.Errorf("a late tick revived the symbol")
	}
	// Back a day later: exactly as if never evicted.
	keeping.Apply([]Tick{{Symbol: "AAA", TS: day0 + 5_000, Price: 1, Size: 1, Seq: seq}}, &Update{})
	apply(tick("AAA", clock.UnixMilli(), 150), tick("AAA", clock.UnixMilli()+1_000, 151))
	for _, iv := range Intervals {
		ce, _ := evicting.OpenCandle("AAA", iv)
		ck, _ := keeping.OpenCandle("AAA", iv)
		if ce != ck {
			t.Errorf("OpenCandle(AAA, %s) after revival = %+v, want %+v", iv, ce, ck)
		}
	}
	qe, _ = evicting.Quote("AAA")
	qk, _ = keeping.Quote("AAA")
	if qe != qk {
		t.Errorf("revived quote = %+v, want %+v", qe, qk)
	}
}

// TestRestoreDatesArrivalByNewestCandle: a symbol whose newest stored
// candle is days old is evicted by the first Evict after a restart.
func TestRestoreDatesArrivalByNewestCandle(t *testing.T) {
	clock := time.UnixMilli(day0 + 10*Window24h)
	s := NewStateWith(StateConfig{Now: func() time.Time { return clock }})
	old := NewCandle(Interval1m, &Tick{Symbol: "OLD", TS: day0, Price: 1, Seq: 1})
	fresh := NewCandle(Interval1m, &Tick{Symbol: "NEW", TS: clock.UnixMilli() - 1000, Price: 1, Seq: 2})
	s.Restore([]Candle{old, fresh}, nil)
	if got := s.Evict(clock.Add(-25 * time.Hour)); got != 1 {
		t.Fatalf("Evict after Restore = %d, want 1", got)
	}
	if _, ok := s.Quote("OLD"); !ok {
		t.Errorf("the evicted symbol lost its quote")
	}
	if _, ok := s.OpenCandle("NEW", Interval1m); !ok {
		t.Errorf("the active symbol lost its open candle")
	}
}

// TestForgetUnregistered: Forget drops the symbols keep rejects that have
// not ticked since before — quote, order and counts — and keeps one that
// ticked after (registered after the registry was read).
func TestForgetUnregistered(t *testing.T) {
	clock := time.UnixMilli(day0)
	s := NewStateWith(StateConfig{Now: func() time.Time { return clock }})
	var u Update
	for i, sym := range []string{"KEEP", "GONE", "LATE"} {
		if sym == "LATE" {
			clock = clock.Add(time.Minute)
		}
		s.Apply([]Tick{{Symbol: sym, TS: clock.UnixMilli(), Price: 1, Size: 1, Seq: uint64(i + 1)}}, &u)
	}
	s.Evict(clock.Add(-30 * time.Second)) // GONE and KEEP evicted, LATE active
	readAt := clock.Add(-30 * time.Second)
	registered := func(sym string) bool { return sym == "KEEP" }
	if n := s.Forget(registered, readAt); n != 1 {
		t.Fatalf("Forget() = %d, want 1 (GONE)", n)
	}
	if _, ok := s.Quote("GONE"); ok {
		t.Errorf("GONE still quoted")
	}
	if n, hot := s.Len(); n != 2 || hot != 1 {
		t.Errorf("Len() = %d, %d; want 2, 1", n, hot)
	}
	var syms []string
	for _, q := range s.Quotes(nil) {
		syms = append(syms, q.Symbol)
	}
	if got := fmt.Sprint(syms); got != "[KEEP LATE]" {
		t.Errorf("Quotes(nil) symbols = %s, want [KEEP LATE]", got)
	}
	if g, l := s.Movers(10); len(g)+len(l) != 0 {
		t.Errorf("Movers after Forget = %v, %v", g, l)
	}
}
