-- End-to-bridge encryption (`crates/bridge-crypto`): the crypto state of every device the
-- bridge holds (the bot's and each ghost's; `account` is the device's user ID), as
-- matrix-sdk-crypto keeps it. Identifiers are keyed hashes (hex) and values are encrypted with
-- the store's cipher, itself kept encrypted with `bridge.encryption_key`: the database alone
-- gives away neither keys nor who writes in which room.
--
-- `crypto_value` holds what is looked up by one identifier, and listed by at most one other
-- (`grp`: a sender key, a room, a user); `flag` is a key request's "sent out".
CREATE TABLE crypto_value (
    account TEXT   NOT NULL,
    kind    TEXT   NOT NULL,
    id      TEXT   NOT NULL,
    grp     TEXT,
    flag    BIGINT,
    value   BLOB   NOT NULL,
    PRIMARY KEY (account, kind, id)
);
CREATE INDEX crypto_value_grp ON crypto_value (account, kind, grp);

-- Megolm sessions received (room keys): by room, and by sender key and how well the sender is
-- known (which sessions to look at again when a device's identity becomes known).
CREATE TABLE crypto_inbound_group_session (
    account          TEXT   NOT NULL,
    session_id       TEXT   NOT NULL,
    room_id          TEXT   NOT NULL,
    sender_key       TEXT   NOT NULL,
    sender_data_type BIGINT NOT NULL,
    backed_up        BIGINT NOT NULL,
    value            BLOB   NOT NULL,
    PRIMARY KEY (account, session_id)
);
CREATE INDEX crypto_inbound_group_session_room ON crypto_inbound_group_session (account, room_id);
CREATE INDEX crypto_inbound_group_session_sender
    ON crypto_inbound_group_session (account, sender_key, sender_data_type, session_id);

-- matrix-sdk-crypto's cross-process locks (`try_take_leased_lock`).
CREATE TABLE crypto_lease (
    id         TEXT   NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expiration BIGINT NOT NULL,
    generation BIGINT NOT NULL
);

-- The encryption part of transactions a standby took (`ha`): only the active process runs the
-- devices, and the homeserver never sends these again, so they wait here for it.
CREATE TABLE crypto_inbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    body        TEXT   NOT NULL,
    received_at BIGINT NOT NULL
);
