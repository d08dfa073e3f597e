package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/rs/zerolog"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/jobs"
	"github.com/findash/findash/internal/testenv"
)

// TestRunWaitsForDatabaseAtStart: PostgreSQL goes away after New migrated
// and before Run starts River's workers. Run waits for it, retrying,
// instead of returning River's start error: cmd/findash's runner stopped
// the whole instance on that error — its public listener and every
// kept-alive connection with it, under clients whose POSTs then got no
// answer (TestPostgresOutageIngest, when its outage began while a loaded
// instance was still starting its workers). Once the database is back the
// workers start and work a job, and Run returns nil at the stop.
func TestRunWaitsForDatabaseAtStart(t *testing.T) {
	link, pool := proxiedPostgres(t)
	logs := &testenv.SyncBuffer{}
	n := &notifier{calls: map[string]int{}}
	reg := prometheus.NewRegistry()
	q, err := jobs.New(t.Context(), riverpgxv5.New(pool), jobs.Handlers{Notifier: n}, testConfig(), slog.New(slog.NewTextHandler(logs, nil)), reg)
	if err != nil {
		t.Fatalf("jobs.New() error: %v", err)
	}

	link.Stop() // connections cut, dials refused: the database is gone
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	var runErr error
	returned := false
	waited := testenv.WaitFor(30*time.Second, func() bool {
		select {
		case runErr = <-done:
			returned = true
			return true
		default:
			return strings.Contains(logs.String(), "cannot start the job workers; retrying")
		}
	})
	switch {
	case !waited:
		t.Fatalf("after 30 s, neither a retried start nor Run's return; log:\n%s", logs.String())
	case returned:
		t.Fatalf("Run() = %v with the database down at start, want it to wait for the database", runErr)
	}
	// Not started, and it shows (readiness, metric), instead of a warning
	// every 5 s alone.
	if err := q.Check(t.Context()); err == nil || !strings.Contains(err.Error(), "job workers not started") {
		t.Errorf("Check() = %v while the start is retried, want the start's error", err)
	}
	if g := testenv.Gauge(t, reg, "findash_jobs_workers_started"); g != 0 {
		t.Errorf("findash_jobs_workers_started = %v while the start is retried, want 0", g)
	}

	if err := link.Start(); err != nil { // the same address again
		t.Fatalf("toxiproxy up: %v", err)
	}
	if err := q.EnqueueAlert(t.Context(), alert.Event{ID: 1, Notify: []string{alert.ChannelEmail}}); err != nil {
		t.Fatalf("EnqueueAlert() error: %v", err)
	}
	// River's retried start is up to 5 s away (retry.Database), then its
	// poll: no event to wait on.
	if !testenv.WaitFor(30*time.Second, func() bool { return n.count("email/1") == 1 }) {
		t.Fatalf("after 30 s the job was not worked (%d calls) with the database back; log:\n%s", n.count("email/1"), logs.String())
	}
	// River works jobs from the moment its Start succeeds, a moment before
	// Run marks the workers started: wait for the mark (CI once read Check
	// in that window).
	var checkErr error
	var started float64
	if !testenv.WaitFor(10*time.Second, func() bool {
		checkErr, started = q.Check(t.Context()), testenv.Gauge(t, reg, "findash_jobs_workers_started")
		return checkErr == nil && started == 1
	}) {
		t.Errorf("Check() = %v and findash_jobs_workers_started = %v 10 s after a job was worked, want nil and 1", checkErr, started)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() error at the stop: %v", err)
	}
}

// TestInsertDoesNotWaitForStuckStart: River's start attempt hangs (a
// database that stopped answering without closing its connections, where
// a pooled connection's ping waits for the kernel's TCP timeout, about 15
// minutes). An insert on PostgreSQL still returns when its own context
// ends: it took the start's lock before (f1835b8), in every mode and
// regardless of its context, so the alert evaluator's enqueue and the
// reports POST hung for as long as the start did (REVIEW-1 finding 3).
func TestInsertDoesNotWaitForStuckStart(t *testing.T) {
	link, pool := proxiedPostgres(t)
	q, err := jobs.New(t.Context(), riverpgxv5.New(pool), jobs.Handlers{Notifier: &notifier{calls: map[string]int{}}}, testConfig(), nil, nil)
	if err != nil {
		t.Fatalf("jobs.New() error: %v", err)
	}
	// Bytes stop flowing both ways; connections stay open.
	for _, dir := range []string{"upstream", "downstream"} {
		if _, err := link.Toxics.AddToxicJson(strings.NewReader(`{"name":"stall-` + dir + `","type":"timeout","stream":"` + dir + `","attributes":{"timeout":0}}`)); err != nil {
			t.Fatalf("toxic: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	defer func() {
		link.Toxics.RemoveToxic(context.Background(), "stall-upstream")
		link.Toxics.RemoveToxic(context.Background(), "stall-downstream")
		cancel()
		<-done
	}()

	// Several inserts, one after the other, so that Run's start attempt is
	// under way for most of them.
	for i := range 5 {
		ictx, icancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		res := make(chan error, 1)
		begun := time.Now()
		go func() {
			res <- q.EnqueueAlert(ictx, alert.Event{ID: int64(i + 1), Notify: []string{alert.ChannelEmail}})
		}()
		select {
		case err := <-res:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("insert %d: EnqueueAlert() = %v, want a deadline error", i+1, err)
			}
			if took := time.Since(begun); took > 2*time.Second {
				t.Errorf("insert %d returned after %v, want about 100 ms", i+1, took)
			}
		case <-time.After(5 * time.Second):
			icancel()
			t.Fatalf("insert %d with a 100 ms deadline still blocked after 5 s (it waits for River's start)", i+1)
		}
		icancel()
	}
}

// proxiedPostgres returns a pool on a test database reached through a
// toxiproxy link of its own, for the test to stop or stall.
func proxiedPostgres(t *testing.T) (*toxiproxy.Proxy, *pgxpool.Pool) {
	t.Helper()
	db := testenv.Postgres(t)
	u, err := url.Parse(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	link := toxiproxy.NewProxy(toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()), "postgres", "127.0.0.1:0", u.Host)
	if err := link.Start(); err != nil {
		t.Fatalf("toxiproxy: %v", err)
	}
	t.Cleanup(link.Stop)
	u.Host = link.Listen
	pool, err := pgxpool.New(t.Context(), u.String())
	if err != nil {
		t.Fatalf("pgxpool.New() error: %v", err)
	}
	t.Cleanup(pool.Close)
	return link, pool
}
