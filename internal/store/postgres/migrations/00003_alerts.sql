-- +goose Up
-- Alerts: a user's standing orders. armed is the crossing state kept by the
-- alert evaluator (committed with its log position). Times are timestamptz
-- rounded to ms by the application, like users; tick times are bigint ms
-- since epoch, UTC, like ticks.
CREATE TABLE alerts (
    id          bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint           NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbol      text             NOT NULL,
    condition   text             NOT NULL CHECK (condition IN ('above', 'below', 'change_pct_above', 'change_pct_below')),
    threshold   double precision NOT NULL,
    notify      text[]           NOT NULL DEFAULT '{}', -- channels, in the user's order
    webhook_url text             NOT NULL DEFAULT '',
    paused      boolean          NOT NULL DEFAULT false,
    armed       boolean          NOT NULL DEFAULT true,
    created_at  timestamptz      NOT NULL
);
CREATE INDEX alerts_user ON alerts (user_id, id);

-- Bumped on every create, delete, pause and resume: the evaluator reloads
-- the alerts when it changes. One row; the bump is the last statement of
-- those transactions, so its row lock is always taken last.
CREATE TABLE alert_version (
    id      integer PRIMARY KEY CHECK (id = 1),
    version bigint  NOT NULL
);
INSERT INTO alert_version (id, version) VALUES (1, 0);

-- The evaluator's log position, a row from the start so that CommitAlerts
-- always has a row to lock (FOR UPDATE).
INSERT INTO log_position (name, seq) VALUES ('alerts', 0) ON CONFLICT (name) DO NOTHING;

-- Firings. (alert_id, seq) is the firing's identity: one row per crossing,
-- however often or by however many evaluators it is computed. No foreign
-- key to alerts: the history outlives a deleted alert.
CREATE TABLE alert_events (
    id          bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    bigint           NOT NULL,
    user_id     bigint           NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbol      text             NOT NULL,
    condition   text             NOT NULL,
    threshold   double precision NOT NULL,
    value       double precision NOT NULL,
    price       double precision NOT NULL,
    ts          bigint           NOT NULL, -- ms since epoch, UTC, of the crossing tick
    seq         bigint           NOT NULL, -- seq of the crossing tick
    notify      text[]           NOT NULL DEFAULT '{}',
    webhook_url text             NOT NULL DEFAULT '',
    fired_at    timestamptz      NOT NULL,
    dispatched  boolean          NOT NULL DEFAULT false, -- notifications enqueued
    UNIQUE (alert_id, seq)
);
CREATE INDEX alert_events_user ON alert_events (user_id, id);
CREATE INDEX alert_events_pending ON alert_events (id) WHERE NOT dispatched;

-- Webhook signing secrets, one per user (kept in clear: they are HMAC keys).
CREATE TABLE webhook_secrets (
    user_id    bigint      PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     text        NOT NULL,
    created_at timestamptz NOT NULL
);

-- Reports built by the job queue into object storage.
CREATE TABLE reports (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbols    text[]      NOT NULL,
    interval   text        NOT NULL CHECK (interval IN ('1s', '1m', '5m', '15m', '1h', '1d')),
    from_ts    bigint      NOT NULL, -- ms since epoch, UTC
    to_ts      bigint      NOT NULL,
    format     text        NOT NULL CHECK (format IN ('csv', 'pdf')),
    status     text        NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    error      text        NOT NULL DEFAULT '',
    object_key text        NOT NULL DEFAULT '',
    size       bigint      NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX reports_user ON reports (user_id, id);

-- +goose Down
DROP TABLE reports;
DROP TABLE webhook_secrets;
DROP TABLE alert_events;
DELETE FROM log_position WHERE name = 'alerts';
DROP TABLE alert_version;
DROP TABLE alerts;
