package sqlite_test

import (
	"fmt"
	"testing"

	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/store/storetest"
)

var _ storetest.MigrationStore = (*sqlite.DB)(nil)

// schema reads db around the store for the migration tests.
func schema(db *sqlite.DB) storetest.Schema {
	rows := func(t *testing.T, q string) [][]string {
		t.Helper()
		out, err := db.Rows(t.Context(), q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return out
	}
	return storetest.Schema{
		Version: func(t *testing.T) int64 {
			t.Helper()
			var v int64
			for _, r := range rows(t, "SELECT coalesce(max(version_id), 0) FROM goose_db_version") {
				if _, err := fmt.Sscan(r[0], &v); err != nil {
					t.Fatal(err)
				}
			}
			return v
		},
		Tables: func(t *testing.T) []string {
			var out []string
			for _, r := range rows(t, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'goose_db_version' ORDER BY name") {
				out = append(out, r[0])
			}
			return out
		},
		Rows: rows,
		Exec: func(t *testing.T, stmt string) {
			t.Helper()
			if err := db.Exec(t.Context(), stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		},
	}
}

// TestMigrateDown: every migration's Down works on a database with data
// (storetest.RunMigrateDown).
func TestMigrateDown(t *testing.T) {
	db := mustOpen(t)
	versions, err := db.MigrationVersions()
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunMigrateDown(t, db, versions, schema(db))
}

// TestMigrateDownRefusals: the targets MigrateDown refuses.
func TestMigrateDownRefusals(t *testing.T) {
	db := mustOpen(t)
	versions, err := db.MigrationVersions()
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunMigrateDownRefusals(t, db, versions, schema(db))
}
