package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/findash/findash/internal/market"
)

// A connection closed with statements still prepared on it becomes a
// zombie under sqlite3_close_v2: its descriptors, page cache and locks
// stay for the process's life, and its WAL is never checkpointed on
// close. The writer's statement cache of 2026-12-06 did that on every
// writer reset and on DB.Close (review; reverted). These two tests count
// the descriptors open on the database's files.

// openFiles counts this process's descriptors open on path or its
// -wal/-shm files.
func openFiles(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd here")
	}
	n := 0
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(l, path) {
			n++
		}
	}
	return n
}

// DB.Close after WriteBatch closes every connection: no descriptor is
// left on the files, and the last close checkpoints and removes the WAL.
func TestCloseReleasesTheFiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "findash.db")
	db := openMigrated(t, path)
	ticks, candles := writerBatch(1, 10)
	if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, candles, 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := openFiles(t, path); n != 0 {
		t.Fatalf("after DB.Close: %d descriptors still open on %s*", n, path)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatal("after DB.Close the WAL file is still there: the writer was not closed")
	}
}

// Each time database/sql replaces the writer connection (a statement cut
// off by its context), the old one is closed for good: batches after five
// resets hold no more descriptors than before them.
func TestWriterResetKeepsNoFiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "findash.db")
	db := openMigrated(t, path)
	defer db.Close()
	seq := uint64(0)
	write := func() {
		t.Helper()
		for _, n := range []int{300, 1} {
			ticks, candles := writerBatch(seq+1, n)
			if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, candles, seq, seq+1, seq+uint64(n)); err != nil {
				t.Fatal(err)
			}
			seq += uint64(n)
		}
	}
	write()
	// Other connections (a reader, the checkpointer's) open when first
	// needed and stay pooled: one of them, two descriptors, may come
	// after this count; a zombie writer leaves two per reset, ten here.
	before := openFiles(t, path) + 2
	for range 5 {
		resetWriter(t, db)
		write()
	}
	if after := openFiles(t, path); after > before {
		t.Fatalf("after five writer resets, %d descriptors on the database, more than %d", after, before)
	}
}
