package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/market"
)

// AdvanceIdle records logSeq as the alert position of partition part if no
// alert exists, and reports whether one does (then nothing changes); see
// alert.Store. It locks the partition's row FOR UPDATE, then checks for
// alerts in a later statement, whose snapshot sees every alert committed
// by a CreateAlert that held the row FOR SHARE before; a CreateAlert that
// comes after waits for this commit and reads logSeq. The row is created
// beforehand in its own statement when missing: CreateAlert would neither
// see nor wait for a row this transaction inserted. A stored position
// below prevSeq is market.ErrBehind.
func (db *DB) AdvanceIdle(ctx context.Context, part int, prevSeq, logSeq uint64) (_ bool, err error) {
	if logSeq > math.MaxInt64 {
		return false, fmt.Errorf("advance alert position: %w", market.Invalid("seq", "%d exceeds 2^63-1", logSeq))
	}
	if part < market.Unpartitioned {
		return false, fmt.Errorf("advance alert position: %w", market.Invalid("partition", "%d is not a partition", part))
	}
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	for created := false; ; created = true {
		alerts, missing, err := db.advanceIdle(ctx, part, prevSeq, logSeq)
		if !missing || created {
			if missing {
				err = fmt.Errorf("advance alert position: row %s/%d missing after its insert", alertsName, part)
			}
			return alerts, err
		}
		if _, err := db.primary.Exec(ctx, "INSERT INTO log_position (name, part, seq) VALUES ($1, $2, 0) ON CONFLICT (name, part) DO NOTHING", alertsName, part); err != nil {
			return false, fmt.Errorf("advance alert position: create row %s/%d: %w", alertsName, part, translate(err))
		}
	}
}

// advanceIdle is one attempt of AdvanceIdle; missing reports that the
// partition's row does not exist (nothing changed).
func (db *DB) advanceIdle(ctx context.Context, part int, prevSeq, logSeq uint64) (alerts, missing bool, err error) {
	tx, err := db.primary.Begin(ctx)
	if err != nil {
		return false, false, fmt.Errorf("advance alert position: begin: %w", translate(err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var own int64
	err = tx.QueryRow(ctx, "SELECT seq FROM log_position WHERE name = $1 AND part = $2 FOR UPDATE", alertsName, part).Scan(&own)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, true, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("advance alert position: lock: %w", translate(err))
	}
	pos, err := position(ctx, tx, alertsName, part)
	if err != nil {
		return false, false, fmt.Errorf("advance alert position: %w", err)
	}
	if prevSeq > uint64(pos) {
		return false, false, fmt.Errorf("advance alert position to %d after %d: position is %d: %w", logSeq, prevSeq, pos, market.ErrBehind)
	}
	if err = tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM alerts)").Scan(&alerts); err != nil {
		return false, false, fmt.Errorf("advance alert position: %w", translate(err))
	}
	if alerts || int64(logSeq) <= pos {
		return alerts, false, nil
	}
	if _, err = tx.Exec(ctx, "UPDATE log_position SET seq = $3 WHERE name = $1 AND part = $2", alertsName, part, int64(logSeq)); err != nil {
		return false, false, fmt.Errorf("advance alert position: %w", translate(err))
	}
	if err = tx.Commit(ctx); err != nil {
		return false, false, fmt.Errorf("advance alert position: commit: %w", translate(err))
	}
	return false, false, nil
}
