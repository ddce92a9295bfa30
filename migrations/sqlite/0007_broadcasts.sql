-- Broadcasts: a room from which dispatchers write to a selection of drivers.
CREATE TABLE broadcast_room (
    room_id      TEXT   PRIMARY KEY,
    owner        TEXT   NOT NULL,
    selection    TEXT   NOT NULL,            -- as the dispatcher wrote it
    live         BIGINT NOT NULL,            -- 1: evaluated again for every message; 0: frozen
    confirmed_at BIGINT,                     -- confirm once: when the room was confirmed
    created_at   BIGINT NOT NULL
);
-- The recipients of a frozen room (re-evaluated only on request).
CREATE TABLE broadcast_room_recipient (
    room_id   TEXT NOT NULL,
    recipient TEXT NOT NULL,
    PRIMARY KEY (room_id, recipient)
);
-- Named selections (`list:<name>` in a selection).
CREATE TABLE broadcast_list (
    name       TEXT   PRIMARY KEY,
    selection  TEXT   NOT NULL,
    owner      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
-- One dispatcher message in a broadcast room: what it becomes on the phones (the planned
-- Threema messages, signed) and its status board.
CREATE TABLE broadcast (
    event_id     TEXT   PRIMARY KEY,
    room_id      TEXT   NOT NULL,
    sender       TEXT   NOT NULL,
    content      TEXT   NOT NULL,            -- the Matrix content, for the portal copies
    payload      TEXT   NOT NULL,            -- JSON list of outgoing Threema messages
    ack          BIGINT NOT NULL,            -- asks drivers to acknowledge (👍)
    state        TEXT   NOT NULL,            -- awaiting | started | cancelled
    board_event  TEXT,                       -- the bot's notice edited in place
    board_text   TEXT,
    recipients   BIGINT NOT NULL DEFAULT 0,
    started_at   BIGINT,
    settled_at   BIGINT,                     -- every recipient final: the board stops updating
    escalated_at BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX broadcast_by_room ON broadcast (room_id, created_at);
-- One recipient of a broadcast: the fan-out posts the copy in the driver's portal, then queues
-- the Threema messages in the outbox under the copy's event id (receipts, quotes, resends and
-- notices then work as for any portal message).
CREATE TABLE broadcast_delivery (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT    NOT NULL,
    recipient    TEXT    NOT NULL,
    name         TEXT    NOT NULL,           -- as the desk knew them when it started
    portal_room  TEXT,
    copy_event   TEXT,
    copy_tried_at BIGINT,                    -- the copy was sent (maybe): look before sending again
    error        TEXT,                       -- why nothing was queued
    reply_event  TEXT,                       -- the driver's first answer, in the portal
    processed_at BIGINT,
    created_at   BIGINT  NOT NULL,
    UNIQUE (event_id, recipient)
);
CREATE INDEX broadcast_delivery_pending ON broadcast_delivery (seq) WHERE processed_at IS NULL;
CREATE INDEX broadcast_delivery_recipient ON broadcast_delivery (recipient, seq);
