package sqlite

import (
	"context"
	"database/sql"
	"errors"
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
// (no checkpoint may copy past it, nor restart it). Past the bound a
// batch is refused as market.ErrUnavailable after the busy timeout, so the
// WAL does not grow further; once the reader is done the next batch goes
// through and the WAL is truncated.
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
	for i := 0; ; i++ {
		err := w.write(ctx)
		w.check(t)
		if errors.Is(err, market.ErrUnavailable) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 100 {
			t.Fatalf("100 batches with a reader pinning the WAL, none refused; WAL %d bytes", db.ck.walSize())
		}
	}
	pinned := db.ck.walSize()
	if got := testutil.ToFloat64(db.ck.pinned); got != 1 {
		t.Errorf("findash_sqlite_wal_pinned_total = %v, want 1", got)
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
