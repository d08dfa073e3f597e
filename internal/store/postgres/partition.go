package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/findash/findash/internal/market"
)

// dayMs is one partition's span: a UTC day in ms.
const dayMs = 86_400_000

// dayOf returns the day number of ts (ms since epoch, UTC), rounding down.
func dayOf(ts int64) int64 {
	d := ts / dayMs
	if ts%dayMs < 0 {
		d--
	}
	return d
}

// partitionName is the ticks partition of day d: ticks_pYYYYMMDD.
func partitionName(d int64) string {
	return "ticks_p" + time.UnixMilli(d*dayMs).UTC().Format("20060102")
}

// parsePartition returns the day of a partition named by partitionName.
func parsePartition(name string) (int64, bool) {
	s, ok := strings.CutPrefix(name, "ticks_p")
	if !ok {
		return 0, false
	}
	t, err := time.Parse("20060102", s)
	if err != nil {
		return 0, false
	}
	return dayOf(t.UnixMilli()), true
}

// ensurePartitions makes sure the partition of every tick's day exists,
// creating the missing ones. Days known to exist are remembered, so in the
// steady state this costs a scan of the batch and no round trip.
func (db *DB) ensurePartitions(ctx context.Context, ticks []market.Tick) error {
	var days []int64
	last := int64(-1 << 62)
	db.partMu.Lock()
	for i := range ticks {
		d := dayOf(ticks[i].TS)
		if d == last {
			continue
		}
		last = d
		if !db.parts[d] && !slices.Contains(days, d) {
			days = append(days, d)
		}
	}
	db.partMu.Unlock()
	if len(days) == 0 {
		return nil
	}
	return db.createPartitions(ctx, days)
}

// forgetPartitions drops what this instance knows about existing
// partitions (another instance may have dropped some).
func (db *DB) forgetPartitions() {
	db.partMu.Lock()
	clear(db.parts)
	db.partMu.Unlock()
}

// createPartitions creates the ticks partitions of days that do not exist
// yet, in one transaction holding the partition advisory lock (so
// instances do not race on the catalog), and remembers all of days.
func (db *DB) createPartitions(ctx context.Context, days []int64) error {
	err := pgx.BeginFunc(ctx, db.primary, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", partitionLockID); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		for _, d := range days {
			name := partitionName(d)
			var exists bool
			if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil {
				return fmt.Errorf("look up %s: %w", name, err)
			}
			if exists {
				continue
			}
			// name is built from a date: safe to splice.
			q := fmt.Sprintf("CREATE TABLE %s PARTITION OF ticks FOR VALUES FROM (%d) TO (%d)", name, d*dayMs, (d+1)*dayMs)
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("create %s: %w", name, err)
			}
			db.log.Info("tick partition created", "partition", name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create tick partitions: %w", translate(err))
	}
	db.partMu.Lock()
	for _, d := range days {
		db.parts[d] = true
	}
	db.partMu.Unlock()
	return nil
}

// MaintainPartitions creates the ticks partitions of now's UTC day and of
// the Config.PartitionsAhead days after it, where missing, so that the
// write path rarely has to. Safe to call from every instance at once (the
// work is done under an advisory lock, by one at a time; the others find
// it done). Run calls it periodically.
func (db *DB) MaintainPartitions(ctx context.Context, now time.Time) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	today := dayOf(now.UnixMilli())
	days := make([]int64, 0, db.cfg.PartitionsAhead+1)
	for d := today; d <= today+int64(db.cfg.PartitionsAhead); d++ {
		days = append(days, d)
	}
	return db.createPartitions(ctx, days)
}

// Partitions lists the days (as their UTC midnight) that have a ticks
// partition, oldest first.
func (db *DB) Partitions(ctx context.Context) ([]time.Time, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	days, err := listPartitions(ctx, db.primary)
	if err != nil {
		return nil, fmt.Errorf("list tick partitions: %w", translate(err))
	}
	out := make([]time.Time, len(days))
	for i, d := range days {
		out[i] = time.UnixMilli(d * dayMs).UTC()
	}
	return out, nil
}

func listPartitions(ctx context.Context, q querier) ([]int64, error) {
	rows, err := q.Query(ctx, `
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'ticks'::regclass`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var days []int64
	for _, n := range names {
		if d, ok := parsePartition(n); ok {
			days = append(days, d)
		}
	}
	slices.Sort(days)
	return days, nil
}

// DeleteTicksBefore deletes every tick with ts < ts and returns how many it
// deleted. Partitions whose whole day lies before ts are dropped (their rows
// counted first, under the partition advisory lock, in one short
// transaction that holds an ACCESS EXCLUSIVE lock on ticks from the first
// drop to its commit); the rows before ts in the day that straddles it
// are deleted with a DELETE. If ctx ends midway it returns what it deleted
// so far with ctx's error.
func (db *DB) DeleteTicksBefore(ctx context.Context, ts int64) (int64, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	cut := dayOf(ts) // partitions of days < cut are entirely before ts
	var dropped int64
	var gone []int64
	err := pgx.BeginFunc(ctx, db.primary, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", partitionLockID); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		days, err := listPartitions(ctx, tx)
		if err != nil {
			return fmt.Errorf("list partitions: %w", err)
		}
		for _, d := range days {
			if d >= cut {
				break
			}
			name := partitionName(d)
			// Not locked before counting: locking the partition before the
			// parent (which DROP locks) would invert the writers' lock
			// order. A tick written into a day past the retention between
			// the count and the drop is dropped uncounted.
			var n int64
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+name).Scan(&n); err != nil {
				return fmt.Errorf("count %s: %w", name, err)
			}
			if _, err := tx.Exec(ctx, "DROP TABLE "+name); err != nil {
				return fmt.Errorf("drop %s: %w", name, err)
			}
			dropped += n
			gone = append(gone, d)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete ticks before %d: drop partitions: %w", ts, translate(err))
	}
	db.partMu.Lock()
	for _, d := range gone {
		delete(db.parts, d)
	}
	db.partMu.Unlock()
	for _, d := range gone {
		db.log.Info("tick partition dropped", "partition", partitionName(d))
	}
	// Partition pruning limits this to the straddling day.
	tag, err := db.primary.Exec(ctx, "DELETE FROM ticks WHERE ts < $1", ts)
	if err != nil {
		return dropped, fmt.Errorf("delete ticks before %d: %w", ts, translate(err))
	}
	return dropped + tag.RowsAffected(), nil
}

// DeleteTicksCounted deletes symbol's ticks with ts in [from, to) if
// exactly want are stored, and nothing otherwise: one DELETE in a
// transaction, rolled back when it removed another number. A tick another
// transaction commits after the DELETE's snapshot is not deleted, so the
// count is exact. It returns how many it found and whether it deleted
// them. Retention deletes an archived day through it, then drops the
// emptied partitions with DropEmptyTickDays.
func (db *DB) DeleteTicksCounted(ctx context.Context, symbol string, from, to, want int64) (int64, bool, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	var n int64
	deleted := false
	err := pgx.BeginFunc(ctx, db.primary, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM ticks WHERE symbol = $1 AND ts >= $2 AND ts < $3", symbol, from, to)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n != want {
			return errCountChanged // rolls back
		}
		deleted = true
		return nil
	})
	if errors.Is(err, errCountChanged) {
		return n, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("delete ticks of %s in [%d, %d): %w", symbol, from, to, translate(err))
	}
	return n, deleted, nil
}

// errCountChanged rolls back a counted delete.
var errCountChanged = errors.New("tick count changed")

// dropLockTimeout bounds how long DropEmptyTickDays waits for the ACCESS
// EXCLUSIVE lock on ticks that dropping one partition takes: while it
// waits, every read and write of ticks queues behind it, so it gives up
// early (the day is dropped by a later sweep; an empty partition left is
// harmless). It is below PostgreSQL's default deadlock_timeout (1 s), so
// the sweep gives up before a writer waiting on it would run the deadlock
// check, and a writer is never the one aborted.
const dropLockTimeout = "500ms"

// DropEmptyTickDays drops the partitions of whole days before ts that hold
// no tick and returns how many. Each day is one short transaction: under
// the partition advisory lock it takes the ACCESS EXCLUSIVE lock on ticks
// that DROP needs first (so it never waits holding a lock a writer waits
// for: no deadlock with imports and WriteBatch, which lock ticks and then
// the partition), then checks the partition is empty and drops it; nothing
// can land between the check and the drop. A day whose lock is not had
// within dropLockTimeout (a long read or write on ticks), or that a
// deadlock aborts, is skipped with the days after it and counted
// (TickDropsSkipped): the next sweep tries again. Days that hold ticks (retention kept them) are seen
// without a lock and skipped.
func (db *DB) DropEmptyTickDays(ctx context.Context, ts int64) (int, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	cut := dayOf(ts)
	days, err := listPartitions(ctx, db.primary)
	if err != nil {
		return 0, fmt.Errorf("drop empty tick partitions before %d: list partitions: %w", ts, translate(err))
	}
	dropped := 0
	for _, d := range days {
		if d >= cut {
			break
		}
		name := partitionName(d)
		// A first look without a table lock: a day retention kept costs
		// no lock on ticks. name is built from a date: safe to splice.
		var nonEmpty bool
		if err := db.primary.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+name+")").Scan(&nonEmpty); err != nil {
			if isUndefinedTable(err) {
				continue // dropped meanwhile by another instance
			}
			return dropped, fmt.Errorf("drop empty tick partitions before %d: look into %s: %w", ts, name, translate(err))
		}
		if nonEmpty {
			continue
		}
		gone, err := db.dropEmptyDay(ctx, name)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "55P03" || pe.Code == "40P01") { // lock_not_available, deadlock_detected
			db.tickDropsSkipped.Add(1)
			db.log.Info("empty tick partitions kept: ticks is busy; the next sweep drops them", "partition", name, "error", pe.Message)
			break // the next days would wait for the same lock
		}
		if err != nil {
			return dropped, fmt.Errorf("drop empty tick partitions before %d: drop %s: %w", ts, name, translate(err))
		}
		if !gone {
			continue
		}
		dropped++
		db.partMu.Lock()
		delete(db.parts, d)
		db.partMu.Unlock()
		db.log.Info("tick partition dropped", "partition", name)
	}
	return dropped, nil
}

// dropEmptyDay drops the partition name if it is still there and empty,
// in one transaction (see DropEmptyTickDays), and reports whether it did.
func (db *DB) dropEmptyDay(ctx context.Context, name string) (bool, error) {
	gone := false
	err := pgx.BeginFunc(ctx, db.primary, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+dropLockTimeout+"'"); err != nil {
			return fmt.Errorf("set lock_timeout: %w", err)
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", partitionLockID); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		// The strongest lock DROP takes, first and at once: no upgrade,
		// so no wait while holding a lock writers want.
		if _, err := tx.Exec(ctx, "LOCK TABLE ticks IN ACCESS EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("lock ticks: %w", err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil {
			return fmt.Errorf("look up: %w", err)
		}
		if !exists {
			return nil
		}
		var nonEmpty bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+name+")").Scan(&nonEmpty); err != nil {
			return fmt.Errorf("look into: %w", err)
		}
		if nonEmpty {
			return nil // a tick landed since the first look
		}
		if _, err := tx.Exec(ctx, "DROP TABLE "+name); err != nil {
			return err
		}
		gone = true
		return nil
	})
	return gone && err == nil, err
}

// isUndefinedTable reports whether err is PostgreSQL's undefined_table.
func isUndefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}

// TickDropsSkipped is how many empty tick partitions DropEmptyTickDays
// kept since Open because ticks stayed locked past its lock timeout or a
// deadlock aborted the drop (findash_tick_partition_drops_skipped_total).
func (db *DB) TickDropsSkipped() uint64 { return db.tickDropsSkipped.Load() }

// TickSymbols lists the symbols that have ticks stored, in byte order (the
// tick archive walks them), with a skip-scan over the (symbol, ts, seq)
// index: one index probe per symbol, not a scan of the ticks.
func (db *DB) TickSymbols(ctx context.Context) ([]string, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	rows, err := db.primary.Query(ctx, `
WITH RECURSIVE syms(s) AS (
	SELECT min(symbol) FROM ticks
	UNION ALL
	SELECT (SELECT min(symbol) FROM ticks WHERE symbol > s) FROM syms WHERE s IS NOT NULL
) SELECT s FROM syms WHERE s IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("tick symbols: %w", translate(err))
	}
	syms, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("tick symbols: %w", translate(err))
	}
	return syms, nil
}
