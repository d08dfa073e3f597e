package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/report"
)

const reportCols = "id, user_id, symbols, interval, from_ts, to_ts, format, status, error, object_key, size, created_at, updated_at"

func scanReport(sc interface{ Scan(...any) error }) (report.Report, error) {
	var r report.Report
	var syms, iv, format, status string
	var created, updated int64
	if err := sc.Scan(&r.ID, &r.UserID, &syms, &iv, &r.From, &r.To, &format, &status, &r.Error, &r.ObjectKey, &r.Size, &created, &updated); err != nil {
		return report.Report{}, translate(err)
	}
	pi, err := market.ParseInterval(iv)
	if err != nil {
		return report.Report{}, fmt.Errorf("stored interval %q: %w", iv, err)
	}
	r.Symbols, r.Interval, r.Format, r.Status = splitList(syms), pi, report.Format(format), report.Status(status)
	r.CreatedAt, r.UpdatedAt = fromMs(created), fromMs(updated)
	return r, nil
}

// CreateReport stores r (UserID, Symbols, Interval, From, To, Format,
// CreatedAt) as queued and returns it with its ID. When the user already
// has maxActive reports queued or running (maxActive > 0) it is an error
// wrapping report.ErrTooMany. An unknown user is market.ErrNotFound. One
// statement on the single writer connection: the check and the insert are
// atomic.
func (db *DB) CreateReport(ctx context.Context, r report.Report, maxActive int) (report.Report, error) {
	r.CreatedAt = roundMs(r.CreatedAt)
	r.UpdatedAt, r.Status, r.Error, r.ObjectKey, r.Size = r.CreatedAt, report.Queued, "", "", 0
	err := db.w.QueryRowContext(ctx,
		`INSERT INTO reports (user_id, symbols, interval, from_ts, to_ts, format, status, created_at, updated_at)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9
		WHERE ?10 <= 0 OR (SELECT count(*) FROM reports WHERE user_id = ?1 AND status IN ('queued', 'running')) < ?10
		RETURNING id`,
		r.UserID, joinList(r.Symbols), r.Interval.String(), r.From, r.To, string(r.Format), string(r.Status), toMs(r.CreatedAt), toMs(r.UpdatedAt), maxActive).Scan(&r.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return report.Report{}, fmt.Errorf("create report: %w: a user may have at most %d reports queued or running", report.ErrTooMany, maxActive)
	}
	if err != nil {
		return report.Report{}, fmt.Errorf("create report: %w", translate(err))
	}
	return r, nil
}

// StartReport marks report id running at at, unless its user already has
// maxRunning other reports running (maxRunning > 0): then it changes
// nothing and returns false. A missing report is market.ErrNotFound. One
// statement on the single writer connection: the check and the update are
// atomic.
func (db *DB) StartReport(ctx context.Context, id int64, maxRunning int, at time.Time) (bool, error) {
	var one int
	err := db.w.QueryRowContext(ctx, `UPDATE reports SET status = 'running', object_key = '', size = 0, error = '', updated_at = ?2
		WHERE id = ?1 AND (?3 <= 0 OR (SELECT count(*) FROM reports o WHERE o.user_id = reports.user_id AND o.status = 'running' AND o.id <> reports.id) < ?3)
		RETURNING 1`, id, toMs(at), maxRunning).Scan(&one)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("start report %d: %w", id, translate(err))
	}
	if _, err := db.Report(ctx, 0, id); err != nil {
		return false, err
	}
	return false, nil
}

// Report returns report id. With userID > 0 it must be that user's, else
// market.ErrNotFound; userID 0 (the job worker) reads any.
func (db *DB) Report(ctx context.Context, userID, id int64) (report.Report, error) {
	r, err := scanReport(db.w.QueryRowContext(ctx, // the writer: read-your-writes for status polls
		"SELECT "+reportCols+" FROM reports WHERE id = ? AND (? = 0 OR user_id = ?)", id, userID, userID))
	if err != nil {
		return report.Report{}, fmt.Errorf("report %d: %w", id, err)
	}
	return r, nil
}

// Reports lists userID's reports newest first: up to limit with an ID below
// before (before <= 0: from the newest).
func (db *DB) Reports(ctx context.Context, userID, before int64, limit int) ([]report.Report, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := db.r.QueryContext(ctx,
		"SELECT "+reportCols+" FROM reports WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?", userID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", translate(err))
	}
	defer rows.Close()
	out := []report.Report{}
	for rows.Next() {
		r, err := scanReport(rows)
		if err != nil {
			return nil, fmt.Errorf("reports: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reports: %w", translate(err))
	}
	return out, nil
}

// SetReportStatus moves report id to status with its outcome (object key
// and size when done, a message when failed). A missing report is
// market.ErrNotFound.
func (db *DB) SetReportStatus(ctx context.Context, id int64, status report.Status, objectKey string, size int64, msg string, at time.Time) error {
	res, err := db.w.ExecContext(ctx, "UPDATE reports SET status = ?, object_key = ?, size = ?, error = ?, updated_at = ? WHERE id = ?",
		string(status), objectKey, size, msg, toMs(at), id)
	if err != nil {
		return fmt.Errorf("set report %d %s: %w", id, status, translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("report %d: %w", id, market.ErrNotFound)
	}
	return nil
}
