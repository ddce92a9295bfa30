-- The privacy notice (gdpr.driver_notice, GDPR Art. 13) per driver and text: its event in the
-- portal (the bot's copy, under which the outbox sends it and shows its delivery), and when it
-- was queued. A row without an event was being posted when the bridge stopped.
CREATE TABLE driver_notice (
    threema_id TEXT   NOT NULL,
    text_hash  TEXT   NOT NULL,   -- SHA-256 of the notice's text, hex
    event_id   TEXT,
    queued_at  BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (threema_id, text_hash)
);
