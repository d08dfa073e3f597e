package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrator opens goose's provider of the embedded migrations over a direct
// connection to Config.MigrateURL (not through PgBouncer: goose holds a
// session advisory lock, migrateLockID, while it migrates, so that
// instances starting at once migrate one after the other; the others wait
// up to 5 minutes). Close the returned database after use.
func (db *DB) migrator(opts ...goose.ProviderOption) (*goose.Provider, *sql.DB, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, nil, err
	}
	// Parsed as a pool's URL, so that pool_* settings (pool_max_conns)
	// are taken out rather than sent to the server as run-time
	// parameters, which it refuses.
	pc, err := pgxpool.ParseConfig(db.cfg.MigrateURL)
	if err != nil {
		return nil, nil, market.Invalid("url", "%s", redactErr(err))
	}
	nameConns(db.cfg.MigrateURL, pc.ConnConfig, db.cfg.ApplicationName)
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrateLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, nil, err
	}
	// A direct connection: the default (prepared statement cache) is fine.
	sqldb := stdlib.OpenDB(*pc.ConnConfig)
	p, err := goose.NewProvider(goose.DialectPostgres, sqldb, sub, append(opts, goose.WithSessionLocker(locker))...)
	if err != nil {
		sqldb.Close()
		return nil, nil, err
	}
	return p, sqldb, nil
}

// Migrate applies every pending migration (embedded goose migrations) over
// a direct connection to Config.MigrateURL, holding a session advisory lock
// so that instances starting at once migrate one after the other (the
// others wait up to 5 minutes, then find nothing to do). It is safe to call
// on an up-to-date database.
func (db *DB) Migrate(ctx context.Context) error {
	p, sqldb, err := db.migrator()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer sqldb.Close()
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", translate(err))
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
// to 0 drops every table (and the ticks partitions with them) but those
// of River's own migrations (the job queue), which it leaves. Like
// Migrate it runs over Config.MigrateURL holding the session advisory
// lock, taken for each Down. It returns the version the database was at.
//
// A target below 0, above the database's version, or that is no migration
// of this store is a market.ErrInvalid error, as is a database at a
// version this findash has no migration for (only the findash that
// applied a migration holds its Down); then nothing is undone. A failing
// Down rolls back its own transaction and stops there: the database stays
// at that migration's version, with the ones above it undone. It logs
// each migration as it is undone. The caller must have stopped every
// instance on the database: one still running fails on the tables and
// columns the Downs drop, and one starting migrates back up.
func (db *DB) MigrateDown(ctx context.Context, to int64) (from int64, err error) {
	p, sqldb, err := db.migrator()
	if err != nil {
		return 0, fmt.Errorf("migrate down: %w", err)
	}
	defer sqldb.Close()
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
	db.log.Info("migrating the database down", "from", from, "to", to, "undo", undo)
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
	db.log.Info("database migrated down", "migrations", len(undo), "from", from, "to", to, "duration", took)
	return from, nil
}
