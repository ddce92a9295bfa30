-- The audit trail becomes one hash chain (see src/audit/chain.rs) with personal values sealed
-- under a key per person (src/audit/seal.rs). The entries from before move into the chain at
-- the bridge's next start: hashing and sealing them needs the bridge's key, which SQL has not.
DROP INDEX audit_subject;
ALTER TABLE audit RENAME TO audit_legacy;

CREATE TABLE audit (
    seq         BIGINT NOT NULL PRIMARY KEY,  -- 1, 2, 3, … without gaps
    at          BIGINT NOT NULL,
    action      TEXT   NOT NULL,
    actor_ref   TEXT   NOT NULL,  -- the actor's pseudonym (audit_key)
    actor       TEXT   NOT NULL,  -- sealed under the actor's key
    subject_ref TEXT   NOT NULL,  -- the subject's pseudonym (audit_key)
    subject     TEXT   NOT NULL,  -- sealed under the subject's key
    details     TEXT   NOT NULL,  -- sealed under the subject's key
    leaf        TEXT   NOT NULL,  -- hex SHA-256 over the fields above
    head        TEXT   NOT NULL   -- hex SHA-256 of the previous head and the leaf
);
CREATE INDEX audit_subject ON audit (subject_ref, seq);
CREATE INDEX audit_actor ON audit (actor_ref, seq);

-- The chain's end and start in one row: every append updates it first, which serialises
-- writers in every process on both databases.
CREATE TABLE audit_head (
    id         BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    seq        BIGINT NOT NULL,
    head       TEXT   NOT NULL,
    first_seq  BIGINT NOT NULL,  -- retention prunes a prefix: the first entry kept
    start_head TEXT   NOT NULL   -- and the head before it
);
INSERT INTO audit_head (id, seq, head, first_seq, start_head) VALUES (1, 0,
    '0000000000000000000000000000000000000000000000000000000000000000', 1,
    '0000000000000000000000000000000000000000000000000000000000000000');

-- Per identifier (its keyed hash): the random pseudonym its entries carry and the key their
-- values are sealed under. An erasure deletes the person's rows: their entries can then be
-- neither found by their ID nor read (crypto-shredding), and the chain still verifies.
CREATE TABLE audit_key (
    person_ref  TEXT NOT NULL PRIMARY KEY,
    pseudonym   TEXT NOT NULL UNIQUE,
    sealing_key TEXT NOT NULL
);
