package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"

	"github.com/findash/findash/internal/market"
)

// ImportTicks writes imported ticks of one symbol (history.Store): ticks
// ordered by Seq, their import key. In one transaction it skips the ticks
// whose key lies in a range already imported from source for the symbol,
// inserts the others (ignoring one already stored), merges the candles
// rolled up from those inserted, and records [first, last] key of the
// batch. It returns how many ticks it inserted. Ticks out of order, of
// several symbols or with a seq above 2^63-1 are market.ErrInvalid.
func (db *DB) ImportTicks(ctx context.Context, source string, ticks []market.Tick) (written int, err error) {
	if len(ticks) == 0 {
		return 0, nil
	}
	sym := ticks[0].Symbol
	for i := range ticks {
		if ticks[i].Symbol != sym || ticks[i].Seq > math.MaxInt64 || (i > 0 && ticks[i].Seq <= ticks[i-1].Seq) {
			return 0, fmt.Errorf("import ticks: %w", market.Invalid("ticks", "one symbol, seqs increasing and below 2^63"))
		}
	}
	lo, hi := int64(ticks[0].Seq), int64(ticks[len(ticks)-1].Seq)
	if err := db.onWriter(ctx, func(c *sql.Conn) error { return db.ck.bound(ctx, c, db.log) }); err != nil {
		return 0, fmt.Errorf("import ticks: %w", err)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("import ticks: begin: %w", translate(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	ranges, err := importRanges(ctx, tx, sym, source, lo, hi)
	if err != nil {
		return 0, fmt.Errorf("import ticks: %w", err)
	}
	fresh := market.FreshTicks(ticks, ranges)
	// INSERT OR IGNORE … RETURNING names the rows inserted, so a tick that
	// is somehow stored already adds nothing to a candle.
	inserted := make(map[int64]struct{}, len(fresh))
	for off := 0; off < len(fresh); off += tickInsert.rowsPer {
		part := fresh[off:min(off+tickInsert.rowsPer, len(fresh))]
		args := make([]any, 0, len(part)*5)
		for i := range part {
			t := &part[i]
			args = append(args, t.Symbol, int64(t.Seq), t.TS, t.Price, t.Size)
		}
		rows, err := tx.QueryContext(ctx, tickInsert.sql(len(part))+" RETURNING seq", args...)
		if err != nil {
			return 0, fmt.Errorf("import ticks: insert: %w", translate(err))
		}
		for rows.Next() {
			var s int64
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return 0, fmt.Errorf("import ticks: insert: %w", translate(err))
			}
			inserted[s] = struct{}{}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("import ticks: insert: %w", translate(err))
		}
	}
	r := market.NewRollup()
	for i := range fresh {
		if _, ok := inserted[int64(fresh[i].Seq)]; ok {
			r.Add(&fresh[i])
		}
	}
	candles := r.Candles()
	err = candleUpsert.exec(ctx, newTxRunner(tx), len(candles), func(a []driver.NamedValue, i int) {
		fillCandle(a, &candles[i])
	})
	if err != nil {
		return 0, fmt.Errorf("import ticks: upsert %d candles: %w", len(candles), translate(err))
	}
	if len(fresh) > 0 {
		if err := recordRange(ctx, tx, sym, source, lo, hi, ranges); err != nil {
			return 0, fmt.Errorf("import ticks: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return 0, fmt.Errorf("import ticks: commit: %w", translate(err))
	}
	db.ck.committed()
	return len(inserted), nil
}

// ImportCandles writes imported 1m candles (klines) of one symbol
// (history.Store), ordered by FirstSeq, their import key. In one
// transaction it skips the candles whose key lies in a range already
// imported from source for the symbol, merges the others into the stored
// 1m candles and into the coarser candles they roll up into (not 1s: a
// kline says nothing of its seconds), and records [first, last] key of the
// batch. It returns how many candles it merged. Candles not 1m, out of
// order, of several symbols, empty or with a seq above 2^63-1 are
// market.ErrInvalid.
func (db *DB) ImportCandles(ctx context.Context, source string, candles []market.Candle) (written int, err error) {
	if len(candles) == 0 {
		return 0, nil
	}
	sym := candles[0].Symbol
	if err := market.CheckKlines(candles); err != nil {
		return 0, fmt.Errorf("import candles: %w", err)
	}
	lo, hi := int64(candles[0].FirstSeq), int64(candles[len(candles)-1].FirstSeq)
	if err := db.onWriter(ctx, func(c *sql.Conn) error { return db.ck.bound(ctx, c, db.log) }); err != nil {
		return 0, fmt.Errorf("import candles: %w", err)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("import candles: begin: %w", translate(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	ranges, err := importRanges(ctx, tx, sym, source, lo, hi)
	if err != nil {
		return 0, fmt.Errorf("import candles: %w", err)
	}
	// Partial candles of every interval from 1m up, merged per bucket so one
	// upsert per stored candle.
	idx := map[market.CandleKey]int{}
	var parts []market.Candle
	done := market.NewImportedRanges(ranges)
	for i := range candles {
		c := &candles[i]
		if done.Covers(int64(c.FirstSeq)) {
			continue // imported before
		}
		written++
		for _, iv := range market.Intervals[market.Interval1m:] {
			p := *c
			p.Interval, p.Start = iv, iv.Start(c.Start)
			key := p.Key()
			if n, ok := idx[key]; ok {
				parts[n].Merge(&p)
				continue
			}
			idx[key] = len(parts)
			parts = append(parts, p)
		}
	}
	err = candleUpsert.exec(ctx, newTxRunner(tx), len(parts), func(a []driver.NamedValue, i int) {
		fillCandle(a, &parts[i])
	})
	if err != nil {
		return 0, fmt.Errorf("import candles: upsert %d candles: %w", len(parts), translate(err))
	}
	if written > 0 {
		if err := recordRange(ctx, tx, sym, source, lo, hi, ranges); err != nil {
			return 0, fmt.Errorf("import candles: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return 0, fmt.Errorf("import candles: commit: %w", translate(err))
	}
	db.ck.committed()
	return written, nil
}

// adjacent widens [lo, hi] by one key each side (without overflow): the
// import ranges to merge with [lo, hi] are those that overlap or touch it.
func adjacent(lo, hi int64) (int64, int64) {
	if lo > math.MinInt64 {
		lo--
	}
	if hi < math.MaxInt64 {
		hi++
	}
	return lo, hi
}

// importRanges returns the import ranges of (sym, source) overlapping or
// adjacent to [lo, hi], in order: merged with it when recorded, so a long
// import of consecutive batches keeps one row, not one per batch (each
// batch's lookup would scan them all: O(n²)).
func importRanges(ctx context.Context, tx *sql.Tx, sym, source string, lo, hi int64) ([][2]int64, error) {
	alo, ahi := adjacent(lo, hi)
	rows, err := tx.QueryContext(ctx, "SELECT lo, hi FROM import_ranges WHERE symbol = ? AND source = ? AND lo <= ? AND hi >= ? ORDER BY lo", sym, source, ahi, alo)
	if err != nil {
		return nil, fmt.Errorf("read ranges: %w", translate(err))
	}
	defer rows.Close()
	var ranges [][2]int64
	for rows.Next() {
		var r [2]int64
		if err := rows.Scan(&r[0], &r[1]); err != nil {
			return nil, fmt.Errorf("read ranges: %w", translate(err))
		}
		ranges = append(ranges, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read ranges: %w", translate(err))
	}
	return ranges, nil
}

// recordRange records the batch's range [lo, hi], merged with the ranges
// it overlaps or touches (importRanges) so their number stays small.
func recordRange(ctx context.Context, tx *sql.Tx, sym, source string, lo, hi int64, ranges [][2]int64) error {
	nlo, nhi := lo, hi
	if len(ranges) > 0 {
		nlo = min(lo, ranges[0][0])
		for _, r := range ranges {
			nhi = max(nhi, r[1])
		}
		alo, ahi := adjacent(lo, hi)
		if _, err := tx.ExecContext(ctx, "DELETE FROM import_ranges WHERE symbol = ? AND source = ? AND lo <= ? AND hi >= ?", sym, source, ahi, alo); err != nil {
			return fmt.Errorf("merge ranges: %w", translate(err))
		}
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO import_ranges (symbol, source, lo, hi) VALUES (?, ?, ?, ?)", sym, source, nlo, nhi); err != nil {
		return fmt.Errorf("record range: %w", translate(err))
	}
	if _, err := tx.ExecContext(ctx, importMark, sym); err != nil {
		return fmt.Errorf("mark import: %w", translate(err))
	}
	return nil
}

// importMark counts a batch that wrote sym's candles (ImportMarks).
const importMark = "INSERT INTO import_marks (symbol, writes) VALUES (?, 1) ON CONFLICT (symbol) DO UPDATE SET writes = writes + 1"

// importMarks reads the import marks and the persister's positions in one
// statement, so one snapshot: a row with a NULL symbol is a position
// (writes holding its seq).
const importMarks = "SELECT symbol, writes, 0 FROM import_marks UNION ALL SELECT NULL, seq, part FROM log_position WHERE name = ?"

// ImportMarks returns, per symbol, how many import batches have written
// its candles, and the persister's log positions (by partition) in the
// same snapshot: a count that changes tells an instance answering candles
// from memory that the store's changed without the event log, the
// positions how far the log's candles are stored (live.ImportWatch).
func (db *DB) ImportMarks(ctx context.Context) (map[string]int64, market.Positions, error) {
	rows, err := db.r.QueryContext(ctx, importMarks, persisterName)
	if err != nil {
		return nil, nil, fmt.Errorf("import marks: %w", translate(err))
	}
	defer rows.Close()
	out := make(map[string]int64)
	pos := market.Positions{}
	for rows.Next() {
		var sym sql.NullString
		var n int64
		var part int
		if err := rows.Scan(&sym, &n, &part); err != nil {
			return nil, nil, fmt.Errorf("import marks: %w", translate(err))
		}
		if sym.Valid {
			out[sym.String] = n
		} else {
			pos[part] = uint64(n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("import marks: %w", translate(err))
	}
	return out, pos, nil
}

// readMarks reads the import marks within tx (RestoreStateMarks).
func readMarks(ctx context.Context, tx *sql.Tx) (map[string]int64, error) {
	rows, err := tx.QueryContext(ctx, "SELECT symbol, writes FROM import_marks")
	if err != nil {
		return nil, fmt.Errorf("import marks: %w", translate(err))
	}
	defer rows.Close()
	out := make(map[string]int64)
	for rows.Next() {
		var sym string
		var n int64
		if err := rows.Scan(&sym, &n); err != nil {
			return nil, fmt.Errorf("import marks: %w", translate(err))
		}
		out[sym] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("import marks: %w", translate(err))
	}
	return out, nil
}
