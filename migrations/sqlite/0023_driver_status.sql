-- Each driver's latest status: the quick code (`quick_codes:`) they sent last, what it means,
-- when (Unix ms) and its event in the portal. The desk board lists the recent ones.
CREATE TABLE driver_status (
    threema_id TEXT   NOT NULL PRIMARY KEY,
    code       TEXT   NOT NULL,
    meaning    TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    event_id   TEXT   NOT NULL
);
