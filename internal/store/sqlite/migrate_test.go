package sqlite_test

import (
	"path/filepath"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

// TestMigrateTicksByTS: migration 00009 rekeys a database holding ticks
// from before it (keyed (symbol, seq) with a (symbol, ts) index) to
// (symbol, ts, seq) with no index, keeping every tick, candle and position;
// afterwards a redelivered tick is still stored once, and the way down
// restores the old layout with the same ticks.
func TestMigrateTicksByTS(t *testing.T) {
	ctx := t.Context()
	db := mustOpenAt(t, 8)
	if idx, err := db.TickIndexes(ctx); err != nil || len(idx) != 1 || idx[0] != "ticks_symbol_ts" {
		t.Fatalf("before 00009: indexes of ticks %q, %v; want ticks_symbol_ts", idx, err)
	}
	// Several ticks in one millisecond, and seq order not ts order (an
	// event that arrived late).
	ticks := []market.Tick{
		{Symbol: "AAA", TS: day0 + 5, Price: 10, Size: 1, Seq: 1},
		{Symbol: "AAA", TS: day0 + 5, Price: 11, Size: 2, Seq: 2},
		{Symbol: "AAA", TS: day0 + 1, Price: 9, Size: 3, Seq: 3},
		{Symbol: "BBB", TS: day0 + 2, Price: 5, Size: 1, Seq: 4},
		{Symbol: "AAA", TS: day0 + 9, Price: 12, Size: 1, Seq: 5},
	}
	if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, rollup(ticks), 0, 1, 3); err != nil {
		t.Fatal(err)
	}
	before, _, err := db.RestoreState(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate() error: %v", err)
	}
	if idx, err := db.TickIndexes(ctx); err != nil || len(idx) != 0 {
		t.Errorf("after 00009: indexes of ticks %q, %v; want none", idx, err)
	}
	wantAAA := []market.Tick{ticks[2], ticks[0], ticks[1], ticks[4]}
	check := func(when string) {
		t.Helper()
		got, err := db.Ticks(ctx, "AAA", market.MinTS, market.MaxTS, 100)
		if err != nil {
			t.Fatal(err)
		}
		if diff := gocmp.Diff(wantAAA, got); diff != "" {
			t.Errorf("%s: Ticks(AAA) (-want +got):\n%s", when, diff)
		}
		if got, err := db.Ticks(ctx, "BBB", market.MinTS, market.MaxTS, 100); err != nil || len(got) != 1 || got[0] != ticks[3] {
			t.Errorf("%s: Ticks(BBB) = %v, %v; want %v", when, got, err, ticks[3:4])
		}
		cs, pos, err := db.RestoreState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := gocmp.Diff(before, cs); diff != "" {
			t.Errorf("%s: candles (-want +got):\n%s", when, diff)
		}
		if pos.Of(market.Unpartitioned) != 3 {
			t.Errorf("%s: position %d, want 3", when, pos.Of(market.Unpartitioned))
		}
	}
	check("after 00009")
	if got, err := db.TicksAfter(ctx, "AAA", day0+5, 1, market.MaxTS, 100); err != nil || len(got) != 2 || got[0] != ticks[1] {
		t.Errorf("TicksAfter(AAA, %d, 1) = %v, %v; want %v", day0+5, got, err, []market.Tick{ticks[1], ticks[4]})
	}
	// A later batch repeating stored ticks (same ts and seq) stores none
	// of them again.
	if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, nil, 3, 4, 4); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Ticks(ctx, "AAA", market.MinTS, market.MaxTS, 100); err != nil || len(got) != len(wantAAA) {
		t.Errorf("Ticks(AAA) after a repeat = %d ticks, %v; want %d", len(got), err, len(wantAAA))
	}

	if err := db.MigrateTo(ctx, 8); err != nil {
		t.Fatalf("down to 8: %v", err)
	}
	if idx, err := db.TickIndexes(ctx); err != nil || len(idx) != 1 || idx[0] != "ticks_symbol_ts" {
		t.Errorf("down to 8: indexes of ticks %q, %v; want ticks_symbol_ts", idx, err)
	}
	got, err := db.Ticks(ctx, "AAA", market.MinTS, market.MaxTS, 100)
	if err != nil || !gocmp.Equal(wantAAA, got) {
		t.Errorf("down to 8: Ticks(AAA) = %v, %v; want %v", got, err, wantAAA)
	}
}

// day0 is 2025-11-27 00:00 UTC in ms.
const day0 = 1764201600000

// mustOpenAt opens a database in tb's temporary directory migrated up to
// version only, closed when tb ends.
func mustOpenAt(tb testing.TB, version int64) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "findash.db"), nil)
	if err != nil {
		tb.Fatalf("Open() error: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.MigrateTo(tb.Context(), version); err != nil {
		tb.Fatalf("MigrateTo(%d) error: %v", version, err)
	}
	return db
}

// rollup returns the partial candles of ticks, as the persister hands them
// to WriteBatch.
func rollup(ticks []market.Tick) []market.Candle {
	r := market.NewRollup()
	for i := range ticks {
		r.Add(&ticks[i])
	}
	return r.Candles()
}
