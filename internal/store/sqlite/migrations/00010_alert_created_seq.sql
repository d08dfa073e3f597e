-- +goose Up
-- The stream sequence of the log's newest message when each alert was
-- created: the alert evaluator evaluates an alert only on later messages,
-- after a restart too (decision 0065). Alerts created before this
-- migration get 0, "unknown": they are evaluated as before, on every
-- message after the evaluator's stored position.
ALTER TABLE alerts ADD COLUMN created_seq INTEGER NOT NULL DEFAULT 0 CHECK (created_seq >= 0);

-- +goose Down
-- A findash without created_seq evaluates every alert from the stored
-- position again (docs/operations.md, rolling back).
ALTER TABLE alerts DROP COLUMN created_seq;
