-- Messages the integration API accepted (`POST /api/v1/messages`): per client and
-- Idempotency-Key at most one (a repeated request finds it), with a hash of the request so
-- that the same key with another request is refused. `body` is kept until every recipient's
-- copy is queued (the outbox holds it from then on, under its own retention).
CREATE TABLE api_message (
    id              TEXT    NOT NULL PRIMARY KEY,
    client          TEXT    NOT NULL,
    idempotency_key TEXT,
    request_hash    TEXT    NOT NULL,
    reference       TEXT,
    body            TEXT,
    ack_requested   BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL
);
CREATE UNIQUE INDEX api_message_key ON api_message (client, idempotency_key);

-- Each recipient of an accepted message: its copy in the driver's portal (the bot's event,
-- under which the outbox queues the Threema message) once posted, and when it was queued.
CREATE TABLE api_recipient (
    message_id   TEXT   NOT NULL,
    driver       TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    portal_event TEXT,
    queued_at    BIGINT,
    PRIMARY KEY (message_id, driver)
);
CREATE INDEX api_recipient_pending ON api_recipient (queued_at);
