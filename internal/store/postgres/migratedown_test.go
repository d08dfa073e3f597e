package postgres_test

import (
	"context"
	"fmt"
	"strings"
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
		return queryRows(t, c, q)
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
		Dump:  func(t *testing.T) []string { return dumpSchema(t, rows) },
		Fresh: freshSchema,
	}
}

// schemaQueries describe the schema public from the catalogs, each row one
// line of the dump: relations, columns (their order among the columns
// still there, name, type, nullability, default, identity, generation),
// indexes, constraints, functions, triggers and types. Goose's table and
// sequence are left out, and so are partitions and their indexes,
// constraints and triggers: WriteBatch creates partitions for the days it
// writes, which a fresh database has not seen; the partitioned table
// holds the definitions they copy.
var schemaQueries = []string{
	`SELECT 'relation', c.relkind::text, c.relname FROM pg_class c
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind <> 'i' AND NOT c.relispartition
		AND c.relname NOT IN ('goose_db_version', 'goose_db_version_id_seq') ORDER BY 3`,
	`SELECT 'column', c.relname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
		format_type(a.atttypid, a.atttypmod), a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
		a.attidentity::text, a.attgenerated::text
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
		AND NOT c.relispartition AND c.relname <> 'goose_db_version' AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY 2, 3`,
	`SELECT 'index', i.tablename, i.indexname, i.indexdef FROM pg_indexes i
		JOIN pg_class c ON c.relname = i.indexname AND c.relnamespace = 'public'::regnamespace
		WHERE i.schemaname = 'public' AND NOT c.relispartition AND i.tablename <> 'goose_db_version'
		ORDER BY 2, 3`,
	`SELECT 'constraint', c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k
		JOIN pg_class c ON c.oid = k.conrelid
		WHERE c.relnamespace = 'public'::regnamespace AND NOT c.relispartition AND c.relname <> 'goose_db_version'
		ORDER BY 2, 3`,
	`SELECT 'function', p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
		FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace ORDER BY 2, 3`,
	`SELECT 'trigger', c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
		JOIN pg_class c ON c.oid = t.tgrelid
		WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal AND NOT c.relispartition
		ORDER BY 2, 3`,
	`SELECT 'type', t.typtype::text, t.typname, format_type(t.oid, NULL) FROM pg_type t
		WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('d', 'e') ORDER BY 3`,
}

// dumpSchema returns the lines of schemaQueries, read with rows.
func dumpSchema(t *testing.T, rows func(t *testing.T, q string) [][]string) []string {
	t.Helper()
	var out []string
	for _, q := range schemaQueries {
		for _, r := range rows(t, q) {
			out = append(out, strings.Join(r, " | "))
		}
	}
	return out
}

// freshSchema returns dumpSchema of a new database, made the way every
// test here makes its own (testenv.Postgres), migrated up to version
// only. The store is closed before it returns, so that the fresh
// databases of one test hold no connections while it goes on.
func freshSchema(t *testing.T, version int64) []string {
	t.Helper()
	d := testenv.Postgres(t)
	db, err := postgres.Open(t.Context(), postgres.Config{PrimaryURL: d.URL}, nil)
	if err != nil {
		t.Fatalf("Open() error: %v", err)
	}
	if version > 0 {
		if err := db.MigrateUpTo(t.Context(), version); err != nil {
			db.Close()
			t.Fatalf("MigrateUpTo(%d) error: %v", version, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close() error: %v", err)
	}
	c, err := pgx.Connect(t.Context(), d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	return dumpSchema(t, func(t *testing.T, q string) [][]string {
		t.Helper()
		return queryRows(t, c, q)
	})
}

// queryRows runs q on c and returns its rows, each column printed with
// fmt.Sprint.
func queryRows(t *testing.T, c *pgx.Conn, q string) [][]string {
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

// TestMigrateDown: every migration's Down works on a database with data
// (storetest.RunMigrateDown).
func TestMigrateDown(t *testing.T) {
	db, versions, sc := migratedForDown(t)
	storetest.RunMigrateDown(t, db, versions, sc)
}

// migratedForDown is a fresh database migrated to the newest version,
// with its migration versions and schema, for the MigrateDown tests.
func migratedForDown(t *testing.T) (*postgres.DB, []int64, storetest.Schema) {
	t.Helper()
	d := testenv.Postgres(t)
	db := open(t, postgres.Config{PrimaryURL: d.URL})
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	versions, err := db.MigrationVersions()
	if err != nil {
		t.Fatal(err)
	}
	return db, versions, schema(t, d.URL)
}

// TestMigrateDownRefusals: the targets MigrateDown refuses.
func TestMigrateDownRefusals(t *testing.T) {
	db, versions, sc := migratedForDown(t)
	storetest.RunMigrateDownRefusals(t, db, versions, sc)
}
