-- Delivery status per outgoing message and recipient: when the phone received and read it, and
-- whether the driver acknowledged or declined it; the ghost's reactions that show it. A resend
-- (the dispatcher's decision after a failure) is a new row, so the history of attempts stays.
CREATE TABLE threema_outbox_new (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id           TEXT    NOT NULL,
    recipient          TEXT    NOT NULL,
    part               BIGINT  NOT NULL,
    resend             BIGINT  NOT NULL DEFAULT 0,  -- 0 for the first try, then 1, 2…
    room_id            TEXT    NOT NULL,
    sender             TEXT    NOT NULL,
    payload            TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    threema_message_id TEXT,
    error              TEXT,
    attempts           BIGINT  NOT NULL DEFAULT 0,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL,
    processed_at       BIGINT,
    sent_at            BIGINT,
    received_at        BIGINT,
    read_at            BIGINT,
    reaction           TEXT,               -- acknowledged | declined
    reaction_at        BIGINT,
    marker_event       TEXT,               -- the ghost's received/read reaction
    reaction_event     TEXT,               -- the ghost's thumbs reaction
    UNIQUE (event_id, recipient, part, resend)
);
INSERT INTO threema_outbox_new (seq, event_id, recipient, part, room_id, sender, payload, state,
    threema_message_id, error, attempts, created_at, updated_at, processed_at, sent_at)
    SELECT seq, event_id, recipient, part, room_id, sender, payload, state, threema_message_id,
        error, attempts, created_at, updated_at, processed_at,
        CASE WHEN state = 'sent' THEN updated_at END
    FROM threema_outbox;
DROP TABLE threema_outbox;
ALTER TABLE threema_outbox_new RENAME TO threema_outbox;
CREATE INDEX threema_outbox_pending ON threema_outbox (seq) WHERE processed_at IS NULL;
CREATE INDEX threema_outbox_message ON threema_outbox (recipient, threema_message_id);

-- A driver's message the desk has read: when the driver was sent the read receipt.
ALTER TABLE message ADD COLUMN read_sent_at BIGINT;
