package postgres

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/findash/findash/internal/market"
)

// TicksAfter returns up to limit ticks of symbol after (afterTS, afterSeq)
// in (ts, seq) order, with ts <= to, read as Ticks is: a keyset read, so a
// page cursor inside a millisecond of many ticks costs no rows before it
// (GET /api/v1/ticks/{symbol}). An afterSeq above 2^63-1 (no stored seq
// is) means after every tick of afterTS.
func (db *DB) TicksAfter(ctx context.Context, symbol string, afterTS int64, afterSeq uint64, to int64, limit int) ([]market.Tick, error) {
	if limit <= 0 {
		limit = market.DefaultLimit
	}
	if afterSeq > math.MaxInt64 {
		return db.Ticks(ctx, symbol, afterTS+1, to, limit)
	}
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	var out []market.Tick
	err := db.read(ctx, func(ctx context.Context, p *pgxpool.Pool) (err error) {
		out, err = queryTicks(ctx, p, symbol, limit,
			"SELECT seq, ts, price, size FROM ticks WHERE symbol = $1 AND ts >= $2 AND ts <= $3 AND (ts, seq) > ($2, $4) ORDER BY ts, seq LIMIT $5",
			symbol, afterTS, to, int64(afterSeq), limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ticks %s: %w", symbol, translate(err))
	}
	return out, nil
}

// queryTicks runs query, which selects seq, ts, price, size of symbol's
// ticks, and returns at most limit of them (limit only sizes the slice).
// Errors are the driver's, untranslated (the caller translates, after
// routing decided), as in queryCandles.
func queryTicks(ctx context.Context, q querier, symbol string, limit int, query string, args ...any) ([]market.Tick, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.AppendRows(make([]market.Tick, 0, min(limit, 1024)), rows, func(row pgx.CollectableRow) (market.Tick, error) {
		var r struct { // one allocation per row, as in rowToCandle
			t   market.Tick
			seq int64
		}
		if err := row.Scan(&r.seq, &r.t.TS, &r.t.Price, &r.t.Size); err != nil {
			return market.Tick{}, err
		}
		r.t.Symbol, r.t.Seq = symbol, uint64(r.seq)
		return r.t, nil
	})
}
