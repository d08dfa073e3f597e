package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/portfolio"
	"github.com/findash/findash/internal/report"
	"github.com/findash/findash/internal/symbol"
	"github.com/findash/findash/internal/watchlist"
)

// MigrationStore is a store that migrates both ways, with everything
// RunMigrateDown writes into it before it goes down.
type MigrationStore interface {
	Store
	AlertStore
	AccountsStore
	ImportStore
	Migrate(ctx context.Context) error
	MigrateDown(ctx context.Context, to int64) (from int64, err error)
}

// Schema reads a store's database around the store, in its dialect, for
// RunMigrateDown.
type Schema struct {
	// Version is goose's version of the database (its newest applied
	// migration; 0 when none is).
	Version func(t *testing.T) int64
	// Tables lists the tables of the database, but not goose's own nor
	// the partitions of a partitioned table.
	Tables func(t *testing.T) []string
	// Rows runs a query and returns its rows, each row's columns printed
	// with fmt.Sprint.
	Rows func(t *testing.T, query string) [][]string
	// Exec runs a statement, failing t on an error.
	Exec func(t *testing.T, stmt string)
	// Dump describes the schema of the database, normalised and ordered
	// (goose's table and the partitions of a partitioned table left out),
	// so that two databases of the same schema give the same lines.
	Dump func(t *testing.T) []string
	// Fresh returns Dump of a new, empty database migrated up to version
	// only (none at 0): the schema a Down to version must leave.
	Fresh func(t *testing.T, version int64) []string
}

// RunMigrateDown checks that every migration's Down works on a store with
// data in every table: s, migrated up to the newest of versions (the
// store's migration versions, ascending), is filled with representative
// rows, then taken down one migration at a time to 0. After each step
// goose's version must be the step's target, the schema must be that of
// a fresh database migrated up to the target only (Schema.Fresh: a Down
// that leaves a column, index or CHECK behind keeps every row count), and
// every table still there must hold what it held at the top (fingerprint:
// rows, and the sums of the ticks' keys and prices; per consumer, the
// largest log position, which is what 00007's Down keeps of the
// partitions' positions); at 0 no table is left. Then s migrates up again,
// to the schema it had, and takes writes. A second pass fills s again,
// goes down to the first migration in one call and back up: the Ups must
// run on what the Downs left, and the tables of version 1 keep their rows.
func RunMigrateDown(t *testing.T, s MigrationStore, versions []int64, sc Schema) {
	ctx := t.Context()
	newest := versions[len(versions)-1]
	if got := sc.Version(t); got != newest {
		t.Fatalf("version before = %d, want %d", got, newest)
	}
	seedAll(t, s)
	top := fingerprints(t, sc)
	topSchema := sc.Dump(t)
	// The baseline of the comparisons below: the dump sees no difference
	// between a store migrated and written to and a fresh database.
	if diff := gocmp.Diff(sc.Fresh(t, newest), topSchema); diff != "" {
		t.Fatalf("at version %d: schema differs from a fresh database (-fresh +store):\n%s", newest, diff)
	}
	for _, table := range []string{"ticks", "users", "alerts", "alert_events", "log_position", "import_ranges", "holdings"} {
		if _, ok := top[table]; !ok {
			t.Fatalf("no table %s at version %d (tables: %v)", table, newest, slices.Sorted(maps.Keys(top)))
		}
	}
	for i := len(versions) - 1; i >= 0; i-- {
		to := int64(0)
		if i > 0 {
			to = versions[i-1]
		}
		from, err := s.MigrateDown(ctx, to)
		if err != nil {
			t.Fatalf("MigrateDown(%d) from %d error: %v", to, versions[i], err)
		}
		if from != versions[i] {
			t.Errorf("MigrateDown(%d) from = %d, want %d", to, from, versions[i])
		}
		if got := sc.Version(t); got != to {
			t.Fatalf("version after MigrateDown(%d) = %d", to, got)
		}
		if diff := gocmp.Diff(sc.Fresh(t, to), sc.Dump(t)); diff != "" {
			t.Errorf("at version %d: schema differs from a fresh database migrated up to %d (-fresh +down):\n%s", to, to, diff)
		}
		now := fingerprints(t, sc)
		for table, fp := range now {
			want, ok := top[table]
			if !ok {
				t.Errorf("at version %d: table %s, which version %d did not have", to, table, newest)
				continue
			}
			if table == "log_position" && now["alerts"] == nil {
				want = withoutEvaluator(want, fp)
			}
			if diff := gocmp.Diff(want, fp); diff != "" {
				t.Errorf("at version %d: table %s changed (-at %d +now):\n%s", to, table, newest, diff)
			}
		}
		if to == 0 && len(now) > 0 {
			t.Errorf("at version 0: tables %v left", slices.Sorted(maps.Keys(now)))
		}
	}
	// Down to the version it is at: nothing to do.
	if from, err := s.MigrateDown(ctx, 0); err != nil || from != 0 {
		t.Errorf("MigrateDown(0) at 0 = %d, %v; want 0, nil", from, err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate() after going down to 0 error: %v", err)
	}
	if got := sc.Version(t); got != newest {
		t.Fatalf("version after migrating up again = %d, want %d", got, newest)
	}
	if diff := gocmp.Diff(topSchema, sc.Dump(t)); diff != "" {
		t.Errorf("schema after down to 0 and up differs (-first +again):\n%s", diff)
	}
	seedAll(t, s)
	again := fingerprints(t, sc)
	if diff := gocmp.Diff(top, again); diff != "" {
		t.Errorf("the same rows written after down to 0 and up (-first +again):\n%s", diff)
	}

	// Down to the first migration and up, with data.
	if _, err := s.MigrateDown(ctx, versions[0]); err != nil {
		t.Fatalf("MigrateDown(%d) error: %v", versions[0], err)
	}
	if got := sc.Version(t); got != versions[0] {
		t.Fatalf("version after MigrateDown(%d) = %d", versions[0], got)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate() from %d with data error: %v", versions[0], err)
	}
	for _, table := range []string{"ticks", "candles", "users", "api_keys"} {
		if got := fingerprints(t, sc)[table]; !gocmp.Equal(top[table], got) {
			t.Errorf("%s after down to %d and up = %v, want %v", table, versions[0], got, top[table])
		}
	}
	if got, err := s.Ticks(ctx, "AAA", market.MinTS, market.MaxTS, 100); err != nil || len(got) != 3 {
		t.Errorf("Ticks(AAA) after down to %d and up = %v, %v; want 3 ticks", versions[0], got, err)
	}
}

// RunMigrateDownRefusals checks the targets MigrateDown refuses with
// market.ErrInvalid, undoing nothing: below 0, above the database's
// version, a version that is no migration of the store (when versions has
// a gap), and any target on a database at a version newer than the
// store's migrations (a newer findash migrated it). s is migrated up to
// the newest of versions.
func RunMigrateDownRefusals(t *testing.T, s MigrationStore, versions []int64, sc Schema) {
	newest := versions[len(versions)-1]
	refused := func(to int64, want string) {
		t.Helper()
		_, err := s.MigrateDown(t.Context(), to)
		if !errors.Is(err, market.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("MigrateDown(%d) error = %v, want ErrInvalid saying %q", to, err, want)
		}
		if got := sc.Version(t); got < newest {
			t.Fatalf("version after the refused MigrateDown(%d) = %d, want %d", to, got, newest)
		}
	}
	refused(-1, "below 0")
	refused(newest+1, "above the database's version")
	for v := int64(1); v < newest; v++ {
		if !slices.Contains(versions, v) {
			refused(v, "not a migration of this store")
			break
		}
	}
	sc.Exec(t, fmt.Sprintf("INSERT INTO goose_db_version (version_id, is_applied) VALUES (%d, true)", newest+1))
	refused(newest, "newer than this findash's migrations")
	refused(0, "newer than this findash's migrations")
	sc.Exec(t, fmt.Sprintf("DELETE FROM goose_db_version WHERE version_id = %d", newest+1))
	if got := sc.Version(t); got != newest {
		t.Errorf("version = %d, want %d", got, newest)
	}
}

// withoutEvaluator returns want, the log positions at the top, without
// the alert evaluator's when got has none: the position is part of the
// alerts' state, which 00003's Down drops. (PostgreSQL's 00003 inserted the
// row, so its Down deletes it; SQLite's row is made by the first commit,
// and its Down leaves it.)
func withoutEvaluator(want, got [][]string) [][]string {
	if slices.ContainsFunc(got, func(r []string) bool { return r[0] == "alerts" }) {
		return want
	}
	return slices.DeleteFunc(slices.Clone(want), func(r []string) bool { return r[0] == "alerts" })
}

// fingerprints returns what RunMigrateDown compares of every table.
func fingerprints(t *testing.T, sc Schema) map[string][][]string {
	t.Helper()
	out := make(map[string][][]string)
	for _, table := range sc.Tables(t) {
		q := "SELECT count(*) FROM " + table
		switch table {
		case "ticks":
			q = "SELECT count(*), sum(seq), sum(ts), sum(price), sum(size) FROM ticks"
		case "log_position":
			q = "SELECT name, max(seq) FROM log_position GROUP BY name ORDER BY name"
		}
		out[table] = sc.Rows(t, q)
	}
	return out
}

// seedAll writes rows of every kind into s: ticks and candles on the
// unpartitioned log and two partitions, users with an API key, a
// session, a watchlist, an account token, a holding, an alert with
// firings and a webhook secret, a report, symbols, and imported ticks
// (import ranges and marks).
func seedAll(t *testing.T, s MigrationStore) {
	t.Helper()
	ctx := t.Context()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	old := []market.Tick{
		{Symbol: "AAA", TS: day0 + 1, Price: 10, Size: 1, Seq: 1},
		{Symbol: "AAA", TS: day0 + 1, Price: 11, Size: 2, Seq: 2},
		{Symbol: "BBB", TS: day0 + 2, Price: 5, Size: 1, Seq: 3},
	}
	must("WriteBatch(-1)", s.WriteBatch(ctx, market.Unpartitioned, old, rollup(old), 0, 1, 3))
	p0 := []market.Tick{{Symbol: "AAA", TS: day0 + 86_400_000, Price: 12, Size: 1, Seq: 5}}
	must("WriteBatch(0)", s.WriteBatch(ctx, 0, p0, rollup(p0), 0, 4, 5))
	p1 := []market.Tick{{Symbol: "CCC", TS: day0 + 3, Price: 7, Size: 2, Seq: 4}}
	must("WriteBatch(1)", s.WriteBatch(ctx, 1, p1, rollup(p1), 0, 4, 4))

	ann, err := s.CreateUser(ctx, auth.User{Email: "ann@example.com", PasswordHash: "$argon2id$x", CreatedAt: created})
	must("CreateUser", err)
	_, err = s.CreateAPIKey(ctx, auth.APIKey{UserID: ann.ID, Name: "laptop", Prefix: "fd_aaaa", Hash: keyHash("a"), CreatedAt: created}, 0)
	must("CreateAPIKey", err)
	must("CreateSession", s.CreateSession(ctx, auth.Session{Hash: sessionHash(1), UserID: ann.ID, CreatedAt: created, ExpiresAt: created.Add(24 * time.Hour)}))
	_, err = s.CreateWatchlist(ctx, watchlist.Watchlist{UserID: ann.ID, Name: "Crypto", Symbols: []string{"AAA", "BBB"}, CreatedAt: created, UpdatedAt: created}, 50)
	must("CreateWatchlist", err)
	must("PutAccountToken", s.PutAccountToken(ctx, auth.AccountToken{Hash: tokenHash("v"), UserID: ann.ID, Purpose: auth.PurposeVerify, CreatedAt: created, ExpiresAt: created.Add(time.Hour)}))
	_, err = s.CreateHolding(ctx, portfolio.Holding{UserID: ann.ID, Symbol: "AAA", Quantity: 0.5, CostBasis: 10.25, CreatedAt: created, UpdatedAt: created}, 100)
	must("CreateHolding", err)

	a := mustAlert(t, s, alert.Alert{UserID: ann.ID, Symbol: "AAA", Condition: alert.Below, Threshold: 10, Notify: []string{"email"}, CreatedAt: created})
	_, _, _, err = s.CommitAlerts(ctx, market.Unpartitioned, 0, 3, []alert.Event{event(a, 1, 9)}, nil)
	must("CommitAlerts(-1)", err)
	_, _, _, err = s.CommitAlerts(ctx, 0, 0, 5, []alert.Event{event(a, 5, 8)}, nil)
	must("CommitAlerts(0)", err)
	_, err = s.WebhookSecret(ctx, ann.ID, "whsec_x")
	must("WebhookSecret", err)
	_, err = s.CreateReport(ctx, report.Report{UserID: ann.ID, Symbols: []string{"AAA"}, Interval: market.Interval1h,
		From: day0, To: day0 + 86_400_000, Format: report.CSV, CreatedAt: created}, 0)
	must("CreateReport", err)

	_, err = s.RegisterSymbols(ctx, []symbol.Symbol{{Name: "AAA", Source: symbol.SourceAdmin, CreatedAt: created}, {Name: "BBB", Source: symbol.SourceAuto, CreatedAt: created}}, 100)
	must("RegisterSymbols", err)
	imported := []market.Tick{{Symbol: "DDD", TS: day0 - 60_000, Price: 3, Size: 1, Seq: 100}, {Symbol: "DDD", TS: day0 - 30_000, Price: 4, Size: 1, Seq: 101}}
	_, err = s.ImportTicks(ctx, "src", imported)
	must("ImportTicks", err)
}
