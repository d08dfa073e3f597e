package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/findash/findash/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// provider is goose's provider of the embedded migrations on the writer
// connection.
func (db *DB) provider(opts ...goose.ProviderOption) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectSQLite3, db.w, sub, opts...)
}

// Migrate applies every pending migration (embedded goose migrations) and
// reports the versions it applied to the log. It is safe to call on an
// up-to-date database.
func (db *DB) Migrate(ctx context.Context) error {
	p, err := db.provider()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	from, to, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", translate(err))
	}
	if from < to {
		db.logMigrating(ctx, from, to)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", translate(err))
	}
	if len(res) > 0 {
		db.truncateWAL(ctx)
	}
	// One line for the lot, like the job queue's: a fresh start applies
	// every migration, and a line each pushed "findash is serving" down.
	if len(res) > 0 {
		var took time.Duration
		for _, r := range res {
			took += r.Duration
		}
		db.log.Info("database migrated", "migrations", len(res), "from", res[0].Source.Version, "to", res[len(res)-1].Source.Version, "duration", took)
	}
	return nil
}

// MigrateDown undoes the applied migrations above version to, newest
// first, each with its goose Down in a transaction of its own, so that the
// findash release whose newest migration is to can run on the database;
// to 0 drops every table. It returns the version the database was at.
//
// A target below 0, above the database's version, or that is no migration
// of this store is a market.ErrInvalid error, as is a database at a
// version this findash has no migration for (only the findash that
// applied a migration holds its Down); then nothing is undone. A failing
// Down rolls back its own transaction and stops there: the database stays
// at that migration's version, with the ones above it undone. It logs
// each migration as it is undone. The caller must keep every other writer
// off the database meanwhile (findash migrate holds the data dir's lock).
func (db *DB) MigrateDown(ctx context.Context, to int64) (from int64, err error) {
	p, err := db.provider()
	if err != nil {
		return 0, fmt.Errorf("migrate down: %w", err)
	}
	from, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate down: %w", translate(err))
	}
	var known []int64
	for _, s := range p.ListSources() {
		known = append(known, s.Version)
	}
	undo, err := store.DownSteps(from, to, known)
	if err != nil || len(undo) == 0 {
		return from, err
	}
	if slices.Contains(undo, ticksByTS) {
		// Measured on 1M ticks, 3 pairs in one sitting: Down 1.9-2.2 s,
		// Up 1.1-1.2 s; the Down builds the (symbol, ts) index as well.
		db.log.Info("migrating the database down: 00009's Down rewrites the ticks table and its index, which takes about twice as long as its Up (docs/operations.md, Upgrading), and free disk for a copy of both",
			"from", from, "to", to, "undo", undo)
	} else {
		db.log.Info("migrating the database down", "from", from, "to", to, "undo", undo)
	}
	// One goose Down at a time (each under the lock, in its own
	// transaction), to log each before it runs: 00009's takes minutes.
	var took time.Duration
	for _, v := range undo {
		db.log.Info("undoing migration", "version", v)
		r, err := p.Down(ctx)
		if err != nil {
			return from, fmt.Errorf("migrate down to %d: undo %d: %w", to, v, translate(err))
		}
		if r.Source.Version != v {
			return from, fmt.Errorf("migrate down to %d: undid %d, expected %d (the database's migrations were applied out of order)", to, r.Source.Version, v)
		}
		db.log.Info("migration undone", "version", v, "duration", r.Duration)
		took += r.Duration
	}
	db.truncateWAL(ctx) // 00009's Down copies the ticks table, as its Up does
	db.log.Info("database migrated down", "migrations", len(undo), "from", from, "to", to, "duration", took)
	return from, nil
}

// truncateWAL checkpoints the WAL and truncates it. A migration that
// rewrites a table (00009, up or down) leaves a WAL the size of the copy,
// kept until the last connection closes, that is until the next restart:
// 39.8 MiB for 1M ticks.
func (db *DB) truncateWAL(ctx context.Context) {
	var busy int
	err := db.onWriter(ctx, func(c *sql.Conn) (err error) {
		busy, _, _, err = db.ck.checkpoint(ctx, c, "TRUNCATE")
		return err
	})
	if err != nil || busy != 0 {
		db.log.Warn("cannot truncate the WAL after migrating", "err", err, "busy", busy)
	}
}

// ticksByTS is the migration that rewrites the ticks table (decision 0076).
const ticksByTS = 9

// logMigrating says that migrations start, before they run: one that
// rewrites a table holds the start (no listener yet) for minutes on a
// large database, which must not look like a hung process.
func (db *DB) logMigrating(ctx context.Context, from, to int64) {
	var size int64
	if err := db.w.QueryRowContext(ctx, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()").Scan(&size); err != nil {
		size = -1
	}
	if from >= ticksByTS || to < ticksByTS || from == 0 {
		db.log.Info("migrating the database", "from", from, "to", to)
		return
	}
	// About 84 bytes a tick before 00009, and 4.3 s per 1M ticks measured
	// (docs/operations.md, Upgrading): a rough figure, to tell a slow
	// migration from a hung one.
	db.log.Info("migrating the database: 00009 rewrites the ticks table, which takes about 4 s per 1M ticks and free disk of 1.5 times the database",
		"from", from, "to", to, "database_mib", size>>20, "ticks_estimate", size/84)
}
