-- +goose Up
-- Login sessions: only the SHA-256 of the token is stored.
CREATE TABLE sessions (
    hash       BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL, -- ms since epoch, UTC
    expires_at INTEGER NOT NULL  -- ms since epoch, UTC
) WITHOUT ROWID;
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);

-- Watchlists: symbols is a JSON array of strings, in the user's order.
CREATE TABLE watchlists (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    symbols    TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(symbols) AND json_type(symbols) = 'array'),
    created_at INTEGER NOT NULL, -- ms since epoch, UTC
    updated_at INTEGER NOT NULL  -- ms since epoch, UTC
);
CREATE INDEX watchlists_user ON watchlists (user_id, id);

-- +goose Down
DROP TABLE watchlists;
DROP TABLE sessions;
