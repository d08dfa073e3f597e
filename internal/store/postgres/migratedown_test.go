package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/store/storetest"
	"github.com/findash/findash/internal/testenv"
)

var _ storetest.MigrationStore = (*postgres.DB)(nil)

// schema reads the database at url around the store for the migration
// tests, over a connection of its own closed when t ends.
func schema(t *testing.T, url string) storetest.Schema {
	c, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	rows := func(t *testing.T, q string) [][]string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		rs, err := c.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var out [][]string
		for rs.Next() {
			vals, err := rs.Values()
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			row := make([]string, len(vals))
			for i, v := range vals {
				row[i] = fmt.Sprint(v)
			}
			out = append(out, row)
		}
		if err := rs.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return out
	}
	return storetest.Schema{
		Version: func(t *testing.T) int64 {
			t.Helper()
			var v int64
			if _, err := fmt.Sscan(rows(t, "SELECT coalesce(max(version_id), 0) FROM goose_db_version")[0][0], &v); err != nil {
				t.Fatal(err)
			}
			return v
		},
		// Tables and partitioned tables of public, not their partitions.
		Tables: func(t *testing.T) []string {
			var out []string
			for _, r := range rows(t, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'goose_db_version'
				ORDER BY c.relname`) {
				out = append(out, r[0])
			}
			return out
		},
		Rows: rows,
		Exec: func(t *testing.T, stmt string) {
			t.Helper()
			if _, err := c.Exec(t.Context(), stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		},
	}
}

// TestMigrateDown: every migration's Down works on a database with data
// (storetest.RunMigrateDown).
func TestMigrateDown(t *testing.T) {
	d := testenv.Postgres(t)
	db := open(t, postgres.Config{PrimaryURL: d.URL})
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	versions, err := db.MigrationVersions()
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunMigrateDown(t, db, versions, schema(t, d.URL))
}

// TestMigrateDownRefusals: the targets MigrateDown refuses.
func TestMigrateDownRefusals(t *testing.T) {
	d := testenv.Postgres(t)
	db := open(t, postgres.Config{PrimaryURL: d.URL})
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	versions, err := db.MigrationVersions()
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunMigrateDownRefusals(t, db, versions, schema(t, d.URL))
}
