package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/symbol"
)

// Registry reads go to the primary: an instance that has just been refused
// a symbol for the cap must see the registrations that filled it.

// ListSymbols returns every registered symbol, sorted by name.
func (db *DB) ListSymbols(ctx context.Context) ([]symbol.Symbol, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	syms, err := collect(ctx, db.primary, rowToSymbol, "SELECT name, source, api_key_id, created_at FROM symbols ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list symbols: %w", err)
	}
	return syms, nil
}

func rowToSymbol(row pgx.CollectableRow) (symbol.Symbol, error) {
	var s symbol.Symbol
	err := row.Scan(&s.Name, &s.Source, &s.APIKeyID, &s.CreatedAt)
	s.CreatedAt = s.CreatedAt.UTC()
	return s, err
}

// RegisterSymbols registers the symbols of syms not registered yet, in one
// transaction: when that would make more than max (> 0) registered symbols
// it rolls back and returns an error matching symbol.ErrLimit. Instances
// registering at once are serialised by a lock on the table (EXCLUSIVE
// mode: readers go on), so the count each one checks is exact; only a
// batch with new symbols takes it.
func (db *DB) RegisterSymbols(ctx context.Context, syms []symbol.Symbol, max int) (int, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	names := make([]string, len(syms))
	sources := make([]string, len(syms))
	keys := make([]int64, len(syms))
	created := make([]time.Time, len(syms))
	for i, s := range syms {
		names[i], sources[i], keys[i], created[i] = s.Name, s.Source, s.APIKeyID, roundMs(s.CreatedAt)
	}
	var added int
	err := pgx.BeginFunc(ctx, db.primary, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "LOCK TABLE symbols IN EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO symbols (name, source, api_key_id, created_at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[])
			ON CONFLICT (name) DO NOTHING`, names, sources, keys, created)
		if err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		added = int(tag.RowsAffected())
		if max <= 0 || added == 0 {
			return nil
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM symbols").Scan(&n); err != nil {
			return fmt.Errorf("count: %w", err)
		}
		if n > max {
			return fmt.Errorf("%d registered, at most %d: %w", n-added, max, symbol.ErrLimit)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("register %d symbols: %w", len(syms), translate(err))
	}
	return added, nil
}

// UnregisterSymbol removes name from the registry, or returns
// market.ErrNotFound. Its ticks and candles stay.
func (db *DB) UnregisterSymbol(ctx context.Context, name string) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	tag, err := db.primary.Exec(ctx, "DELETE FROM symbols WHERE name = $1", name)
	if err != nil {
		return fmt.Errorf("unregister symbol %s: %w", name, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("unregister symbol %s: %w", name, market.ErrNotFound)
	}
	return nil
}
