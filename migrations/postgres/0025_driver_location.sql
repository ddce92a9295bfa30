-- Location requests (`!where`) and each driver's last shared location (`last-positions`):
-- only what the driver chose to share in their chat, the latest one; the request waiting for
-- an answer, if any.
CREATE TABLE driver_location (
    threema_id      TEXT   NOT NULL PRIMARY KEY,
    latitude        DOUBLE PRECISION,
    longitude       DOUBLE PRECISION,
    accuracy_m      DOUBLE PRECISION,
    shared_at       BIGINT,            -- when the driver's app sent it (Unix ms)
    event_id        TEXT,              -- its event in the portal
    requested_event TEXT,              -- a `!where` not answered yet
    requested_at    BIGINT
);
