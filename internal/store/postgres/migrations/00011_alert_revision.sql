-- +goose Up
-- The revision of each alert's definition, incremented by every edit of
-- a definition field (not by a pause or resume alone): the alert
-- evaluator's commit records a firing and applies an armed change only
-- while the alert still has the revision they were evaluated with
-- (decision 0081). Existing alerts start at 0. A constant default: no
-- table rewrite, the ACCESS EXCLUSIVE lock held for milliseconds.
ALTER TABLE alerts ADD COLUMN revision bigint NOT NULL DEFAULT 0;

-- +goose Down
-- A findash without revision guards the evaluator's armed changes by
-- created_seq alone, as before (decision 0079).
ALTER TABLE alerts DROP COLUMN revision;
