package postgres_test

import (
	"testing"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/notify"
	"github.com/findash/findash/internal/report"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/store/storetest"
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
	env(t, "FINDASH_TEST_POSTGRES_URL")
	storetest.RunAlerts(t, func(t *testing.T) storetest.AlertStore { return mustOpen(t) })
}

// The alerts suite through PgBouncer in transaction pooling mode
// (CommitAlerts' batch and EvaluatedAlerts' repeatable-read transaction
// included), migrations over the direct connection.
func TestAlertsConformanceThroughPgBouncer(t *testing.T) {
	bouncer := env(t, "FINDASH_TEST_PGBOUNCER_URL")
	storetest.RunAlerts(t, func(t *testing.T) storetest.AlertStore {
		dsn, name := newDatabase(t)
		db := open(t, postgres.Config{PrimaryURL: withDatabase(t, bouncer, name), MigrateURL: dsn, MaxConns: 4})
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate() error: %v", err)
		}
		return db
	})
}
