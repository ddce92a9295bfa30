-- Drivers whose processing is restricted (GDPR Art. 18): an erasure was asked for while a legal
-- hold covers them. Their portal is read-only without dispatchers, and nothing is bridged to or
-- from them, until the erasure can run (it deletes this row with the rest).
CREATE TABLE restriction (
    threema_id   TEXT   PRIMARY KEY,
    room_id      TEXT,
    requested_by TEXT   NOT NULL,
    requested_at BIGINT NOT NULL
);
