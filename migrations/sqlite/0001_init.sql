-- Matrix events pushed by the homeserver. A row is written before the transaction is
-- acknowledged and kept after it is handled: `dedup_key` is the memory of processed events
-- (Synapse may replay a transaction under a new txn id), the payload is dropped once handled.
CREATE TABLE matrix_inbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key    TEXT    NOT NULL UNIQUE,  -- event id, or "edu:<sha256>" for ephemeral data
    room_id      TEXT    NOT NULL,         -- ordering key ("" when the data has no room)
    kind         TEXT    NOT NULL,         -- 'event' | 'ephemeral'
    event_type   TEXT    NOT NULL,
    sender       TEXT,
    payload      TEXT,                     -- NULL once handled
    received_at  BIGINT  NOT NULL,         -- ms since the epoch
    attempts     BIGINT  NOT NULL DEFAULT 0,
    processed_at BIGINT,
    outcome      TEXT
);
CREATE INDEX matrix_inbox_pending ON matrix_inbox (seq) WHERE processed_at IS NULL;
CREATE INDEX matrix_inbox_sender ON matrix_inbox (sender);

-- One ghost user per Threema ID.
CREATE TABLE ghost (
    threema_id    TEXT   PRIMARY KEY,
    user_id       TEXT   NOT NULL UNIQUE,
    display_name  TEXT,
    avatar_url    TEXT,
    registered_at BIGINT               -- NULL until the homeserver has the user
);

-- One portal room per driver.
CREATE TABLE portal (
    threema_id TEXT   PRIMARY KEY,
    room_id    TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- Matrix event <-> Threema message. Threema message ids are chosen per message by the sender,
-- so they are unique only together with the peer.
CREATE TABLE message (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id            TEXT    NOT NULL,
    event_id           TEXT    NOT NULL UNIQUE,
    threema_peer       TEXT    NOT NULL,
    threema_message_id TEXT    NOT NULL,   -- 16 hex digits
    direction          TEXT    NOT NULL,   -- 'in' (Threema -> Matrix) | 'out'
    matrix_sender      TEXT    NOT NULL,   -- the real sender, also for relayed messages
    created_at         BIGINT  NOT NULL,
    UNIQUE (threema_peer, threema_message_id, direction)
);
CREATE INDEX message_room ON message (room_id, id);
