package storetest

import (
	"errors"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/market"
)

func testRestoreState(t *testing.T, s Store) {
	cs, pos, err := s.RestoreState(t.Context())
	if err != nil || len(cs) != 0 || pos.Of(market.Unpartitioned) != 0 {
		t.Fatalf("RestoreState() on an empty store = %v, %v, %v; want none, 0, nil", cs, pos, err)
	}
	// AAA: one tick a minute for 26 hours, written in hourly batches.
	// BBB: a few ticks long before AAA's, so its own 24 h are its own.
	var ticks []market.Tick
	var logSeq uint64
	for h := range 26 {
		var batch []market.Tick
		for m := range 60 {
			ts := day0 + int64(h)*3_600_000 + int64(m)*60_000 + 1234
			batch = append(batch, market.Tick{Symbol: "AAA", TS: ts, Price: float64(100 + m), Size: 1, Seq: uint64(h*60 + m + 1)})
		}
		logSeq++
		mustWrite(t, s, batch, logSeq)
		ticks = append(ticks, batch...)
	}
	bbb := []market.Tick{
		{Symbol: "BBB", TS: day0 - 10*86_400_000, Price: 1, Size: 1, Seq: 1},
		{Symbol: "BBB", TS: day0 - 9*86_400_000, Price: 2, Size: 1, Seq: 2},          // exactly 24 h before the newest minute: out
		{Symbol: "BBB", TS: day0 - 9*86_400_000 + 60_000, Price: 2, Size: 1, Seq: 5}, // 24 h - 1 min before it: kept
		{Symbol: "BBB", TS: day0 - 8*86_400_000, Price: 3, Size: 1, Seq: 3},
		{Symbol: "BBB", TS: day0 - 8*86_400_000 + 5, Price: 4, Size: 1, Seq: 4},
	}
	logSeq++
	mustWrite(t, s, bbb, logSeq)
	ticks = append(ticks, bbb...)

	brute := bruteCandles(ticks)
	newest := map[[2]any]market.Candle{}
	for _, c := range brute {
		k := [2]any{c.Symbol, c.Interval}
		if o, ok := newest[k]; !ok || c.Start > o.Start {
			newest[k] = c
		}
	}
	var want []market.Candle
	for _, c := range brute {
		n := newest[[2]any{c.Symbol, c.Interval}]
		switch {
		case c.Interval == market.Interval1m && c.Start > n.Start-market.Window24h:
			want = append(want, c)
		case c.Interval != market.Interval1m && c.Start == n.Start:
			want = append(want, c)
		}
	}
	sortCandles(want)

	got, pos, err := s.RestoreState(t.Context())
	if err != nil {
		t.Fatalf("RestoreState() error: %v", err)
	}
	if diff := gocmp.Diff(market.Positions{market.Unpartitioned: logSeq}, pos); diff != "" {
		t.Errorf("RestoreState() positions (-want +got):\n%s", diff)
	}
	sortCandles(got)
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("RestoreState() candles (-want +got):\n%s", diff)
	}
	// AAA: 1,440 minutes and 5 newest candles; BBB: 2 minutes and 5
	// newest candles.
	if want := 1440 + 5 + 2 + 5; len(got) != want {
		t.Errorf("RestoreState() returned %d candles, want %d", len(got), want)
	}
}

func testCandles(t *testing.T, s Store) {
	var ticks []market.Tick
	for m := range 10 {
		ticks = append(ticks,
			market.Tick{Symbol: "AAA", TS: day0 + int64(m)*60_000, Price: float64(10 + m), Size: 1, Seq: uint64(2*m + 1)},
			market.Tick{Symbol: "AAB", TS: day0 + int64(m)*60_000, Price: float64(20 + m), Size: 1, Seq: uint64(2*m + 2)},
		)
	}
	mustWrite(t, s, ticks, 1)
	minute := func(m int64) int64 { return day0 + m*60_000 }
	starts := func(cs []market.Candle) []int64 {
		out := []int64{}
		for _, c := range cs {
			if c.Symbol != "AAA" {
				return []int64{-1}
			}
			out = append(out, (c.Start-day0)/60_000)
		}
		return out
	}
	tests := []struct {
		name string
		q    market.CandleQuery
		want []int64 // minutes after day0
	}{
		{"all", market.CandleQuery{Symbol: "AAA", Interval: market.Interval1m, From: minute(0), To: minute(9), Limit: 100}, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"inclusive range", market.CandleQuery{Symbol: "AAA", Interval: market.Interval1m, From: minute(2), To: minute(7), Limit: 100}, []int64{2, 3, 4, 5, 6, 7}},
		{"range inside buckets", market.CandleQuery{Symbol: "AAA", Interval: market.Interval1m, From: minute(2) + 1, To: minute(7) - 1, Limit: 100}, []int64{3, 4, 5, 6}},
		{"limit keeps the oldest", market.CandleQuery{Symbol: "AAA", Interval: market.Interval1m, From: minute(2), To: minute(9), Limit: 3}, []int64{2, 3, 4}},
		{"default limit", market.CandleQuery{Symbol: "AAA", Interval: market.Interval1m, From: minute(0), To: minute(9)}, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"from after to", market.CandleQuery{Symbol: "AAA", Interval: market.Interval1m, From: minute(5), To: minute(4), Limit: 100}, []int64{}},
		{"unknown symbol", market.CandleQuery{Symbol: "ZZZ", Interval: market.Interval1m, From: minute(0), To: minute(9), Limit: 100}, []int64{}},
		{"other interval", market.CandleQuery{Symbol: "AAA", Interval: market.Interval5m, From: minute(0), To: minute(9), Limit: 100}, []int64{0, 5}},
		{"newest keeps the newest", market.CandleQuery{Symbol: "AAA", Interval: market.Interval1m, From: minute(2), To: minute(8), Limit: 3, Newest: true}, []int64{6, 7, 8}},
		{"newest, fewer than limit", market.CandleQuery{Symbol: "AAA", Interval: market.Interval1m, From: minute(8), To: minute(20), Limit: 5, Newest: true}, []int64{8, 9}},
		{"prefix of another symbol", market.CandleQuery{Symbol: "AA", Interval: market.Interval1m, From: minute(0), To: minute(9), Limit: 100}, []int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Candles(t.Context(), tc.q)
			if err != nil {
				t.Fatalf("Candles(%+v) error: %v", tc.q, err)
			}
			if diff := gocmp.Diff(tc.want, starts(got)); diff != "" {
				t.Errorf("Candles(%+v) minutes (-want +got):\n%s", tc.q, diff)
			}
		})
	}
	got, err := s.Candles(t.Context(), market.CandleQuery{Symbol: "AAA", Interval: market.Interval5m, From: minute(5), To: minute(5), Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []market.Candle{{Symbol: "AAA", Interval: market.Interval5m, Start: minute(5), Open: 15, High: 19, Low: 15, Close: 19, Volume: 5, Count: 5,
		FirstTS: minute(5), FirstSeq: 11, LastTS: minute(9), LastSeq: 19}}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("Candles(AAA 5m) (-want +got):\n%s", diff)
	}
	if _, err := s.Candles(t.Context(), market.CandleQuery{Symbol: "AAA", Interval: market.Interval(99), From: 0, To: 1, Limit: 1}); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("Candles(bad interval) error = %v, want ErrInvalid", err)
	}
}

func testTicks(t *testing.T, s Store) {
	in := []market.Tick{
		{Symbol: "AAA", TS: day0 + 10, Price: 1, Size: 1, Seq: 5},
		{Symbol: "AAA", TS: day0 + 10, Price: 2, Size: 0, Seq: 3}, // same ts, lower seq: comes first
		{Symbol: "AAA", TS: day0, Price: 3, Size: 0.5, Seq: 9},    // late
		{Symbol: "AAA", TS: day0 + 20, Price: 4, Size: 2, Seq: 10},
		{Symbol: "BBB", TS: day0 + 10, Price: 5, Size: 1, Seq: 4},
	}
	mustWrite(t, s, in, 1)
	ordered := []market.Tick{in[2], in[1], in[0], in[3]}
	tests := []struct {
		name     string
		sym      string
		from, to int64
		limit    int
		want     []market.Tick
	}{
		{"all, by ts then seq", "AAA", market.MinTS, market.MaxTS, 100, ordered},
		{"inclusive range", "AAA", day0 + 10, day0 + 20, 100, ordered[1:]},
		{"limit", "AAA", market.MinTS, market.MaxTS, 2, ordered[:2]},
		{"default limit", "AAA", market.MinTS, market.MaxTS, 0, ordered},
		{"other symbol", "BBB", market.MinTS, market.MaxTS, 100, in[4:]},
		{"unknown symbol", "CCC", market.MinTS, market.MaxTS, 100, []market.Tick{}},
		{"empty range", "AAA", day0 + 11, day0 + 19, 100, []market.Tick{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Ticks(t.Context(), tc.sym, tc.from, tc.to, tc.limit)
			if err != nil {
				t.Fatalf("Ticks(%s, %d, %d, %d) error: %v", tc.sym, tc.from, tc.to, tc.limit, err)
			}
			if diff := gocmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Ticks(%s, %d, %d, %d) (-want +got):\n%s", tc.sym, tc.from, tc.to, tc.limit, diff)
			}
		})
	}
}

func testDeleteTicksBefore(t *testing.T, s Store) {
	// Enough ticks that a chunked delete takes several rounds.
	const n = 12_345
	var ticks []market.Tick
	for i := range n {
		ticks = append(ticks, market.Tick{Symbol: "AAA", TS: day0 + int64(i), Price: 1, Size: 1, Seq: uint64(i + 1)})
	}
	ticks = append(ticks,
		market.Tick{Symbol: "BBB", TS: day0 + 5, Price: 1, Size: 1, Seq: 1},
		market.Tick{Symbol: "BBB", TS: day0 + 20_000, Price: 1, Size: 1, Seq: 2})
	mustWrite(t, s, ticks, 1)
	before := allCandles(t, s, "AAA", "BBB")
	if syms, err := s.TickSymbols(t.Context()); err != nil || !slices.Equal(syms, []string{"AAA", "BBB"}) {
		t.Errorf("TickSymbols() = %q, %v; want [AAA BBB]", syms, err)
	}

	cut := day0 + 11_000
	got, err := s.DeleteTicksBefore(t.Context(), cut)
	if err != nil {
		t.Fatalf("DeleteTicksBefore() error: %v", err)
	}
	if want := int64(11_000 + 1); got != want {
		t.Errorf("DeleteTicksBefore() = %d, want %d", got, want)
	}
	left := allTicks(t, s, []string{"AAA", "BBB"})
	if len(left) != n-11_000+1 {
		t.Errorf("%d ticks left, want %d", len(left), n-11_000+1)
	}
	for _, tk := range left {
		if tk.TS < cut {
			t.Errorf("tick %+v left, older than %d", tk, cut)
		}
	}
	if diff := gocmp.Diff(before, allCandles(t, s, "AAA", "BBB")); diff != "" {
		t.Errorf("retention changed candles (-before +after):\n%s", diff)
	}
	if got, err := s.DeleteTicksBefore(t.Context(), cut); err != nil || got != 0 {
		t.Errorf("DeleteTicksBefore() again = %d, %v; want 0, nil", got, err)
	}
	// AAA's last tick gone, the archive must not list it.
	if _, err := s.DeleteTicksBefore(t.Context(), day0+n); err != nil {
		t.Fatal(err)
	}
	if syms, err := s.TickSymbols(t.Context()); err != nil || !slices.Equal(syms, []string{"BBB"}) {
		t.Errorf("TickSymbols() after retention = %q, %v; want [BBB]", syms, err)
	}
}
