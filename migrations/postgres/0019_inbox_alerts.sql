-- The shared inbox's clock (src/bridge/desk/alerts.rs): when the desk room was told that a
-- driver's message waits too long, and when the admins were; a driver's urgent message not
-- said in the desk room yet (its event, read again from the portal). Cleared when it closes.
ALTER TABLE conversation ADD COLUMN late_at BIGINT;
ALTER TABLE conversation ADD COLUMN escalated_at BIGINT;
ALTER TABLE conversation ADD COLUMN urgent_event TEXT;
-- The bot's ⏳ on the waiting message while it waits (its reaction event, and the message).
ALTER TABLE conversation ADD COLUMN marker_event TEXT;
ALTER TABLE conversation ADD COLUMN marker_on TEXT;

-- Dispatchers who said `off-shift` in the management room (until `on-shift`): the desk rooms'
-- alerts mention the others.
CREATE TABLE dispatcher_off_shift (
    user_id TEXT   NOT NULL PRIMARY KEY,
    since   BIGINT NOT NULL
);
