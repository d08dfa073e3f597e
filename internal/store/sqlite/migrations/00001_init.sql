-- +goose Up
-- Ticks: append-only. Clustered on (symbol, seq), which is also the order the
-- log delivers them in; the (symbol, ts) index carries seq implicitly, so a
-- range read is ordered by (ts, seq) without a sort.
CREATE TABLE ticks (
    symbol TEXT    NOT NULL,
    seq    INTEGER NOT NULL,
    ts     INTEGER NOT NULL, -- ms since epoch, UTC
    price  REAL    NOT NULL,
    size   REAL    NOT NULL,
    PRIMARY KEY (symbol, seq)
) WITHOUT ROWID;
CREATE INDEX ticks_symbol_ts ON ticks (symbol, ts);

-- Candles: one row per (symbol, interval, start), merged on upsert.
CREATE TABLE candles (
    symbol    TEXT    NOT NULL,
    interval  TEXT    NOT NULL CHECK (interval IN ('1s', '1m', '5m', '15m', '1h', '1d')),
    start     INTEGER NOT NULL, -- bucket start, ms since epoch, UTC
    open      REAL    NOT NULL,
    high      REAL    NOT NULL,
    low       REAL    NOT NULL,
    close     REAL    NOT NULL,
    volume    REAL    NOT NULL,
    count     INTEGER NOT NULL,
    first_ts  INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_ts   INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    PRIMARY KEY (symbol, interval, start)
) WITHOUT ROWID;

-- Positions of log consumers ("persister"): the last log sequence applied.
CREATE TABLE log_position (
    name TEXT    PRIMARY KEY,
    seq  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL -- ms since epoch, UTC
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    hash         BLOB    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL, -- ms since epoch, UTC
    last_used_at INTEGER           -- ms since epoch, UTC; NULL until used
);
CREATE INDEX api_keys_user ON api_keys (user_id, id);

-- +goose Down
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE log_position;
DROP TABLE candles;
DROP TABLE ticks;
