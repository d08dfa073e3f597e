package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/findash/findash/internal/market"
)

// persisterName is the log_position row WriteBatch keeps.
const persisterName = "persister"

var tickCols = []string{"symbol", "seq", "ts", "price", "size"}

// candleUpsert merges partial candles, passed as one array per column, into
// the stored ones with exactly the semantics of market.Candle.Merge. In an
// UPDATE every right-hand side sees the row as it was before the update,
// so the open/first_* (and close/last_*) conditions all compare against
// the old values.
const candleUpsert = `
INSERT INTO candles AS c (symbol, interval, start, open, high, low, close, volume, count, first_ts, first_seq, last_ts, last_seq)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::float8[],
	$8::float8[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[])
ON CONFLICT (symbol, interval, start) DO UPDATE SET
	high = greatest(c.high, excluded.high),
	low = least(c.low, excluded.low),
	volume = c.volume + excluded.volume,
	count = c.count + excluded.count,
	open = CASE WHEN excluded.first_ts < c.first_ts OR (excluded.first_ts = c.first_ts AND excluded.first_seq < c.first_seq) THEN excluded.open ELSE c.open END,
	first_ts = CASE WHEN excluded.first_ts < c.first_ts OR (excluded.first_ts = c.first_ts AND excluded.first_seq < c.first_seq) THEN excluded.first_ts ELSE c.first_ts END,
	first_seq = CASE WHEN excluded.first_ts < c.first_ts OR (excluded.first_ts = c.first_ts AND excluded.first_seq < c.first_seq) THEN excluded.first_seq ELSE c.first_seq END,
	close = CASE WHEN excluded.last_ts > c.last_ts OR (excluded.last_ts = c.last_ts AND excluded.last_seq > c.last_seq) THEN excluded.close ELSE c.close END,
	last_ts = CASE WHEN excluded.last_ts > c.last_ts OR (excluded.last_ts = c.last_ts AND excluded.last_seq > c.last_seq) THEN excluded.last_ts ELSE c.last_ts END,
	last_seq = CASE WHEN excluded.last_ts > c.last_ts OR (excluded.last_ts = c.last_ts AND excluded.last_seq > c.last_seq) THEN excluded.last_seq ELSE c.last_seq END`

// tickInsertIgnore is the slow path for a batch that repeats a stored tick.
const tickInsertIgnore = `
INSERT INTO ticks (symbol, seq, ts, price, size)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::float8[], $5::float8[])
ON CONFLICT DO NOTHING`

// writeMode is how WriteBatch stores ticks.
type writeMode int

const (
	writeCopy   writeMode = iota // COPY: the fast path
	writeIgnore                  // INSERT … ON CONFLICT DO NOTHING: after COPY hit a stored tick
)

// WriteBatch stores ticks and merges the partial candles rolled up from them
// (market.Rollup) in one transaction on the primary, and records logSeq as
// the persister's position in partition part (market.Unpartitioned for the
// unpartitioned log; the stored position is LogPosition(part)'s). The
// partition's position row is locked (FOR UPDATE, created if missing) first,
// so concurrent writers serialise. prevSeq is the position the batch's
// writer last wrote or read (0: none): a stored position below it means
// the database lost commits it acknowledged (a failover to a standby that
// had not received them, a restore), and WriteBatch writes nothing and
// returns an error matching market.ErrBehind — checked here, under the
// lock, because a multi-host URL or a pooler moves to the new server
// between two writes without any write failing. If logSeq is not above the stored
// position the batch was already written (a redelivery) and WriteBatch does
// nothing; if the position lies in [fromSeq, logSeq) (the batch holds the log
// messages fromSeq..logSeq) another writer stored part of it, and WriteBatch
// writes nothing and returns an error matching market.ErrConflict. Ticks go in with COPY; a tick already stored (same symbol, ts and
// seq) makes the COPY fail, and the batch is then retried once with an
// INSERT that skips stored ticks, so a tick is stored once. Empty candles
// (Count 0) are skipped; partials of the same candle are merged first. The
// day partitions the ticks need are created first if this instance has not
// seen them. On any error nothing is written. A candle with an invalid
// interval, a sequence above 2^63-1, or a partition below -1, is
// market.ErrInvalid.
func (db *DB) WriteBatch(ctx context.Context, part int, ticks []market.Tick, candles []market.Candle, prevSeq, fromSeq, logSeq uint64) error {
	if err := market.CheckBatch(part, ticks, logSeq); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	cc, err := candleColumns(candles)
	if err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	if err := db.ensurePartitions(ctx, ticks); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	order := market.KeyOrder(ticks)
	mode := writeCopy
	for attempt := 0; ; attempt++ {
		err = db.writeBatch(ctx, part, ticks, order, cc, prevSeq, fromSeq, logSeq, mode)
		if err == nil || attempt > 0 {
			break
		}
		var pe *pgconn.PgError
		switch {
		case !errors.As(err, &pe):
		case pe.Code == "23505" && pe.TableName != "candles" && mode == writeCopy:
			mode = writeIgnore // a stored tick: skip it this time
			continue
		case pe.Code == "23514" && pe.TableName == "ticks":
			// No partition for a row: another instance's retention
			// dropped one this instance thought existed.
			db.forgetPartitions()
			if err := db.ensurePartitions(ctx, ticks); err != nil {
				return fmt.Errorf("write batch: %w", err)
			}
			continue
		}
		break
	}
	if err != nil {
		return fmt.Errorf("write batch of %d ticks, %d candles: %w", len(ticks), cc.n, translate(err))
	}
	return nil
}

func (db *DB) writeBatch(ctx context.Context, part int, ticks []market.Tick, order []int32, cc *candleCols, prevSeq, fromSeq, logSeq uint64, mode writeMode) (err error) {
	tx, err := db.primary.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	pos, err := lockPosition(ctx, tx, persisterName, part)
	if err != nil {
		return err
	}
	if prevSeq > uint64(pos) { // the database lost what this writer wrote
		return fmt.Errorf("batch %d..%d after %d: position is %d: %w", fromSeq, logSeq, prevSeq, pos, market.ErrBehind)
	}
	if int64(logSeq) <= pos { // already applied
		return tx.Rollback(ctx)
	}
	if int64(fromSeq) <= pos { // another writer stored part of this batch
		return fmt.Errorf("batch %d..%d overlaps position %d: %w", fromSeq, logSeq, pos, market.ErrConflict)
	}
	if len(ticks) > 0 {
		if mode == writeCopy {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ticks"}, tickCols, &tickSource{ticks: ticks, order: order, i: -1}); err != nil {
				return fmt.Errorf("copy ticks: %w", err)
			}
		} else if _, err := tx.Exec(ctx, tickInsertIgnore, tickColumns(ticks)...); err != nil {
			return fmt.Errorf("insert ticks: %w", err)
		}
	}
	// The upsert and the new position go in one round trip.
	b := &pgx.Batch{}
	if cc.n > 0 {
		b.Queue(candleUpsert, cc.args()...)
	}
	b.Queue("UPDATE log_position SET seq = $3 WHERE name = $1 AND part = $2", persisterName, part, int64(logSeq))
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("upsert candles, set position: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// tickSource feeds ticks to CopyFrom in the given order, reusing one row.
type tickSource struct {
	ticks []market.Tick
	order []int32
	i     int
	row   [5]any
}

func (s *tickSource) Next() bool { s.i++; return s.i < len(s.order) }
func (s *tickSource) Err() error { return nil }
func (s *tickSource) Values() ([]any, error) {
	t := &s.ticks[s.order[s.i]]
	s.row[0], s.row[1], s.row[2], s.row[3], s.row[4] = t.Symbol, int64(t.Seq), t.TS, t.Price, t.Size
	return s.row[:], nil
}

func tickColumns(ticks []market.Tick) []any {
	sym, seq, ts, price, size := make([]string, len(ticks)), make([]int64, len(ticks)), make([]int64, len(ticks)), make([]float64, len(ticks)), make([]float64, len(ticks))
	for i := range ticks {
		t := &ticks[i]
		sym[i], seq[i], ts[i], price[i], size[i] = t.Symbol, int64(t.Seq), t.TS, t.Price, t.Size
	}
	return []any{sym, seq, ts, price, size}
}

// candleCols holds partial candles as one slice per column, for unnest.
type candleCols struct {
	n                                  int
	symbol, interval                   []string
	start, count                       []int64
	open, high, low, close, volume     []float64
	firstTS, firstSeq, lastTS, lastSeq []int64
}

func (c *candleCols) args() []any {
	return []any{c.symbol, c.interval, c.start, c.open, c.high, c.low, c.close, c.volume, c.count, c.firstTS, c.firstSeq, c.lastTS, c.lastSeq}
}

// candleColumns validates candles, drops empty ones, merges partials of the
// same candle (one statement may not update a row twice) and lays them out
// by column.
func candleColumns(candles []market.Candle) (*candleCols, error) {
	pos := make(map[market.CandleKey]int, len(candles))
	merged := make([]market.Candle, 0, len(candles))
	for i := range candles {
		c := &candles[i]
		if c.Count == 0 {
			continue
		}
		if c.Interval >= market.Interval(market.NumIntervals) {
			return nil, fmt.Errorf("candle %s: %w", c.Symbol, market.Invalid("interval", "%d is not an interval", c.Interval))
		}
		if c.FirstSeq > math.MaxInt64 || c.LastSeq > math.MaxInt64 {
			return nil, fmt.Errorf("candle %s: %w", c.Symbol, market.Invalid("seq", "exceeds 2^63-1"))
		}
		if j, ok := pos[c.Key()]; ok {
			merged[j].Merge(c)
			continue
		}
		pos[c.Key()] = len(merged)
		merged = append(merged, *c)
	}
	// In key order, the upsert walks the primary key's leaf pages in order
	// instead of jumping between them.
	slices.SortFunc(merged, func(a, b market.Candle) int {
		return cmp.Or(strings.Compare(a.Symbol, b.Symbol), strings.Compare(a.Interval.String(), b.Interval.String()), cmp.Compare(a.Start, b.Start))
	})
	n := len(merged)
	cc := &candleCols{
		n: n, symbol: make([]string, n), interval: make([]string, n), start: make([]int64, n), count: make([]int64, n),
		open: make([]float64, n), high: make([]float64, n), low: make([]float64, n), close: make([]float64, n), volume: make([]float64, n),
		firstTS: make([]int64, n), firstSeq: make([]int64, n), lastTS: make([]int64, n), lastSeq: make([]int64, n),
	}
	for i := range merged {
		c := &merged[i]
		cc.symbol[i], cc.interval[i], cc.start[i], cc.count[i] = c.Symbol, c.Interval.String(), c.Start, c.Count
		cc.open[i], cc.high[i], cc.low[i], cc.close[i], cc.volume[i] = c.Open, c.High, c.Low, c.Close, c.Volume
		cc.firstTS[i], cc.firstSeq[i], cc.lastTS[i], cc.lastSeq[i] = c.FirstTS, int64(c.FirstSeq), c.LastTS, int64(c.LastSeq)
	}
	return cc, nil
}

// LogPosition returns the last log sequence WriteBatch applied in
// partition part, read as market.Positions.Of reads it (for a partition,
// the unpartitioned position when larger; for market.Unpartitioned, the
// largest of all), 0 if none, read from the primary.
func (db *DB) LogPosition(ctx context.Context, part int) (uint64, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	pos, err := position(ctx, db.primary, persisterName, part)
	if err != nil {
		return 0, fmt.Errorf("log position: %w", err)
	}
	return uint64(pos), nil
}

// querier is what a pool and a transaction share.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// position returns reader name's stored position for partition part, as
// market.Positions.Of reads it. Errors are translated.
func position(ctx context.Context, q querier, name string, part int) (int64, error) {
	var pos *int64
	var err error
	if part == market.Unpartitioned {
		err = q.QueryRow(ctx, "SELECT max(seq) FROM log_position WHERE name = $1", name).Scan(&pos)
	} else {
		err = q.QueryRow(ctx, "SELECT max(seq) FROM log_position WHERE name = $1 AND part IN (-1, $2)", name, part).Scan(&pos)
	}
	if err != nil {
		return 0, fmt.Errorf("read position %s/%d: %w", name, part, translate(err))
	}
	if pos == nil { // no row
		return 0, nil
	}
	return *pos, nil
}

// positions returns every stored position of reader name.
func positions(ctx context.Context, q querier, name string) (market.Positions, error) {
	rows, err := q.Query(ctx, "SELECT part, seq FROM log_position WHERE name = $1", name)
	if err != nil {
		return nil, fmt.Errorf("read positions %s: %w", name, translate(err))
	}
	ps := market.Positions{}
	var part int32
	var seq int64
	_, err = pgx.ForEachRow(rows, []any{&part, &seq}, func() error {
		ps[int(part)] = uint64(seq)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read positions %s: %w", name, translate(err))
	}
	return ps, nil
}

const candleSelect = "symbol, interval, start, open, high, low, close, volume, count, first_ts, first_seq, last_ts, last_seq"

// newestCandles selects the newest candle of every (symbol, interval) but
// 1m. Symbols are enumerated with a recursive skip-scan over the primary
// key and each newest candle found with a backward index scan, so the cost
// grows with the number of symbols, not of candles.
const newestCandles = `
WITH RECURSIVE syms(s) AS (
	SELECT min(symbol) FROM candles
	UNION ALL
	SELECT (SELECT min(symbol) FROM candles WHERE symbol > s) FROM syms WHERE s IS NOT NULL
)
SELECT c.* FROM syms
CROSS JOIN (VALUES ('1s'), ('5m'), ('15m'), ('1h'), ('1d')) AS ivs(iv)
CROSS JOIN LATERAL (
	SELECT ` + candleSelect + ` FROM candles
	WHERE symbol = syms.s AND interval = ivs.iv ORDER BY start DESC LIMIT 1
) c
WHERE syms.s IS NOT NULL`

// lastDayMinutes selects, for every symbol, its 1m candles within 24 h of its
// newest 1m candle (start in (newest-24h, newest]), oldest first.
const lastDayMinutes = `
WITH RECURSIVE syms(s) AS (
	SELECT min(symbol) FROM candles
	UNION ALL
	SELECT (SELECT min(symbol) FROM candles WHERE symbol > s) FROM syms WHERE s IS NOT NULL
), newest AS (
	SELECT s, (SELECT max(start) FROM candles WHERE symbol = s AND interval = '1m') AS n FROM syms WHERE s IS NOT NULL
)
SELECT c.symbol, c.interval, c.start, c.open, c.high, c.low, c.close, c.volume, c.count, c.first_ts, c.first_seq, c.last_ts, c.last_seq
FROM newest JOIN candles c
	ON c.symbol = newest.s AND c.interval = '1m' AND c.start > newest.n - $1 AND c.start <= newest.n
WHERE newest.n IS NOT NULL
ORDER BY c.symbol, c.start`

// RestoreState returns, read from the primary in one consistent snapshot
// (so it matches the position), what market.State.Restore needs: the
// newest candle of every (symbol, interval) and every 1m candle within 24 h
// of each symbol's newest 1m candle (the newest 1m candle is among those,
// once), and the persister's log positions (one per partition), after which
// consumption of the log resumes.
func (db *DB) RestoreState(ctx context.Context) (candles []market.Candle, pos market.Positions, err error) {
	candles, pos, _, err = db.RestoreStateMarks(ctx)
	return candles, pos, err
}

// RestoreStateMarks is RestoreState with, read in the same snapshot, the
// import marks (ImportMarks): where live.ImportWatch starts, so that an
// import committed after the snapshot is noticed as one (decision 0048).
func (db *DB) RestoreStateMarks(ctx context.Context) (candles []market.Candle, pos market.Positions, marks map[string]int64, err error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	tx, err := db.primary.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("restore state: begin: %w", translate(err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // read-only: nothing to commit
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
// q.Limit <= 0), read from a replica (the primary when none is healthy). No
// candle is an empty slice and no error.
func (db *DB) Candles(ctx context.Context, q market.CandleQuery) ([]market.Candle, error) {
	if q.Interval >= market.Interval(market.NumIntervals) {
		return nil, fmt.Errorf("candles: %w", market.Invalid("interval", "%d is not an interval", q.Interval))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = market.DefaultLimit
	}
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	order := "start"
	if q.Newest {
		order = "start DESC"
	}
	var out []market.Candle
	err := db.read(ctx, func(ctx context.Context, p *pgxpool.Pool) (err error) {
		out, err = queryCandles(ctx, p, make([]market.Candle, 0, min(limit, 1024)),
			"SELECT "+candleSelect+" FROM candles WHERE symbol = $1 AND interval = $2 AND start >= $3 AND start <= $4 ORDER BY "+order+" LIMIT $5",
			q.Symbol, q.Interval.String(), q.From, q.To, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("candles %s %s: %w", q.Symbol, q.Interval, translate(err))
	}
	if q.Newest {
		slices.Reverse(out)
	}
	return out, nil
}

// queryCandles appends the candles query returns to dst. Errors are the
// driver's, untranslated (the caller translates, after routing decided).
func queryCandles(ctx context.Context, q querier, dst []market.Candle, query string, args ...any) ([]market.Candle, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return dst, err
	}
	return pgx.AppendRows(dst, rows, rowToCandle)
}

// rowToCandle converts a row of candleSelect; by position, as its interval
// is stored as text.
func rowToCandle(row pgx.CollectableRow) (market.Candle, error) {
	// One struct, so that what Scan's arguments make escape is one
	// allocation per row.
	var r struct {
		c                 market.Candle
		iv                string
		firstSeq, lastSeq int64
	}
	c := &r.c
	if err := row.Scan(&c.Symbol, &r.iv, &c.Start, &c.Open, &c.High, &c.Low, &c.Close, &c.Volume, &c.Count,
		&c.FirstTS, &r.firstSeq, &c.LastTS, &r.lastSeq); err != nil {
		return market.Candle{}, err
	}
	var err error
	if c.Interval, err = market.ParseInterval(r.iv); err != nil {
		return market.Candle{}, fmt.Errorf("stored candle %s: %w", c.Symbol, err)
	}
	c.FirstSeq, c.LastSeq = uint64(r.firstSeq), uint64(r.lastSeq)
	return r.c, nil
}

// Ticks returns the ticks of symbol with ts in [from, to], ordered by (ts,
// seq), at most limit (market.DefaultLimit when limit <= 0), read from a
// replica (the primary when none is healthy).
func (db *DB) Ticks(ctx context.Context, symbol string, from, to int64, limit int) ([]market.Tick, error) {
	if limit <= 0 {
		limit = market.DefaultLimit
	}
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	var out []market.Tick
	err := db.read(ctx, func(ctx context.Context, p *pgxpool.Pool) (err error) {
		out, err = queryTicks(ctx, p, symbol, limit,
			"SELECT seq, ts, price, size FROM ticks WHERE symbol = $1 AND ts >= $2 AND ts <= $3 ORDER BY ts, seq LIMIT $4",
			symbol, from, to, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ticks %s: %w", symbol, translate(err))
	}
	return out, nil
}
