package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/store/storetest"
	"github.com/findash/findash/internal/watchlist"
)

// Compile-time conformance.
var (
	_ storetest.Store   = (*sqlite.DB)(nil)
	_ auth.Store        = (*sqlite.DB)(nil)
	_ auth.SessionStore = (*sqlite.DB)(nil)
	_ watchlist.Store   = (*sqlite.DB)(nil)
)

// mustOpen opens a migrated database in t's temporary directory, closed when t ends.
func mustOpen(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "findash.db"), nil)
	if err != nil {
		tb.Fatalf("Open() error: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close() error: %v", err)
		}
	})
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("Migrate() error: %v", err)
	}
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return mustOpen(t) })
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

func TestAccountsConformance(t *testing.T) {
	storetest.RunAccounts(t, func(t *testing.T) storetest.AccountsStore { return mustOpen(t) })
}
