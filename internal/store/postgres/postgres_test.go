package postgres_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/store/storetest"
	"github.com/findash/findash/internal/testenv"
)

// Compile-time conformance.
var (
	_ storetest.Store = (*postgres.DB)(nil)
	_ auth.Store      = (*postgres.DB)(nil)
)

// Environment gates (see internal/testenv): FINDASH_TEST_POSTGRES_URL
// for every test here; FINDASH_TEST_PGBOUNCER_URL and
// FINDASH_TEST_POSTGRES_REPLICA_URL for the tests through PgBouncer and a
// streaming replica.

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
	db := open(tb, postgres.Config{PrimaryURL: testenv.Postgres(tb).URL})
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("Migrate() error: %v", err)
	}
	return db
}

// viaPgBouncer opens a migrated store on a fresh database reached through
// the PgBouncer of bouncer (transaction pooling), migrations over the
// direct connection.
func viaPgBouncer(tb testing.TB, bouncer string) *postgres.DB {
	tb.Helper()
	d := testenv.Postgres(tb)
	db := open(tb, postgres.Config{PrimaryURL: d.On(tb, bouncer), MigrateURL: d.URL, MaxConns: 4})
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("Migrate() error: %v", err)
	}
	return db
}

func TestConformance(t *testing.T) {
	testenv.PostgresURL(t)
	storetest.Run(t, func(t *testing.T) storetest.Store { return mustOpen(t) })
}

// The same suite through PgBouncer in transaction pooling mode, migrations
// over the direct connection.
func TestConformanceThroughPgBouncer(t *testing.T) {
	bouncer := testenv.Env(t, "FINDASH_TEST_PGBOUNCER_URL")
	storetest.Run(t, func(t *testing.T) storetest.Store { return viaPgBouncer(t, bouncer) })
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

// A URL with pgxpool settings (pool_max_conns sizes the pool, the way to
// give a worker that owns many partitions more connections) still
// migrates: the migration's direct connection must not send pool_* to the
// server as run-time parameters (it refused them: "unrecognized
// configuration parameter").
func TestMigrateWithPoolSettings(t *testing.T) {
	dsn := testenv.Postgres(t).URL
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	db := open(t, postgres.Config{PrimaryURL: dsn + sep + "pool_max_conns=3&pool_min_conns=1"})
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate() with pool_max_conns in the URL: %v", err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping() error: %v", err)
	}
}

// Three instances migrating one database at once: the advisory lock makes
// them take turns, every one succeeds and each migration is applied once.
func TestMigrateConcurrently(t *testing.T) {
	dsn := testenv.Postgres(t).URL
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

// TestDirectPoolConnectTimeout: the job queue's pool dials each host of a
// multi-host URL for at most 2 s, as the store's pools do, unless the URL
// says otherwise; pgx's own default is no bound (the kernel's TCP timeout,
// about 2 minutes, against a host that drops packets).
func TestDirectPoolConnectTimeout(t *testing.T) {
	for url, want := range map[string]time.Duration{
		"postgres://u@pg-a:5432,pg-b:5432/findash?target_session_attrs=read-write":                   2 * time.Second,
		"postgres://u@pg-a:5432,pg-b:5432/findash?target_session_attrs=read-write&connect_timeout=5": 5 * time.Second,
	} {
		pc, err := postgres.DirectPoolConfig(url)
		if err != nil {
			t.Fatalf("DirectPoolConfig(%q) error: %v", url, err)
		}
		if got := pc.ConnConfig.ConnectTimeout; got != want {
			t.Errorf("DirectPoolConfig(%q) connect timeout = %v, want %v", url, got, want)
		}
	}
	if _, err := postgres.DirectPoolConfig("mysql://x"); err == nil {
		t.Error("DirectPoolConfig(mysql://x): no error")
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
