package sqlite_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

// TestMigrateLeavesNoTableSizedWAL: migration 00009 copies the ticks
// table, so the WAL grows to the copy's size; Migrate truncates it after,
// or it stays that size until the last connection closes — the next
// restart (39.8 MiB for 1M ticks, REVIEW-B F2).
func TestMigrateLeavesNoTableSizedWAL(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "findash.db")
	db, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.MigrateTo(ctx, 8); err != nil {
		t.Fatal(err)
	}
	ticks := make([]market.Tick, 40000)
	for i := range ticks {
		ticks[i] = market.Tick{Symbol: fmt.Sprintf("S%02d", i%20), TS: day0 + int64(i), Price: 10, Size: 1, Seq: uint64(i + 1)}
	}
	if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, rollup(ticks), 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 64<<10 {
		t.Errorf("WAL after migrating 40,000 ticks: %d bytes, want at most 64 KiB", fi.Size())
	}
}
