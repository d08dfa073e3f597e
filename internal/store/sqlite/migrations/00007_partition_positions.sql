-- +goose Up
-- Log positions per partition (decision 0042): with a partitioned log each
-- partition's persister and alert evaluator keep their own position; part
-- -1 is the unpartitioned log, where every existing row belongs.
CREATE TABLE log_position_by_part (
    name TEXT    NOT NULL,
    part INTEGER NOT NULL, -- -1: the unpartitioned log
    seq  INTEGER NOT NULL,
    PRIMARY KEY (name, part)
) WITHOUT ROWID;
INSERT INTO log_position_by_part (name, part, seq) SELECT name, -1, seq FROM log_position;
DROP TABLE log_position;
ALTER TABLE log_position_by_part RENAME TO log_position;

-- +goose Down
-- What partitions applied past the unpartitioned position is kept as that
-- position (Positions.Of(-1)): the unpartitioned reader resumes after it.
CREATE TABLE log_position_one (
    name TEXT    PRIMARY KEY,
    seq  INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO log_position_one (name, seq) SELECT name, max(seq) FROM log_position GROUP BY name;
DROP TABLE log_position;
ALTER TABLE log_position_one RENAME TO log_position;
