-- Delivery status per outgoing message and recipient: when the phone received and read it, and
-- whether the driver acknowledged or declined it; the ghost's reactions that show it. A resend
-- (the dispatcher's decision after a failure) is a new row, so the history of attempts stays.
ALTER TABLE threema_outbox
    ADD COLUMN resend         BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN sent_at        BIGINT,
    ADD COLUMN received_at    BIGINT,
    ADD COLUMN read_at        BIGINT,
    ADD COLUMN reaction       TEXT,
    ADD COLUMN reaction_at    BIGINT,
    ADD COLUMN marker_event   TEXT,
    ADD COLUMN reaction_event TEXT;
UPDATE threema_outbox SET sent_at = updated_at WHERE state = 'sent';
ALTER TABLE threema_outbox DROP CONSTRAINT threema_outbox_event_id_recipient_part_key;
ALTER TABLE threema_outbox ADD CONSTRAINT threema_outbox_event_recipient_part_resend
    UNIQUE (event_id, recipient, part, resend);
CREATE INDEX threema_outbox_message ON threema_outbox (recipient, threema_message_id);

-- A driver's message the desk has read: when the driver was sent the read receipt.
ALTER TABLE message ADD COLUMN read_sent_at BIGINT;
