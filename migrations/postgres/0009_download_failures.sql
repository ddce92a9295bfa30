-- Failed downloads of a driver's file, apart from the item's other failed attempts: a homeserver
-- outage must not use up `threema.download_attempts` before the file is even asked for again.
ALTER TABLE threema_inbox ADD COLUMN download_failures BIGINT NOT NULL DEFAULT 0;
