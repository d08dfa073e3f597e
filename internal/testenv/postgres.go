package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Database is an empty PostgreSQL database made for one test, on the server
// of FINDASH_TEST_POSTGRES_URL, and dropped when the test ends.
type Database struct {
	// URL is the database's direct URL (the admin URL with its database
	// replaced): for migrations, and everything that must not go through a
	// pooler.
	URL string
	// Name is the database's name, to reach it through another server
	// that serves it (PgBouncer, a streaming replica): see On.
	Name string
}

// On returns serverURL (a PgBouncer or replica URL) with its database
// replaced by d's.
func (d Database) On(tb testing.TB, serverURL string) string {
	tb.Helper()
	return WithDatabase(tb, serverURL, d.Name)
}

// Postgres creates an empty database with a unique name (see DatabaseName)
// on the server of FINDASH_TEST_POSTGRES_URL, dropped when tb ends. It skips
// tb when the variable is unset (failing it when FINDASH_TEST_REQUIRE=1).
// Each test gets a database of its own, not a schema: migrations create
// partitions, extensions' tables and River's schema as in production.
func Postgres(tb testing.TB) Database {
	tb.Helper()
	return PostgresNamed(tb, DatabaseName())
}

// PostgresNamed is Postgres with the name chosen by the caller (from
// DatabaseName): for a test that uses the name before the database exists.
func PostgresNamed(tb testing.TB, name string) Database {
	tb.Helper()
	admin := PostgresURL(tb)
	if err := adminExec(admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		// FORCE: a pool the test leaked, or PgBouncer, may still hold
		// connections to it.
		if err := adminExec(admin, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	return Database{URL: WithDatabase(tb, admin, name), Name: name}
}

// PostgresURL returns FINDASH_TEST_POSTGRES_URL, skipping tb when it is
// unset (failing it when FINDASH_TEST_REQUIRE=1).
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	return Env(tb, "FINDASH_TEST_POSTGRES_URL")
}

// DatabaseName returns a database name no other test or run uses:
// findash_test_ and 12 hex digits.
func DatabaseName() string {
	return "findash_test_" + randomHex()
}

// WithDatabase returns rawURL with its database replaced by name.
func WithDatabase(tb testing.TB, rawURL, name string) string {
	tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatalf("parse PostgreSQL URL: %v", err) // the URL may hold a password: not printed
	}
	u.Path = "/" + name
	return u.String()
}

// adminExec runs one statement over a connection of its own to admin.
func adminExec(admin, sql string) error {
	return withPostgres(admin, 30*time.Second, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, sql)
		return err
	})
}

// randomHex returns 12 random hex digits.
func randomHex() string {
	var b [6]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
