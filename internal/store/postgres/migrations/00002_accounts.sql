-- +goose Up
-- Login sessions: only the SHA-256 of the token is stored. Times are
-- timestamptz rounded to ms by the application, like users and api_keys.
CREATE TABLE sessions (
    hash       bytea       PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);

-- Watchlists: symbols in the user's order, a one-dimensional array without
-- NULLs ('{}' when empty; an empty array has no dimensions).
CREATE TABLE watchlists (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text        NOT NULL,
    symbols    text[]      NOT NULL DEFAULT '{}'
        CHECK (CASE WHEN array_ndims(symbols) > 1 THEN false ELSE array_position(symbols, NULL) IS NULL END),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX watchlists_user ON watchlists (user_id, id);

-- +goose Down
DROP TABLE watchlists;
DROP TABLE sessions;
