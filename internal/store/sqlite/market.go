package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"

	"github.com/findash/findash/internal/market"
)

// LogPosition returns the last log sequence WriteBatch applied in
// partition part, read as market.Positions.Of reads it (for a partition,
// the unpartitioned position when larger; for market.Unpartitioned, the
// largest of all), 0 if none.
func (db *DB) LogPosition(ctx context.Context, part int) (uint64, error) {
	pos, err := position(ctx, db.r, persisterName, part)
	if err != nil {
		return 0, fmt.Errorf("log position: %w", err)
	}
	return uint64(pos), nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Reader name's stored position, as market.Positions.Of reads it: in
// partition ?2 (or the unpartitioned log's when larger), or the largest.
const (
	positionOf  = "SELECT max(seq) FROM log_position WHERE name = ? AND part IN (-1, ?)"
	positionMax = "SELECT max(seq) FROM log_position WHERE name = ?"
)

// setPositionSQL stores ?3 as reader ?1's position in partition ?2.
const setPositionSQL = "INSERT INTO log_position (name, part, seq) VALUES (?, ?, ?) ON CONFLICT (name, part) DO UPDATE SET seq = excluded.seq"

// position returns reader name's stored position for partition part, as
// market.Positions.Of reads it.
func position(ctx context.Context, q queryer, name string, part int) (int64, error) {
	var pos sql.NullInt64
	var err error
	if part == market.Unpartitioned {
		err = q.QueryRowContext(ctx, positionMax, name).Scan(&pos)
	} else {
		err = q.QueryRowContext(ctx, positionOf, name, part).Scan(&pos)
	}
	if err != nil {
		return 0, fmt.Errorf("read position %s/%d: %w", name, part, translate(err))
	}
	return pos.Int64, nil // NULL (no row): 0
}

// positions returns every stored position of reader name.
func positions(ctx context.Context, q queryer, name string) (market.Positions, error) {
	rows, err := q.QueryContext(ctx, "SELECT part, seq FROM log_position WHERE name = ?", name)
	if err != nil {
		return nil, fmt.Errorf("read positions %s: %w", name, translate(err))
	}
	defer rows.Close()
	ps := market.Positions{}
	for rows.Next() {
		var part int
		var seq int64
		if err := rows.Scan(&part, &seq); err != nil {
			return nil, fmt.Errorf("read positions %s: %w", name, translate(err))
		}
		ps[part] = uint64(seq)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read positions %s: %w", name, translate(err))
	}
	return ps, nil
}

// setPosition stores seq as reader name's position in partition part.
func setPosition(ctx context.Context, tx *sql.Tx, name string, part int, seq uint64) error {
	_, err := tx.ExecContext(ctx, setPositionSQL, name, part, int64(seq))
	if err != nil {
		return fmt.Errorf("set position %s/%d: %w", name, part, translate(err))
	}
	return nil
}

const candleCols = "symbol, interval, start, open, high, low, close, volume, count, first_ts, first_seq, last_ts, last_seq"

// newestCandles selects the newest candle of every (symbol, interval) but
// 1m. Symbols are enumerated with a recursive skip-scan over the primary key
// and each newest start found with the min/max optimisation, so the cost
// grows with the number of symbols, not of candles.
const newestCandles = `
WITH RECURSIVE syms(s) AS (
	SELECT min(symbol) FROM candles
	UNION ALL
	SELECT (SELECT min(symbol) FROM candles WHERE symbol > s) FROM syms WHERE s IS NOT NULL
), ivs(iv) AS (VALUES ('1s'), ('5m'), ('15m'), ('1h'), ('1d'))
SELECT c.symbol, c.interval, c.start, c.open, c.high, c.low, c.close, c.volume, c.count, c.first_ts, c.first_seq, c.last_ts, c.last_seq
FROM syms JOIN ivs JOIN candles c
	ON c.symbol = syms.s AND c.interval = ivs.iv
	AND c.start = (SELECT max(start) FROM candles WHERE symbol = syms.s AND interval = ivs.iv)
WHERE syms.s IS NOT NULL`

// lastDayMinutes selects, for every symbol, its 1m candles within 24 h of its
// newest 1m candle (start in (newest-24h, newest]), oldest first.
const lastDayMinutes = `
WITH RECURSIVE syms(s) AS (
	SELECT min(symbol) FROM candles
	UNION ALL
	SELECT (SELECT min(symbol) FROM candles WHERE symbol > s) FROM syms WHERE s IS NOT NULL
), newest(s, n) AS (
	SELECT s, (SELECT max(start) FROM candles WHERE symbol = s AND interval = '1m') FROM syms WHERE s IS NOT NULL
)
SELECT c.symbol, c.interval, c.start, c.open, c.high, c.low, c.close, c.volume, c.count, c.first_ts, c.first_seq, c.last_ts, c.last_seq
FROM newest JOIN candles c
	ON c.symbol = newest.s AND c.interval = '1m' AND c.start > newest.n - ? AND c.start <= newest.n
WHERE newest.n IS NOT NULL
ORDER BY c.symbol, c.start`

// RestoreState returns, read in one consistent snapshot, what
// market.State.Restore needs: the newest candle of every (symbol, interval)
// and every 1m candle within 24 h of each symbol's newest 1m candle (the
// newest 1m candle is among those, once), and the persister's log positions
// (one per partition), after which consumption of the log resumes.
func (db *DB) RestoreState(ctx context.Context) (candles []market.Candle, pos market.Positions, err error) {
	candles, pos, _, err = db.RestoreStateMarks(ctx)
	return candles, pos, err
}

// RestoreStateMarks is RestoreState with, read in the same snapshot, the
// import marks (ImportMarks): where live.ImportWatch starts, so that an
// import committed after the snapshot is noticed as one (decision 0048).
func (db *DB) RestoreStateMarks(ctx context.Context) (candles []market.Candle, pos market.Positions, marks map[string]int64, err error) {
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("restore state: begin: %w", translate(err))
	}
	defer tx.Rollback() // read-only: nothing to commit
	if pos, err = positions(ctx, tx, persisterName); err != nil {
		return nil, nil, nil, fmt.Errorf("restore state: %w", err)
	}
	if candles, err = queryCandles(ctx, tx, candles, newestCandles); err != nil {
		return nil, nil, nil, fmt.Errorf("restore state: newest candles: %w", err)
	}
	if candles, err = queryCandles(ctx, tx, candles, lastDayMinutes, market.Window24h); err != nil {
		return nil, nil, nil, fmt.Errorf("restore state: last day of 1m candles: %w", err)
	}
	if marks, err = readMarks(ctx, tx); err != nil {
		return nil, nil, nil, fmt.Errorf("restore state: %w", err)
	}
	return candles, pos, marks, nil
}

// Candles returns the candles of q.Symbol and q.Interval whose start lies in
// [q.From, q.To], oldest first, at most q.Limit (market.DefaultLimit when
// q.Limit <= 0). No candle is an empty slice and no error.
func (db *DB) Candles(ctx context.Context, q market.CandleQuery) ([]market.Candle, error) {
	if q.Interval >= market.Interval(market.NumIntervals) {
		return nil, fmt.Errorf("candles: %w", market.Invalid("interval", "%d is not an interval", q.Interval))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = market.DefaultLimit
	}
	order := "start"
	if q.Newest {
		order = "start DESC"
	}
	out, err := queryCandles(ctx, db.r, make([]market.Candle, 0, min(limit, 1024)),
		"SELECT "+candleCols+" FROM candles WHERE symbol = ? AND interval = ? AND start >= ? AND start <= ? ORDER BY "+order+" LIMIT ?",
		q.Symbol, q.Interval.String(), q.From, q.To, limit)
	if err != nil {
		return nil, fmt.Errorf("candles %s %s: %w", q.Symbol, q.Interval, err)
	}
	if q.Newest {
		slices.Reverse(out)
	}
	return out, nil
}

func queryCandles(ctx context.Context, q queryer, dst []market.Candle, query string, args ...any) ([]market.Candle, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return dst, translate(err)
	}
	defer rows.Close()
	var iv string
	var firstSeq, lastSeq int64
	for rows.Next() {
		var c market.Candle
		if err := rows.Scan(&c.Symbol, &iv, &c.Start, &c.Open, &c.High, &c.Low, &c.Close, &c.Volume, &c.Count,
			&c.FirstTS, &firstSeq, &c.LastTS, &lastSeq); err != nil {
			return dst, translate(err)
		}
		if c.Interval, err = market.ParseInterval(iv); err != nil {
			return dst, fmt.Errorf("stored candle %s: %w", c.Symbol, err)
		}
		c.FirstSeq, c.LastSeq = uint64(firstSeq), uint64(lastSeq)
		dst = append(dst, c)
	}
	return dst, translate(rows.Err())
}

// Ticks returns the ticks of symbol with ts in [from, to], ordered by (ts,
// seq), at most limit (market.DefaultLimit when limit <= 0).
func (db *DB) Ticks(ctx context.Context, symbol string, from, to int64, limit int) ([]market.Tick, error) {
	if limit <= 0 {
		limit = market.DefaultLimit
	}
	return queryTicks(ctx, db.r, symbol, limit, ticksRange, symbol, from, to, limit)
}

// Queries on ticks, keyed (symbol, ts, seq) with no other index (decision
// 0076): each seeks the primary key, none sorts (TestQueryPlans).
const (
	// ticksRange: symbol's ticks with ts in [?2, ?3], (ts, seq) order, at most ?4.
	ticksRange = "SELECT seq, ts, price, size FROM ticks WHERE symbol = ? AND ts >= ? AND ts <= ? ORDER BY ts, seq LIMIT ?"
	// ticksAfter: symbol's ticks after (ts ?2, seq ?3) with ts <= ?4, (ts,
	// seq) order, at most ?5.
	ticksAfter = "SELECT seq, ts, price, size FROM ticks WHERE symbol = ? AND (ts, seq) > (?, ?) AND ts <= ? ORDER BY ts, seq LIMIT ?"
	// deleteTicksChunk deletes at most ?3 of symbol ?1's ticks with ts < ?2.
	deleteTicksChunk = "DELETE FROM ticks WHERE symbol = ?1 AND (ts, seq) IN (SELECT ts, seq FROM ticks WHERE symbol = ?1 AND ts < ?2 LIMIT ?3)"
	// deleteTicksRange deletes symbol's ticks with ts in [?2, ?3).
	deleteTicksRange = "DELETE FROM ticks WHERE symbol = ? AND ts >= ? AND ts < ?"
	// tickSymbolsSkipScan lists the distinct symbols of ticks, one seek each.
	tickSymbolsSkipScan = `
WITH RECURSIVE syms(s) AS (
	SELECT min(symbol) FROM ticks
	UNION ALL
	SELECT (SELECT min(symbol) FROM ticks WHERE symbol > s) FROM syms WHERE s IS NOT NULL
) SELECT s FROM syms WHERE s IS NOT NULL`
)

// queryTicks runs query, which selects seq, ts, price, size of symbol's
// ticks, and returns them (limit sizes the slice); errors are translated and
// wrapped with the symbol.
func queryTicks(ctx context.Context, q queryer, symbol string, limit int, query string, args ...any) ([]market.Tick, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("ticks %s: %w", symbol, translate(err))
	}
	defer rows.Close()
	out := make([]market.Tick, 0, min(limit, 1024))
	for rows.Next() {
		t := market.Tick{Symbol: symbol}
		var seq int64
		if err := rows.Scan(&seq, &t.TS, &t.Price, &t.Size); err != nil {
			return nil, fmt.Errorf("ticks %s: %w", symbol, translate(err))
		}
		t.Seq = uint64(seq)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ticks %s: %w", symbol, translate(err))
	}
	return out, nil
}

// TicksAfter returns up to limit ticks of symbol after (afterTS, afterSeq)
// in (ts, seq) order, with ts <= to: a keyset read, so a page cursor inside
// a millisecond of many ticks costs no rows before it (GET
// /api/v1/ticks/{symbol}). One seek of the primary key on the row value
// (ts, seq). An afterSeq above 2^63-1 (no stored seq is) means after every
// tick of afterTS.
func (db *DB) TicksAfter(ctx context.Context, symbol string, afterTS int64, afterSeq uint64, to int64, limit int) ([]market.Tick, error) {
	if limit <= 0 {
		limit = market.DefaultLimit
	}
	if afterSeq > math.MaxInt64 {
		return db.Ticks(ctx, symbol, afterTS+1, to, limit)
	}
	return queryTicks(ctx, db.r, symbol, limit, ticksAfter, symbol, afterTS, int64(afterSeq), to, limit)
}

// deleteChunk bounds how many ticks one retention statement removes, so the
// write lock is held for milliseconds and persister batches interleave.
const deleteChunk = 5000

// DeleteTicksBefore deletes every tick with ts < ts and returns how many it
// deleted. It works symbol by symbol in chunks of deleteChunk rows, each its
// own short transaction, so it never holds the write lock long; if ctx ends
// midway it returns what it deleted so far with ctx's error.
func (db *DB) DeleteTicksBefore(ctx context.Context, ts int64) (int64, error) {
	syms, err := db.tickSymbols(ctx)
	if err != nil {
		return 0, fmt.Errorf("delete ticks before %d: %w", ts, err)
	}
	var total int64
	for _, sym := range syms {
		for {
			res, err := db.w.ExecContext(ctx, deleteTicksChunk, sym, ts, deleteChunk)
			if err != nil {
				return total, fmt.Errorf("delete ticks of %s before %d: %w", sym, ts, translate(err))
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, fmt.Errorf("delete ticks of %s before %d: %w", sym, ts, translate(err))
			}
			total += n
			if n < deleteChunk {
				break
			}
		}
	}
	return total, nil
}

// DeleteTicksCounted deletes symbol's ticks with ts in [from, to) if
// exactly want are stored, in one transaction (under SQLite's write lock,
// so no write lands between the count and the delete), and nothing
// otherwise. It returns how many it found and whether it deleted them.
// Retention deletes an archived day through it: a day an import wrote
// into after the archiver read it has more ticks than the archiver read.
// One statement per (symbol, day): the write lock is held for as long as
// deleting a busy symbol's day takes (about a second per million ticks).
func (db *DB) DeleteTicksCounted(ctx context.Context, symbol string, from, to, want int64) (int64, bool, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, fmt.Errorf("delete ticks of %s in [%d, %d): %w", symbol, from, to, translate(err))
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, deleteTicksRange, symbol, from, to)
	if err != nil {
		return 0, false, fmt.Errorf("delete ticks of %s in [%d, %d): %w", symbol, from, to, translate(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, false, fmt.Errorf("delete ticks of %s in [%d, %d): %w", symbol, from, to, translate(err))
	}
	if n != want {
		return n, false, nil // the deferred rollback keeps them
	}
	if err := tx.Commit(); err != nil {
		return 0, false, fmt.Errorf("delete ticks of %s in [%d, %d): %w", symbol, from, to, translate(err))
	}
	return n, true, nil
}

// TickSymbols lists the symbols that have ticks stored, in byte order
// (the tick archive walks them).
func (db *DB) TickSymbols(ctx context.Context) ([]string, error) {
	syms, err := db.tickSymbols(ctx)
	if err != nil {
		return nil, fmt.Errorf("tick symbols: %w", err)
	}
	return syms, nil
}

// tickSymbols lists the distinct symbols of ticks with a skip-scan over the
// primary key.
func (db *DB) tickSymbols(ctx context.Context) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, tickSymbolsSkipScan)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, translate(err)
		}
		out = append(out, s)
	}
	return out, translate(rows.Err())
}
