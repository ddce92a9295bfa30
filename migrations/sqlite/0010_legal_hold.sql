-- Legal holds (GDPR Art. 17(3)(e), Art. 18; §35(3) BDSG): what they cover is neither erased nor
-- pruned while they are in force. A released hold stays as a record of when and by whom.
CREATE TABLE legal_hold (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT   NOT NULL,   -- employee | driver | user | room
    target      TEXT   NOT NULL,   -- employee id, Threema ID, Matrix user ID or room ID
    reason      TEXT   NOT NULL,
    case_ref    TEXT,
    set_by      TEXT   NOT NULL,
    set_at      BIGINT NOT NULL,
    released_by TEXT,
    released_at BIGINT
);
CREATE UNIQUE INDEX legal_hold_in_force ON legal_hold (kind, target) WHERE released_at IS NULL;
