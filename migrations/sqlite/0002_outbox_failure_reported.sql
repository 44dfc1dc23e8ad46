-- When the agent was told that this outbox row failed permanently (NULL: not yet told).
ALTER TABLE outbox ADD COLUMN failure_reported_at TEXT;
CREATE INDEX outbox_unreported_failures ON outbox (id) WHERE status = 'failed' AND failure_reported_at IS NULL;
-- Failures from before this column existed were listed in daily summaries already: no notice.
UPDATE outbox SET failure_reported_at = created_at WHERE status = 'failed';
