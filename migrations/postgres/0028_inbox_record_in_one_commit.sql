-- From this release on, a driver's message is recorded and its Threema inbox row ended in one
-- commit, and a row never tried before is not looked for in the chat (it cannot have been
-- recorded). Rows an older release left pending may have been recorded just before it stopped:
-- they count as tried once, so that the chat and the room are looked at first (as after a
-- restore).
UPDATE threema_inbox SET attempts = 1 WHERE processed_at IS NULL AND attempts = 0;
