-- The daily summary names automated mail recorded on tickets since the last summary.
CREATE INDEX messages_automated_on_ticket ON messages (recorded_at)
    WHERE ticket_id IS NOT NULL AND automated_reason IS NOT NULL;
