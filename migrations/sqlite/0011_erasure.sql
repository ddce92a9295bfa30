-- Erasures (GDPR Art. 17): one row per erased person, the tombstone. It holds no personal data:
-- the person is named by a keyed hash, and `steps` counts what went where.
CREATE TABLE erasure (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_hash TEXT   NOT NULL,
    requested_by TEXT   NOT NULL,
    started_at   BIGINT NOT NULL,
    steps        TEXT   NOT NULL,   -- JSON: each step done, with its counts or task id
    finished_at  BIGINT
);
CREATE UNIQUE INDEX erasure_open ON erasure (subject_hash) WHERE finished_at IS NULL;

-- Threema IDs erased, as keyed hashes: a later message from one opens no ghost and no portal.
CREATE TABLE erased_id (
    id_hash   TEXT   PRIMARY KEY,
    erased_at BIGINT NOT NULL
);
