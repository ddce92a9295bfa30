-- The shared inbox's clock (src/bridge/desk/alerts.rs): when the desk room was told that a
-- driver's message waits too long, and when the admins were; cleared when it opens again.
ALTER TABLE conversation ADD COLUMN late_at BIGINT;
ALTER TABLE conversation ADD COLUMN escalated_at BIGINT;
