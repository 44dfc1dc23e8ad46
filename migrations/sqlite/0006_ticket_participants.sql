-- The people of a ticket besides its requester: those the client put in To or Cc (without
-- the desk's and the agent's addresses), and those the agent added with #cc. Acknowledgements,
-- relays and the resolved email go To the requester and Cc them; their replies thread onto
-- the ticket as the client's.
CREATE TABLE ticket_participants (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    address TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (ticket_id, address)
);
