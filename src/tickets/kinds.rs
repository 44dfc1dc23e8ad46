//! The kinds stored on tickets and messages. Each is one enum with its stored text; the
//! migrations hold the same lists as CHECK constraints (or triggers where SQLite cannot add
//! one to an existing table).

crate::stored_kind! {
    /// Whether a ticket is being worked on.
    pub enum TicketStatus {
        Open = "open",
        Closed = "closed",
    }
}

crate::stored_kind! {
    /// Who wrote a stored mail, as the desk judged it.
    pub enum AuthorKind {
        /// Someone of a configured client (or the agent's mail to a client, proactively).
        Client = "client",
        /// The agent, authenticated: his tags ran.
        Agent = "agent",
        /// Mail in the agent's name that did not prove it was his: nothing ran.
        UnverifiedAgent = "unverified_agent",
        /// A sender of no client.
        Unknown = "unknown",
        /// Someone other than the ticket's people, on an existing ticket.
        Stranger = "stranger",
        /// Machine mail (bounces, auto-replies, lists): held, never answered.
        Automated = "automated",
    }
}

impl AuthorKind {
    /// Whether the mail is from the client's side of a ticket (what reaches the agent).
    pub fn is_client_side(self) -> bool {
        matches!(self, AuthorKind::Client | AuthorKind::Unknown)
    }

    /// Whether the mail is in the agent's name, proven or not.
    pub fn is_agent_name(self) -> bool {
        matches!(self, AuthorKind::Agent | AuthorKind::UnverifiedAgent)
    }
}

crate::stored_kind! {
    /// How a ticket began.
    pub enum TicketOrigin {
        /// A client wrote to support@.
        Client = "client",
        /// The agent wrote to a client first (or a monitoring alert opened it).
        Proactive = "proactive",
    }
}
