-- Threema polls bridged into a portal. A vote names choices by id only, so the choices are kept
-- to name them in Matrix, and the poll's event to reply to.
CREATE TABLE poll (
    threema_peer TEXT   NOT NULL,   -- the driver whose chat holds the poll
    creator      TEXT   NOT NULL,   -- the Threema ID that created it (poll ids are per creator)
    poll_id      TEXT   NOT NULL,   -- u64 in decimal (does not fit a signed BIGINT)
    event_id     TEXT   NOT NULL,   -- the poll's event in the portal
    choices      TEXT   NOT NULL,   -- JSON [{"id": u64, "name": "…"}, …] in display order
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (threema_peer, creator, poll_id)
);
