package market

import (
	"math"
	"slices"
	"testing"
	"time"
)

// TestRecentAfterEvictRevive: a symbol new to the state covers all time
// until it is evicted; revived, its rings cover only from the reviving
// tick's bucket — the store holds what it had (review of 80ec680, finding 6:
// nothing failed when Evict left it fresh).
func TestRecentAfterEvictRevive(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := NewStateWith(StateConfig{Now: func() time.Time { return now }})
	base := int64(1_800_000_000_000) - 10*60_000
	var seq uint64
	apply := func(ts int64) {
		seq++
		var u Update
		s.Apply([]Tick{{Symbol: "NEW.X", TS: ts, Price: 10, Size: 1, Seq: seq}}, &u)
	}
	apply(base)
	apply(base + 60_000)
	all := CandleQuery{Symbol: "NEW.X", Interval: Interval1m, From: 0, To: base + 600_000, Limit: 10}
	if cs, ok := s.RecentCandles(all); !ok || len(cs) != 2 {
		t.Fatalf("new symbol: RecentCandles = %d candles, %v; want 2, true", len(cs), ok)
	}
	if n := s.Evict(now.Add(time.Second)); n != 1 {
		t.Fatalf("Evict = %d, want 1", n)
	}
	apply(base + 300_000)
	if cs, ok := s.RecentCandles(all); ok {
		t.Errorf("revived: memory answered %d candles from all time (the store holds the 2 before); want declined", len(cs))
	}
	since := all
	since.From = base + 300_000
	if cs, ok := s.RecentCandles(since); !ok || len(cs) != 1 {
		t.Errorf("revived, from its tick's minute: RecentCandles = %d candles, %v; want 1, true", len(cs), ok)
	}
}

// TestRecentGlobalBound: all rings together stay within
// MaxRecentCandles (plus the one growth that crosses it); a ring past it
// drops its oldest candle and declines what it no longer holds (review
// of 80ec680, finding 6: nothing failed without the bound).
func TestRecentGlobalBound(t *testing.T) {
	const perRing, total = 100, 64
	s := NewStateWith(StateConfig{RecentCandles: perRing, MaxRecentCandles: total})
	base := int64(1_800_000_000_000)
	var seq uint64
	for sec := int64(0); sec < 80; sec++ {
		for _, sym := range []string{"A", "B", "C"} {
			seq++
			var u Update
			s.Apply([]Tick{{Symbol: sym, TS: base + sec*1000, Price: 10, Size: 1, Seq: seq}}, &u)
		}
	}
	if n := s.RecentLen(); n > total+perRing {
		t.Errorf("RecentLen = %d, want at most %d", n, total+perRing)
	}
	for _, sym := range []string{"A", "B", "C"} {
		q := CandleQuery{Symbol: sym, Interval: Interval1s, From: base, To: base + 80_000, Limit: 100}
		if cs, ok := s.RecentCandles(q); ok && len(cs) != 80 {
			t.Errorf("%s: memory answered %d of the 80 seconds; want 80 or declined", sym, len(cs))
		}
	}
}

// TestRecentNewest: a Newest read gives the newest Limit candles of the
// range, the open one included when the range holds it, as filtering
// every candle held would, for ranges and limits on either side of what
// the ring holds.
func TestRecentNewest(t *testing.T) {
	s, base, open := recentFixture(30)
	for _, q := range []CandleQuery{
		{From: 0, To: math.MaxInt64, Limit: 10},
		{From: 0, To: math.MaxInt64, Limit: 1},
		{From: 0, To: math.MaxInt64, Limit: 40},
		{From: base + 5*60_000, To: math.MaxInt64, Limit: 10},
		{From: 0, To: base + 12*60_000, Limit: 5},
		{From: base + 10*60_000, To: base + 12*60_000, Limit: 5},
		{From: 0, To: open - 1, Limit: 3},
		{From: open, To: open, Limit: 3},
	} {
		q.Symbol, q.Interval, q.Newest = "N.X", Interval1m, true
		got, ok := s.RecentCandles(q)
		all, _ := s.RecentCandles(CandleQuery{Symbol: "N.X", Interval: Interval1m, From: 0, To: math.MaxInt64, Limit: 1000})
		var want []int64
		for _, c := range all {
			if c.Start >= q.From && c.Start <= q.To {
				want = append(want, c.Start)
			}
		}
		want = want[max(0, len(want)-q.Limit):]
		var starts []int64
		for _, c := range got {
			starts = append(starts, c.Start)
		}
		if !ok || !slices.Equal(starts, want) {
			t.Errorf("from %d to %d limit %d: got %v, %v; want %v", q.From-base, q.To-base, q.Limit, starts, ok, want)
		}
		if cap(got) > q.Limit {
			t.Errorf("from %d limit %d: capacity %d: the read copied more than it returns", q.From-base, q.Limit, cap(got))
		}
	}
}

// recentFixture is a state holding n one-minute candles of N.X (the last
// one open); it returns the first candle's start and the open one's.
func recentFixture(n int) (*State, int64, int64) {
	now := time.Unix(1_800_000_000, 0)
	s := NewStateWith(StateConfig{Now: func() time.Time { return now }})
	base := int64(1_800_000_000_000) - int64(n)*60_000
	for k := range n {
		var u Update
		s.Apply([]Tick{{Symbol: "N.X", TS: base + int64(k)*60_000, Price: 10 + float64(k), Size: 1, Seq: uint64(k + 1)}}, &u)
	}
	return s, base, base + int64(n-1)*60_000
}

// BenchmarkRecentNewest is a live chart's read: the newest 50 one-minute
// candles of the 500 held.
func BenchmarkRecentNewest(b *testing.B) {
	s, _, _ := recentFixture(501)
	q := CandleQuery{Symbol: "N.X", Interval: Interval1m, From: 0, To: math.MaxInt64, Limit: 50, Newest: true}
	b.ReportAllocs()
	for b.Loop() {
		if cs, ok := s.RecentCandles(q); !ok || len(cs) != 50 {
			b.Fatalf("%d candles, %v", len(cs), ok)
		}
	}
}
