package jobs_test

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/findash/findash/internal/jobs"
	"github.com/findash/findash/internal/store/sqlite"
)

// TestMigrationLogsOneLine: migrating a fresh job queue logs one line, not
// one per River version (and twice each), and a second start logs none.
func TestMigrationLogsOneLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	for i, want := range []int{1, 0} {
		db, err := sqlite.OpenJobsDB(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		if _, err := jobs.New(t.Context(), riversqlite.New(db), jobs.Handlers{}, testConfig(), slog.New(slog.NewTextHandler(&logs, nil)), nil); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if got := strings.Count(logs.String(), "migrat"); got != want {
			t.Errorf("start %d logged %d lines about migrations, want %d:\n%s", i+1, got, want, logs.String())
		}
	}
}
