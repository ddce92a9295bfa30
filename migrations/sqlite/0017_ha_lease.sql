-- Active/standby (src/ha): the one row says which `serve` process is active. `token` goes up
-- with every takeover: the fencing token every queue state change checks by reading the row
-- `FOR KEY SHARE`. Being UNIQUE makes it a key column, so a takeover (which changes it) waits
-- for those changes while a renewal (which changes `expires_at` only) does not. `expires_at`
-- is on the database's clock, the one clock all processes share. SQLite serves one process and
-- never uses it.
CREATE TABLE ha_lease (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    holder     TEXT    NOT NULL,
    token      BIGINT  NOT NULL UNIQUE,
    expires_at BIGINT  NOT NULL,
    taken_at   BIGINT  NOT NULL
);
-- Free from the start: a takeover is a plain UPDATE, which locks nothing while the lease is held.
INSERT INTO ha_lease (id, holder, token, expires_at, taken_at) VALUES (1, '', 0, 0, 0);
