package sqlite_test

import (
	"testing"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/store/storetest"
)

// Compile-time conformance.
var (
	_ storetest.AlertStore = (*sqlite.DB)(nil)
	_ alert.Store          = (*sqlite.DB)(nil)
)

func TestAlertsConformance(t *testing.T) {
	storetest.RunAlerts(t, func(t *testing.T) storetest.AlertStore { return mustOpen(t) })
}

// An edit by the previous version (no revision increment) during a
// rolling update keeps its re-arm (decision 0081).
func TestAlertOldEdit(t *testing.T) {
	db := mustOpen(t)
	storetest.RunAlertOldEdit(t, db, func(t *testing.T, stmt string) {
		t.Helper()
		if err := db.Exec(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	})
}
