package postgres_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/notify"
	"github.com/findash/findash/internal/report"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/store/storetest"
	"github.com/findash/findash/internal/testenv"
)

// Compile-time conformance of the alerts, webhook-secret and reports methods.
var (
	_ alert.Store          = (*postgres.DB)(nil)
	_ alert.Restorer       = (*postgres.DB)(nil)
	_ api.AlertStore       = (*postgres.DB)(nil)
	_ report.Store         = (*postgres.DB)(nil)
	_ notify.Store         = (*postgres.DB)(nil)
	_ storetest.AlertStore = (*postgres.DB)(nil)
)

func TestAlertsConformance(t *testing.T) {
	testenv.PostgresURL(t)
	storetest.RunAlerts(t, func(t *testing.T) storetest.AlertStore { return mustOpen(t) })
}

// The alerts suite through PgBouncer in transaction pooling mode
// (CommitAlerts' batch and EvaluatedAlerts' repeatable-read transaction
// included), migrations over the direct connection.
func TestAlertsConformanceThroughPgBouncer(t *testing.T) {
	bouncer := testenv.Env(t, "FINDASH_TEST_PGBOUNCER_URL")
	storetest.RunAlerts(t, func(t *testing.T) storetest.AlertStore { return viaPgBouncer(t, bouncer) })
}

// An edit by the previous version (no revision increment) during a
// rolling update keeps its re-arm (decision 0081).
func TestAlertOldEdit(t *testing.T) {
	d := testenv.Postgres(t)
	db := open(t, postgres.Config{PrimaryURL: d.URL})
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(t.Context(), d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	storetest.RunAlertOldEdit(t, db, func(t *testing.T, stmt string) {
		t.Helper()
		if _, err := c.Exec(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	})
}

// Concurrency the single-writer SQLite store cannot show: creates racing
// for a user's last alert slots, and evaluators racing to commit the same
// log positions.
func TestAlertsConcurrent(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	u, err := db.CreateUser(ctx, auth.User{Email: "ann@example.com", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	const cap, racers = 3, 8
	var wg sync.WaitGroup
	var created, conflicts atomic.Int32
	for range racers {
		wg.Go(func() {
			_, err := db.CreateAlert(ctx, alert.Alert{UserID: u.ID, Symbol: "AAA", Condition: alert.Above, Threshold: 1, CreatedAt: time.Now()}, cap)
			switch {
			case err == nil:
				created.Add(1)
			case errors.Is(err, market.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("CreateAlert() error: %v", err)
			}
		})
	}
	wg.Wait()
	if created.Load() != cap || conflicts.Load() != racers-cap {
		t.Errorf("%d racing CreateAlert(cap %d): %d created, %d conflicts; want %d and %d", racers, cap, created.Load(), conflicts.Load(), cap, racers-cap)
	}
	as, err := db.Alerts(ctx, u.ID)
	if err != nil || len(as) != cap {
		t.Fatalf("Alerts() = %d alerts, %v; want %d", len(as), err, cap)
	}

	// Two evaluators commit the same positions 1..20, each firing every
	// alert at every position: each firing is stored once, each position
	// applied once.
	var inserted, applied atomic.Int32
	for range 2 {
		wg.Go(func() {
			for pos := uint64(1); pos <= 20; pos++ {
				var fired []alert.Event
				for _, a := range as {
					fired = append(fired, alert.Event{AlertID: a.ID, UserID: u.ID, Symbol: a.Symbol, Condition: a.Condition,
						Threshold: a.Threshold, Value: 2, Price: 2, TS: int64(pos), Seq: pos, Notify: []string{}, FiredAt: time.Now()})
				}
				ins, _, ok, err := db.CommitAlerts(ctx, market.Unpartitioned, 0, pos, fired, []alert.ArmedChange{{AlertID: as[0].ID, Armed: pos%2 == 0}})
				if err != nil {
					t.Errorf("CommitAlerts(%d) error: %v", pos, err)
					return
				}
				inserted.Add(int32(len(ins)))
				if ok {
					applied.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if want := int32(20 * cap); inserted.Load() != want || applied.Load() != 20 {
		t.Errorf("racing CommitAlerts: %d events inserted, %d positions applied; want %d and 20", inserted.Load(), applied.Load(), want)
	}
	if pos, err := db.AlertPosition(ctx, market.Unpartitioned); err != nil || pos != 20 {
		t.Errorf("AlertPosition() = %d, %v; want 20", pos, err)
	}
	pending, err := db.PendingEvents(ctx, 1000)
	if err != nil || len(pending) != 20*cap {
		t.Errorf("PendingEvents() = %d, %v; want %d", len(pending), err, 20*cap)
	}
}

// TestCommitAlertsWaitsForAnEdit: an edit in flight when the evaluator's
// commit reaches the alert (its transaction holds the alert's row, as
// UpdateAlert's statement does until it commits) is waited for, and the
// commit then sees the edit's revision: it records neither the old
// definition's firing nor its disarming (decision 0081). A check that
// read the revision without the row lock (the statement's snapshot) would
// see the revision before the edit and record the firing after the edit
// committed.
func TestCommitAlertsWaitsForAnEdit(t *testing.T) {
	ctx := t.Context()
	d := testenv.Postgres(t)
	db := open(t, postgres.Config{PrimaryURL: d.URL})
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := db.CreateUser(ctx, auth.User{Email: "ann@example.com", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.CreateAlert(ctx, alert.Alert{UserID: u.ID, Symbol: "AAA", Condition: alert.Above, Threshold: 100, Notify: []string{}, CreatedAt: time.Now()}, 10)
	if err != nil {
		t.Fatal(err)
	}
	edit, err := pgx.Connect(ctx, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer edit.Close(context.Background())
	tx, err := edit.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "UPDATE alerts SET threshold = 200, armed = true, revision = revision + 1 WHERE id = $1", a.ID); err != nil {
		t.Fatal(err)
	}

	type result struct {
		ins, stale []alert.Event
		ok         bool
		err        error
	}
	done := make(chan result, 1)
	go func() {
		ev := alert.Event{AlertID: a.ID, UserID: u.ID, Symbol: "AAA", Condition: alert.Above, Threshold: 100,
			Value: 150, Price: 150, TS: 1, Seq: 1, Notify: []string{}, FiredAt: time.Now(), Revision: 0}
		var r result
		r.ins, r.stale, r.ok, r.err = db.CommitAlerts(ctx, market.Unpartitioned, 0, 1, []alert.Event{ev},
			[]alert.ArmedChange{{AlertID: a.ID, Armed: false, LastFiredTS: 1, Revision: 0}})
		done <- r
	}()
	// Commit the edit once the evaluator's commit waits for its row lock.
	watch, err := pgx.Connect(ctx, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(context.Background())
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("CommitAlerts() = inserted %+v, stale %+v, %v, %v without waiting for the edit's row lock", r.ins, r.stale, r.ok, r.err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("CommitAlerts() not waiting for the edit after 30s")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || !r.ok || len(r.ins) != 0 || len(r.stale) != 1 {
		t.Fatalf("CommitAlerts() after the edit = inserted %+v, stale %+v, %v, %v; want the firing stale, the position applied", r.ins, r.stale, r.ok, r.err)
	}
	as, err := db.Alerts(ctx, u.ID)
	if err != nil || len(as) != 1 || !as[0].Armed || as[0].Revision != 1 || as[0].LastFiredTS != 0 {
		t.Errorf("Alerts() after the commit = %+v, %v; want the edited alert armed, revision 1", as, err)
	}
}
