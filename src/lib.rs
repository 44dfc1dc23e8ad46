//! helpdesk: an email-native helpdesk. The modules are listed in the order a mail travels
//! through the desk: from the edge values and config, through intake, to what goes out.

/// Values parsed once at the edge: addresses, Message-IDs, tiers, severities.
pub mod domain;
/// Text from outside shown safely: control characters escaped, on one line or in a body.
pub mod text;
/// Where "now" comes from: the system clock, or a fixed `--now`.
pub mod clock;
/// The typed config, its environment overrides and its validation.
pub mod config;
/// The database connection, migrations and the shared time format.
pub mod storage;
/// What every stage needs, opened once: config, database, templates, HMAC signers.
pub mod desk;
/// TLS for both mail edges: trusted roots and the handshake.
pub mod tls;
/// Where mail enters: the IMAP and Maildir sources, parsing, quotes, automated-mail detection.
pub mod inbound;
/// Who sent a mail, which ticket it belongs to, and the ticket tables.
pub mod tickets;
/// Severity from keyword rules and the sender's tier.
pub mod triage;
/// SLA clocks: response and resolution due times on the business calendar, clock states.
pub mod sla;
/// One mail in, one committed ticket change out (with its outgoing mail queued).
pub mod intake;
/// The agent's replies: tags, authenticity, and what a reply does to its ticket.
pub mod agent;
/// Time logged against clients' hour banks, statements and the 75%/100% emails.
pub mod hours;
/// SLA warnings and breach notices to the agent, each sent once.
pub mod sla_notices;
/// The daily summary, success metrics, upsell and renewal signals.
pub mod reports;
/// Outgoing mail: templates, the outbox table, and delivery.
pub mod outbound;
/// Several desks on one database: the mailbox lease, heartbeats, `helpdesk status`.
pub mod lease;

pub mod oauth2;
/// The service loop: IDLE or polling, intake, SLA notices, summary, sending; `run --once`.
pub mod service;
/// The demo: a bundled Maildir of client mail run through the whole pipeline.
pub mod demo;
/// The command line.
pub mod cli;

/// The sample desk (Travis and three clients) that the tests, the benches and the demo run.
#[doc(hidden)]
pub mod testing;
