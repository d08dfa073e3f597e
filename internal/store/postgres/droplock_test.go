package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/testenv"
)

// dropSetup opens a store with the empty partitions of day0 to day0+3 and a
// connection to its database in a transaction holding ACCESS SHARE
// on ticks (as a reader, or pgx describing COPY's columns inside an import
// transaction, does), and one more to look at pg_locks.
func dropSetup(t *testing.T) (*postgres.DB, pgx.Tx, *pgx.Conn) {
	t.Helper()
	env := testenv.Postgres(t)
	db := open(t, postgres.Config{PrimaryURL: env.URL})
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := db.MaintainPartitions(t.Context(), time.UnixMilli(day0)); err != nil {
		t.Fatal(err)
	}
	var conns [2]*pgx.Conn
	for i := range conns {
		c, err := pgx.Connect(t.Context(), env.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		conns[i] = c
	}
	conn := conns[0]
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), "SELECT 1 FROM ticks LIMIT 0"); err != nil {
		t.Fatal(err)
	}
	return db, tx, conns[1]
}

// A writer that holds ACCESS SHARE on ticks and then writes while the drop
// waits for its lock is not deadlocked: the drop takes its ACCESS
// EXCLUSIVE lock at once, so it holds nothing the writer needs. Before,
// the drop took EXCLUSIVE (granted beside ACCESS SHARE), so the write
// waited on it while DROP waited on the writer: SQLSTATE 40P01 (CI).
func TestDropEmptyTickDaysWaitsWithoutDeadlock(t *testing.T) {
	db, tx, look := dropSetup(t)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := db.DropEmptyTickDays(t.Context(), day0+dayMs)
		done <- result{n, err}
	}()
	// Wait until the drop queues for its lock on ticks.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var waiting int
		if err := look.QueryRow(t.Context(), "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'ticks'::regclass").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the drop never waited for ticks: the test does not test the lock order")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The writer's write (ROW EXCLUSIVE on ticks), then its commit.
	if _, err := tx.Exec(t.Context(), "INSERT INTO ticks SELECT * FROM ticks WHERE false"); err != nil {
		t.Fatalf("write while the drop waits: %v", err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatalf("commit: %v", err)
	}
	r := <-done
	if r.err != nil || r.n != 1 {
		t.Errorf("DropEmptyTickDays() = %d, %v; want 1, nil", r.n, r.err)
	}
}

// A drop that cannot have its lock within the lock timeout keeps the
// empty day, reports no error and counts it; the next call drops it.
func TestDropEmptyTickDaysSkipsBusyTicks(t *testing.T) {
	db, tx, _ := dropSetup(t)
	n, err := db.DropEmptyTickDays(t.Context(), day0+2*dayMs)
	if err != nil || n != 0 {
		t.Errorf("DropEmptyTickDays() with ticks locked = %d, %v; want 0, nil", n, err)
	}
	if got := db.TickDropsSkipped(); got != 1 {
		t.Errorf("TickDropsSkipped() = %d, want 1 (the first day; the sweep stops at the first busy one)", got)
	}
	if ps := partitions(t, db); len(ps) != 4 {
		t.Errorf("partitions after a skipped drop = %v, want all 4", ps)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n, err := db.DropEmptyTickDays(t.Context(), day0+2*dayMs); err != nil || n != 2 {
		t.Errorf("DropEmptyTickDays() once ticks is free = %d, %v; want 2, nil", n, err)
	}
}
