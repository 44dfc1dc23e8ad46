-- The flood brakes count mailboxes and domains, not exact addresses: 25 mails from
-- client2+0..24@globex.test are one mailbox, and a bot answering from a new +tag each time
-- must not start a new count each time. What is counted is stored beside the address, so that
-- each count is one indexed range: `requester_key` / `recipient_key` is the address lower-cased
-- without its +detail (`EmailAddress::mailbox_key`), `requester_domain` / `recipient_domain`
-- its domain. The outbox columns are set only for a mail to exactly one recipient (an
-- acknowledgement always is); they stay NULL for the rest.
ALTER TABLE tickets ADD COLUMN requester_key TEXT;
ALTER TABLE tickets ADD COLUMN requester_domain TEXT;
ALTER TABLE outbox ADD COLUMN recipient_key TEXT;
ALTER TABLE outbox ADD COLUMN recipient_domain TEXT;

-- Backfill with the rule of `EmailAddress::mailbox_key`. Stored addresses are lower-cased
-- already. rtrim(a, replace(a, '@', '')) strips every character but '@' from the right, which
-- leaves the address up to and including its LAST '@' (the local part may be quoted and hold
-- an '@'); the detail starts at the first '+' of the local part, unless that is its first
-- character.
UPDATE tickets SET requester_domain = substr(requester, length(rtrim(requester, replace(requester, '@', ''))) + 1),
                   requester_key = requester
 WHERE instr(requester, '@') > 0;
UPDATE tickets SET requester_key =
       CASE WHEN instr(substr(requester, 1, length(requester) - length(requester_domain) - 1), '+') > 1
            THEN substr(requester, 1, instr(requester, '+') - 1) || '@' || requester_domain
            ELSE requester END
 WHERE requester_domain IS NOT NULL;
UPDATE outbox SET recipient_domain = substr(recipients, length(rtrim(recipients, replace(recipients, '@', ''))) + 1),
                  recipient_key = recipients
 WHERE instr(recipients, '@') > 0 AND instr(recipients, ',') = 0;
UPDATE outbox SET recipient_key =
       CASE WHEN instr(substr(recipients, 1, length(recipients) - length(recipient_domain) - 1), '+') > 1
            THEN substr(recipients, 1, instr(recipients, '+') - 1) || '@' || recipient_domain
            ELSE recipients END
 WHERE recipient_domain IS NOT NULL;

-- The brakes read these for every new ticket; the exact-address indexes they replace had no
-- other reader.
CREATE INDEX tickets_requester_key ON tickets (requester_key, opened_at);
CREATE INDEX tickets_requester_domain ON tickets (requester_domain, opened_at);
CREATE INDEX outbox_recipient_key ON outbox (recipient_key, kind, created_at);
CREATE INDEX outbox_recipient_domain ON outbox (recipient_domain, kind, created_at);
DROP INDEX tickets_requester;
DROP INDEX outbox_recipient_kind;
