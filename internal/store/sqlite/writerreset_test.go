package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/findash/findash/internal/market"
)

// openMigrated opens and migrates a database at path; the caller closes
// it.
func openMigrated(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(context.Background()); err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db
}

// resetWriter makes database/sql replace the writer's connection: a
// statement on it cut off by its context.
func resetWriter(t *testing.T, db *DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := db.w.ExecContext(ctx, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c")
	if err == nil {
		t.Fatal("the long statement was not cut off")
	}
}

// writerBatch is n ticks from seq on, over 300 symbols, and their candles.
func writerBatch(from uint64, n int) ([]market.Tick, []market.Candle) {
	ticks := make([]market.Tick, n)
	for j := range ticks {
		seq := from + uint64(j)
		ticks[j] = market.Tick{Symbol: fmt.Sprintf("S%03d-USD", seq%300), TS: 1764201600000 + int64(seq)*1000,
			Price: 100 + float64(seq%10), Size: float64(seq%5) + 1, Seq: seq}
	}
	r := market.NewRollup()
	for j := range ticks {
		r.Add(&ticks[j])
	}
	return ticks, r.Candles()
}

// A statement on the writer connection cut off by its context (a
// retention delete, a write on a request's context) makes database/sql
// replace that connection: the next WriteBatch must work on the new one.
// A statement cache tied to the old connection (1c645c7, reverted)
// finalized its statements through the closed driver connection and
// crashed the persister here (review A, 2026-12-05).
func TestWriteBatchAfterWriterReset(t *testing.T) {
	ctx := context.Background()
	db := openMigrated(t, filepath.Join(t.TempDir(), "findash.db"))
	defer db.Close()
	ticks, candles := writerBatch(1, 300)
	if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, candles, 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	resetWriter(t, db)
	ticks, candles = writerBatch(301, 10)
	if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, candles, 1, 2, 2); err != nil {
		t.Fatalf("WriteBatch after the writer's reset: %v", err)
	}
	n, err := db.Rows(ctx, "SELECT count(*) FROM ticks")
	if err != nil || len(n) != 1 || n[0][0] != "310" {
		t.Fatalf("ticks stored = %v, %v; want 310", n, err)
	}
}
