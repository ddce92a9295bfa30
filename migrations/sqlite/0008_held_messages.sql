-- A callback held because its sender's public key changed: recognisable without reading the
-- outcome text, and queued again (with a new seq, in its order) when an operator accepts the
-- new key. NULL for everything else.
ALTER TABLE threema_inbox ADD COLUMN held_at BIGINT;
CREATE INDEX threema_inbox_held ON threema_inbox (sender) WHERE held_at IS NOT NULL;
