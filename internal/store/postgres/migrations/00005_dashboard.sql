-- +goose Up
-- E-mail verification (issue 16, decision 0030): NULL until the address
-- is verified. Users that exist already were created by an operator or
-- signed up before verification existed: they count as verified.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
UPDATE users SET email_verified_at = created_at;

-- Single-use account tokens (e-mail verification, password reset): only
-- the SHA-256 of the token is stored; taking one deletes it.
CREATE TABLE account_tokens (
    hash       bytea       PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('verify', 'reset')),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires ON account_tokens (expires_at);

-- Re-arm rules per alert (decision 0031): hysteresis in percent of the
-- threshold (price conditions) or percentage points (change_pct), a
-- cooldown after each firing, and the tick time of the last firing.
ALTER TABLE alerts ADD COLUMN hysteresis double precision NOT NULL DEFAULT 0.5;
ALTER TABLE alerts ADD COLUMN cooldown_s bigint NOT NULL DEFAULT 300;
ALTER TABLE alerts ADD COLUMN last_fired_ts bigint NOT NULL DEFAULT 0; -- ms since epoch, UTC; 0: never

-- Portfolio holdings (decision 0033): one row per user and symbol.
CREATE TABLE holdings (
    id         bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint           NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbol     text             NOT NULL,
    quantity   double precision NOT NULL,
    cost_basis double precision NOT NULL, -- average price paid per unit, in the quote currency
    created_at timestamptz      NOT NULL,
    updated_at timestamptz      NOT NULL,
    UNIQUE (user_id, symbol)
);

-- +goose Down
DROP TABLE holdings;
ALTER TABLE alerts DROP COLUMN last_fired_ts;
ALTER TABLE alerts DROP COLUMN cooldown_s;
ALTER TABLE alerts DROP COLUMN hysteresis;
DROP TABLE account_tokens;
ALTER TABLE users DROP COLUMN email_verified_at;
