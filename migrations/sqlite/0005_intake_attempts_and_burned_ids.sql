-- A mail the desk began to record and did not finish (the process died while on it). A mail
-- that stops the desk again and again is kept aside instead of being tried forever.
CREATE TABLE intake_attempts (
    mail_key TEXT PRIMARY KEY,
    attempts INTEGER NOT NULL,
    last_attempt_at TEXT NOT NULL
);
-- Signed Message-IDs of the desk's mail to the agent that were seen in a mail addressed to
-- someone else (his reply with a client in Cc, say): from then on they authenticate nothing.
CREATE TABLE burned_agent_ids (
    message_id TEXT PRIMARY KEY,
    burned_at TEXT NOT NULL,
    seen_in TEXT NOT NULL
);
