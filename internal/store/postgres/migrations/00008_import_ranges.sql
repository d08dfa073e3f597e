-- +goose Up
-- Key ranges of imported history (findash import), per symbol and source:
-- a row whose key lies in a range was imported and is skipped, even after
-- retention deleted its tick. See internal/history and decision 0026.
-- (00006 is SQLite's number for the same table; PostgreSQL databases
-- already at 00007 would refuse a migration numbered below it.)
CREATE TABLE import_ranges (
    symbol text   NOT NULL,
    source text   NOT NULL,
    lo     bigint NOT NULL, -- first key (the tick's seq), inclusive
    hi     bigint NOT NULL, -- last key, inclusive
    PRIMARY KEY (symbol, source, lo)
);

-- +goose Down
DROP TABLE import_ranges;
