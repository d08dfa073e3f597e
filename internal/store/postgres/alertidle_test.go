package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/testenv"
)

// The two interleavings of AdvanceIdle and CreateAlert that the single
// writer of SQLite cannot show (decision 0078), each held open at its
// critical point by a transaction on another connection that takes the
// other side's locks and makes its writes:
//   - an advance between its lock and its commit: CreateAlert waits for it
//     and raises CreatedSeq to the advanced position;
//   - a create between its lock on the positions and its commit:
//     AdvanceIdle waits for it, sees the alert and moves nothing.
func TestAdvanceIdleSerialisedWithCreateAlert(t *testing.T) {
	env := testenv.Postgres(t)
	db := open(t, postgres.Config{PrimaryURL: env.URL})
	ctx := t.Context()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := db.CreateUser(ctx, auth.User{Email: "ann@example.com", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if alerts, err := db.AdvanceIdle(ctx, market.Unpartitioned, 0, 10); err != nil || alerts {
		t.Fatalf("AdvanceIdle(10) = %v, %v; want false, nil", alerts, err)
	}
	var conns [2]*pgx.Conn
	for i := range conns {
		c, err := pgx.Connect(ctx, env.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		conns[i] = c
	}
	other, look := conns[0], conns[1]
	// waitBlocked waits until a session of this database waits for a lock.
	waitBlocked := func(what string) {
		t.Helper()
		if !testenv.WaitFor(10*time.Second, func() bool {
			var n int
			err := look.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&n)
			return err == nil && n > 0
		}) {
			t.Fatalf("%s never waited for the other transaction: the test does not test the interleaving", what)
		}
	}

	// An advance to 20 holds the position row.
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT seq FROM log_position WHERE name = 'alerts' AND part = -1 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE log_position SET seq = 20 WHERE name = 'alerts' AND part = -1"); err != nil {
		t.Fatal(err)
	}
	created := make(chan alert.Alert, 1)
	go func() {
		a, err := db.CreateAlert(ctx, alert.Alert{UserID: u.ID, Symbol: "AAA", Condition: alert.Above, Threshold: 1, CreatedAt: time.Now(), CreatedSeq: 5}, 10)
		if err != nil {
			t.Errorf("CreateAlert() error: %v", err)
		}
		created <- a
	}()
	waitBlocked("CreateAlert")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	a := <-created
	if a.CreatedSeq != 20 {
		t.Errorf("CreateAlert(head 5) during an advance to 20: CreatedSeq %d, want 20", a.CreatedSeq)
	}
	if err := db.DeleteAlert(ctx, u.ID, a.ID); err != nil {
		t.Fatal(err)
	}

	// A create holds the positions FOR SHARE and inserts its alert.
	tx, err = other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT seq FROM log_position WHERE name = 'alerts' FOR SHARE"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO alerts (user_id, symbol, condition, threshold, notify, webhook_url, created_at, hysteresis, cooldown_s, created_seq)
		VALUES ($1, 'AAA', 'above', 1, '{}', '', now(), 0.5, 300, 20)`, u.ID); err != nil {
		t.Fatal(err)
	}
	type result struct {
		alerts bool
		err    error
	}
	advanced := make(chan result, 1)
	go func() {
		alerts, err := db.AdvanceIdle(ctx, market.Unpartitioned, 20, 30)
		advanced <- result{alerts, err}
	}()
	waitBlocked("AdvanceIdle")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-advanced; r.err != nil || !r.alerts {
		t.Errorf("AdvanceIdle(30) during a create = %v, %v; want true (the alert seen), nil", r.alerts, r.err)
	}
	if pos, err := db.AlertPosition(ctx, market.Unpartitioned); err != nil || pos != 20 {
		t.Errorf("AlertPosition() = %d, %v; want 20 (not moved past the new alert's messages)", pos, err)
	}
}
