-- Polls both ways. What closing a poll repeats to the phone (the question, single or multiple
-- choice), the Matrix names its votes use ('unstable' MSC3381 or 'stable' m.poll.*), the
-- broadcast a poll belongs to (its event in the broadcast room; the board counts the votes),
-- and when it was closed.
ALTER TABLE poll ADD COLUMN question TEXT NOT NULL DEFAULT '';
ALTER TABLE poll ADD COLUMN multiple BIGINT NOT NULL DEFAULT 0;
ALTER TABLE poll ADD COLUMN namespace TEXT NOT NULL DEFAULT 'unstable';
ALTER TABLE poll ADD COLUMN broadcast_event TEXT;
ALTER TABLE poll ADD COLUMN closed_at BIGINT;
CREATE INDEX poll_event ON poll (event_id);
CREATE INDEX poll_broadcast ON poll (broadcast_event);

-- Each voter's current choice in a poll: the driver in any poll of their chat, the Gateway ID
-- for the desk's vote in a driver's poll.
CREATE TABLE poll_vote (
    threema_peer TEXT   NOT NULL,
    creator      TEXT   NOT NULL,
    poll_id      TEXT   NOT NULL,
    voter        TEXT   NOT NULL,
    choices      TEXT   NOT NULL,   -- JSON [choice id, …]; [] took the vote back
    voted_at     BIGINT NOT NULL,
    PRIMARY KEY (threema_peer, creator, poll_id, voter)
);
