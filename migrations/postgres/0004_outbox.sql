-- One Matrix event can become several Threema messages (long text in parts; later one per
-- recipient of a broadcast): the mapping is unique per (event, peer, part), no longer per event.
ALTER TABLE message ADD COLUMN part BIGINT NOT NULL DEFAULT 0;
ALTER TABLE message DROP CONSTRAINT message_event_id_key;
ALTER TABLE message ADD CONSTRAINT message_event_peer_part UNIQUE (event_id, threema_peer, part);

-- Dispatcher messages on their way to Threema, one row per Threema message. The state is
-- written before each Gateway call, so after a crash a row left in 'sending' is known to have an
-- unknown outcome and is never resent blindly.
CREATE TABLE threema_outbox (
    seq                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id           TEXT    NOT NULL,
    recipient          TEXT    NOT NULL,
    part               BIGINT  NOT NULL,
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
    UNIQUE (event_id, recipient, part)
);
CREATE INDEX threema_outbox_pending ON threema_outbox (seq) WHERE processed_at IS NULL;

CREATE TABLE management_room (
    room_id    TEXT   PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE bridge_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
