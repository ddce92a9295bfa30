-- An outbox row says whether it sends a broadcast's copy: such a send is not audited on its own
-- (the broadcast has an entry of its own) and never came through the Matrix inbox. Until this
-- release that was looked up at every send; rows already queued are marked as the lookup did.
ALTER TABLE threema_outbox ADD COLUMN broadcast_copy BIGINT NOT NULL DEFAULT 0;
UPDATE threema_outbox SET broadcast_copy = 1
WHERE event_id IN (SELECT copy_event FROM broadcast_delivery WHERE copy_event IS NOT NULL);
