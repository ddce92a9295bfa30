-- The shared inbox (src/bridge/desk): per driver, whether a message of theirs waits for the
-- desk, since when, and which dispatcher took it. No message text: the portal has it.
CREATE TABLE conversation (
    threema_id    TEXT   NOT NULL PRIMARY KEY,
    state         TEXT   NOT NULL,  -- 'open' | 'closed'
    waiting_since BIGINT,           -- the first unanswered driver message (ms), while open
    waiting_event TEXT,             -- its event in the portal
    owner         TEXT,             -- the dispatcher who took it (Matrix user ID)
    closed_by     TEXT,
    closed_how    TEXT,             -- 'answered' | 'reaction' | 'done'
    shown_topic   TEXT,             -- the portal topic last set for it
    updated_at    BIGINT NOT NULL
);
CREATE INDEX conversation_owner ON conversation (owner);
