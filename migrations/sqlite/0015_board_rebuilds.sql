-- How often a broadcast's board was started anew (an erasure took a recipient out): the new
-- board's post is a new transaction, not the first board's retried.
ALTER TABLE broadcast ADD COLUMN board_rebuilds BIGINT NOT NULL DEFAULT 0;
