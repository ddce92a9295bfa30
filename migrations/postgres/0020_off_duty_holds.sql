-- A dispatcher's message to a driver who is off duty (`inbox.off_duty`, `inbox.shifts`) waits
-- until this time (Unix ms) before it is sent; NULL: at once. `!urgent` clears it.
ALTER TABLE threema_outbox ADD COLUMN hold_until BIGINT;
