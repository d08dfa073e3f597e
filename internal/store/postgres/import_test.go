package postgres_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/testenv"
)

// An imported tick that is stored already while its import range is not
// recorded (the ranges lost) makes the COPY fail; the batch is then
// inserted row by row skipping it, so it adds nothing to a candle: a second
// import of the same ticks writes 0 and leaves the candles as they were.
func TestImportTicksStoredAlready(t *testing.T) {
	ctx := context.Background()
	d := testenv.Postgres(t).URL
	db := open(t, postgres.Config{PrimaryURL: d})
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const base = 1<<62 | 1<<56
	ticks := []market.Tick{
		{Symbol: "BTC-USDT", TS: 1709251200000, Price: 100, Size: 1, Seq: base | 1},
		{Symbol: "BTC-USDT", TS: 1709251201000, Price: 101, Size: 2, Seq: base | 2},
	}
	if n, err := db.ImportTicks(ctx, "binance_aggtrades", append([]market.Tick(nil), ticks...)); err != nil || n != 2 {
		t.Fatalf("first ImportTicks = %d, %v; want 2", n, err)
	}
	q := market.CandleQuery{Symbol: "BTC-USDT", Interval: market.Interval1m, From: 0, To: 1 << 50, Limit: 10}
	before, err := db.Candles(ctx, q)
	if err != nil || len(before) != 1 || before[0].Count != 2 {
		t.Fatalf("Candles = %+v, %v; want one of 2 ticks", before, err)
	}
	conn, err := pgx.Connect(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DELETE FROM import_ranges"); err != nil {
		t.Fatal(err)
	}
	third := market.Tick{Symbol: "BTC-USDT", TS: 1709251202000, Price: 99, Size: 4, Seq: base | 3}
	n, err := db.ImportTicks(ctx, "binance_aggtrades", append(append([]market.Tick(nil), ticks...), third))
	if err != nil || n != 1 {
		t.Fatalf("second ImportTicks = %d, %v; want 1 (the two stored ticks skipped)", n, err)
	}
	after, err := db.Candles(ctx, q)
	want := before[0]
	want.Count, want.Volume, want.Low, want.Close, want.LastTS, want.LastSeq = 3, 7, 99, 99, third.TS, third.Seq
	if err != nil || len(after) != 1 {
		t.Fatalf("Candles = %+v, %v", after, err)
	}
	if diff := cmp.Diff(want, after[0]); diff != "" {
		t.Errorf("candle after the second import (-want +got):\n%s", diff)
	}
}

// Consecutive import batches (seqs 1-2, 3-4, 5-6) leave one import range,
// [1, 6], not one per batch; a batch after a gap (8) is a range of its
// own; a batch inside the merged range writes nothing.
func TestImportRangesMergeAdjacent(t *testing.T) {
	ctx := context.Background()
	d := testenv.Postgres(t).URL
	db := open(t, postgres.Config{PrimaryURL: d})
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
	conn, err := pgx.Connect(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT lo, hi FROM import_ranges ORDER BY lo")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]int64, error) {
		var v [2]int64
		err := r.Scan(&v[0], &v[1])
		return v, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][2]int64{{1, 6}, {8, 8}}, got); diff != "" {
		t.Errorf("import ranges (-want +got):\n%s", diff)
	}
}
