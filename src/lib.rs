//! helpdesk: an email-native helpdesk. The modules follow a mail's path through the desk.

/// The agent's replies: tags, authenticity, and what a reply does to its ticket.
pub mod agent;
/// Time logged against clients' hour banks.
pub mod hours;
/// SLA warnings and breach notices to the agent, each sent once.
pub mod alerts;
/// The command line.
pub mod cli;
/// Where "now" comes from: the system clock, or a fixed `--now`.
pub mod clock;
/// The typed config, its environment overrides and its validation.
pub mod config;
/// The demo: a bundled Maildir of client mail run through the whole pipeline.
pub mod demo;
/// What every stage needs, opened once: config, database, templates, reply-address signer.
pub mod desk;
/// Values parsed once at the edge: addresses, Message-IDs, tiers, severities.
pub mod domain;
/// Where mail enters: the IMAP and Maildir sources, parsing, automated-mail detection.
pub mod inbound;
/// One mail in, one committed ticket change out (with its outgoing mail queued).
pub mod intake;
/// The daily summary, success metrics, upsell and renewal signals.
pub mod reports;
/// Outgoing mail: templates, the outbox table, and delivery.
pub mod outbound;
/// The service loop: poll or IDLE, intake, send; `run --once`.
pub mod service;
/// SLA clocks: response and resolution due times on the business calendar, clock states.
pub mod sla;
/// The database connection, migrations and the shared time format.
pub mod storage;
/// Who sent a mail, which ticket it belongs to, and the ticket tables.
pub mod tickets;
/// Severity from keyword rules and the sender's tier.
pub mod triage;

#[cfg(test)]
mod testing;
