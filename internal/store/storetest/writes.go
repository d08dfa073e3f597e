package storetest

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/market"
)

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
	err := s.WriteBatch(t.Context(), market.Unpartitioned, ticks, append(candles, bad), 0, 1, 1)
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
	if err := s.WriteBatch(t.Context(), market.Unpartitioned, huge, rollup(huge), 0, 1, 1); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("WriteBatch(seq 2^63) error = %v, want ErrInvalid", err)
	}
	if err := s.WriteBatch(t.Context(), market.Unpartitioned, ticks, candles, 0, 1<<63, 1<<63); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("WriteBatch(logSeq 2^63) error = %v, want ErrInvalid", err)
	}

	// A cancelled context writes nothing either.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.WriteBatch(ctx, market.Unpartitioned, ticks, candles, 0, 1, 1); err == nil {
		t.Error("WriteBatch with a cancelled context: no error")
	}
	if got := position(t, s); got != 0 {
		t.Errorf("LogPosition() after a cancelled batch = %d, want 0", got)
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
	if err := s.WriteBatch(t.Context(), market.Unpartitioned, first, rollup(first), 0, 1, 3); err != nil {
		t.Fatalf("WriteBatch(1..3) error: %v", err)
	}
	want := allCandles(t, s, "OVL")
	overlap := []market.Tick{tick(3, 12), tick(4, 13)}
	err := s.WriteBatch(t.Context(), market.Unpartitioned, overlap, rollup(overlap), 0, 3, 4)
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
	if err := s.WriteBatch(t.Context(), market.Unpartitioned, next, rollup(next), 0, 4, 4); err != nil {
		t.Fatalf("WriteBatch(4..4) error: %v", err)
	}
	cs := allCandles(t, s, "OVL")
	for _, c := range cs {
		if c.Interval == market.Interval1d && (c.Count != 4 || c.Volume != 4) {
			t.Fatalf("1d candle after 1..3 and 4 = %+v, want count 4 and volume 4", c)
		}
	}
}

// testWriteBatchBehind: a batch whose writer last wrote or read a position
// above the stored one (the database lost commits: a failover to a standby
// that had not received them, a restore) is refused whole with ErrBehind,
// whatever the batch's own range, so the writer goes back and writes the
// lost messages again instead of leaving a hole. Partitions (decision
// 0042) compare with their own position as LogPosition reads it, not with
// another partition's.
func testWriteBatchBehind(t *testing.T, s Store) {
	tick := func(streamSeq uint64) market.Tick {
		return market.Tick{Symbol: "BHD", TS: day0 + int64(streamSeq), Price: float64(streamSeq), Size: 1, Seq: streamSeq << 16}
	}
	write := func(part int, prev, from, to uint64) error {
		tk := []market.Tick{tick(to)}
		return s.WriteBatch(t.Context(), part, tk, rollup(tk), prev, from, to)
	}
	if err := write(market.Unpartitioned, 0, 1, 3); err != nil {
		t.Fatalf("WriteBatch(after 0, 1..3) error: %v", err)
	}
	want := allCandles(t, s, "BHD")
	// The writer had written up to 5; the database holds 3.
	if err := write(market.Unpartitioned, 5, 6, 8); !errors.Is(err, market.ErrBehind) {
		t.Fatalf("WriteBatch(after 5, 6..8) at position 3 error = %v, want ErrBehind", err)
	}
	if diff := gocmp.Diff(want, allCandles(t, s, "BHD")); diff != "" {
		t.Fatalf("a batch refused as behind changed candles (-want +got):\n%s", diff)
	}
	if got := position(t, s); got != 3 {
		t.Fatalf("LogPosition() after a batch refused as behind = %d, want 3", got)
	}
	// Written again from the stored position: applied.
	if err := write(market.Unpartitioned, 3, 4, 5); err != nil {
		t.Fatalf("WriteBatch(after 3, 4..5) error: %v", err)
	}
	// Partition 0 inherits 5; partition 1 stores its own 7.
	if err := write(0, 5, 6, 9); err != nil {
		t.Fatalf("WriteBatch(0, after 5 inherited, 6..9) error: %v", err)
	}
	if err := write(1, 5, 7, 7); err != nil {
		t.Fatalf("WriteBatch(1, after 5 inherited, 7..7) error: %v", err)
	}
	// Partition 1's writer had written up to 8; partition 1 holds 7, though
	// partition 0 holds 9.
	if err := write(1, 8, 10, 10); !errors.Is(err, market.ErrBehind) {
		t.Errorf("WriteBatch(1, after 8, 10..10) at partition 1's 7 error = %v, want ErrBehind", err)
	}
	if err := write(0, 9, 10, 10); err != nil {
		t.Errorf("WriteBatch(0, after 9, 10..10) error: %v", err)
	}
	for p, want := range map[int]uint64{0: 10, 1: 7} {
		if got, err := s.LogPosition(t.Context(), p); err != nil || got != want {
			t.Errorf("LogPosition(%d) = %d, %v; want %d", p, got, err, want)
		}
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

// testWriteBatchEqualKeys writes one batch whose ticks interleave symbols
// out of key order (the order ingest delivers them in) and repeat one key
// (symbol, ts, seq) with another price: every distinct tick is stored, and
// of the two with equal keys the first in the batch, whatever order the
// store inserts them in.
func testWriteBatchEqualKeys(t *testing.T, s Store) {
	var ticks []market.Tick
	for i := range 30 {
		sym := []string{"CCC", "AAA", "BBB"}[i%3]
		ticks = append(ticks, market.Tick{Symbol: sym, TS: day0 + int64(100-i), Price: float64(i + 1), Size: 1, Seq: uint64(i + 1)})
	}
	first := market.Tick{Symbol: "BBB", TS: day0 + 500, Price: 7, Size: 1, Seq: 99}
	later := first
	later.Price, later.Size = 8, 2
	ticks = append([]market.Tick{ticks[0], first}, append(ticks[1:], later)...)
	// The rollup merges both, as the persister's would: the candles are
	// not what this test checks.
	if err := s.WriteBatch(t.Context(), market.Unpartitioned, ticks, rollup(ticks), 0, 1, 1); err != nil {
		t.Fatalf("WriteBatch() error: %v", err)
	}
	got := allTicks(t, s, []string{"AAA", "BBB", "CCC"})
	if len(got) != 31 {
		t.Fatalf("stored %d ticks, want 31 (30 distinct and one of the equal pair)", len(got))
	}
	for _, tk := range got {
		if tk.Seq == 99 && (tk.Price != 7 || tk.Size != 1) {
			t.Errorf("of two ticks with equal keys the store kept %+v, want the first (price 7, size 1)", tk)
		}
	}
}

// testWriteBatchEqualCandleKeys writes one batch whose partial candles
// repeat one candle's key, both partials opening and closing on the same
// tick (ts, seq) at different prices, among a dozen other candles out of
// key order: the stored candle is the two merged in the batch's order
// (market.Candle.Merge keeps the first's open and close on such a tie),
// whatever order the store upserts them in.
func testWriteBatchEqualCandleKeys(t *testing.T, s Store) {
	var candles []market.Candle
	for i := range 13 {
		ts, price := day0+int64(100-i)*1000, float64(i+1)
		candles = append(candles, market.Candle{
			Symbol: []string{"CCC", "AAA", "BBB"}[i%3], Interval: market.Interval1s, Start: ts,
			Open: price, High: price, Low: price, Close: price, Volume: 1, Count: 1,
			FirstTS: ts, FirstSeq: uint64(i + 1), LastTS: ts, LastSeq: uint64(i + 1),
		})
	}
	// At this place an unstable sort by key alone puts it before candles[0].
	dup := candles[0]
	dup.Open, dup.High, dup.Close = 50, 50, 50
	candles = slices.Insert(candles, 6, dup)
	want := candles[0]
	want.Merge(&dup)
	if err := s.WriteBatch(t.Context(), market.Unpartitioned, nil, candles, 0, 1, 1); err != nil {
		t.Fatalf("WriteBatch() error: %v", err)
	}
	for _, c := range allCandles(t, s, "CCC") {
		if c.Start != want.Start {
			continue
		}
		if c.Open != want.Open || c.Close != want.Close || c.High != want.High || c.Count != want.Count {
			t.Errorf("stored candle %+v; want open %v close %v high %v count %d (the partials merged in batch order)", c, want.Open, want.Close, want.High, want.Count)
		}
		return
	}
	t.Errorf("candle CCC 1s at %d not stored", want.Start)
}
