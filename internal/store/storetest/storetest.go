// Package storetest is the conformance suite every findash store (SQLite,
// PostgreSQL) must pass: the same tests, the same expectations, so neither
// dialect is tested for something the other is not.
//
// A store's own test calls Run with a function that opens a fresh, migrated,
// empty store for each subtest and arranges for it to be closed.
//
// It imports only the domain and feature packages whose store interfaces it
// checks, and go-cmp. It must not import a store (each store's own test
// calls Run with it); only tests import it.
package storetest

import (
	"context"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/symbol"
)

// Store is everything a findash store offers: what the persister, the live
// state restore, the API and auth consume, as one union.
type Store interface {
	WriteBatch(ctx context.Context, part int, ticks []market.Tick, candles []market.Candle, prevSeq, fromSeq, logSeq uint64) error
	LogPosition(ctx context.Context, part int) (uint64, error)
	RestoreState(ctx context.Context) (candles []market.Candle, pos market.Positions, err error)
	Candles(ctx context.Context, q market.CandleQuery) ([]market.Candle, error)
	Ticks(ctx context.Context, symbol string, from, to int64, limit int) ([]market.Tick, error)
	TicksAfter(ctx context.Context, symbol string, afterTS int64, afterSeq uint64, to int64, limit int) ([]market.Tick, error)
	DeleteTicksBefore(ctx context.Context, ts int64) (int64, error)
	DeleteTicksCounted(ctx context.Context, symbol string, from, to, want int64) (int64, bool, error)
	TickSymbols(ctx context.Context) ([]string, error)

	auth.Store
	symbol.Store
}
