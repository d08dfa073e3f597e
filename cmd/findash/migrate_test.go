package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/findash/findash/internal/config"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/testenv"
)

// migrateCLI runs findash migrate with args and returns its stdout.
func migrateCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(t.Context(), append([]string{"migrate", "--log-format", "json"}, args...), nil, nil, &out, &errb)
	return out.String(), err
}

// checkMigrateDown drives migrate --down-to on the database that db (the
// flags naming it) selects, migrated up: down to 1, refusals, down to 0,
// and up again.
func checkMigrateDown(t *testing.T, db ...string) {
	t.Helper()
	if out, err := migrateCLI(t, db...); err != nil || out != "migrations applied\n" {
		t.Fatalf("migrate = %q, %v", out, err)
	}
	out, err := migrateCLI(t, append([]string{"--down-to", "1"}, db...)...)
	if err != nil || !strings.HasPrefix(out, "migrated down from version ") || !strings.HasSuffix(out, " to 1\n") {
		t.Fatalf("migrate --down-to 1 = %q, %v; want migrated down from version N to 1", out, err)
	}
	if out, err := migrateCLI(t, append([]string{"--down-to", "1"}, db...)...); err != nil || out != "database already at version 1\n" {
		t.Errorf("migrate --down-to 1 again = %q, %v", out, err)
	}
	for _, c := range []struct{ to, want string }{{"2", "2 is above the database's version 1"}, {"-1", "-1 is below 0"}} {
		if out, err := migrateCLI(t, append([]string{"--down-to", c.to}, db...)...); err == nil || !strings.Contains(err.Error(), c.want) || out != "" {
			t.Errorf("migrate --down-to %s = %q, %v; want an error saying %q", c.to, out, err, c.want)
		}
	}
	if out, err := migrateCLI(t, append([]string{"--down-to", "0"}, db...)...); err != nil || out != "migrated down from version 1 to 0\n" {
		t.Errorf("migrate --down-to 0 = %q, %v", out, err)
	}
	if out, err := migrateCLI(t, db...); err != nil || out != "migrations applied\n" {
		t.Errorf("migrate after going down to 0 = %q, %v", out, err)
	}
}

// TestMigrateDownSQLite: migrate --down-to on the data dir's SQLite file;
// it refuses while a server holds the data dir (serve's lock), and when
// there is no database there.
func TestMigrateDownSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := migrateCLI(t, "--down-to", "0", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Errorf("migrate --down-to 0 on an empty data dir = %v, want no database", err)
	}
	checkMigrateDown(t, "--data-dir", dir)

	unlock, err := lockDataDir(config.Config{DataDir: dir}) // as serve holds it
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrateCLI(t, "--down-to", "1", "--data-dir", dir); !errors.Is(err, errDataDirLocked) {
		t.Errorf("migrate --down-to 1 under a server = %v, want %v", err, errDataDirLocked)
	}
	unlock()
	if out, err := migrateCLI(t, "--down-to", "1", "--data-dir", dir); err != nil || !strings.HasSuffix(out, " to 1\n") {
		t.Errorf("migrate --down-to 1 once the server stopped = %q, %v", out, err)
	}
}

// TestMigrateDownPostgres: migrate --down-to on PostgreSQL
// (FINDASH_TEST_POSTGRES_URL).
// It refuses while a findash (a store opened as serve opens it) is
// connected to the database.
func TestMigrateDownPostgres(t *testing.T) {
	d := testenv.Postgres(t)
	db := []string{"--database-url", d.URL, "--data-dir", t.TempDir()}
	checkMigrateDown(t, db...)

	server, err := postgres.Open(t.Context(), postgres.Config{PrimaryURL: d.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	out, err := migrateCLI(t, append([]string{"--down-to", "1"}, db...)...)
	if !errors.Is(err, market.ErrConflict) || !strings.Contains(err.Error(), "database in use") || out != "" {
		t.Errorf("migrate --down-to 1 beside a server = %q, %v; want database in use", out, err)
	}
	server.Close()
	if out, err := migrateCLI(t, append([]string{"--down-to", "1"}, db...)...); err != nil || !strings.HasSuffix(out, " to 1\n") {
		t.Errorf("migrate --down-to 1 once the server stopped = %q, %v", out, err)
	}
}
