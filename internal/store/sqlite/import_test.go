package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

// Consecutive import batches (seqs 1-2, 3-4, 5-6) leave one import range,
// [1, 6], not one per batch; a batch after a gap (8) is a range of its
// own; a batch inside the merged range writes nothing.
func TestImportRangesMergeAdjacent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "findash.db")
	db, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	before, _, err := db.ImportMarks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tick := func(seq uint64) market.Tick {
		return market.Tick{Symbol: "AAA", TS: 1709251200000 + int64(seq), Price: 1, Size: 1, Seq: seq}
	}
	for _, b := range [][]uint64{{1, 2}, {3, 4}, {5, 6}, {8}} {
		var ticks []market.Tick
		for _, s := range b {
			ticks = append(ticks, tick(s))
		}
		if n, err := db.ImportTicks(ctx, "src", ticks); err != nil || n != len(b) {
			t.Fatalf("ImportTicks(%v) = %d, %v", b, n, err)
		}
	}
	if n, err := db.ImportTicks(ctx, "src", []market.Tick{tick(3), tick(4)}); err != nil || n != 0 {
		t.Errorf("ImportTicks(3, 4) again = %d, %v; want 0, nil", n, err)
	}
	// Each batch that wrote counts once in the symbol's import mark (what
	// an instance answering candles from memory watches); the one that
	// wrote nothing does not.
	if marks, _, err := db.ImportMarks(ctx); err != nil || marks["AAA"]-before["AAA"] != 4 {
		t.Errorf("ImportMarks = %v, %v; want AAA 4 more than %d", marks, err, before["AAA"])
	}
	// The restore reads the same marks in its snapshot (where an
	// ImportWatch starts).
	if _, _, restored, err := db.RestoreStateMarks(ctx); err != nil || restored["AAA"]-before["AAA"] != 4 {
		t.Errorf("RestoreStateMarks marks = %v, %v; want AAA 4 more than %d", restored, err, before["AAA"])
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.QueryContext(ctx, "SELECT lo, hi FROM import_ranges ORDER BY lo")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got [][2]int64
	for rows.Next() {
		var r [2]int64
		if err := rows.Scan(&r[0], &r[1]); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if diff := gocmp.Diff([][2]int64{{1, 6}, {8, 8}}, got); diff != "" {
		t.Errorf("import ranges (-want +got):\n%s", diff)
	}
}
