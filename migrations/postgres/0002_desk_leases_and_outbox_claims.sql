-- As migrations/sqlite/0011: the mailbox lease, every desk's heartbeat, and the claim a
-- sender puts on a queued mail while it hands it to the SMTP server.
CREATE TABLE desk_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    held_since TEXT NOT NULL,
    renewed_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE desk_heartbeats (
    desk TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('active', 'standby'))
);

ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until TEXT;
