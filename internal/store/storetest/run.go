package storetest

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/market"
)

// Run runs the conformance suite. open must return a fresh, migrated, empty
// store for each call and close it when t ends.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"WriteBatchIdempotent", testWriteBatchIdempotent},
		{"WriteBatchAtomic", testWriteBatchAtomic},
		{"WriteBatchOverlapConflicts", testWriteBatchOverlap},
		{"CandleMergeMatchesDomain", testCandleMerge},
		{"RestoreState", testRestoreState},
		{"Candles", testCandles},
		{"Ticks", testTicks},
		{"DeleteTicksBefore", testDeleteTicksBefore},
		{"Users", testUsers},
		{"APIKeys", testAPIKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// day0 is 2025-11-27T00:00:00Z: every interval's bucket edge.
const day0 int64 = 1764201600000

func rollup(ticks []market.Tick) []market.Candle {
	r := market.NewRollup()
	for i := range ticks {
		r.Add(&ticks[i])
	}
	return slices.Clone(r.Candles())
}

// bruteCandles recomputes every candle from scratch: ticks sorted by (ts,
// seq), applied one by one, per (symbol, interval, bucket).
func bruteCandles(ticks []market.Tick) map[market.CandleKey]market.Candle {
	sorted := slices.Clone(ticks)
	slices.SortFunc(sorted, func(a, b market.Tick) int {
		return cmp.Or(cmp.Compare(a.TS, b.TS), cmp.Compare(a.Seq, b.Seq))
	})
	out := make(map[market.CandleKey]market.Candle)
	for i := range sorted {
		t := &sorted[i]
		for _, iv := range market.Intervals {
			k := market.CandleKey{Symbol: t.Symbol, Interval: iv, Start: iv.Start(t.TS)}
			c, ok := out[k]
			if !ok {
				c = market.NewCandle(iv, t)
			} else {
				c.Apply(t)
			}
			out[k] = c
		}
	}
	return out
}

func sortCandles(cs []market.Candle) {
	slices.SortFunc(cs, func(a, b market.Candle) int {
		return cmp.Or(cmp.Compare(a.Symbol, b.Symbol), cmp.Compare(a.Interval, b.Interval), cmp.Compare(a.Start, b.Start))
	})
}

// allCandles reads every stored candle of the given symbols.
func allCandles(t *testing.T, s Store, symbols ...string) []market.Candle {
	t.Helper()
	var out []market.Candle
	for _, sym := range symbols {
		for _, iv := range market.Intervals {
			cs, err := s.Candles(t.Context(), market.CandleQuery{Symbol: sym, Interval: iv, From: market.MinTS, To: market.MaxTS, Limit: market.MaxLimit})
			if err != nil {
				t.Fatalf("Candles(%s, %s) error: %v", sym, iv, err)
			}
			out = append(out, cs...)
		}
	}
	return out
}

func mustWrite(t *testing.T, s Store, ticks []market.Tick, logSeq uint64) {
	t.Helper()
	if err := s.WriteBatch(t.Context(), ticks, rollup(ticks), logSeq, logSeq); err != nil {
		t.Fatalf("WriteBatch(%d ticks, logSeq %d) error: %v", len(ticks), logSeq, err)
	}
}

// testWriteBatchOverlap: a batch that starts at or before the stored
// position but ends after it (two persisters with different batch edges) is
// refused whole with ErrConflict, so no tick or candle is counted twice.
func testWriteBatchOverlap(t *testing.T, s Store) {
	tick := func(streamSeq uint64, price float64) market.Tick {
		return market.Tick{Symbol: "OVL", TS: day0 + int64(streamSeq), Price: price, Size: 1, Seq: streamSeq << 16}
	}
	first := []market.Tick{tick(1, 10), tick(2, 11), tick(3, 12)}
	if err := s.WriteBatch(t.Context(), first, rollup(first), 1, 3); err != nil {
		t.Fatalf("WriteBatch(1..3) error: %v", err)
	}
	want := allCandles(t, s, "OVL")
	overlap := []market.Tick{tick(3, 12), tick(4, 13)}
	err := s.WriteBatch(t.Context(), overlap, rollup(overlap), 3, 4)
	if !errors.Is(err, market.ErrConflict) {
		t.Fatalf("WriteBatch(3..4) over position 3 error = %v, want ErrConflict", err)
	}
	if diff := gocmp.Diff(want, allCandles(t, s, "OVL")); diff != "" {
		t.Fatalf("a refused overlapping batch changed candles (-want +got):\n%s", diff)
	}
	if got := position(t, s); got != 3 {
		t.Fatalf("LogPosition() after a refused batch = %d, want 3", got)
	}
	next := []market.Tick{tick(4, 13)}
	if err := s.WriteBatch(t.Context(), next, rollup(next), 4, 4); err != nil {
		t.Fatalf("WriteBatch(4..4) error: %v", err)
	}
	cs := allCandles(t, s, "OVL")
	for _, c := range cs {
		if c.Interval == market.Interval1d && (c.Count != 4 || c.Volume != 4) {
			t.Fatalf("1d candle after 1..3 and 4 = %+v, want count 4 and volume 4", c)
		}
	}
}

func position(t *testing.T, s Store) uint64 {
	t.Helper()
	pos, err := s.LogPosition(t.Context())
	if err != nil {
		t.Fatalf("LogPosition() error: %v", err)
	}
	return pos
}

func testWriteBatchIdempotent(t *testing.T, s Store) {
	if got := position(t, s); got != 0 {
		t.Fatalf("LogPosition() on an empty store = %d, want 0", got)
	}
	a := []market.Tick{
		{Symbol: "AAA", TS: day0 + 100, Price: 10, Size: 1, Seq: 1 << 16},
		{Symbol: "AAA", TS: day0 + 200, Price: 12, Size: 2, Seq: 1<<16 | 1},
		{Symbol: "BBB", TS: day0 + 150, Price: 5, Size: 3, Seq: 2 << 16},
	}
	mustWrite(t, s, a, 5)
	want := allCandles(t, s, "AAA", "BBB")
	if len(want) != 2*market.NumIntervals {
		t.Fatalf("after one batch: %d candles, want %d", len(want), 2*market.NumIntervals)
	}

	// Redelivery of the same batch: nothing changes.
	mustWrite(t, s, a, 5)
	if diff := gocmp.Diff(want, allCandles(t, s, "AAA", "BBB")); diff != "" {
		t.Errorf("candles changed by a redelivered batch (-want +got):\n%s", diff)
	}
	// An older position with other ticks: ignored.
	old := []market.Tick{{Symbol: "AAA", TS: day0 + 50, Price: 99, Size: 1, Seq: 7}}
	mustWrite(t, s, old, 4)
	if diff := gocmp.Diff(want, allCandles(t, s, "AAA", "BBB")); diff != "" {
		t.Errorf("candles changed by a batch below the position (-want +got):\n%s", diff)
	}
	ticks, err := s.Ticks(t.Context(), "AAA", market.MinTS, market.MaxTS, 100)
	if err != nil {
		t.Fatalf("Ticks() error: %v", err)
	}
	if diff := gocmp.Diff(a[:2], ticks); diff != "" {
		t.Errorf("Ticks(AAA) after redeliveries (-want +got):\n%s", diff)
	}
	if got := position(t, s); got != 5 {
		t.Errorf("LogPosition() = %d, want 5", got)
	}

	// A newer batch that repeats an already stored tick stores it once but
	// merges the candles it was given (the caller rolls up what it writes).
	b := []market.Tick{{Symbol: "AAA", TS: day0 + 300, Price: 11, Size: 1, Seq: 3 << 16}}
	mustWrite(t, s, b, 6)
	if got := position(t, s); got != 6 {
		t.Errorf("LogPosition() = %d, want 6", got)
	}
	got, err := s.Candles(t.Context(), market.CandleQuery{Symbol: "AAA", Interval: market.Interval1m, From: day0, To: day0, Limit: 10})
	if err != nil {
		t.Fatalf("Candles() error: %v", err)
	}
	wantC := market.Candle{Symbol: "AAA", Interval: market.Interval1m, Start: day0, Open: 10, High: 12, Low: 10, Close: 11, Volume: 4, Count: 3,
		FirstTS: day0 + 100, FirstSeq: 1 << 16, LastTS: day0 + 300, LastSeq: 3 << 16}
	if diff := gocmp.Diff([]market.Candle{wantC}, got); diff != "" {
		t.Errorf("Candles(AAA 1m) (-want +got):\n%s", diff)
	}
}

func testWriteBatchAtomic(t *testing.T, s Store) {
	ticks := []market.Tick{{Symbol: "AAA", TS: day0, Price: 10, Size: 1, Seq: 1}}
	candles := rollup(ticks)
	bad := candles[0]
	bad.Interval = market.Interval(200)
	err := s.WriteBatch(t.Context(), ticks, append(candles, bad), 1, 1)
	if err == nil {
		t.Fatal("WriteBatch with an invalid candle: no error")
	}
	if got := position(t, s); got != 0 {
		t.Errorf("LogPosition() after a failed batch = %d, want 0", got)
	}
	got, err := s.Ticks(t.Context(), "AAA", market.MinTS, market.MaxTS, 10)
	if err != nil {
		t.Fatalf("Ticks() error: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("Ticks() after a failed batch = %v, want none", got)
	}
	if cs := allCandles(t, s, "AAA"); len(cs) != 0 {
		t.Errorf("candles after a failed batch = %v, want none", cs)
	}

	// Sequences are stored as signed 64-bit integers: larger ones are refused.
	huge := []market.Tick{{Symbol: "AAA", TS: day0, Price: 10, Size: 1, Seq: 1 << 63}}
	if err := s.WriteBatch(t.Context(), huge, rollup(huge), 1, 1); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("WriteBatch(seq 2^63) error = %v, want ErrInvalid", err)
	}
	if err := s.WriteBatch(t.Context(), ticks, candles, 1<<63, 1<<63); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("WriteBatch(logSeq 2^63) error = %v, want ErrInvalid", err)
	}

	// A cancelled context writes nothing either.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.WriteBatch(ctx, ticks, candles, 1, 1); err == nil {
		t.Error("WriteBatch with a cancelled context: no error")
	}
	if got := position(t, s); got != 0 {
		t.Errorf("LogPosition() after a cancelled batch = %d, want 0", got)
	}
}

// testCandleMerge writes random batches of out-of-order ticks that straddle
// every interval's bucket edges, each batch as its own partial candles, and
// checks the stored candles against a brute-force recomputation.
func testCandleMerge(t *testing.T, s Store) {
	for _, seed := range []uint64{1, 2, 3} {
		rng := rand.New(rand.NewPCG(seed, 42))
		symbols := []string{"AAA", "B.B-B/USD"}
		var all []market.Tick
		seqs := map[string]uint64{}
		const n = 800
		for range n {
			sym := symbols[rng.IntN(len(symbols))]
			seqs[sym]++
			// 2 minutes around midnight in 250 ms steps: many equal ts, late
			// ticks (ts unrelated to arrival order), every edge crossed.
			all = append(all, market.Tick{
				Symbol: sym,
				TS:     day0 - 60_000 + int64(rng.IntN(480))*250,
				Price:  1 + float64(rng.IntN(10_000))/100,
				Size:   float64(rng.IntN(40)) / 4, // exact in binary: sums do not depend on order
				Seq:    uint64(seed)<<40 | seqs[sym],
			})
		}
		logSeq := position(t, s) // each seed adds to the same store
		for off := 0; off < len(all); {
			end := min(len(all), off+1+rng.IntN(60))
			logSeq++
			mustWrite(t, s, all[off:end], logSeq)
			if rng.IntN(4) == 0 { // redelivery
				mustWrite(t, s, all[off:end], logSeq)
			}
			off = end
		}
		// Compare against every tick stored so far, read back.
		brute := bruteCandles(allTicks(t, s, symbols))
		want := make([]market.Candle, 0, len(brute))
		for _, c := range brute {
			want = append(want, c)
		}
		sortCandles(want)
		got := allCandles(t, s, symbols...)
		sortCandles(got)
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Fatalf("seed %d: stored candles differ from brute force (-want +got):\n%s", seed, diff)
		}
		if got := position(t, s); got != logSeq {
			t.Errorf("seed %d: LogPosition() = %d, want %d", seed, got, logSeq)
		}
	}
}

func allTicks(t *testing.T, s Store, symbols []string) []market.Tick {
	t.Helper()
	var out []market.Tick
	for _, sym := range symbols {
		for from := market.MinTS; ; {
			ts, err := s.Ticks(t.Context(), sym, from, market.MaxTS, market.MaxLimit)
			if err != nil {
				t.Fatalf("Ticks(%s) error: %v", sym, err)
			}
			// Ticks sharing the last ts may straddle pages: re-read from that
			// ts and drop what was seen.
			for _, tk := range ts {
				if len(out) > 0 && out[len(out)-1].Symbol == sym && !out[len(out)-1].Before(&tk) {
					continue
				}
				out = append(out, tk)
			}
			if len(ts) < market.MaxLimit {
				break
			}
			from = ts[len(ts)-1].TS
		}
	}
	return out
}

func testRestoreState(t *testing.T, s Store) {
	cs, pos, err := s.RestoreState(t.Context())
	if err != nil || len(cs) != 0 || pos != 0 {
		t.Fatalf("RestoreState() on an empty store = %v, %d, %v; want none, 0, nil", cs, pos, err)
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
	if pos != logSeq {
		t.Errorf("RestoreState() position = %d, want %d", pos, logSeq)
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
}
