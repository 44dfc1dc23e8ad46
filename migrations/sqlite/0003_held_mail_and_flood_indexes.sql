-- The daily summary counts the mail held without a ticket since the last summary; bounces and
-- auto-replies pile up over the years, so it reads them by this partial index, not by a scan.
CREATE INDEX messages_held_recorded ON messages (recorded_at) WHERE ticket_id IS NULL;
-- The flood brake counts one sender's tickets of the last hour for every new ticket.
CREATE INDEX tickets_requester ON tickets (requester, opened_at);
