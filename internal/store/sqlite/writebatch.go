package sqlite

import (
	"cmp"
	"context"
	"database/sql/driver"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/findash/findash/internal/market"
)

// persisterName is the log_position row WriteBatch keeps.
const persisterName = "persister"

var tickInsert = batchInsert{
	head:    "INSERT OR IGNORE INTO ticks (symbol, seq, ts, price, size)",
	cols:    5,
	rowsPer: 500,
}

// candleUpsert merges a partial candle into the stored one with exactly the
// semantics of market.Candle.Merge. In an UPDATE every right-hand side sees
// the row as it was before the update, so the open/first_* (and
// close/last_*) conditions all compare against the old values.
var candleUpsert = batchInsert{
	head: "INSERT INTO candles (symbol, interval, start, open, high, low, close, volume, count, first_ts, first_seq, last_ts, last_seq)",
	tail: `ON CONFLICT (symbol, interval, start) DO UPDATE SET
	high = max(high, excluded.high),
	low = min(low, excluded.low),
	volume = volume + excluded.volume,
	count = count + excluded.count,
	open = CASE WHEN excluded.first_ts < first_ts OR (excluded.first_ts = first_ts AND excluded.first_seq < first_seq) THEN excluded.open ELSE open END,
	first_ts = CASE WHEN excluded.first_ts < first_ts OR (excluded.first_ts = first_ts AND excluded.first_seq < first_seq) THEN excluded.first_ts ELSE first_ts END,
	first_seq = CASE WHEN excluded.first_ts < first_ts OR (excluded.first_ts = first_ts AND excluded.first_seq < first_seq) THEN excluded.first_seq ELSE first_seq END,
	close = CASE WHEN excluded.last_ts > last_ts OR (excluded.last_ts = last_ts AND excluded.last_seq > last_seq) THEN excluded.close ELSE close END,
	last_ts = CASE WHEN excluded.last_ts > last_ts OR (excluded.last_ts = last_ts AND excluded.last_seq > last_seq) THEN excluded.last_ts ELSE last_ts END,
	last_seq = CASE WHEN excluded.last_ts > last_ts OR (excluded.last_ts = last_ts AND excluded.last_seq > last_seq) THEN excluded.last_seq ELSE last_seq END`,
	cols:    13,
	rowsPer: 200,
}

// WriteBatch stores ticks and merges the partial candles rolled up from them
// (market.Rollup) in one transaction, and records logSeq as the persister's
// position in partition part (market.Unpartitioned for the unpartitioned
// log); the batch holds the log messages fromSeq..logSeq, and prevSeq is
// the position its writer last wrote or read (0: none). The stored
// position is LogPosition(part)'s, read in the transaction. Below prevSeq,
// the database lost commits (a restore from a backup): WriteBatch writes
// nothing and returns an error matching market.ErrBehind. If logSeq is
// not above the stored position the batch was already written (a
// redelivery) and WriteBatch does nothing; if the position lies in
// [fromSeq, logSeq) another writer stored part of it, and WriteBatch writes
// nothing and returns an error matching market.ErrConflict. Ticks already
// stored (same symbol, ts and seq: the table's key) are ignored. Empty
// candles (Count 0) are skipped. On any error nothing is written. A
// candle with an invalid interval, or a sequence above 2^63-1, or a
// partition below -1, is market.ErrInvalid; a busy database
// market.ErrUnavailable.
func (db *DB) WriteBatch(ctx context.Context, part int, ticks []market.Tick, candles []market.Candle, prevSeq, fromSeq, logSeq uint64) (err error) {
	if err := market.CheckBatch(part, ticks, logSeq); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	// The batch runs on the driver's connection itself (connRunner): its
	// rows are bound without database/sql converting every argument.
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("write batch: %w", translate(err))
	}
	defer conn.Close()
	if err := db.ck.bound(ctx, conn, db.log); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(rawConn)
		if !ok {
			return fmt.Errorf("write batch: driver connection %T lacks a method WriteBatch uses", dc)
		}
		return writeBatch(ctx, c, part, ticks, candles, prevSeq, fromSeq, logSeq)
	})
	if err == nil {
		db.ck.committed()
	}
	return err
}

// writeBatch is WriteBatch's transaction on the driver's connection c.
func writeBatch(ctx context.Context, c rawConn, part int, ticks []market.Tick, candles []market.Candle, prevSeq, fromSeq, logSeq uint64) (err error) {
	tx, err := c.BeginTx(ctx, driver.TxOptions{})
	if err != nil {
		return fmt.Errorf("write batch: begin: %w", translate(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	pos, err := rawPosition(ctx, c, persisterName, part)
	if err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	// An error returned rolls the transaction back (deferred).
	if prevSeq > uint64(pos) { // the database lost what this writer wrote
		return fmt.Errorf("write batch %d..%d after %d: position is %d: %w", fromSeq, logSeq, prevSeq, pos, market.ErrBehind)
	}
	if int64(logSeq) <= pos { // already applied (pos is 0 when nothing was)
		return tx.Rollback()
	}
	if int64(fromSeq) <= pos { // another writer stored part of this batch
		return fmt.Errorf("write batch %d..%d: position is %d: %w", fromSeq, logSeq, pos, market.ErrConflict)
	}
	r := connRunner{c}
	order := market.KeyOrder(ticks)
	err = tickInsert.exec(ctx, r, len(ticks), func(a []driver.NamedValue, i int) {
		t := &ticks[order[i]]
		a[0].Value, a[1].Value, a[2].Value, a[3].Value, a[4].Value = t.Symbol, int64(t.Seq), t.TS, t.Price, t.Size
	})
	if err != nil {
		return fmt.Errorf("write batch: insert %d ticks: %w", len(ticks), translate(err))
	}
	// Skip empty partials without copying the slice.
	idx := make([]int32, 0, len(candles))
	for i := range candles {
		c := &candles[i]
		if c.Count == 0 {
			continue
		}
		if c.Interval >= market.Interval(market.NumIntervals) {
			return fmt.Errorf("write batch: candle %s: %w", c.Symbol, market.Invalid("interval", "%d is not an interval", c.Interval))
		}
		if c.FirstSeq > math.MaxInt64 || c.LastSeq > math.MaxInt64 {
			return fmt.Errorf("write batch: candle %s: %w", c.Symbol, market.Invalid("seq", "exceeds 2^63-1"))
		}
		idx = append(idx, int32(i))
	}
	// In the table's key order too, for the reason of market.KeyOrder.
	// Partials of one candle keep their order in the batch: the upsert
	// merges them one after the other, and on a tie (the same first or
	// last tick) keeps the stored open and close, as market.Candle.Merge
	// keeps the first's; slices.SortFunc is not stable.
	slices.SortFunc(idx, func(a, b int32) int {
		x, y := &candles[a], &candles[b]
		return cmp.Or(strings.Compare(x.Symbol, y.Symbol), strings.Compare(x.Interval.String(), y.Interval.String()),
			cmp.Compare(x.Start, y.Start), cmp.Compare(a, b))
	})
	err = candleUpsert.exec(ctx, r, len(idx), func(a []driver.NamedValue, i int) {
		fillCandle(a, &candles[idx[i]])
	})
	if err != nil {
		return fmt.Errorf("write batch: upsert %d candles: %w", len(idx), translate(err))
	}
	err = r.exec(ctx, setPositionSQL, []driver.NamedValue{
		{Ordinal: 1, Value: persisterName}, {Ordinal: 2, Value: int64(part)}, {Ordinal: 3, Value: int64(logSeq)}})
	if err != nil {
		return fmt.Errorf("write batch: set position %s/%d: %w", persisterName, part, translate(err))
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("write batch: commit: %w", translate(err))
	}
	return nil
}

// fillCandle writes c's values into a, in candleUpsert's columns.
func fillCandle(a []driver.NamedValue, c *market.Candle) {
	a[0].Value, a[1].Value, a[2].Value, a[3].Value, a[4].Value = c.Symbol, c.Interval.String(), c.Start, c.Open, c.High
	a[5].Value, a[6].Value, a[7].Value, a[8].Value = c.Low, c.Close, c.Volume, c.Count
	a[9].Value, a[10].Value, a[11].Value, a[12].Value = c.FirstTS, int64(c.FirstSeq), c.LastTS, int64(c.LastSeq)
}

// rawPosition is position read on the driver's connection c.
func rawPosition(ctx context.Context, c rawConn, name string, part int) (int64, error) {
	q, args := positionOf, []driver.NamedValue{{Ordinal: 1, Value: name}, {Ordinal: 2, Value: int64(part)}}
	if part == market.Unpartitioned {
		q, args = positionMax, args[:1]
	}
	rows, err := c.QueryContext(ctx, q, args)
	if err != nil {
		return 0, fmt.Errorf("read position %s/%d: %w", name, part, translate(err))
	}
	defer rows.Close()
	v := make([]driver.Value, 1)
	if err := rows.Next(v); err != nil {
		return 0, fmt.Errorf("read position %s/%d: %w", name, part, translate(err))
	}
	switch pos := v[0].(type) {
	case nil: // no row: max is NULL
		return 0, nil
	case int64:
		return pos, nil
	default:
		return 0, fmt.Errorf("read position %s/%d: a %T", name, part, v[0])
	}
}
