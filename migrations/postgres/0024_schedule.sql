-- Scheduled messages (`!at`, `!every`): what a dispatcher asked to be sent in a portal or a
-- broadcast room later. Once its last occurrence went or it was cancelled, a row keeps only
-- that (`done_at`, the text cleared), so that its command seen again schedules nothing.
CREATE TABLE schedule (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id       TEXT   NOT NULL,   -- the portal or broadcast room it goes from
    driver        TEXT,              -- the portal's driver; NULL in a broadcast room
    sender        TEXT   NOT NULL,   -- who scheduled it (it goes signed with sender_name)
    sender_name   TEXT   NOT NULL,
    body          TEXT   NOT NULL,
    rule          TEXT   NOT NULL,   -- once:<ms> or every:<day mask>@HH:MM:SS
    next_at       BIGINT,            -- the next occurrence (Unix ms); NULL once done
    firing_at     BIGINT,            -- the occurrence being sent (set before anything goes)
    command_event TEXT   NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    done_at       BIGINT             -- went for the last time, or cancelled
);
CREATE INDEX schedule_next ON schedule (next_at);
