package sqlite

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// SetRowsPerStatement changes how many rows one tick INSERT and one candle
// upsert carry, for benchmarking the strategies; it returns a func restoring
// the defaults. Not safe while writes are running.
func SetRowsPerStatement(ticks, candles int) (restore func()) {
	t, c := tickInsert.rowsPer, candleUpsert.rowsPer
	tickInsert.rowsPer, candleUpsert.rowsPer = ticks, candles
	return func() { tickInsert.rowsPer, candleUpsert.rowsPer = t, c }
}

// CacheSizes returns PRAGMA cache_size as the writer connection and a
// reader connection see it (negative: KiB).
func (db *DB) CacheSizes(ctx context.Context) (writer, reader int, err error) {
	if err := db.w.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&writer); err != nil {
		return 0, 0, err
	}
	if err := db.r.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&reader); err != nil {
		return 0, 0, err
	}
	return writer, reader, nil
}

// TickQueries are the statements on ticks TestQueryPlans checks.
var TickQueries = map[string]string{
	"ticksRange":          ticksRange,
	"ticksAfter":          ticksAfter,
	"deleteTicksChunk":    deleteTicksChunk,
	"deleteTicksRange":    deleteTicksRange,
	"tickSymbolsSkipScan": tickSymbolsSkipScan,
}

// QueryPlan returns the detail column of EXPLAIN QUERY PLAN of query on
// the writer connection, one line per step.
func (db *DB) QueryPlan(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := db.w.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, err
		}
		out = append(out, detail)
	}
	return out, rows.Err()
}

// TickIndexes lists the indexes of ticks other than its primary key.
func (db *DB) TickIndexes(ctx context.Context) ([]string, error) {
	rows, err := db.w.QueryContext(ctx, "SELECT name FROM pragma_index_list('ticks') WHERE origin <> 'pk' ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Exec runs a statement on the writer connection (tests that build a
// database as an older version left it).
func (db *DB) Exec(ctx context.Context, query string, args ...any) error {
	_, err := db.w.ExecContext(ctx, query, args...)
	return err
}

// MigrateTo migrates up or down to version, as a findash of that schema
// left the database.
func (db *DB) MigrateTo(ctx context.Context, version int64) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.w, sub)
	if err != nil {
		return err
	}
	cur, err := p.GetDBVersion(ctx)
	if err != nil {
		return err
	}
	if version < cur {
		_, err = p.DownTo(ctx, version)
	} else {
		_, err = p.UpTo(ctx, version)
	}
	if err != nil {
		return fmt.Errorf("migrate to %d: %w", version, err)
	}
	return nil
}

// MigrationVersions are the versions of the embedded migrations, ascending.
func (db *DB) MigrationVersions() ([]int64, error) {
	p, err := db.provider()
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, s := range p.ListSources() {
		out = append(out, s.Version)
	}
	return out, nil
}

// Rows runs query on the writer connection and returns its rows, each
// column printed with fmt.Sprint.
func (db *DB) Rows(ctx context.Context, query string) ([][]string, error) {
	rows, err := db.w.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = fmt.Sprint(v)
		}
		out = append(out, row)
	}
	return out, rows.Err()
}
