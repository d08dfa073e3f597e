package jobs_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/findash/findash/internal/jobs"
)

// pgDatabase creates an empty database on the server of
// FINDASH_TEST_POSTGRES_URL, dropped when t ends, and returns its URL. It
// skips the test when the variable is unset, or fails it when
// FINDASH_TEST_REQUIRE=1.
func pgDatabase(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("FINDASH_TEST_POSTGRES_URL")
	if admin == "" {
		if os.Getenv("FINDASH_TEST_REQUIRE") == "1" {
			t.Fatal("FINDASH_TEST_POSTGRES_URL is not set and FINDASH_TEST_REQUIRE=1")
		}
		t.Skip("FINDASH_TEST_POSTGRES_URL is not set: skipping")
	}
	var b [6]byte
	rand.Read(b[:])
	name := "findash_jobs_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse FINDASH_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

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
	dsn := pgDatabase(t)
	testQueue(t, func(t *testing.T, h jobs.Handlers) *jobs.Queue { return openPGQueue(t, dsn, h) })
}

// Several instances (the api and worker roles) starting at once on a fresh
// database: each New migrates River's schema; all must succeed.
func TestNewConcurrentlyPostgres(t *testing.T) {
	dsn := pgDatabase(t)
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
