package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/findash/findash/internal/market"
)

// tickImport inserts imported ticks, skipping stored ones, and names the
// rows it inserted: only those are rolled into candles (the slow path of
// insertTicks).
const tickImport = tickInsertIgnore + ` RETURNING seq`

// ImportTicks writes imported ticks of one symbol (history.Store), as the
// SQLite store does: ticks ordered by Seq, their import key. In one
// transaction on the primary, serialised per (symbol, source) by an
// advisory lock, it skips the ticks whose key lies in a range already
// imported from source for the symbol, inserts the others (insertTicks:
// COPY, or when one is somehow stored already, INSERT … ON CONFLICT DO
// NOTHING RETURNING, so that it adds nothing to a candle), merges the candles rolled up from those
// inserted, and records [first, last] key of the batch. It returns how many
// ticks it inserted. Ticks out of order, of several symbols or with a seq
// above 2^63-1 are market.ErrInvalid.
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
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	if err := db.ensurePartitions(ctx, ticks); err != nil {
		return 0, fmt.Errorf("import ticks: %w", err)
	}
	lo, hi := int64(ticks[0].Seq), int64(ticks[len(ticks)-1].Seq)
	err = db.importTicksTx(ctx, sym, source, lo, hi, ticks, &written)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23514" && pe.TableName == "ticks" {
		// No partition for a row: retention dropped an emptied day this
		// instance thought existed (an import into an expired day while
		// the sweep runs). Create it again and retry once, as WriteBatch does.
		db.forgetPartitions()
		if err := db.ensurePartitions(ctx, ticks); err != nil {
			return 0, fmt.Errorf("import ticks: %w", err)
		}
		err = db.importTicksTx(ctx, sym, source, lo, hi, ticks, &written)
	}
	if err != nil {
		return 0, fmt.Errorf("import %d ticks of %s: %w", len(ticks), sym, translate(err))
	}
	return written, nil
}

// importTicksTx is ImportTicks' transaction; it sets *written.
func (db *DB) importTicksTx(ctx context.Context, sym, source string, lo, hi int64, ticks []market.Tick, written *int) error {
	return db.importTx(ctx, sym, source, lo, hi, func(tx pgx.Tx, ranges [][2]int64) (bool, error) {
		fresh := market.FreshTicks(ticks, ranges)
		if len(fresh) == 0 {
			return false, nil
		}
		inserted, err := insertTicks(ctx, tx, fresh)
		if err != nil {
			return false, err
		}
		*written = len(fresh)
		if inserted != nil {
			*written = len(inserted)
		}
		r := market.NewRollup()
		for i := range fresh {
			if _, ok := inserted[int64(fresh[i].Seq)]; ok || inserted == nil {
				r.Add(&fresh[i])
			}
		}
		return true, upsertCandles(ctx, tx, r.Candles())
	})
}

// ImportCandles writes imported 1m candles (klines) of one symbol
// (history.Store), as the SQLite store does: ordered by FirstSeq, their
// import key. In one transaction (serialised per symbol and source) it
// skips the candles whose key lies in a range already imported from source
// for the symbol, merges the others into the stored 1m candles and into
// the coarser candles they roll up into (not 1s: a kline says nothing of
// its seconds), and records [first, last] key of the batch. It returns how
// many candles it merged. Candles not 1m, out of order, of several symbols,
// empty or with a seq above 2^63-1 are market.ErrInvalid.
func (db *DB) ImportCandles(ctx context.Context, source string, candles []market.Candle) (written int, err error) {
	if len(candles) == 0 {
		return 0, nil
	}
	sym := candles[0].Symbol
	if err := market.CheckKlines(candles); err != nil {
		return 0, fmt.Errorf("import candles: %w", err)
	}
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	lo, hi := int64(candles[0].FirstSeq), int64(candles[len(candles)-1].FirstSeq)
	err = db.importTx(ctx, sym, source, lo, hi, func(tx pgx.Tx, ranges [][2]int64) (bool, error) {
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
				parts = append(parts, p) // candleColumns merges partials of one candle
			}
		}
		if written == 0 {
			return false, nil
		}
		return true, upsertCandles(ctx, tx, parts)
	})
	if err != nil {
		return 0, fmt.Errorf("import %d candles of %s: %w", len(candles), sym, translate(err))
	}
	return written, nil
}

// insertTicks stores ticks: with COPY (in key order, as WriteBatch) under
// a savepoint, and when a tick is stored already (a unique violation), again
// with INSERT … ON CONFLICT DO NOTHING RETURNING, which names the ticks it
// inserted. It returns nil when COPY stored them all, else the set of
// inserted seqs. Other errors (a missing day partition: ImportTicks
// retries) are returned wrapped.
func insertTicks(ctx context.Context, tx pgx.Tx, ticks []market.Tick) (map[int64]struct{}, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	_, err = sp.CopyFrom(ctx, pgx.Identifier{"ticks"}, tickCols, &tickSource{ticks: ticks, order: market.KeyOrder(ticks), i: -1})
	if err == nil {
		if err := sp.Commit(ctx); err != nil {
			return nil, fmt.Errorf("release savepoint: %w", err)
		}
		return nil, nil
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if err := sp.Rollback(ctx); err != nil {
		return nil, fmt.Errorf("rollback to savepoint: %w", err)
	}
	rows, err := tx.Query(ctx, tickImport, tickColumns(ticks)...)
	if err != nil {
		return nil, fmt.Errorf("insert: %w", err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("insert: %w", err)
	}
	inserted := make(map[int64]struct{}, len(seqs))
	for _, s := range seqs {
		inserted[s] = struct{}{}
	}
	return inserted, nil
}

// importTx runs write in a transaction on the primary holding the
// advisory lock of (sym, source), with the import ranges of (sym, source)
// overlapping or adjacent to [lo, hi]; when write reports it wrote,
// [lo, hi] is recorded, merged with them, so a long import of consecutive
// batches keeps one row, not one per batch (each batch's lookup would scan
// them all: O(n²)).
func (db *DB) importTx(ctx context.Context, sym, source string, lo, hi int64, write func(pgx.Tx, [][2]int64) (bool, error)) error {
	return pgx.BeginFunc(ctx, db.primary, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('findash_import:' || $1 || ':' || $2, 0))", sym, source); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		alo, ahi := lo, hi // widened by one key each side, without overflow
		if alo > math.MinInt64 {
			alo--
		}
		if ahi < math.MaxInt64 {
			ahi++
		}
		rows, err := tx.Query(ctx, "SELECT lo, hi FROM import_ranges WHERE symbol = $1 AND source = $2 AND lo <= $3 AND hi >= $4 ORDER BY lo", sym, source, ahi, alo)
		if err != nil {
			return fmt.Errorf("read ranges: %w", err)
		}
		ranges, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]int64, error) {
			var v [2]int64
			err := r.Scan(&v[0], &v[1])
			return v, err
		})
		if err != nil {
			return fmt.Errorf("read ranges: %w", err)
		}
		wrote, err := write(tx, ranges)
		if err != nil || !wrote {
			return err
		}
		nlo, nhi := lo, hi
		if len(ranges) > 0 {
			nlo = min(lo, ranges[0][0])
			for _, r := range ranges {
				nhi = max(nhi, r[1])
			}
			if _, err := tx.Exec(ctx, "DELETE FROM import_ranges WHERE symbol = $1 AND source = $2 AND lo <= $3 AND hi >= $4", sym, source, ahi, alo); err != nil {
				return fmt.Errorf("merge ranges: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, "INSERT INTO import_ranges (symbol, source, lo, hi) VALUES ($1, $2, $3, $4)", sym, source, nlo, nhi); err != nil {
			return fmt.Errorf("record range: %w", err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO import_marks (symbol, writes) VALUES ($1, 1) ON CONFLICT (symbol) DO UPDATE SET writes = import_marks.writes + 1", sym); err != nil {
			return fmt.Errorf("mark import: %w", err)
		}
		return nil
	})
}

// importMarks reads the import marks and the persister's positions in one
// statement, so one snapshot: a row with a NULL symbol is a position
// (writes holding its seq).
const importMarks = "SELECT symbol, writes, 0 FROM import_marks UNION ALL SELECT NULL, seq, part FROM log_position WHERE name = $1"

// ImportMarks returns, per symbol, how many import batches have written
// its candles, and the persister's log positions (by partition) in the
// same snapshot: a count that changes tells an instance answering candles
// from memory that the store's changed without the event log, the
// positions how far the log's candles are stored (live.ImportWatch). It
// reads where Candles reads (a replica when there are some), so that the
// three agree.
func (db *DB) ImportMarks(ctx context.Context) (map[string]int64, market.Positions, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	out := make(map[string]int64)
	pos := market.Positions{}
	err := db.read(ctx, func(ctx context.Context, p *pgxpool.Pool) error {
		clear(out)
		clear(pos)
		rows, err := p.Query(ctx, importMarks, persisterName)
		if err != nil {
			return err
		}
		var sym *string
		var n int64
		var part int32
		_, err = pgx.ForEachRow(rows, []any{&sym, &n, &part}, func() error {
			if sym != nil {
				out[*sym] = n
			} else {
				pos[int(part)] = uint64(n)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("import marks: %w", translate(err))
	}
	return out, pos, nil
}

// upsertCandles merges candles into the stored ones (the candle merge rule
// of WriteBatch).
func upsertCandles(ctx context.Context, tx pgx.Tx, candles []market.Candle) error {
	cc, err := candleColumns(candles)
	if err != nil || cc.n == 0 {
		return err
	}
	if _, err := tx.Exec(ctx, candleUpsert, cc.args()...); err != nil {
		return fmt.Errorf("upsert %d candles: %w", cc.n, err)
	}
	return nil
}

// readMarks reads the import marks within tx (RestoreStateMarks).
func readMarks(ctx context.Context, tx pgx.Tx) (map[string]int64, error) {
	rows, err := tx.Query(ctx, "SELECT symbol, writes FROM import_marks")
	if err != nil {
		return nil, fmt.Errorf("import marks: %w", translate(err))
	}
	out := make(map[string]int64)
	var sym string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&sym, &n}, func() error { out[sym] = n; return nil }); err != nil {
		return nil, fmt.Errorf("import marks: %w", translate(err))
	}
	return out, nil
}
