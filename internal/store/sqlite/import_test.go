package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/store/storetest"
)

// Consecutive import batches leave one import range per run of seqs
// (storetest.ImportRangesMergeAdjacent): [1, 6] and [8, 8] in the table.
func TestImportRangesMergeAdjacent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "findash.db")
	db, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	storetest.ImportRangesMergeAdjacent(t, db)
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.QueryContext(ctx, "SELECT lo, hi FROM import_ranges ORDER BY lo")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got [][2]int64
	for rows.Next() {
		var r [2]int64
		if err := rows.Scan(&r[0], &r[1]); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if diff := gocmp.Diff([][2]int64{{1, 6}, {8, 8}}, got); diff != "" {
		t.Errorf("import ranges (-want +got):\n%s", diff)
	}
}
