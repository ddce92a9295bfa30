-- The driver's newest message in their conversation (Unix ms, and its event): an answer
-- written before it leaves the conversation open, waiting since that message.
ALTER TABLE conversation ADD COLUMN latest_at BIGINT;
ALTER TABLE conversation ADD COLUMN latest_event TEXT;
