package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgQueryTimeout bounds a test's own query, connection included, so a server
// that stops answering fails the test instead of hanging it.
const pgQueryTimeout = 10 * time.Second

// QueryPostgres runs sql with args on the database at url over a connection
// of its own and scans its one row into dst. Tests read what a server stored
// this way without sharing its pool; the error is returned, not fatal,
// because a test polling a database it has just killed expects some.
func QueryPostgres(url, sql string, args []any, dst ...any) error {
	return withPostgres(url, pgQueryTimeout, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, sql, args...).Scan(dst...)
	})
}

// MustQueryPostgres is QueryPostgres failing tb on any error.
func MustQueryPostgres(tb testing.TB, url, sql string, args []any, dst ...any) {
	tb.Helper()
	if err := QueryPostgres(url, sql, args, dst...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// ExecPostgres runs sql with args on the database at url over a connection
// of its own, failing tb on any error.
func ExecPostgres(tb testing.TB, url, sql string, args ...any) {
	tb.Helper()
	err := withPostgres(url, pgQueryTimeout, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, sql, args...)
		return err
	})
	if err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// withPostgres runs f on a new connection to url, closed after it, all
// within timeout.
func withPostgres(url string, timeout time.Duration, f func(context.Context, *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	return f(ctx, c)
}
