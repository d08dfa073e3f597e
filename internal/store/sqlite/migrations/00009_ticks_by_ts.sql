-- +goose Up
-- Ticks keyed (symbol, ts, seq), one B-tree (decision 0076): the range
-- reads, the ticks route's (ts, seq) cursor and retention's deletes by ts
-- seek it directly, so the (symbol, ts) index goes, and each tick the
-- persister writes descends one B-tree instead of two. A redelivered tick
-- carries the same ts and seq, so INSERT OR IGNORE still stores it once;
-- PostgreSQL's unique key has been (symbol, ts, seq) from the start.
-- The copy reads the old table in its key's order, which per symbol is
-- nearly the new one's (seq follows the log, ts the events), so the new
-- B-tree fills at its right edge: 3.5-9 s for 2M ticks over 100 symbols on
-- 2 shared cores (docs/benchmarks/ingest.md). Reading through the (symbol,
-- ts) index in the new order was no faster (9.4-9.5 s): every row is then
-- a lookup in the table. goose runs it in one transaction, so a failure
-- leaves the old table as it was; the database grows by the copy until the
-- old pages are reused.
CREATE TABLE ticks_by_ts (
    symbol TEXT    NOT NULL,
    seq    INTEGER NOT NULL,
    ts     INTEGER NOT NULL, -- ms since epoch, UTC
    price  REAL    NOT NULL,
    size   REAL    NOT NULL,
    PRIMARY KEY (symbol, ts, seq)
) WITHOUT ROWID;
INSERT INTO ticks_by_ts (symbol, seq, ts, price, size)
SELECT symbol, seq, ts, price, size FROM ticks;
DROP TABLE ticks;
ALTER TABLE ticks_by_ts RENAME TO ticks;

-- +goose Down
-- Back to (symbol, seq) with the (symbol, ts) index. Two ticks of one
-- symbol with the same seq and different ts (possible only after the Up)
-- keep the first in (ts, seq) order.
CREATE TABLE ticks_by_seq (
    symbol TEXT    NOT NULL,
    seq    INTEGER NOT NULL,
    ts     INTEGER NOT NULL, -- ms since epoch, UTC
    price  REAL    NOT NULL,
    size   REAL    NOT NULL,
    PRIMARY KEY (symbol, seq)
) WITHOUT ROWID;
INSERT OR IGNORE INTO ticks_by_seq (symbol, seq, ts, price, size)
SELECT symbol, seq, ts, price, size FROM ticks ORDER BY symbol, ts, seq;
DROP TABLE ticks;
ALTER TABLE ticks_by_seq RENAME TO ticks;
CREATE INDEX ticks_symbol_ts ON ticks (symbol, ts);
