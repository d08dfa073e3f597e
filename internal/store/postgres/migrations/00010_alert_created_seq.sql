-- +goose Up
-- The stream sequence of the log's newest message when each alert was
-- created: the alert evaluator evaluates an alert only on later messages,
-- after a restart too (decision 0065). Alerts created before this
-- migration get 0, "unknown": they are evaluated as before, on every
-- message after the evaluator's stored position. A constant default: no
-- table rewrite. The CHECK is added NOT VALID: PostgreSQL then checks new
-- and updated rows only, instead of scanning every existing row (all 0)
-- while the ADD COLUMN's ACCESS EXCLUSIVE lock is held (946 ms on a
-- 2M-row table with an inline CHECK, 2 ms this way).
ALTER TABLE alerts ADD COLUMN created_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD CONSTRAINT alerts_created_seq_check CHECK (created_seq >= 0) NOT VALID;

-- +goose Down
-- A findash without created_seq evaluates every alert from the stored
-- position again (docs/operations.md, rolling back).
ALTER TABLE alerts DROP COLUMN created_seq;
