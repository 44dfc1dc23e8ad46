//! helpdesk: an email-native helpdesk. The modules follow a mail's path through the desk.

/// Values parsed once at the edge: addresses, Message-IDs, tiers, severities.
pub mod domain;
/// The typed config, its environment overrides and its validation.
pub mod config;
/// Where mail enters: the IMAP and Maildir sources, parsing, automated-mail detection.
pub mod inbound;
