-- +goose Up
-- Log positions per partition (decision 0042): with a partitioned log each
-- partition's persister and alert evaluator keep their own position; part
-- -1 is the unpartitioned log, where every existing row belongs. A
-- partition's row is created by its first write.
ALTER TABLE log_position ADD COLUMN part integer NOT NULL DEFAULT -1;
ALTER TABLE log_position DROP CONSTRAINT log_position_pkey;
ALTER TABLE log_position ADD PRIMARY KEY (name, part);

-- +goose Down
-- What partitions applied past the unpartitioned position is kept as that
-- position (Positions.Of(-1)): the unpartitioned reader resumes after it.
INSERT INTO log_position (name, part, seq)
    SELECT name, -1, max(seq) FROM log_position GROUP BY name
    ON CONFLICT (name, part) DO UPDATE SET seq = excluded.seq;
DELETE FROM log_position WHERE part <> -1;
ALTER TABLE log_position DROP CONSTRAINT log_position_pkey;
ALTER TABLE log_position ADD PRIMARY KEY (name);
ALTER TABLE log_position DROP COLUMN part;
