package sqlite

import (
	"context"
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
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("import ticks: begin: %w", translate(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	// The ranges overlapping [lo, hi], in order.
	rows, err := tx.QueryContext(ctx, "SELECT lo, hi FROM import_ranges WHERE symbol = ? AND source = ? AND lo <= ? AND hi >= ? ORDER BY lo", sym, source, hi, lo)
	if err != nil {
		return 0, fmt.Errorf("import ticks: read ranges: %w", translate(err))
	}
	var ranges [][2]int64
	for rows.Next() {
		var r [2]int64
		if err := rows.Scan(&r[0], &r[1]); err != nil {
			rows.Close()
			return 0, fmt.Errorf("import ticks: read ranges: %w", translate(err))
		}
		ranges = append(ranges, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("import ticks: read ranges: %w", translate(err))
	}
	fresh := ticks
	if len(ranges) > 0 {
		fresh = make([]market.Tick, 0, len(ticks))
		j := 0
		for _, t := range ticks {
			k := int64(t.Seq)
			for j < len(ranges) && ranges[j][1] < k {
				j++
			}
			if j < len(ranges) && ranges[j][0] <= k {
				continue // imported before
			}
			fresh = append(fresh, t)
		}
	}
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
	err = candleUpsert.exec(ctx, tx, len(candles), func(a []any, i int) {
		c := &candles[i]
		a[0], a[1], a[2], a[3], a[4], a[5], a[6] = c.Symbol, c.Interval.String(), c.Start, c.Open, c.High, c.Low, c.Close
		a[7], a[8], a[9], a[10], a[11], a[12] = c.Volume, c.Count, c.FirstTS, int64(c.FirstSeq), c.LastTS, int64(c.LastSeq)
	})
	if err != nil {
		return 0, fmt.Errorf("import ticks: upsert %d candles: %w", len(candles), translate(err))
	}
	if len(fresh) > 0 {
		// Record the batch's range, merged with the ranges it overlaps so
		// their number stays small.
		nlo, nhi := lo, hi
		if len(ranges) > 0 {
			nlo = min(lo, ranges[0][0])
			for _, r := range ranges {
				nhi = max(nhi, r[1])
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM import_ranges WHERE symbol = ? AND source = ? AND lo <= ? AND hi >= ?", sym, source, hi, lo); err != nil {
				return 0, fmt.Errorf("import ticks: merge ranges: %w", translate(err))
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO import_ranges (symbol, source, lo, hi) VALUES (?, ?, ?, ?)", sym, source, nlo, nhi); err != nil {
			return 0, fmt.Errorf("import ticks: record range: %w", translate(err))
		}
	}
	if err = tx.Commit(); err != nil {
		return 0, fmt.Errorf("import ticks: commit: %w", translate(err))
	}
	return len(inserted), nil
}
