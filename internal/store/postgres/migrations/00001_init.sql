-- +goose Up
-- Ticks: append-only, partitioned by day on ts (ms since epoch, UTC). The
-- partitions (ticks_pYYYYMMDD, [day, day + 1 d)) are created by the
-- application (MaintainPartitions, and WriteBatch for a day it has not seen)
-- and dropped by retention; there is deliberately no DEFAULT partition (see
-- docs/postgres.md). The unique (symbol, ts, seq) index must include the
-- partition key; a tick redelivered has the same ts, so it still makes a
-- tick stored twice impossible, and it serves the range reads in (ts, seq)
-- order without a sort.
CREATE TABLE ticks (
    symbol text COLLATE "C" NOT NULL,
    seq    bigint           NOT NULL,
    ts     bigint           NOT NULL, -- ms since epoch, UTC
    price  double precision NOT NULL,
    size   double precision NOT NULL
) PARTITION BY RANGE (ts);
CREATE UNIQUE INDEX ticks_symbol_ts_seq ON ticks (symbol, ts, seq);

-- Candles: one row per (symbol, interval, start), merged on upsert.
CREATE TABLE candles (
    symbol    text COLLATE "C" NOT NULL,
    interval  text             NOT NULL CHECK (interval IN ('1s', '1m', '5m', '15m', '1h', '1d')),
    start     bigint           NOT NULL, -- bucket start, ms since epoch, UTC
    open      double precision NOT NULL,
    high      double precision NOT NULL,
    low       double precision NOT NULL,
    close     double precision NOT NULL,
    volume    double precision NOT NULL,
    count     bigint           NOT NULL,
    first_ts  bigint           NOT NULL,
    first_seq bigint           NOT NULL,
    last_ts   bigint           NOT NULL,
    last_seq  bigint           NOT NULL,
    PRIMARY KEY (symbol, interval, start)
);

-- Positions of log consumers: the last log sequence applied. The persister's
-- row exists from the start, so WriteBatch always has a row to lock.
CREATE TABLE log_position (
    name text   PRIMARY KEY,
    seq  bigint NOT NULL
);
INSERT INTO log_position (name, seq) VALUES ('persister', 0);

CREATE TABLE users (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text        NOT NULL UNIQUE,
    password_hash text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL,
    prefix       text        NOT NULL,
    hash         bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz -- NULL until used
);
CREATE INDEX api_keys_user ON api_keys (user_id, id);

-- +goose Down
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE log_position;
DROP TABLE candles;
DROP TABLE ticks;
