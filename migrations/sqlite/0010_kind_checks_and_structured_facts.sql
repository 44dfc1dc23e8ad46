-- Kinds the first schema left unchecked get their lists, the same as the Rust enums
-- (tickets::kinds::AuthorKind, outbound::outbox::OutboxKind). SQLite cannot add a CHECK to an
-- existing table, so triggers refuse any other value on insert and update.
CREATE TRIGGER messages_author_kind_insert BEFORE INSERT ON messages
WHEN NEW.author_kind NOT IN ('client', 'agent', 'unverified_agent', 'unknown', 'stranger', 'automated')
BEGIN SELECT RAISE(ABORT, 'messages.author_kind: unknown kind'); END;
CREATE TRIGGER messages_author_kind_update BEFORE UPDATE OF author_kind ON messages
WHEN NEW.author_kind NOT IN ('client', 'agent', 'unverified_agent', 'unknown', 'stranger', 'automated')
BEGIN SELECT RAISE(ABORT, 'messages.author_kind: unknown kind'); END;

CREATE TRIGGER outbox_kind_insert BEFORE INSERT ON outbox
WHEN NEW.kind NOT IN ('acknowledgement', 'agent_reply', 'resolved', 'hours_update', 'hours_depleted',
    'client_report', 'agent_notification', 'agent_follow_up', 'agent_feedback', 'unverified_feedback',
    'agent_ignored_feedback', 'flood_notice', 'unprocessable', 'held_taken_in', 'daily_summary', 'sla_warning',
    'sla_breach', 'report_draft', 'proactive_opened', 'delivery_failure')
BEGIN SELECT RAISE(ABORT, 'outbox.kind: unknown kind'); END;
CREATE TRIGGER outbox_kind_update BEFORE UPDATE OF kind ON outbox
WHEN NEW.kind NOT IN ('acknowledgement', 'agent_reply', 'resolved', 'hours_update', 'hours_depleted',
    'client_report', 'agent_notification', 'agent_follow_up', 'agent_feedback', 'unverified_feedback',
    'agent_ignored_feedback', 'flood_notice', 'unprocessable', 'held_taken_in', 'daily_summary', 'sla_warning',
    'sla_breach', 'report_draft', 'proactive_opened', 'delivery_failure')
BEGIN SELECT RAISE(ABORT, 'outbox.kind: unknown kind'); END;

-- The name of the triage rule that set a ticket's severity (NULL: no rule, or the agent set
-- it): what the upsell signal counts, instead of the sentence in severity_reason.
ALTER TABLE tickets ADD COLUMN severity_rule TEXT;
UPDATE tickets SET severity_rule = substr(severity_reason, 7, instr(substr(severity_reason, 7), '"') - 1)
WHERE severity_reason LIKE 'rule "%" matched %';

-- Set on mail the desk failed on (stored raw, kept aside): what the daily summary and
-- `held open` look for, instead of the start of parse_problem.
ALTER TABLE messages ADD COLUMN desk_failed INTEGER NOT NULL DEFAULT 0 CHECK (desk_failed IN (0, 1));
UPDATE messages SET desk_failed = 1 WHERE parse_problem LIKE 'internal error while processing this mail: %';

-- The held-mail index names ticket_id too: with (recorded_at) alone SQLite's planner took
-- messages_ticket (ticket_id = NULL, every held mail ever) unless told otherwise, and
-- `INDEXED BY` is SQLite's own syntax. With both columns it picks this index by itself.
DROP INDEX messages_held_recorded;
CREATE INDEX messages_held_recorded ON messages (ticket_id, recorded_at) WHERE ticket_id IS NULL;
