package postgres_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/store/storetest"
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

// Consecutive import batches leave one import range per run of seqs
// (storetest.ImportRangesMergeAdjacent): [1, 6] and [8, 8] in the table.
func TestImportRangesMergeAdjacent(t *testing.T) {
	ctx := context.Background()
	d := testenv.Postgres(t).URL
	db := open(t, postgres.Config{PrimaryURL: d})
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	storetest.ImportRangesMergeAdjacent(t, db)
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
