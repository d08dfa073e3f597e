package sqlite

import (
	"context"
	"fmt"
	"math"

	"github.com/findash/findash/internal/market"
)

// AdvanceIdle records logSeq as the alert position of partition part if no
// alert exists, and reports whether one does (then nothing changes); see
// alert.Store. The check and the write are one write transaction, and
// SQLite has one writer: a CreateAlert, which reads the positions in its
// own write transaction, comes wholly before (the check sees its alert)
// or wholly after (it reads logSeq). A stored position below prevSeq is
// market.ErrBehind.
func (db *DB) AdvanceIdle(ctx context.Context, part int, prevSeq, logSeq uint64) (_ bool, err error) {
	if logSeq > math.MaxInt64 {
		return false, fmt.Errorf("advance alert position: %w", market.Invalid("seq", "exceeds 2^63-1"))
	}
	if part < market.Unpartitioned {
		return false, fmt.Errorf("advance alert position: %w", market.Invalid("partition", "%d is not a partition", part))
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("advance alert position: begin: %w", translate(err))
	}
	defer tx.Rollback()
	pos, err := position(ctx, tx, alertsName, part)
	if err != nil {
		return false, fmt.Errorf("advance alert position: %w", err)
	}
	if prevSeq > uint64(pos) {
		return false, fmt.Errorf("advance alert position to %d after %d: position is %d: %w", logSeq, prevSeq, pos, market.ErrBehind)
	}
	var alerts bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM alerts)").Scan(&alerts); err != nil {
		return false, fmt.Errorf("advance alert position: %w", translate(err))
	}
	if alerts || int64(logSeq) <= pos {
		return alerts, nil
	}
	if err := setPosition(ctx, tx, alertsName, part, logSeq); err != nil {
		return false, fmt.Errorf("advance alert position: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("advance alert position: commit: %w", translate(err))
	}
	return false, nil
}
