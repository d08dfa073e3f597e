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
