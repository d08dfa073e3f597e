package jobs_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/findash/findash/internal/jobs"
	"github.com/findash/findash/internal/testenv"
)

// openPGQueue opens a pool on dsn (closed when t ends) and a job queue on
// it with the riverpgxv5 driver.
func openPGQueue(t *testing.T, dsn string, h jobs.Handlers) *jobs.Queue {
	t.Helper()
	// A direct pool, never one through PgBouncer in transaction pooling
	// mode: River LISTENs for new jobs, and a LISTEN does not survive a
	// transaction pooler (cmd/findash builds the production driver the
	// same way).
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatalf("pgxpool.New() error: %v", err)
	}
	t.Cleanup(pool.Close)
	q, err := jobs.New(t.Context(), riverpgxv5.New(pool), h, testConfig(), nil, nil)
	if err != nil {
		t.Fatalf("jobs.New() error: %v", err)
	}
	return q
}

// TestQueuePostgres is TestQueue on PostgreSQL: the same enqueue, retry,
// unique and survive-a-reopen checks through riverpgxv5 over a pgxpool.
func TestQueuePostgres(t *testing.T) {
	dsn := testenv.Postgres(t).URL
	testQueue(t, func(t *testing.T, h jobs.Handlers) *jobs.Queue { return openPGQueue(t, dsn, h) })
}

// Several instances (the api and worker roles) starting at once on a fresh
// database: each New migrates River's schema; all must succeed.
func TestNewConcurrentlyPostgres(t *testing.T) {
	dsn := testenv.Postgres(t).URL
	const n = 3
	errc := make(chan error, n)
	for range n {
		go func() {
			pool, err := pgxpool.New(t.Context(), dsn)
			if err != nil {
				errc <- err
				return
			}
			defer pool.Close()
			_, err = jobs.New(t.Context(), riverpgxv5.New(pool), jobs.Handlers{}, testConfig(), nil, nil)
			errc <- err
		}()
	}
	for range n {
		if err := <-errc; err != nil {
			t.Errorf("concurrent jobs.New() error: %v", err)
		}
	}
}

// TestQueueThroughPgBouncer is TestQueue through PgBouncer in transaction
// pooling mode: River's migrations, inserts, fetches and completions work
// there with default_query_exec_mode=exec (no prepared statements) and
// PollOnly (no LISTEN). cmd/findash still gives River a direct pool; this
// keeps the other way open.
func TestQueueThroughPgBouncer(t *testing.T) {
	bouncer := testenv.Env(t, "FINDASH_TEST_PGBOUNCER_URL")
	via := testenv.Postgres(t).On(t, bouncer) + "&default_query_exec_mode=exec"
	testQueue(t, func(t *testing.T, h jobs.Handlers) *jobs.Queue {
		pool, err := pgxpool.New(t.Context(), via)
		if err != nil {
			t.Fatalf("pgxpool.New() error: %v", err)
		}
		t.Cleanup(pool.Close)
		cfg := testConfig()
		cfg.PollOnly = true
		q, err := jobs.New(t.Context(), riverpgxv5.New(pool), h, cfg, nil, nil)
		if err != nil {
			t.Fatalf("jobs.New() through PgBouncer error: %v", err)
		}
		return q
	})
}
