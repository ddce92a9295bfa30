-- Gateway callbacks, stored after the MAC check and before answering 200. The box stays until
-- the message is handled (or for good when it cannot be: unknown or undecryptable messages are
-- kept for inspection, never dropped silently).
CREATE TABLE threema_inbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    sender       TEXT    NOT NULL,          -- Threema ID
    message_id   TEXT    NOT NULL,          -- 16 hex digits, chosen by the sender
    date         BIGINT  NOT NULL,          -- Unix seconds, from the sender's app
    nonce        TEXT    NOT NULL,          -- hex
    box          TEXT,                      -- hex; NULL once handled
    nickname     TEXT,
    received_at  BIGINT  NOT NULL,          -- ms since the epoch
    attempts     BIGINT  NOT NULL DEFAULT 0,
    processed_at BIGINT,
    outcome      TEXT,
    UNIQUE (sender, message_id)
);
CREATE INDEX threema_inbox_pending ON threema_inbox (seq) WHERE processed_at IS NULL;

-- Public keys of Threema IDs, looked up once. A different key from the Gateway later is kept
-- aside in `pending_key` and reported, not used, until an operator accepts it.
CREATE TABLE threema_public_key (
    threema_id     TEXT   PRIMARY KEY,
    public_key     TEXT   NOT NULL,         -- 64 hex digits
    fetched_at     BIGINT NOT NULL,
    pending_key    TEXT,
    pending_since  BIGINT
);
