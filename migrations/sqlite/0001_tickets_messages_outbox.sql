-- The first schema: tickets, the messages on them, the outbox, and the IMAP cursor.
-- Times are TEXT in RFC 3339 UTC with milliseconds ("2026-11-30T14:00:00.000Z"), so they
-- sort as text and read the same on SQLite and PostgreSQL.

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The client's name from the config; NULL when the sender belongs to no client.
    client TEXT,
    requester TEXT NOT NULL,
    requester_name TEXT,
    subject TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    severity TEXT NOT NULL CHECK (severity IN ('P0', 'P1', 'P2', 'P3')),
    severity_reason TEXT NOT NULL,
    -- Why the agent must look at this ticket himself (for example an unknown sender).
    attention TEXT,
    -- client: a client wrote to support@; proactive: the agent wrote to a client first.
    origin TEXT NOT NULL DEFAULT 'client' CHECK (origin IN ('client', 'proactive')),
    -- The server's arrival time of the first mail: both SLA clocks start here.
    opened_at TEXT NOT NULL,
    -- Due times are NULL for tickets with no client (no SLA applies).
    first_response_due_at TEXT,
    resolution_due_at TEXT,
    -- The agent's first reply to the client stops the response clock; the close stops the other.
    first_response_at TEXT,
    closed_at TEXT,
    -- Set by the agent's #waiting until the client writes again.
    waiting_since TEXT,
    -- A client mail after the reopen window opens a new ticket that points at the old one.
    related_ticket_id INTEGER REFERENCES tickets (id),
    updated_at TEXT NOT NULL
);
CREATE INDEX tickets_status ON tickets (status, opened_at);
CREATE INDEX tickets_client ON tickets (client, opened_at);
CREATE INDEX tickets_opened ON tickets (opened_at);

-- Every mail the desk has taken in, on a ticket or held aside (automated mail that threads
-- to no ticket has ticket_id NULL). The raw bytes are kept: nothing is ever dropped.
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER REFERENCES tickets (id),
    -- Same mail fetched twice (UIDVALIDITY reset, second delivery) => same key => ignored.
    dedupe_key TEXT NOT NULL UNIQUE,
    message_id TEXT,
    in_reply_to TEXT,
    references_ids TEXT NOT NULL DEFAULT '',
    -- client | agent | unknown | automated
    author_kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    sender_name TEXT,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    attachments_json TEXT NOT NULL DEFAULT '[]',
    automated_reason TEXT,
    parse_problem TEXT,
    thread_reason TEXT NOT NULL,
    arrived_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX messages_message_id ON messages (message_id);
CREATE INDEX messages_ticket ON messages (ticket_id, arrived_at);
-- The daily summary lists mail in the agent's name that was not authenticated; without this
-- partial index that is a scan of every message ever stored.
CREATE INDEX messages_unverified_agent ON messages (recorded_at) WHERE author_kind = 'unverified_agent';

-- Every Message-ID a stored mail points at (In-Reply-To and References), so that a mail
-- replying to something the desk never saw still joins the ticket of another reply to it.
CREATE TABLE message_refs (
    message_row INTEGER NOT NULL REFERENCES messages (id),
    ticket_id INTEGER REFERENCES tickets (id),
    referenced_id TEXT NOT NULL
);
CREATE INDEX message_refs_referenced ON message_refs (referenced_id);

-- Every outgoing mail, written in the same transaction as the change that caused it, fully
-- rendered (raw holds the RFC 5322 bytes), then delivered by the sender step.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER REFERENCES tickets (id),
    -- acknowledgement | agent_notification | ...
    kind TEXT NOT NULL,
    envelope_from TEXT NOT NULL,
    -- Envelope recipients, comma-separated.
    recipients TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    raw BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recipient_kind ON outbox (recipients, kind, created_at);
CREATE INDEX outbox_ticket ON outbox (ticket_id);

-- Where the IMAP source has got to, per mailbox. Updated in the same transaction as the
-- ticket change of the message at that UID.
CREATE TABLE mailbox_cursors (
    source TEXT PRIMARY KEY,
    uid_validity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL
);

-- Desk-wide values generated once, such as the key that signs reply addresses.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The SLA warnings and breach notices sent to the agent: at most one per ticket, clock and
-- kind, written in the same transaction as the outbox row, so restarts never repeat one.
CREATE TABLE sla_notices (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    clock TEXT NOT NULL CHECK (clock IN ('response', 'resolution')),
    kind TEXT NOT NULL CHECK (kind IN ('warning', 'breach')),
    due_at TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (ticket_id, clock, kind)
);

-- Time the agent logged (#time tags), each entry rounded up to 15 minutes. work_date is the
-- agent's local date. kind: included (counts against the hour bank) or billable.
CREATE TABLE time_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER REFERENCES tickets (id),
    client TEXT,
    work_date TEXT NOT NULL,
    minutes_written INTEGER NOT NULL,
    minutes INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('included', 'billable', 'emergency')),
    task TEXT NOT NULL,
    message_row INTEGER REFERENCES messages (id),
    created_at TEXT NOT NULL
);
CREATE INDEX time_entries_client_date ON time_entries (client, work_date);
CREATE INDEX time_entries_ticket ON time_entries (ticket_id);

-- The hour-bank emails sent to a client: 75% and 100% at most once per billing period.
CREATE TABLE bank_alerts (
    client TEXT NOT NULL,
    period_start TEXT NOT NULL,
    percent INTEGER NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (client, period_start, percent)
);

-- Scores (0-10) from clients' replies to the resolved email.
CREATE TABLE satisfaction_scores (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    client TEXT,
    score INTEGER NOT NULL CHECK (score BETWEEN 0 AND 10),
    received_at TEXT NOT NULL
);
CREATE INDEX satisfaction_scores_received ON satisfaction_scores (received_at);

-- The agent's daily summary: one row per local date, written with its outbox row.
CREATE TABLE daily_summaries (
    summary_date TEXT PRIMARY KEY,
    covers_since TEXT NOT NULL,
    sent_at TEXT NOT NULL
);

-- Client reports (weekly, monthly, quarterly): prepared once per client, kind and period,
-- sent to the agent as a draft; his #send reply (or auto_send) sends them to the client.
CREATE TABLE client_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('weekly', 'monthly', 'quarterly')),
    period TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'sent')),
    created_at TEXT NOT NULL,
    sent_at TEXT,
    observations TEXT,
    UNIQUE (client, kind, period)
);
