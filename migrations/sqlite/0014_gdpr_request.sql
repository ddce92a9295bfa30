-- Data subjects' requests (GDPR Art. 15 export, Art. 17 erasure) and when they are due (one
-- month, Art. 12(3)): `gdpr requests` lists the open ones, admins are reminded a week ahead,
-- and the export or erasure that answers one closes it.
CREATE TABLE gdpr_request (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT   NOT NULL,   -- export | erasure
    subject     TEXT   NOT NULL,   -- employee ID, else Threema ID, else Matrix ID
    received_on TEXT   NOT NULL,   -- YYYY-MM-DD
    due_on      TEXT   NOT NULL,   -- YYYY-MM-DD
    created_by  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    reminded_at BIGINT,
    done_at     BIGINT,
    done_by     TEXT
);
