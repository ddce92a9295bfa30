-- Messages and job cards the integration API accepted (`POST /api/v1/messages`, `/jobs`): per client and
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
    created_at      BIGINT  NOT NULL,
    -- A job card (`POST /api/v1/jobs`): its title, fields and the answers the driver may give
    -- (JSON), and its state (`open`, `accepted`, `declined`, a quick code's meaning, `failed`)
    -- with when it was reached.
    job             TEXT,
    job_state       TEXT,
    job_state_at    BIGINT,
    -- A file sent with the text, uploaded to the homeserver's media store when the request
    -- was taken (JSON: mxc, name, mime type, size).
    file            TEXT
);
CREATE INDEX api_message_jobs ON api_message (job_state_at) WHERE job IS NOT NULL;
CREATE UNIQUE INDEX api_message_key ON api_message (client, idempotency_key);

-- Each recipient of an accepted message: its copy in the driver's portal (the bot's event,
-- under which the outbox queues the Threema message) once posted, and when it was queued.
CREATE TABLE api_recipient (
    message_id   TEXT   NOT NULL,
    driver       TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    portal_event TEXT,
    queued_at    BIGINT,
    -- When the driver's next message (the answer webhooks report) arrived.
    answered_at  BIGINT,
    -- A copy that could not be given (the homeserver refused) is tried again from `next_at`,
    -- and given up (`failed_at`) after many tries; the others go on meanwhile.
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL DEFAULT 0,
    failed_at    BIGINT,
    PRIMARY KEY (message_id, driver)
);
CREATE INDEX api_recipient_event ON api_recipient (portal_event);
CREATE INDEX api_recipient_driver ON api_recipient (driver, queued_at);
CREATE INDEX api_recipient_pending ON api_recipient (queued_at);

-- The webhooks' durable queue: one row per webhook URL and event (the event id makes a
-- repeated enqueue a no-op and lets the receiver drop a repeated delivery), tried with
-- back-off until the receiver answers 2xx (`processed_at`) or it is given up (`failed`).
CREATE TABLE webhook_delivery (
    url          TEXT   NOT NULL,
    event_id     TEXT   NOT NULL,
    payload      TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    last_error   TEXT,
    processed_at BIGINT,
    failed       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (url, event_id)
);
CREATE INDEX webhook_delivery_due ON webhook_delivery (next_at) WHERE processed_at IS NULL;
