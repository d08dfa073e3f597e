package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/findash/findash/internal/market"
)

// busyTimeoutMs is how long a statement waits for a lock held by another
// connection (another process, or the writer during a checkpoint) before
// failing with SQLITE_BUSY.
const busyTimeoutMs = 5000

// DB is an open findash SQLite database.
type DB struct {
	w   *sql.DB // the single writer connection
	r   *sql.DB // read-only pool
	ck  *checkpointer
	log *slog.Logger
}

// writerCacheKiB is the page cache of the writer connection (SQLite's
// default is 2,000 KiB). The persister's inserts go to the right end of
// every symbol's range in the ticks B-tree (two B-trees when this was
// measured, before migration 00009), so its working set is a few pages per
// symbol plus the interior pages above them;
// with 100 symbols that outgrew the default cache, and every batch read
// pages back with pread (5 % of the server's CPU in a 5,000-tick-POST
// ingest run) and spilled dirty pages before the commit. 16 MiB took
// BenchmarkWriteBatchSize (100 symbols, 10,000-tick batches) from 7.8 to 4.9
// µs of CPU per tick; 32 and 64 MiB did no better. The cache is a bound:
// pages are allocated as they are used (a small database never holds 16 MiB).
const writerCacheKiB = 16 << 10

// dsn builds the modernc DSN for path. Pragmas are applied on every new
// connection of the pool.
func dsn(path string, readOnly bool) string {
	q := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMs),
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(NORMAL)",
		"_pragma=foreign_keys(ON)",
	}
	if readOnly {
		q = append(q, "_pragma=query_only(1)")
	} else {
		q = append(q, "_txlock=immediate", fmt.Sprintf("_pragma=cache_size(-%d)", writerCacheKiB))
	}
	return path + "?" + strings.Join(q, "&")
}

// storeDSN is the store's writer DSN: dsn's, and the WAL left to the
// checkpointer (wal.go), which the job queue's file, without one, must not.
func storeDSN(path string, wal walLimits) string {
	return fmt.Sprintf("%s&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(%d)", dsn(path, false), wal.keep)
}

// Open opens (creating it if needed) the SQLite database at path. It does not
// migrate; call Migrate. The path may not contain '?'.
func Open(ctx context.Context, path string, log *slog.Logger) (*DB, error) {
	return open(ctx, path, log, walLimits{max: walMaxBytes, keep: walKeepBytes})
}

func open(ctx context.Context, path string, log *slog.Logger, wal walLimits) (*DB, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open sqlite: %w", market.Invalid("path", "%q is not a usable file path", path))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w, err := openOne(storeDSN(path, wal))
	if err != nil {
		return nil, fmt.Errorf("open sqlite writer %s: %w", path, err)
	}
	// Open the writer first: it creates the file and switches it to WAL
	// before any reader connects.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite writer %s: %w", path, translate(err))
	}
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite readers %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite readers %s: %w", path, translate(err))
	}
	ck, err := newCheckpointer(path, wal)
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	db := &DB{w: w, r: r, ck: ck, log: log.With("component", "sqlite")}
	ck.start(db)
	return db, nil
}

// Ping checks that both the writer and the read pool answer.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite writer: %w", translate(err))
	}
	if err := db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite readers: %w", translate(err))
	}
	return nil
}

// Close stops the checkpointer and closes the pools. Queries in flight fail.
func (db *DB) Close() error {
	return errors.Join(db.ck.close(), db.r.Close(), db.w.Close())
}

// translate maps driver errors onto market's sentinel kinds, keeping the
// original in the chain.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", market.ErrNotFound, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", market.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %w", market.ErrNotFound, err)
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return fmt.Errorf("%w: %w", market.ErrInvalid, err)
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%w: %w", market.ErrUnavailable, err)
		}
	}
	return err
}

// openOne opens a pool that holds one connection for good: SQLite takes
// one writer at a time, and the checkpointer runs one checkpoint at a time.
func openOne(dsn string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}
