package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/symbol"
)

// symbolInsert registers symbols, skipping those already registered.
var symbolInsert = batchInsert{
	head: "INSERT OR IGNORE INTO symbols (name, source, api_key_id, created_at)", cols: 4, rowsPer: 200,
}

// ListSymbols returns every registered symbol, sorted by name.
func (db *DB) ListSymbols(ctx context.Context) ([]symbol.Symbol, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT name, source, api_key_id, created_at FROM symbols ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list symbols: %w", translate(err))
	}
	defer rows.Close()
	out := []symbol.Symbol{}
	for rows.Next() {
		var s symbol.Symbol
		var created int64
		if err := rows.Scan(&s.Name, &s.Source, &s.APIKeyID, &created); err != nil {
			return nil, fmt.Errorf("list symbols: %w", translate(err))
		}
		s.CreatedAt = fromMs(created)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list symbols: %w", translate(err))
	}
	return out, nil
}

// RegisterSymbols registers the symbols of syms not registered yet, in one
// transaction: when that would make more than max (> 0) registered symbols
// it rolls back and returns an error matching symbol.ErrLimit. The single
// writer connection serialises registrations, so the count is exact.
func (db *DB) RegisterSymbols(ctx context.Context, syms []symbol.Symbol, max int) (added int, err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("register symbols: begin: %w", translate(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var before, after int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM symbols").Scan(&before); err != nil {
		return 0, fmt.Errorf("register symbols: count: %w", translate(err))
	}
	err = symbolInsert.exec(ctx, newTxRunner(tx), len(syms), func(a []driver.NamedValue, i int) {
		s := &syms[i]
		a[0].Value, a[1].Value, a[2].Value, a[3].Value = s.Name, s.Source, s.APIKeyID, toMs(s.CreatedAt)
	})
	if err != nil {
		return 0, fmt.Errorf("register %d symbols: %w", len(syms), translate(err))
	}
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM symbols").Scan(&after); err != nil {
		return 0, fmt.Errorf("register symbols: count: %w", translate(err))
	}
	if max > 0 && after > max && after > before {
		return 0, fmt.Errorf("register %d symbols (%d registered, at most %d): %w", after-before, before, max, symbol.ErrLimit)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("register symbols: commit: %w", translate(err))
	}
	return after - before, nil
}

// UnregisterSymbol removes name from the registry, or returns
// market.ErrNotFound. Its ticks and candles stay.
func (db *DB) UnregisterSymbol(ctx context.Context, name string) error {
	res, err := db.w.ExecContext(ctx, "DELETE FROM symbols WHERE name = ?", name)
	if err != nil {
		return fmt.Errorf("unregister symbol %s: %w", name, translate(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("unregister symbol %s: %w", name, translate(err))
	} else if n == 0 {
		return fmt.Errorf("unregister symbol %s: %w", name, market.ErrNotFound)
	}
	return nil
}
