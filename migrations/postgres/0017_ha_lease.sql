-- Active/standby (src/ha): the one row says which `serve` process is active. `token` goes up
-- with every takeover (the fencing token every queue state change checks); `expires_at` is on
-- the database's clock, the one clock all processes share. SQLite serves one process and
-- never writes it.
CREATE TABLE ha_lease (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    holder     TEXT    NOT NULL,
    token      BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    taken_at   BIGINT  NOT NULL
);
