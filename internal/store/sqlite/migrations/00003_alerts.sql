-- +goose Up
-- Alerts: a user's standing orders. armed is the crossing state kept by the
-- alert evaluator (committed with its log position).
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbol      TEXT    NOT NULL,
    condition   TEXT    NOT NULL CHECK (condition IN ('above', 'below', 'change_pct_above', 'change_pct_below')),
    threshold   REAL    NOT NULL,
    notify      TEXT    NOT NULL DEFAULT '', -- comma-separated channels
    webhook_url TEXT    NOT NULL DEFAULT '',
    paused      INTEGER NOT NULL DEFAULT 0,
    armed       INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL -- ms since epoch, UTC
);
CREATE INDEX alerts_user ON alerts (user_id, id);

-- Bumped on every create, delete, pause and resume: the evaluator reloads
-- the alerts when it changes.
CREATE TABLE alert_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO alert_version (id, version) VALUES (1, 0);

-- Firings. (alert_id, seq) is the firing's identity: one row per crossing,
-- however often or by however many evaluators it is computed. No foreign
-- key to alerts: the history outlives a deleted alert.
CREATE TABLE alert_events (
    id          INTEGER PRIMARY KEY,
    alert_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbol      TEXT    NOT NULL,
    condition   TEXT    NOT NULL,
    threshold   REAL    NOT NULL,
    value       REAL    NOT NULL,
    price       REAL    NOT NULL,
    ts          INTEGER NOT NULL, -- ms since epoch, UTC, of the crossing tick
    seq         INTEGER NOT NULL, -- seq of the crossing tick
    notify      TEXT    NOT NULL DEFAULT '',
    webhook_url TEXT    NOT NULL DEFAULT '',
    fired_at    INTEGER NOT NULL, -- ms since epoch, UTC
    dispatched  INTEGER NOT NULL DEFAULT 0, -- notifications enqueued
    UNIQUE (alert_id, seq)
);
CREATE INDEX alert_events_user ON alert_events (user_id, id);
CREATE INDEX alert_events_pending ON alert_events (id) WHERE dispatched = 0;

-- Webhook signing secrets, one per user (kept in clear: they are HMAC keys).
CREATE TABLE webhook_secrets (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     TEXT    NOT NULL,
    created_at INTEGER NOT NULL -- ms since epoch, UTC
);

-- Reports built by the job queue into object storage.
CREATE TABLE reports (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbols     TEXT    NOT NULL, -- comma-separated
    interval    TEXT    NOT NULL CHECK (interval IN ('1s', '1m', '5m', '15m', '1h', '1d')),
    from_ts     INTEGER NOT NULL, -- ms since epoch, UTC
    to_ts       INTEGER NOT NULL,
    format      TEXT    NOT NULL CHECK (format IN ('csv', 'pdf')),
    status      TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    error       TEXT    NOT NULL DEFAULT '',
    object_key  TEXT    NOT NULL DEFAULT '',
    size        INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL, -- ms since epoch, UTC
    updated_at  INTEGER NOT NULL
);
CREATE INDEX reports_user ON reports (user_id, id);

-- +goose Down
DROP TABLE reports;
DROP TABLE webhook_secrets;
DROP TABLE alert_events;
DROP TABLE alert_version;
DROP TABLE alerts;
