-- +goose Up
-- Key ranges of imported history (findash import), per symbol and source:
-- a row whose key lies in a range was imported and is skipped, even after
-- retention deleted its tick. See internal/history.
CREATE TABLE import_ranges (
    symbol TEXT    NOT NULL,
    source TEXT    NOT NULL,
    lo     INTEGER NOT NULL, -- first key (the tick's seq), inclusive
    hi     INTEGER NOT NULL, -- last key, inclusive
    PRIMARY KEY (symbol, source, lo)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE import_ranges;
