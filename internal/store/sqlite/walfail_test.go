package sqlite

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/findash/findash/internal/testenv"
)

// breakCheckpointer leaves a read transaction open on the checkpointer's
// one connection, behind database/sql's back: SQLite then fails every
// checkpoint on it (SQLITE_LOCKED) until mendCheckpointer ends it.
func breakCheckpointer(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.ck.c.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.ck.c.QueryRowContext(ctx, "SELECT count(*) FROM ticks").Scan(&n); err != nil {
		t.Fatal(err)
	}
}

func mendCheckpointer(t *testing.T, db *DB) {
	t.Helper()
	if _, err := db.ck.c.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}

// TestWALCheckpointRetriedAfterFailure: a checkpoint that failed is
// retried at the next idle look at the WAL although nothing was written
// since (the checkpointer once took the WAL's mtime as seen before the
// checkpoint, so a failure waited for the next write).
func TestWALCheckpointRetriedAfterFailure(t *testing.T) {
	ctx := context.Background()
	db := openWAL(t)
	defer db.Close()
	breakCheckpointer(t, db)
	// A small write: no kick, only the idle look sees the WAL change.
	if _, err := db.w.ExecContext(ctx, "CREATE TABLE walfail (x)"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return testutil.ToFloat64(db.ck.failed) >= 1 }, "no checkpoint failed on the broken connection")
	before := runs(db, "checkpointer")
	mendCheckpointer(t, db)
	testenv.Eventually(t, 5*time.Second, func() bool { return runs(db, "checkpointer") > before },
		"the failed checkpoint was not retried once the connection was mended, nothing written since")
}

// TestWALCheckpointFailureWarnsOncePerMinute: a broken checkpointer
// connection fails at every large write; each failure is counted, and
// logged once a minute, not once per batch.
func TestWALCheckpointFailureWarnsOncePerMinute(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	db, err := open(context.Background(), filepath.Join(t.TempDir(), "findash.db"), slog.New(slog.NewTextHandler(logs, nil)), walTestLimits)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	breakCheckpointer(t, db)
	for i := range 3 {
		db.ck.committed() // what a large write does after its commit
		testenv.Eventually(t, 10*time.Second, func() bool { return testutil.ToFloat64(db.ck.failed) > float64(i) }, "the kicked checkpoint did not fail")
	}
	if n := strings.Count(logs.String(), "WAL checkpoint failed"); n != 1 {
		t.Errorf("%v failed checkpoints logged %d warnings; want 1:\n%s", testutil.ToFloat64(db.ck.failed), n, logs.Tail(10))
	}
	mendCheckpointer(t, db)
}
