package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/market"
)

// Alert, event, webhook-secret and report reads all go to the primary, not
// a replica: the API lists an alert just created or a report just queued,
// the notification worker reads an event the evaluator committed an
// instant earlier, and the evaluator's position, version and outbox must
// be current (read-your-writes). They are small indexed reads.
//
// Lock order, which every transaction here follows: the log_position row
// ("alerts"), then users rows, then alerts rows, then the alert_version
// row (always last).

// alertsName is the log_position row the alert evaluator keeps.
const alertsName = "alerts"

const alertCols = "id, user_id, symbol, condition, threshold, notify, webhook_url, paused, armed, created_at, hysteresis, cooldown_s, last_fired_ts, created_seq, revision"

// nonNil is s, or an empty slice for nil: a nil slice is sent as NULL.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// rollback ends tx when err is set; it runs even when ctx is cancelled.
func rollback(ctx context.Context, tx pgx.Tx, err error) {
	if err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
	}
}

// rowToAlert converts a row of alertCols, matched to alert.Alert's fields
// by name.
func rowToAlert(row pgx.CollectableRow) (alert.Alert, error) {
	a, err := pgx.RowToStructByName[alert.Alert](row)
	if err != nil {
		return alert.Alert{}, err
	}
	a.Notify, a.CreatedAt = nonNil(a.Notify), a.CreatedAt.UTC()
	return a, nil
}

// bumpVersion is the statement every alert create, delete, pause and resume
// ends with.
const bumpVersion = "UPDATE alert_version SET version = version + 1 WHERE id = 1"

// CreateAlert stores a (UserID, Symbol, Condition, Threshold, Notify,
// WebhookURL, CreatedAt, CreatedSeq; it starts armed, not paused, at
// Revision 0) and returns it with its ID and CreatedAt as stored (ms precision, UTC). A
// CreatedSeq above 2^63-1 is market.ErrInvalid. When the user already
// has maxPerUser alerts it is market.ErrConflict; an unknown user is
// market.ErrNotFound. The user's row is locked first (FOR NO KEY UPDATE,
// which does not block inserts referencing it), so concurrent creates for
// one user cannot pass the cap together.
func (db *DB) CreateAlert(ctx context.Context, a alert.Alert, maxPerUser int) (_ alert.Alert, err error) {
	a.CreatedAt, a.Armed, a.Paused, a.Notify, a.Revision = roundMs(a.CreatedAt), true, false, nonNil(a.Notify), 0
	if a.CreatedSeq > math.MaxInt64 {
		return alert.Alert{}, fmt.Errorf("create alert: %w", market.Invalid("created_seq", "is above 2^63-1"))
	}
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	tx, err := db.primary.Begin(ctx)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("create alert: begin: %w", translate(err))
	}
	defer func() { rollback(ctx, tx, err) }()
	var one int
	if err = tx.QueryRow(ctx, "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", a.UserID).Scan(&one); err != nil {
		return alert.Alert{}, fmt.Errorf("create alert: user %d: %w", a.UserID, translate(err))
	}
	// A statement after the lock: its snapshot sees every alert committed
	// by the creates that held the lock before.
	err = tx.QueryRow(ctx, `INSERT INTO alerts (user_id, symbol, condition, threshold, notify, webhook_url, created_at, hysteresis, cooldown_s, created_seq)
		SELECT $1, $2, $3, $4, $5, $6, $7, $9, $10, $11 WHERE (SELECT count(*) FROM alerts WHERE user_id = $1) < $8 RETURNING id`,
		a.UserID, a.Symbol, string(a.Condition), a.Threshold, a.Notify, a.WebhookURL, a.CreatedAt, maxPerUser, a.Hysteresis, a.CooldownS, int64(a.CreatedSeq)).Scan(&a.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		err = fmt.Errorf("create alert: %w: a user may have at most %d alerts", market.ErrConflict, maxPerUser)
		return alert.Alert{}, err
	}
	if err != nil {
		return alert.Alert{}, fmt.Errorf("create alert: %w", translate(err))
	}
	if _, err = tx.Exec(ctx, bumpVersion); err != nil {
		return alert.Alert{}, fmt.Errorf("create alert: bump version: %w", translate(err))
	}
	if err = tx.Commit(ctx); err != nil {
		return alert.Alert{}, fmt.Errorf("create alert: commit: %w", translate(err))
	}
	return a, nil
}

// Alerts lists userID's alerts, oldest first; none is an empty slice.
func (db *DB) Alerts(ctx context.Context, userID int64) ([]alert.Alert, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	out, err := collect(ctx, db.primary, rowToAlert, "SELECT "+alertCols+" FROM alerts WHERE user_id = $1 ORDER BY id", userID)
	if err != nil {
		return nil, fmt.Errorf("alerts of user %d: %w", userID, err)
	}
	return out, nil
}

// DeleteAlert deletes alert id if userID owns it; otherwise (or if there is
// no such alert) it is market.ErrNotFound and nothing changes. Its events
// are kept. The delete and the version bump are one statement.
func (db *DB) DeleteAlert(ctx context.Context, userID, id int64) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	var deleted bool
	err := db.primary.QueryRow(ctx, `WITH d AS (DELETE FROM alerts WHERE id = $1 AND user_id = $2 RETURNING id),
		v AS (`+bumpVersion+` AND EXISTS (SELECT 1 FROM d))
		SELECT EXISTS (SELECT 1 FROM d)`, id, userID).Scan(&deleted)
	if err != nil {
		return fmt.Errorf("delete alert %d: %w", id, translate(err))
	}
	if !deleted {
		return fmt.Errorf("delete alert %d of user %d: %w", id, userID, market.ErrNotFound)
	}
	return nil
}

// SetAlertPaused pauses or resumes alert id if userID owns it (else
// market.ErrNotFound) and returns it. Its armed state is kept. The update
// and the version bump are one statement.
func (db *DB) SetAlertPaused(ctx context.Context, userID, id int64, paused bool) (alert.Alert, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	a, err := collectOne(ctx, db.primary, rowToAlert, `WITH u AS (UPDATE alerts SET paused = $3 WHERE id = $1 AND user_id = $2 RETURNING `+alertCols+`),
		v AS (`+bumpVersion+` AND EXISTS (SELECT 1 FROM u))
		SELECT `+alertCols+` FROM u`, id, userID, paused)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("pause alert %d of user %d: %w", id, userID, err)
	}
	return a, nil
}

// UpdateAlert replaces the definition of alert a.ID if a.UserID owns it
// (Condition, Threshold, Notify, WebhookURL, Hysteresis, CooldownS,
// Paused; else market.ErrNotFound) and its position (CreatedSeq: the
// log's head at the edit), increments its Revision (decision 0081),
// re-arms it, and returns it as stored. The symbol, CreatedAt and the
// time of the last firing stay. A CreatedSeq above 2^63-1 is
// market.ErrInvalid. The update and the version bump are one statement.
func (db *DB) UpdateAlert(ctx context.Context, a alert.Alert) (alert.Alert, error) {
	if a.CreatedSeq > math.MaxInt64 {
		return alert.Alert{}, fmt.Errorf("update alert: %w", market.Invalid("created_seq", "is above 2^63-1"))
	}
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	out, err := collectOne(ctx, db.primary, rowToAlert, `WITH u AS (UPDATE alerts SET condition = $3, threshold = $4, notify = $5,
		webhook_url = $6, hysteresis = $7, cooldown_s = $8, paused = $9, armed = true, created_seq = $10, revision = revision + 1 WHERE id = $1 AND user_id = $2 RETURNING `+alertCols+`),
		v AS (`+bumpVersion+` AND EXISTS (SELECT 1 FROM u))
		SELECT `+alertCols+` FROM u`, a.ID, a.UserID, string(a.Condition), a.Threshold, nonNil(a.Notify), a.WebhookURL, a.Hysteresis, a.CooldownS, a.Paused, int64(a.CreatedSeq))
	if err != nil {
		return alert.Alert{}, fmt.Errorf("update alert %d of user %d: %w", a.ID, a.UserID, err)
	}
	return out, nil
}

const eventCols = "id, alert_id, user_id, symbol, condition, threshold, value, price, ts, seq, notify, webhook_url, fired_at"

// rowToEvent converts a row of eventCols, matched to alert.Event's fields
// by name.
func rowToEvent(row pgx.CollectableRow) (alert.Event, error) {
	e, err := pgx.RowToStructByName[alert.Event](row)
	if err != nil {
		return alert.Event{}, err
	}
	e.Notify, e.FiredAt = nonNil(e.Notify), e.FiredAt.UTC()
	return e, nil
}

// AlertEvents lists userID's alert events newest first: up to limit events
// with an ID below before (before <= 0: from the newest). A negative limit
// is market.ErrInvalid.
func (db *DB) AlertEvents(ctx context.Context, userID, before int64, limit int) ([]alert.Event, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	out, err := collect(ctx, db.primary, rowToEvent, "SELECT "+eventCols+" FROM alert_events WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
		userID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("alert events of user %d: %w", userID, err)
	}
	return out, nil
}

// AlertEvent returns event id (whoever owns it), or market.ErrNotFound.
func (db *DB) AlertEvent(ctx context.Context, id int64) (alert.Event, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	e, err := collectOne(ctx, db.primary, rowToEvent, "SELECT "+eventCols+" FROM alert_events WHERE id = $1", id)
	if err != nil {
		return alert.Event{}, fmt.Errorf("alert event %d: %w", id, err)
	}
	return e, nil
}

// WebhookSecret returns userID's webhook signing secret, storing candidate
// as the secret first if the user has none; of two concurrent first calls,
// both get the one stored. An unknown user is market.ErrNotFound.
func (db *DB) WebhookSecret(ctx context.Context, userID int64, candidate string) (string, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	const sel = "SELECT secret FROM webhook_secrets WHERE user_id = $1"
	var s string
	err := db.primary.QueryRow(ctx, sel, userID).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		err = db.primary.QueryRow(ctx,
			"INSERT INTO webhook_secrets (user_id, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING RETURNING secret",
			userID, candidate, roundMs(time.Now())).Scan(&s)
		if errors.Is(err, pgx.ErrNoRows) { // another call stored one in between
			err = db.primary.QueryRow(ctx, sel, userID).Scan(&s)
		}
	}
	if err != nil {
		return "", fmt.Errorf("webhook secret of user %d: %w", userID, translate(err))
	}
	return s, nil
}

// AlertPosition returns the log position of the last CommitAlerts in
// partition part, read as market.Positions.Of reads it, 0 if none.
func (db *DB) AlertPosition(ctx context.Context, part int) (uint64, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	pos, err := position(ctx, db.primary, alertsName, part)
	if err != nil {
		return 0, fmt.Errorf("alert position: %w", err)
	}
	return uint64(pos), nil
}

// AlertsVersion returns the number bumped by every alert create, delete,
// pause and resume.
func (db *DB) AlertsVersion(ctx context.Context) (int64, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	var v int64
	if err := db.primary.QueryRow(ctx, "SELECT version FROM alert_version WHERE id = 1").Scan(&v); err != nil {
		return 0, fmt.Errorf("alerts version: %w", translate(err))
	}
	return v, nil
}

// EvaluatedAlerts returns every alert (paused ones included) with its armed
// state, and the version they reflect: both are read in one read-only,
// repeatable-read transaction, so from one snapshot.
func (db *DB) EvaluatedAlerts(ctx context.Context) (_ []alert.Alert, _ int64, err error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	tx, err := db.primary.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, 0, fmt.Errorf("evaluated alerts: begin: %w", translate(err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // read-only: nothing to commit
	var v int64
	if err := tx.QueryRow(ctx, "SELECT version FROM alert_version WHERE id = 1").Scan(&v); err != nil {
		return nil, 0, fmt.Errorf("evaluated alerts: version: %w", translate(err))
	}
	out, err := collect(ctx, tx, rowToAlert, "SELECT "+alertCols+" FROM alerts ORDER BY id")
	if err != nil {
		return nil, 0, fmt.Errorf("evaluated alerts: %w", err)
	}
	return out, v, nil
}

// insertEvent inserts a fired event unless its alert is gone, paused or
// edited since the firing was evaluated (its revision is not $13), or its
// (alert_id, seq) is stored, and returns the event's id (NULL when not
// inserted) and the alert's revision (NULL when gone). The alert's row is
// share-locked before anything is checked, and the lock is held to the
// commit: an edit, pause or delete committed while this waits is seen
// (under READ COMMITTED a locked row is re-read at its newest version),
// and one that comes later waits for this commit. So an edit commits
// either before the check, and the firing is not recorded, or after it.
const insertEvent = `WITH a AS (SELECT paused, revision FROM alerts WHERE id = $1::bigint FOR SHARE),
	e AS (INSERT INTO alert_events
		(alert_id, user_id, symbol, condition, threshold, value, price, ts, seq, notify, webhook_url, fired_at)
		SELECT $1::bigint, $2::bigint, $3::text, $4::text, $5::float8, $6::float8, $7::float8, $8::bigint, $9::bigint, $10::text[], $11::text, $12::timestamptz
		FROM a WHERE NOT a.paused AND a.revision = $13::bigint
		ON CONFLICT (alert_id, seq) DO NOTHING RETURNING id)
	SELECT (SELECT id FROM e), (SELECT revision FROM a)`

// CommitAlerts records fired events, armed changes and logSeq as the
// evaluator's position in partition part in one transaction on the
// primary; see alert.Store. The partition's position row is locked first
// (FOR UPDATE), so concurrent evaluators
// serialise. prevSeq is the position the evaluator last committed or read
// (0: none): a stored position below it means the database lost commits
// it acknowledged (a failover to a standby that had not received them, a
// restore), and nothing changes and the error matches market.ErrBehind —
// checked here, under the lock, because a multi-host URL or a pooler moves
// to the new server between two commits without any call failing. When
// logSeq is not above the stored position nothing changes and applied is
// false. An event whose alert is gone or paused, or whose
// (AlertID, Seq) is stored, is skipped; the inserted events are returned
// with their IDs and FiredAt as stored. An event or an armed change whose
// Revision is no longer the alert's (edited since, decision 0081) is
// skipped, checked under the alert's row lock (an edit cannot commit
// between the check and the write); the events skipped so are returned
// as stale. An armed change whose CreatedSeq is no longer the alert's is
// skipped too (an edit by the previous version during a rolling update
// moves only that, decision 0079). Of several changes to one alert in
// armed, the last wins. A
// sequence above 2^63-1 is market.ErrInvalid.
func (db *DB) CommitAlerts(ctx context.Context, part int, prevSeq, logSeq uint64, fired []alert.Event, armed []alert.ArmedChange) (_, _ []alert.Event, _ bool, err error) {
	if logSeq > math.MaxInt64 {
		return nil, nil, false, fmt.Errorf("commit alerts: %w", market.Invalid("seq", "%d exceeds 2^63-1", logSeq))
	}
	if part < market.Unpartitioned {
		return nil, nil, false, fmt.Errorf("commit alerts: %w", market.Invalid("partition", "%d is not a partition", part))
	}
	for i := range fired {
		if fired[i].Seq > math.MaxInt64 {
			return nil, nil, false, fmt.Errorf("commit alerts: %w", market.Invalid("seq", "%d exceeds 2^63-1", fired[i].Seq))
		}
	}
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	tx, err := db.primary.Begin(ctx)
	if err != nil {
		return nil, nil, false, fmt.Errorf("commit alerts: begin: %w", translate(err))
	}
	defer func() { rollback(ctx, tx, err) }()
	pos, err := lockPosition(ctx, tx, alertsName, part)
	if err != nil {
		return nil, nil, false, fmt.Errorf("commit alerts: %w", err)
	}
	if prevSeq > uint64(pos) { // the database lost what this evaluator committed
		return nil, nil, false, fmt.Errorf("commit alerts at %d after %d: position is %d: %w", logSeq, prevSeq, pos, market.ErrBehind)
	}
	if int64(logSeq) <= pos { // already applied (a restart, or another evaluator)
		return nil, nil, false, tx.Rollback(ctx)
	}

	// The events, the armed changes and the new position in one round trip.
	b := &pgx.Batch{}
	for _, e := range fired {
		b.Queue(insertEvent, e.AlertID, e.UserID, e.Symbol, string(e.Condition), e.Threshold, e.Value, e.Price, e.TS,
			int64(e.Seq), nonNil(e.Notify), e.WebhookURL, roundMs(e.FiredAt), e.Revision)
	}
	ids, states, firedTS, revisions, createdSeqs := armedColumns(armed)
	if len(ids) > 0 {
		// An alert edited since the change was evaluated (its revision
		// moved, decision 0081, or, edited by the previous version during
		// a rolling update, only its created_seq, decision 0079) keeps the
		// edit's re-arm; under READ
		// COMMITTED an edit committed while this waits for the row is
		// re-checked, and one that comes later waits for this commit.
		b.Queue(`UPDATE alerts AS a SET armed = c.armed, last_fired_ts = c.fired
			FROM unnest($1::bigint[], $2::boolean[], $3::bigint[], $4::bigint[], $5::bigint[]) AS c (id, armed, fired, revision, created_seq)
			WHERE a.id = c.id AND a.revision = c.revision AND a.created_seq = c.created_seq`, ids, states, firedTS, revisions, createdSeqs)
	}
	b.Queue("UPDATE log_position SET seq = $3 WHERE name = $1 AND part = $2", alertsName, part, int64(logSeq))
	br := tx.SendBatch(ctx, b)
	var inserted, stale []alert.Event
	for _, e := range fired {
		var id, rev *int64
		if err := br.QueryRow().Scan(&id, &rev); err != nil {
			br.Close()
			return nil, nil, false, fmt.Errorf("commit alerts: insert event of alert %d: %w", e.AlertID, translate(err))
		}
		switch {
		case id != nil:
			e.ID, e.FiredAt, e.Notify = *id, roundMs(e.FiredAt), nonNil(e.Notify)
			inserted = append(inserted, e)
		case rev != nil && *rev != e.Revision: // edited since
			stale = append(stale, e)
		} // else gone, paused or already recorded
	}
	if err = br.Close(); err != nil {
		return nil, nil, false, fmt.Errorf("commit alerts: set armed, position: %w", translate(err))
	}
	if err = tx.Commit(ctx); err != nil {
		return nil, nil, false, fmt.Errorf("commit alerts: commit: %w", translate(err))
	}
	return inserted, stale, true, nil
}

// lockPosition locks reader name's log_position row of partition part
// (FOR UPDATE), creating it (seq 0) if it is missing, and returns the
// stored position as position reads it (for a partition, the unpartitioned
// row's seq when larger). The lock serialises the writers of one
// partition.
func lockPosition(ctx context.Context, tx pgx.Tx, name string, part int) (int64, error) {
	const sel = "SELECT seq FROM log_position WHERE name = $1 AND part = $2 FOR UPDATE"
	var own int64
	err := tx.QueryRow(ctx, sel, name, part).Scan(&own)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err = tx.Exec(ctx, "INSERT INTO log_position (name, part, seq) VALUES ($1, $2, 0) ON CONFLICT (name, part) DO NOTHING", name, part); err == nil {
			err = tx.QueryRow(ctx, sel, name, part).Scan(&own)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("lock position %s/%d: %w", name, part, translate(err))
	}
	return position(ctx, tx, name, part)
}

// armedColumns lays armed out by column for unnest, one entry per alert
// (the last change wins, as when applied in order; one UPDATE may not
// change a row twice), in alert order.
func armedColumns(armed []alert.ArmedChange) ([]int64, []bool, []int64, []int64, []int64) {
	last := make(map[int64]alert.ArmedChange, len(armed))
	for _, c := range armed {
		last[c.AlertID] = c
	}
	ids := make([]int64, 0, len(last))
	for id := range last {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	states := make([]bool, len(ids))
	fired := make([]int64, len(ids))
	revisions := make([]int64, len(ids))
	createdSeqs := make([]int64, len(ids))
	for i, id := range ids {
		c := last[id]
		states[i], fired[i], revisions[i], createdSeqs[i] = c.Armed, c.LastFiredTS, c.Revision, int64(c.CreatedSeq)
	}
	return ids, states, fired, revisions, createdSeqs
}

// PendingEvents returns up to limit events not marked dispatched, oldest first.
func (db *DB) PendingEvents(ctx context.Context, limit int) ([]alert.Event, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	out, err := collect(ctx, db.primary, rowToEvent, "SELECT "+eventCols+" FROM alert_events WHERE NOT dispatched ORDER BY id LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("pending alert events: %w", err)
	}
	return out, nil
}

// MarkEventsDispatched marks events as handed to the job queue. Unknown IDs
// are ignored.
func (db *DB) MarkEventsDispatched(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	if _, err := db.primary.Exec(ctx, "UPDATE alert_events SET dispatched = true WHERE id = ANY($1::bigint[]) AND NOT dispatched", ids); err != nil {
		return fmt.Errorf("mark %d alert events dispatched: %w", len(ids), translate(err))
	}
	return nil
}
