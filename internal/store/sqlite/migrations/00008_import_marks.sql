-- +goose Up
-- How many import batches wrote each symbol's candles (findash import, which
-- writes to the database without the event log): an instance that answers
-- candles from memory reads it to notice an import (decision 0048).
CREATE TABLE import_marks (
    symbol TEXT    PRIMARY KEY,
    writes INTEGER NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE import_marks;
