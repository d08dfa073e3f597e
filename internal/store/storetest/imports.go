package storetest

import (
	"context"
	"testing"

	"github.com/findash/findash/internal/market"
)

// ImportStore is what a store offers history imports: the import itself
// and the per-symbol import marks an instance answering candles from
// memory watches (live.ImportWatch) and restores with.
type ImportStore interface {
	ImportTicks(ctx context.Context, source string, ticks []market.Tick) (written int, err error)
	ImportMarks(ctx context.Context) (map[string]int64, market.Positions, error)
	RestoreStateMarks(ctx context.Context) (candles []market.Candle, pos market.Positions, marks map[string]int64, err error)
}

// ImportRangesMergeAdjacent imports symbol AAA in batches of seqs 1-2,
// 3-4, 5-6 and 8 into s, a fresh migrated store, then 3-4 again: every
// first import writes its ticks, the second writes nothing, and each batch
// that wrote counts once in the symbol's import mark, as read by
// ImportMarks and RestoreStateMarks. The import ranges left behind are
// [1, 6] and [8, 8] (consecutive batches merge, a gap starts a range of
// its own); each store's own test checks that in its table after calling
// this, since the ranges are not read through the store's methods.
func ImportRangesMergeAdjacent(t *testing.T, s ImportStore) {
	t.Helper()
	ctx := t.Context()
	before, _, err := s.ImportMarks(ctx)
	if err != nil {
		t.Fatalf("ImportMarks() error: %v", err)
	}
	tick := func(seq uint64) market.Tick {
		return market.Tick{Symbol: "AAA", TS: 1709251200000 + int64(seq), Price: 1, Size: 1, Seq: seq}
	}
	for _, b := range [][]uint64{{1, 2}, {3, 4}, {5, 6}, {8}} {
		var ticks []market.Tick
		for _, seq := range b {
			ticks = append(ticks, tick(seq))
		}
		if n, err := s.ImportTicks(ctx, "src", ticks); err != nil || n != len(b) {
			t.Fatalf("ImportTicks(%v) = %d, %v", b, n, err)
		}
	}
	if n, err := s.ImportTicks(ctx, "src", []market.Tick{tick(3), tick(4)}); err != nil || n != 0 {
		t.Errorf("ImportTicks(3, 4) again = %d, %v; want 0, nil", n, err)
	}
	// Each batch that wrote counts once in the symbol's import mark (what
	// an instance answering candles from memory watches); the one that
	// wrote nothing does not.
	if marks, _, err := s.ImportMarks(ctx); err != nil || marks["AAA"]-before["AAA"] != 4 {
		t.Errorf("ImportMarks = %v, %v; want AAA 4 more than %d", marks, err, before["AAA"])
	}
	// The restore reads the same marks in its snapshot (where an
	// ImportWatch starts).
	if _, _, restored, err := s.RestoreStateMarks(ctx); err != nil || restored["AAA"]-before["AAA"] != 4 {
		t.Errorf("RestoreStateMarks marks = %v, %v; want AAA 4 more than %d", restored, err, before["AAA"])
	}
}
