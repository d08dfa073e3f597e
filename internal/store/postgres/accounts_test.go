package postgres_test

import (
	"testing"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/store/storetest"
	"github.com/findash/findash/internal/testenv"
	"github.com/findash/findash/internal/watchlist"
)

// Compile-time conformance of the accounts methods.
var (
	_ auth.SessionStore       = (*postgres.DB)(nil)
	_ watchlist.Store         = (*postgres.DB)(nil)
	_ storetest.AccountsStore = (*postgres.DB)(nil)
)

func TestAccountsConformance(t *testing.T) {
	testenv.PostgresURL(t)
	storetest.RunAccounts(t, func(t *testing.T) storetest.AccountsStore { return mustOpen(t) })
}

// The accounts suite through PgBouncer in transaction pooling mode
// (CreateWatchlist's transaction included), migrations over the direct
// connection.
func TestAccountsConformanceThroughPgBouncer(t *testing.T) {
	bouncer := testenv.Env(t, "FINDASH_TEST_PGBOUNCER_URL")
	storetest.RunAccounts(t, func(t *testing.T) storetest.AccountsStore { return viaPgBouncer(t, bouncer) })
}
