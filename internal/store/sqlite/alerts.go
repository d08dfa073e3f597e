package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/market"
)

// alertsName is the log_position row the alert evaluator keeps.
const alertsName = "alerts"

const alertCols = "id, user_id, symbol, condition, threshold, notify, webhook_url, paused, armed, created_at, hysteresis, cooldown_s, last_fired_ts, created_seq, revision"

func joinList(s []string) string { return strings.Join(s, ",") }

func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func scanAlert(sc interface{ Scan(...any) error }) (alert.Alert, error) {
	var a alert.Alert
	var notify, cond string
	var created, createdSeq int64
	if err := sc.Scan(&a.ID, &a.UserID, &a.Symbol, &cond, &a.Threshold, &notify, &a.WebhookURL, &a.Paused, &a.Armed, &created, &a.Hysteresis, &a.CooldownS, &a.LastFiredTS, &createdSeq, &a.Revision); err != nil {
		return alert.Alert{}, translate(err)
	}
	a.Condition, a.Notify, a.CreatedAt, a.CreatedSeq = alert.Condition(cond), splitList(notify), fromMs(created), uint64(createdSeq)
	return a, nil
}

func bumpAlertVersion(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, "UPDATE alert_version SET version = version + 1 WHERE id = 1")
	return translate(err)
}

// CreateAlert stores a (UserID, Symbol, Condition, Threshold, Notify,
// WebhookURL, CreatedAt, CreatedSeq; it starts armed, not paused, at
// Revision 0) and returns it with its ID. A CreatedSeq above 2^63-1 is market.ErrInvalid. When the user already has maxPerUser alerts it is
// market.ErrConflict; an unknown user is market.ErrNotFound.
func (db *DB) CreateAlert(ctx context.Context, a alert.Alert, maxPerUser int) (_ alert.Alert, err error) {
	a.CreatedAt, a.Armed, a.Paused, a.Revision = roundMs(a.CreatedAt), true, false, 0
	if a.CreatedSeq > math.MaxInt64 {
		return alert.Alert{}, fmt.Errorf("create alert: %w", market.Invalid("created_seq", "is above 2^63-1"))
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("create alert: begin: %w", translate(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var n int
	if err = tx.QueryRowContext(ctx, "SELECT count(*) FROM alerts WHERE user_id = ?", a.UserID).Scan(&n); err != nil {
		return alert.Alert{}, fmt.Errorf("create alert: count: %w", translate(err))
	}
	if n >= maxPerUser {
		err = fmt.Errorf("create alert: %w: a user may have at most %d alerts", market.ErrConflict, maxPerUser)
		return alert.Alert{}, err
	}
	err = tx.QueryRowContext(ctx,
		"INSERT INTO alerts (user_id, symbol, condition, threshold, notify, webhook_url, created_at, hysteresis, cooldown_s, created_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
		a.UserID, a.Symbol, string(a.Condition), a.Threshold, joinList(a.Notify), a.WebhookURL, toMs(a.CreatedAt), a.Hysteresis, a.CooldownS, int64(a.CreatedSeq)).Scan(&a.ID)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("create alert: %w", translate(err))
	}
	if err = bumpAlertVersion(ctx, tx); err != nil {
		return alert.Alert{}, fmt.Errorf("create alert: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return alert.Alert{}, fmt.Errorf("create alert: commit: %w", translate(err))
	}
	if a.Notify == nil {
		a.Notify = []string{}
	}
	return a, nil
}

// Alerts lists userID's alerts, oldest first.
func (db *DB) Alerts(ctx context.Context, userID int64) ([]alert.Alert, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+alertCols+" FROM alerts WHERE user_id = ? ORDER BY id", userID)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", translate(err))
	}
	out, err := scanAlerts(rows)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	return out, nil
}

func scanAlerts(rows *sql.Rows) ([]alert.Alert, error) {
	defer rows.Close()
	out := []alert.Alert{}
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, translate(rows.Err())
}

// DeleteAlert deletes alert id if userID owns it; otherwise (or if there is
// no such alert) it is market.ErrNotFound. Its events are kept.
func (db *DB) DeleteAlert(ctx context.Context, userID, id int64) (err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete alert: begin: %w", translate(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	res, err := tx.ExecContext(ctx, "DELETE FROM alerts WHERE id = ? AND user_id = ?", id, userID)
	if err != nil {
		return fmt.Errorf("delete alert %d: %w", id, translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		err = fmt.Errorf("alert %d: %w", id, market.ErrNotFound)
		return err
	}
	if err = bumpAlertVersion(ctx, tx); err != nil {
		return fmt.Errorf("delete alert: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("delete alert: commit: %w", translate(err))
	}
	return nil
}

// SetAlertPaused pauses or resumes alert id if userID owns it (else
// market.ErrNotFound) and returns it. Its armed state is kept.
func (db *DB) SetAlertPaused(ctx context.Context, userID, id int64, paused bool) (_ alert.Alert, err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("pause alert: begin: %w", translate(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	a, err := scanAlert(tx.QueryRowContext(ctx,
		"UPDATE alerts SET paused = ? WHERE id = ? AND user_id = ? RETURNING "+alertCols, paused, id, userID))
	if err != nil {
		return alert.Alert{}, fmt.Errorf("alert %d: %w", id, err)
	}
	if err = bumpAlertVersion(ctx, tx); err != nil {
		return alert.Alert{}, fmt.Errorf("pause alert: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return alert.Alert{}, fmt.Errorf("pause alert: commit: %w", translate(err))
	}
	return a, nil
}

// UpdateAlert replaces the definition of alert a.ID if a.UserID owns it
// (Condition, Threshold, Notify, WebhookURL, Hysteresis, CooldownS,
// Paused; else market.ErrNotFound) and its position (CreatedSeq: the
// log's head at the edit), increments its Revision (decision 0081),
// re-arms it, and returns it as stored. The symbol, CreatedAt and the
// time of the last firing stay. A CreatedSeq above 2^63-1 is
// market.ErrInvalid.
func (db *DB) UpdateAlert(ctx context.Context, a alert.Alert) (_ alert.Alert, err error) {
	if a.CreatedSeq > math.MaxInt64 {
		return alert.Alert{}, fmt.Errorf("update alert: %w", market.Invalid("created_seq", "is above 2^63-1"))
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("update alert: begin: %w", translate(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	out, err := scanAlert(tx.QueryRowContext(ctx, `UPDATE alerts SET condition = ?, threshold = ?, notify = ?, webhook_url = ?,
		hysteresis = ?, cooldown_s = ?, paused = ?, armed = 1, created_seq = ?, revision = revision + 1 WHERE id = ? AND user_id = ? RETURNING `+alertCols,
		string(a.Condition), a.Threshold, joinList(a.Notify), a.WebhookURL, a.Hysteresis, a.CooldownS, a.Paused, int64(a.CreatedSeq), a.ID, a.UserID))
	if err != nil {
		return alert.Alert{}, fmt.Errorf("alert %d: %w", a.ID, err)
	}
	if err = bumpAlertVersion(ctx, tx); err != nil {
		return alert.Alert{}, fmt.Errorf("update alert: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return alert.Alert{}, fmt.Errorf("update alert: commit: %w", translate(err))
	}
	return out, nil
}

const eventCols = "id, alert_id, user_id, symbol, condition, threshold, value, price, ts, seq, notify, webhook_url, fired_at"

func scanEvent(sc interface{ Scan(...any) error }) (alert.Event, error) {
	var e alert.Event
	var cond, notify string
	var seq, fired int64
	if err := sc.Scan(&e.ID, &e.AlertID, &e.UserID, &e.Symbol, &cond, &e.Threshold, &e.Value, &e.Price, &e.TS, &seq, &notify, &e.WebhookURL, &fired); err != nil {
		return alert.Event{}, translate(err)
	}
	e.Condition, e.Seq, e.Notify, e.FiredAt = alert.Condition(cond), uint64(seq), splitList(notify), fromMs(fired)
	return e, nil
}

func scanEvents(rows *sql.Rows) ([]alert.Event, error) {
	defer rows.Close()
	out := []alert.Event{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, translate(rows.Err())
}

// AlertEvents lists userID's alert events newest first: up to limit events
// with an ID below before (before <= 0: from the newest).
func (db *DB) AlertEvents(ctx context.Context, userID, before int64, limit int) ([]alert.Event, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := db.r.QueryContext(ctx,
		"SELECT "+eventCols+" FROM alert_events WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?", userID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("alert events: %w", translate(err))
	}
	out, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("alert events: %w", err)
	}
	return out, nil
}

// AlertEvent returns event id (whoever owns it), or market.ErrNotFound.
func (db *DB) AlertEvent(ctx context.Context, id int64) (alert.Event, error) {
	e, err := scanEvent(db.r.QueryRowContext(ctx, "SELECT "+eventCols+" FROM alert_events WHERE id = ?", id))
	if err != nil {
		return alert.Event{}, fmt.Errorf("alert event %d: %w", id, err)
	}
	return e, nil
}

// WebhookSecret returns userID's webhook signing secret, storing candidate
// as the secret first if the user has none. An unknown user is
// market.ErrNotFound.
func (db *DB) WebhookSecret(ctx context.Context, userID int64, candidate string) (string, error) {
	var s string
	err := db.w.QueryRowContext(ctx,
		"INSERT INTO webhook_secrets (user_id, secret, created_at) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET user_id = user_id RETURNING secret",
		userID, candidate, time.Now().UnixMilli()).Scan(&s)
	if err != nil {
		return "", fmt.Errorf("webhook secret of user %d: %w", userID, translate(err))
	}
	return s, nil
}

// AlertPosition returns the log position of the last CommitAlerts in
// partition part, read as market.Positions.Of reads it, 0 if none.
func (db *DB) AlertPosition(ctx context.Context, part int) (uint64, error) {
	pos, err := position(ctx, db.r, alertsName, part)
	if err != nil {
		return 0, fmt.Errorf("alert position: %w", err)
	}
	return uint64(pos), nil
}

// AlertsVersion returns the number bumped by every alert create, delete,
// pause and resume.
func (db *DB) AlertsVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := db.r.QueryRowContext(ctx, "SELECT version FROM alert_version WHERE id = 1").Scan(&v); err != nil {
		return 0, fmt.Errorf("alerts version: %w", translate(err))
	}
	return v, nil
}

// EvaluatedAlerts returns every alert with its armed state, and the
// version they reflect (read in one transaction).
func (db *DB) EvaluatedAlerts(ctx context.Context) (_ []alert.Alert, _ int64, err error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("evaluated alerts: begin: %w", translate(err))
	}
	defer tx.Rollback()
	var v int64
	if err := tx.QueryRowContext(ctx, "SELECT version FROM alert_version WHERE id = 1").Scan(&v); err != nil {
		return nil, 0, fmt.Errorf("evaluated alerts: version: %w", translate(err))
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+alertCols+" FROM alerts ORDER BY id")
	if err != nil {
		return nil, 0, fmt.Errorf("evaluated alerts: %w", translate(err))
	}
	out, err := scanAlerts(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("evaluated alerts: %w", err)
	}
	return out, v, nil
}

// CommitAlerts records fired events, armed changes and logSeq as the
// evaluator's position in partition part in one transaction; see
// alert.Store. A stored position below prevSeq (the one the evaluator last
// committed or read; the database lost commits: a restore from a backup)
// writes nothing and is market.ErrBehind. An event whose alert is gone or
// paused, or whose (AlertID, Seq) is stored, is skipped; so is an event or
// an armed change whose Revision is no longer the alert's (edited since,
// decision 0081), the events returned as stale. The revision is checked
// in the statement that writes, inside the writer's transaction (BEGIN
// IMMEDIATE: no other write, an edit included, runs until it ends). An
// armed change whose CreatedSeq is no longer the alert's is skipped too
// (an edit by the previous version during a rolling update moves only
// that, decision 0079).
func (db *DB) CommitAlerts(ctx context.Context, part int, prevSeq, logSeq uint64, fired []alert.Event, armed []alert.ArmedChange) (_, _ []alert.Event, _ bool, err error) {
	if logSeq > math.MaxInt64 {
		return nil, nil, false, fmt.Errorf("commit alerts: %w", market.Invalid("seq", "exceeds 2^63-1"))
	}
	if part < market.Unpartitioned {
		return nil, nil, false, fmt.Errorf("commit alerts: %w", market.Invalid("partition", "%d is not a partition", part))
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, false, fmt.Errorf("commit alerts: begin: %w", translate(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	pos, err := position(ctx, tx, alertsName, part)
	if err != nil {
		return nil, nil, false, fmt.Errorf("commit alerts: %w", err)
	}
	if prevSeq > uint64(pos) { // the database lost what this evaluator committed
		tx.Rollback()
		return nil, nil, false, fmt.Errorf("commit alerts at %d after %d: position is %d: %w", logSeq, prevSeq, pos, market.ErrBehind)
	}
	if int64(logSeq) <= pos {
		return nil, nil, false, tx.Rollback()
	}
	var inserted, stale []alert.Event
	for _, e := range fired {
		if e.Seq > math.MaxInt64 {
			err = fmt.Errorf("commit alerts: %w", market.Invalid("seq", "exceeds 2^63-1"))
			return nil, nil, false, err
		}
		e.FiredAt = roundMs(e.FiredAt)
		err = tx.QueryRowContext(ctx, `INSERT INTO alert_events
			(alert_id, user_id, symbol, condition, threshold, value, price, ts, seq, notify, webhook_url, fired_at)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM alerts WHERE id = ? AND paused = 0 AND revision = ?)
			ON CONFLICT (alert_id, seq) DO NOTHING RETURNING id`,
			e.AlertID, e.UserID, e.Symbol, string(e.Condition), e.Threshold, e.Value, e.Price, e.TS, int64(e.Seq),
			joinList(e.Notify), e.WebhookURL, toMs(e.FiredAt), e.AlertID, e.Revision).Scan(&e.ID)
		switch {
		case errors.Is(err, sql.ErrNoRows): // gone, paused, edited since or already recorded
			var rev int64
			err = tx.QueryRowContext(ctx, "SELECT revision FROM alerts WHERE id = ?", e.AlertID).Scan(&rev)
			switch {
			case errors.Is(err, sql.ErrNoRows): // gone
			case err != nil:
				return nil, nil, false, fmt.Errorf("commit alerts: revision of alert %d: %w", e.AlertID, translate(err))
			case rev != e.Revision:
				stale = append(stale, e)
			}
			err = nil
			continue
		case err != nil:
			return nil, nil, false, fmt.Errorf("commit alerts: insert event of alert %d: %w", e.AlertID, translate(err))
		}
		inserted = append(inserted, e)
	}
	for _, c := range armed {
		// An alert edited since the change was evaluated (its revision
		// moved, decision 0081, or, edited by the previous version during
		// a rolling update, only its created_seq, decision 0079) keeps the
		// edit's re-arm.
		if _, err = tx.ExecContext(ctx, "UPDATE alerts SET armed = ?, last_fired_ts = ? WHERE id = ? AND revision = ? AND created_seq = ?",
			c.Armed, c.LastFiredTS, c.AlertID, c.Revision, int64(c.CreatedSeq)); err != nil {
			return nil, nil, false, fmt.Errorf("commit alerts: arm %d: %w", c.AlertID, translate(err))
		}
	}
	if err = setPosition(ctx, tx, alertsName, part, logSeq); err != nil {
		return nil, nil, false, fmt.Errorf("commit alerts: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return nil, nil, false, fmt.Errorf("commit alerts: commit: %w", translate(err))
	}
	return inserted, stale, true, nil
}

// PendingEvents returns up to limit events not marked dispatched, oldest first.
func (db *DB) PendingEvents(ctx context.Context, limit int) ([]alert.Event, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+eventCols+" FROM alert_events WHERE dispatched = 0 ORDER BY id LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("pending alert events: %w", translate(err))
	}
	out, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("pending alert events: %w", err)
	}
	return out, nil
}

// MarkEventsDispatched marks events as handed to the job queue.
func (db *DB) MarkEventsDispatched(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	q := "UPDATE alert_events SET dispatched = 1 WHERE id IN (?" + strings.Repeat(",?", len(ids)-1) + ")"
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	if _, err := db.w.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("mark %d alert events dispatched: %w", len(ids), translate(err))
	}
	return nil
}
