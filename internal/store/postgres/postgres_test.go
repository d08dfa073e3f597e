package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/store/storetest"
)

// Compile-time conformance.
var (
	_ storetest.Store = (*postgres.DB)(nil)
	_ auth.Store      = (*postgres.DB)(nil)
)

// Environment gates:
//
//	FINDASH_TEST_POSTGRES_URL          a server to create throwaway databases on (required for every test here)
//	FINDASH_TEST_PGBOUNCER_URL         a PgBouncer (transaction pooling) in front of that server
//	FINDASH_TEST_POSTGRES_REPLICA_URL  a streaming replica of that server
//	FINDASH_TEST_REQUIRE=1             a missing variable fails instead of skipping
func env(tb testing.TB, name string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("FINDASH_TEST_REQUIRE") == "1" {
			tb.Fatalf("%s is not set and FINDASH_TEST_REQUIRE=1", name)
		}
		tb.Skipf("%s is not set: skipping", name)
	}
	return v
}

// withDatabase returns rawURL with its database replaced by name.
func withDatabase(tb testing.TB, rawURL, name string) string {
	tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatalf("parse %q: %v", rawURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// newDatabase creates an empty database with a unique name on the server
// of FINDASH_TEST_POSTGRES_URL, dropped when tb ends, and returns its
// direct URL and name.
func newDatabase(tb testing.TB) (dsn, name string) {
	tb.Helper()
	name = uniqueName()
	return createNamed(tb, name), name
}

func uniqueName() string {
	var b [6]byte
	rand.Read(b[:])
	return "findash_test_" + hex.EncodeToString(b[:])
}

// createNamed creates database name, dropped (forcibly: PgBouncer may still
// hold connections to it) when tb ends, and returns its direct URL.
func createNamed(tb testing.TB, name string) string {
	tb.Helper()
	admin := env(tb, "FINDASH_TEST_POSTGRES_URL")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("connect %s: %v", admin, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Errorf("connect %s: %v", admin, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	return withDatabase(tb, admin, name)
}

// open opens cfg, closed when tb ends.
func open(tb testing.TB, cfg postgres.Config) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), cfg, nil)
	if err != nil {
		tb.Fatalf("Open() error: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close() error: %v", err)
		}
	})
	return db
}

// mustOpen opens a migrated store on a fresh database.
func mustOpen(tb testing.TB) *postgres.DB {
	tb.Helper()
	dsn, _ := newDatabase(tb)
	db := open(tb, postgres.Config{PrimaryURL: dsn})
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("Migrate() error: %v", err)
	}
	return db
}

func TestConformance(t *testing.T) {
	env(t, "FINDASH_TEST_POSTGRES_URL")
	storetest.Run(t, func(t *testing.T) storetest.Store { return mustOpen(t) })
}

// The same suite through PgBouncer in transaction pooling mode, migrations
// over the direct connection.
func TestConformanceThroughPgBouncer(t *testing.T) {
	bouncer := env(t, "FINDASH_TEST_PGBOUNCER_URL")
	storetest.Run(t, func(t *testing.T) storetest.Store {
		dsn, name := newDatabase(t)
		db := open(t, postgres.Config{PrimaryURL: withDatabase(t, bouncer, name), MigrateURL: dsn, MaxConns: 4})
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate() error: %v", err)
		}
		return db
	})
}

func TestMigrateTwice(t *testing.T) {
	db := mustOpen(t)
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate() error: %v", err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping() error: %v", err)
	}
}

// Three instances migrating one database at once: the advisory lock makes
// them take turns, every one succeeds and each migration is applied once.
func TestMigrateConcurrently(t *testing.T) {
	dsn, _ := newDatabase(t)
	const n = 3
	dbs := make([]*postgres.DB, n)
	for i := range dbs {
		dbs[i] = open(t, postgres.Config{PrimaryURL: dsn})
	}
	errc := make(chan error, n)
	for _, db := range dbs {
		go func() { errc <- db.Migrate(t.Context()) }()
	}
	for range n {
		if err := <-errc; err != nil {
			t.Errorf("concurrent Migrate() error: %v", err)
		}
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var applied, dup int
	err = conn.QueryRow(t.Context(), `SELECT count(*), count(*) - count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&applied, &dup)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migration files: %v, %v", files, err)
	}
	if applied != len(files) || dup != 0 {
		t.Errorf("goose_db_version: %d migrations applied (%d duplicates), want %d and 0", applied, dup, len(files))
	}
}

func TestOpenRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "postgres://host:notaport/db", "mysql://x"} {
		if db, err := postgres.Open(t.Context(), postgres.Config{PrimaryURL: u}, nil); err == nil {
			db.Close()
			t.Errorf("Open(%q): no error", u)
		}
	}
}
