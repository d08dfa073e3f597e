-- +goose Up
-- The symbol registry (internal/symbol): a symbol takes ticks only once
-- registered, and their number is capped. api_key_id is the key whose tick
-- registered it (0 for an operator's or the simulator's); no foreign key:
-- the symbol outlives a revoked key.
CREATE TABLE symbols (
    name       TEXT    PRIMARY KEY,
    source     TEXT    NOT NULL CHECK (source IN ('admin', 'auto', 'import', 'simulator')),
    api_key_id INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL -- ms since epoch, UTC
) WITHOUT ROWID;

-- Every symbol that already has candles stays known.
INSERT INTO symbols (name, source, created_at)
SELECT DISTINCT symbol, 'import', CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM candles WHERE interval = '1d';

-- An API key's symbol patterns (market.SymbolPatterns), comma-separated;
-- empty: every symbol.
ALTER TABLE api_keys ADD COLUMN symbols TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE api_keys DROP COLUMN symbols;
DROP TABLE symbols;
