-- +goose Up
-- The symbol registry (internal/symbol): a symbol takes ticks only once
-- registered, and their number is capped. api_key_id is the key whose tick
-- registered it (0 for an operator's or the simulator's); no foreign key:
-- the symbol outlives a revoked key.
CREATE TABLE symbols (
    name       text        PRIMARY KEY,
    source     text        NOT NULL CHECK (source IN ('admin', 'auto', 'import', 'simulator')),
    api_key_id bigint      NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL
);

-- Every symbol that already has candles stays known.
INSERT INTO symbols (name, source, created_at)
SELECT DISTINCT symbol, 'import', date_trunc('milliseconds', now()) FROM candles WHERE interval = '1d';

-- An API key's symbol patterns (market.SymbolPatterns), comma-separated;
-- empty: every symbol.
ALTER TABLE api_keys ADD COLUMN symbols text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE api_keys DROP COLUMN symbols;
DROP TABLE symbols;
