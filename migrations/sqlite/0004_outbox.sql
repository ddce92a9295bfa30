-- One Matrix event can become several Threema messages (long text in parts; later one per
-- recipient of a broadcast): the mapping is unique per (event, peer, part), no longer per event.
CREATE TABLE message_new (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id            TEXT    NOT NULL,
    event_id           TEXT    NOT NULL,
    threema_peer       TEXT    NOT NULL,
    threema_message_id TEXT    NOT NULL,
    direction          TEXT    NOT NULL,
    matrix_sender      TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    part               BIGINT  NOT NULL DEFAULT 0,
    UNIQUE (threema_peer, threema_message_id, direction),
    UNIQUE (event_id, threema_peer, part)
);
INSERT INTO message_new (id, room_id, event_id, threema_peer, threema_message_id, direction, matrix_sender, created_at)
    SELECT id, room_id, event_id, threema_peer, threema_message_id, direction, matrix_sender, created_at FROM message;
DROP TABLE message;
ALTER TABLE message_new RENAME TO message;
CREATE INDEX message_room ON message (room_id, id);

-- Dispatcher messages on their way to Threema, one row per Threema message. The state is
-- written before each Gateway call, so after a crash a row left in 'sending' is known to have an
-- unknown outcome and is never resent blindly.
CREATE TABLE threema_outbox (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id           TEXT    NOT NULL,   -- the Matrix event it comes from
    recipient          TEXT    NOT NULL,   -- Threema ID; also the ordering lane
    part               BIGINT  NOT NULL,   -- 0.. when one event becomes several messages
    room_id            TEXT    NOT NULL,
    sender             TEXT    NOT NULL,   -- the dispatcher
    payload            TEXT    NOT NULL,   -- JSON: what to send
    state              TEXT    NOT NULL,   -- queued | sending | sent | failed | unknown
    threema_message_id TEXT,               -- once sent
    error              TEXT,               -- why it failed (plain words)
    attempts           BIGINT  NOT NULL DEFAULT 0,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL,
    processed_at       BIGINT,             -- NULL while the outbox still has work on it
    UNIQUE (event_id, recipient, part)
);
CREATE INDEX threema_outbox_pending ON threema_outbox (seq) WHERE processed_at IS NULL;

-- Rooms where the bot talks with one user (commands).
CREATE TABLE management_room (
    room_id    TEXT   PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- Small named values of the bridge itself (e.g. the quarantine room).
CREATE TABLE bridge_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
