-- The employee directory as the sources last said it: one row per employee, the record as JSON
-- (its fields are read in memory; the directory is small), the source that wrote it.
CREATE TABLE employee (
    employee_id       TEXT   PRIMARY KEY,
    source            TEXT   NOT NULL,           -- csv | http | scim
    record            TEXT   NOT NULL,           -- JSON, directory::Record
    removed_at        BIGINT,                    -- gone from the source: offboarded, kept
    scim_id           TEXT   UNIQUE,             -- the id SCIM clients address it by
    scim_user_name    TEXT   UNIQUE,
    looked_up_id      TEXT,                      -- Threema ID found by phone/email lookup
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

-- Spaces the bridge keeps: 'root', 'former', '<attribute>=<value>'.
CREATE TABLE space (
    key        TEXT   PRIMARY KEY,
    room_id    TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- What the bridge last set in a room it manages, so an unchanged directory costs no homeserver
-- call: kind 'name' / 'topic' / 'read_only' (key ''), 'child' (key: child room),
-- 'member' (key: user, value: invite | join | leave | kicked | ban). Room '' kind 'account':
-- Matrix accounts the bridge deactivated.
CREATE TABLE room_state (
    room_id    TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    key        TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, kind, key)
);
CREATE INDEX room_state_member ON room_state (key) WHERE kind = 'member';

-- Append-only: every directory change and every action taken because of one.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at      BIGINT NOT NULL,
    actor   TEXT   NOT NULL,   -- directory:csv, scim, @user:server, bridge
    action  TEXT   NOT NULL,
    subject TEXT   NOT NULL,   -- employee id, Matrix user or room
    details TEXT   NOT NULL
);
CREATE INDEX audit_subject ON audit (subject, id);
