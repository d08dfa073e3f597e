package sqlite_test

import (
	"fmt"
	"path/filepath"
	"strings"
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
		Dump:  func(t *testing.T) []string { return dumpSchema(t, db) },
		Fresh: freshSchema,
	}
}

// dumpSchema returns every table, index, trigger and view of db as
// sqlite_schema holds it (type, name, table, the SQL with its whitespace
// collapsed: SQLite keeps the text of CREATE and edits it on ALTER, so
// columns, types, defaults, CHECKs and index keys are all in it), without
// goose's table and SQLite's own objects.
func dumpSchema(t *testing.T, db *sqlite.DB) []string {
	t.Helper()
	const q = `SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema
		WHERE name NOT LIKE 'sqlite_%' AND tbl_name <> 'goose_db_version' ORDER BY type, name`
	rs, err := db.Rows(t.Context(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		sql := strings.Join(strings.Fields(r[3]), " ")
		// A table a Down rebuilt (CREATE new, copy, DROP, ALTER ... RENAME)
		// has its new name quoted by the rename: the same table.
		sql = strings.Replace(sql, `CREATE TABLE "`+r[1]+`"`, "CREATE TABLE "+r[1], 1)
		out = append(out, fmt.Sprintf("%s %s on %s: %s", r[0], r[1], r[2], sql))
	}
	return out
}

// freshSchema returns dumpSchema of a new database file migrated up to
// version only.
func freshSchema(t *testing.T, version int64) []string {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "fresh.db"), nil)
	if err != nil {
		t.Fatalf("Open() error: %v", err)
	}
	defer db.Close()
	if version > 0 {
		if err := db.MigrateTo(t.Context(), version); err != nil {
			t.Fatalf("MigrateTo(%d) error: %v", version, err)
		}
	}
	return dumpSchema(t, db)
}

// TestMigrateDown: every migration's Down works on a database with data
// (storetest.RunMigrateDown).
func TestMigrateDown(t *testing.T) {
	db, versions, sc := migratedForDown(t)
	storetest.RunMigrateDown(t, db, versions, sc)
}

// migratedForDown is a fresh database migrated to the newest version,
// with its migration versions and schema, for the MigrateDown tests.
func migratedForDown(t *testing.T) (*sqlite.DB, []int64, storetest.Schema) {
	t.Helper()
	db := mustOpen(t)
	versions, err := db.MigrationVersions()
	if err != nil {
		t.Fatal(err)
	}
	return db, versions, schema(db)
}

// TestMigrateDownRefusals: the targets MigrateDown refuses.
func TestMigrateDownRefusals(t *testing.T) {
	db, versions, sc := migratedForDown(t)
	storetest.RunMigrateDownRefusals(t, db, versions, sc)
}
