package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/report"
)

// Report reads go to the primary: a user polls the status of a report just
// queued, and the job worker reads one just created (read-your-writes).

const reportCols = "id, user_id, symbols, interval, from_ts, to_ts, format, status, error, object_key, size, created_at, updated_at"

// rowToReport converts a row of reportCols; by position, as its interval
// is stored as text and its range as from_ts and to_ts.
func rowToReport(row pgx.CollectableRow) (report.Report, error) {
	var r report.Report
	var iv, format, status string
	if err := row.Scan(&r.ID, &r.UserID, &r.Symbols, &iv, &r.From, &r.To, &format, &status, &r.Error, &r.ObjectKey, &r.Size, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return report.Report{}, err
	}
	pi, err := market.ParseInterval(iv)
	if err != nil {
		return report.Report{}, fmt.Errorf("stored interval %q: %w", iv, err)
	}
	r.Symbols, r.Interval, r.Format, r.Status = nonNil(r.Symbols), pi, report.Format(format), report.Status(status)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, nil
}

// CreateReport stores r (UserID, Symbols, Interval, From, To, Format,
// CreatedAt) as queued and returns it with its ID, and CreatedAt and
// UpdatedAt as stored (ms precision, UTC). When the user already has
// maxActive reports queued or running (maxActive > 0) it is an error
// wrapping report.ErrTooMany. An unknown user is market.ErrNotFound; an
// interval, format or status the schema does not know is market.ErrInvalid.
// The user's row is locked first (FOR NO KEY UPDATE, as CreateAlert), so
// concurrent creates for one user cannot pass the cap together.
func (db *DB) CreateReport(ctx context.Context, r report.Report, maxActive int) (_ report.Report, err error) {
	if r.Interval >= market.Interval(market.NumIntervals) {
		return report.Report{}, fmt.Errorf("create report: %w", market.Invalid("interval", "%d is not an interval", r.Interval))
	}
	r.CreatedAt = roundMs(r.CreatedAt)
	r.UpdatedAt, r.Status, r.Error, r.ObjectKey, r.Size, r.Symbols = r.CreatedAt, report.Queued, "", "", 0, nonNil(r.Symbols)
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	tx, err := db.primary.Begin(ctx)
	if err != nil {
		return report.Report{}, fmt.Errorf("create report: begin: %w", translate(err))
	}
	defer func() { rollback(ctx, tx, err) }()
	if err = lockUser(ctx, tx, "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", r.UserID); err != nil {
		return report.Report{}, fmt.Errorf("create report: user %d: %w", r.UserID, err)
	}
	err = tx.QueryRow(ctx, `INSERT INTO reports (user_id, symbols, interval, from_ts, to_ts, format, status, created_at, updated_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
		WHERE $10::int <= 0 OR (SELECT count(*) FROM reports WHERE user_id = $1 AND status IN ('queued', 'running')) < $10::int
		RETURNING id`,
		r.UserID, r.Symbols, r.Interval.String(), r.From, r.To, string(r.Format), string(r.Status), r.CreatedAt, r.UpdatedAt, maxActive).Scan(&r.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		err = fmt.Errorf("create report: %w: a user may have at most %d reports queued or running", report.ErrTooMany, maxActive)
		return report.Report{}, err
	}
	if err != nil {
		return report.Report{}, fmt.Errorf("create report: %w", translate(err))
	}
	if err = tx.Commit(ctx); err != nil {
		return report.Report{}, fmt.Errorf("create report: commit: %w", translate(err))
	}
	return r, nil
}

// StartReport marks report id running at at (ms precision), unless its
// user already has maxRunning other reports running (maxRunning > 0): then
// it changes nothing and returns false. A missing report is
// market.ErrNotFound. The user's row is locked first, so concurrent starts
// of one user's reports (on any instance) cannot pass the cap together.
func (db *DB) StartReport(ctx context.Context, id int64, maxRunning int, at time.Time) (_ bool, err error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	tx, err := db.primary.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("start report %d: begin: %w", id, translate(err))
	}
	defer func() { rollback(ctx, tx, err) }()
	if err = lockUser(ctx, tx, "SELECT 1 FROM users WHERE id = (SELECT user_id FROM reports WHERE id = $1) FOR NO KEY UPDATE", id); err != nil {
		return false, fmt.Errorf("report %d: %w", id, err)
	}
	tag, err := tx.Exec(ctx, `UPDATE reports r SET status = 'running', object_key = '', size = 0, error = '', updated_at = $2
		WHERE id = $1 AND ($3::int <= 0 OR (SELECT count(*) FROM reports o WHERE o.user_id = r.user_id AND o.status = 'running' AND o.id <> r.id) < $3::int)`,
		id, roundMs(at), maxRunning)
	if err != nil {
		return false, fmt.Errorf("start report %d: %w", id, translate(err))
	}
	if err = tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("start report %d: commit: %w", id, translate(err))
	}
	return tag.RowsAffected() == 1, nil
}

// lockUser runs query (a SELECT 1 … FOR NO KEY UPDATE of one user row) in
// tx; no row is market.ErrNotFound.
func lockUser(ctx context.Context, tx pgx.Tx, query string, arg int64) error {
	var one int
	return translate(tx.QueryRow(ctx, query, arg).Scan(&one))
}

// Report returns report id. With userID > 0 it must be that user's, else
// market.ErrNotFound; userID 0 (the job worker) reads any.
func (db *DB) Report(ctx context.Context, userID, id int64) (report.Report, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	r, err := collectOne(ctx, db.primary, rowToReport,
		"SELECT "+reportCols+" FROM reports WHERE id = $1 AND ($2::bigint = 0 OR user_id = $2::bigint)", id, userID)
	if err != nil {
		return report.Report{}, fmt.Errorf("report %d: %w", id, err)
	}
	return r, nil
}

// Reports lists userID's reports newest first: up to limit with an ID below
// before (before <= 0: from the newest); none is an empty slice. A negative
// limit is market.ErrInvalid.
func (db *DB) Reports(ctx context.Context, userID, before int64, limit int) ([]report.Report, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	out, err := collect(ctx, db.primary, rowToReport,
		"SELECT "+reportCols+" FROM reports WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3", userID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("reports of user %d: %w", userID, err)
	}
	return out, nil
}

// SetReportStatus moves report id to status with its outcome (object key
// and size when done, a message when failed) at at (ms precision). A
// missing report is market.ErrNotFound; an unknown status
// market.ErrInvalid.
func (db *DB) SetReportStatus(ctx context.Context, id int64, status report.Status, objectKey string, size int64, msg string, at time.Time) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	tag, err := db.primary.Exec(ctx, "UPDATE reports SET status = $1, object_key = $2, size = $3, error = $4, updated_at = $5 WHERE id = $6",
		string(status), objectKey, size, msg, roundMs(at), id)
	if err != nil {
		return fmt.Errorf("set report %d %s: %w", id, status, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("report %d: %w", id, market.ErrNotFound)
	}
	return nil
}
