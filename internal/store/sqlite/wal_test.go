package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/testenv"
)

// walTestLimits are small enough for a test to pass them: a batch of
// 1,000 ticks over 300 symbols writes up to ~5 MiB of WAL frames (a leaf
// page of each symbol, and candles) once the tables are large.
var walTestLimits = walLimits{max: 16 << 20, keep: 4 << 20}

func openWAL(t *testing.T) *DB {
	t.Helper()
	db, err := open(context.Background(), filepath.Join(t.TempDir(), "findash.db"), nil, walTestLimits)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(context.Background()); err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db
}

// walWriter writes batches of 1,000 ticks and tracks the WAL file: grew
// is the most one batch added to the file's size.
type walWriter struct {
	db        *DB
	seq, grew int64
}

func (w *walWriter) write(ctx context.Context) error {
	before := w.db.ck.walSize()
	ticks, candles := writerBatch(uint64(w.seq)*1000+1, 1000)
	err := w.db.WriteBatch(ctx, market.Unpartitioned, ticks, candles, uint64(w.seq), uint64(w.seq)+1, uint64(w.seq)+1)
	if err == nil {
		w.seq++
	}
	w.grew = max(w.grew, w.db.ck.walSize()-before)
	return err
}

// check fails t if the WAL is past its bound by more than one batch.
func (w *walWriter) check(t *testing.T) {
	t.Helper()
	if size := w.db.ck.walSize(); size > walTestLimits.max+w.grew {
		t.Fatalf("after %d batches the WAL is %d bytes, past its bound %d + one batch (%d)", w.seq, size, walTestLimits.max, w.grew)
	}
}

func runs(db *DB, by string) float64 { return testutil.ToFloat64(db.ck.runs.WithLabelValues(by)) }

// TestWALCheckpointedOffTheWriter: with autocheckpoint off on the writer,
// the checkpointer's PASSIVE checkpoints keep the WAL within its bound
// when the writer leaves it a moment between batches (the WAL restarts at
// each); the writer never has to.
// Close stops the checkpointer (no goroutine left).
func TestWALCheckpointedOffTheWriter(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	db := openWAL(t)
	defer func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}()
	w := &walWriter{db: db}
	for range 40 {
		if err := w.write(ctx); err != nil {
			t.Fatal(err)
		}
		n := db.ck.commits.Load()
		testenv.Eventually(t, 10*time.Second, func() bool { return db.ck.clean.Load() >= n }, "the batch was not checkpointed")
		if size := db.ck.walSize(); size > walTestLimits.max {
			t.Fatalf("after %d batches the WAL is %d bytes, past its bound %d", w.seq, size, walTestLimits.max)
		}
	}
	if n := runs(db, "writer"); n != 0 {
		t.Errorf("the writer checkpointed %v times; want 0 (the checkpointer keeps up between batches)", n)
	}
}

// TestWALBoundedBackToBack: batches written back to back, so that the
// WAL may never be fully checkpointed between them, keep it within its
// bound plus one batch.
func TestWALBoundedBackToBack(t *testing.T) {
	ctx := context.Background()
	db := openWAL(t)
	defer db.Close()
	w := &walWriter{db: db}
	for range 30 { // ~300 MiB of WAL frames without checkpoints
		if err := w.write(ctx); err != nil {
			t.Fatal(err)
		}
		w.check(t)
	}
}

// TestWALBoundedWithReader: a reader that keeps its snapshot pins the WAL
// (no checkpoint may copy past it, nor restart it). Past the bound the
// batches still go through — refusing them would stall the persister for
// as long as the reader lives (review revwal) — and each that could not
// truncate is counted; once the reader is done the next batch truncates
// the WAL.
func TestWALBoundedWithReader(t *testing.T) {
	ctx := context.Background()
	db := openWAL(t)
	defer db.Close()
	w := &walWriter{db: db}
	if err := w.write(ctx); err != nil {
		t.Fatal(err)
	}
	rx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Rollback()
	var n int
	if err := rx.QueryRowContext(ctx, "SELECT count(*) FROM ticks").Scan(&n); err != nil || n != 1000 {
		t.Fatalf("reader: %d ticks, %v", n, err)
	}
	for i := 0; testutil.ToFloat64(db.ck.pinned) < 2; i++ {
		if err := w.write(ctx); err != nil {
			t.Fatalf("batch %d with a reader pinning the WAL: %v; want it written", i, err)
		}
		if i == 100 {
			t.Fatalf("100 batches with a reader pinning the WAL, none counted as pinned; WAL %d bytes", db.ck.walSize())
		}
	}
	pinned := db.ck.walSize()
	if pinned <= walTestLimits.max {
		t.Fatalf("WAL %d bytes while pinned; want past the bound %d", pinned, walTestLimits.max)
	}
	if err := rx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := w.write(ctx); err != nil {
		t.Fatalf("the batch after the reader ended: %v", err)
	}
	if size := db.ck.walSize(); size >= pinned {
		t.Errorf("WAL %d bytes after the writer truncated it and wrote one batch; want less than while pinned (%d)", size, pinned)
	}
}

// TestWALCheckpointLockOrder: a batch past the bound and an import
// past it, concurrently: each takes the writer connection before the
// checkpoint lock, so neither waits on the other for good (review revwal:
// the import took the lock first and deadlocked both until their
// contexts ended).
func TestWALCheckpointLockOrder(t *testing.T) {
	db := openWAL(t)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := &walWriter{db: db}
	db.ck.mu.Lock() // no checkpoint runs: the WAL passes the bound
	for db.ck.walSize() <= walTestLimits.max {
		if err := w.write(ctx); err != nil {
			db.ck.mu.Unlock()
			t.Fatal(err)
		}
	}
	db.ck.mu.Unlock()
	errc := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 20 && err == nil; i++ {
			ticks := make([]market.Tick, 50)
			for j := range ticks {
				ticks[j] = market.Tick{Symbol: "IMPORT", Seq: uint64(i*50 + j + 1), TS: 1_764_201_600_000 + int64(i*50+j), Price: 1, Size: 1}
			}
			_, err = db.ImportTicks(ctx, "test", ticks)
		}
		errc <- err
	}()
	for range 10 {
		if err := w.write(ctx); err != nil {
			t.Fatalf("batch beside an import: %v", err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("import beside batches: %v", err)
	}
}

// TestWALAutocheckpointOffOnWriter: the writer connection does not
// checkpoint in its commits (decision 0077); readers keep SQLite's default.
func TestWALAutocheckpointOffOnWriter(t *testing.T) {
	db := openWAL(t)
	defer db.Close()
	var pages int
	if err := db.w.QueryRowContext(context.Background(), "PRAGMA wal_autocheckpoint").Scan(&pages); err != nil || pages != 0 {
		t.Fatalf("writer wal_autocheckpoint = %d, %v; want 0", pages, err)
	}
}
