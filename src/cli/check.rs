//! `helpdesk check [--connect]`: the config's problems and warnings, and with `--connect` a
//! login to each mail server. Needs no database, but for the grant of an OAuth2 login.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{Config, DeliveryConfig, SourceConfig};

/// `helpdesk check [--connect]`: every config problem and warning by key; with `--connect`,
/// a login to each mail server too. Exit 2 when the config is wrong, 1 when a server refused.
pub async fn check(config_path: &Path, connect: bool) -> anyhow::Result<ExitCode> {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(err) => {
            println!("{}: {err:#}", config_path.display());
            return Ok(ExitCode::from(2));
        }
    };
    println!(
        "{}: OK ({} client(s), source {}, delivery {})",
        config_path.display(),
        config.clients.len(),
        match &config.source {
            SourceConfig::Imap(imap) => format!("imap {}:{}", imap.host, imap.port),
            SourceConfig::Maildir { path } => format!("maildir {}", path.display()),
        },
        match &config.delivery {
            DeliveryConfig::Smtp(smtp) => format!("smtp {}:{}", smtp.host, smtp.port),
            DeliveryConfig::OutboxDir { path } => format!("folder {}", path.display()),
        }
    );
    for warning in &config.warnings {
        println!("warning: {warning}");
    }
    if !connect {
        return Ok(ExitCode::SUCCESS);
    }
    Ok(if connect_to_servers(&config).await { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Logs in to the IMAP server (selecting the mailbox) and the SMTP server (EHLO and AUTH),
/// printing each result; whether both accepted.
async fn connect_to_servers(config: &Config) -> bool {
    let tokens = match oauth2_tokens(config).await {
        Ok(tokens) => tokens,
        Err(err) => {
            println!("OAuth2: FAILED: {err:#}");
            return false;
        }
    };
    let mut failed = false;
    match &config.source {
        SourceConfig::Imap(imap) => match crate::inbound::imap::connect(imap, tokens.as_ref()).await {
            Ok(mut connection) => {
                let _ = connection.session.logout().await;
                let how = if matches!(imap.login, crate::config::MailLogin::OAuth2) { " with OAuth2" } else { "" };
                println!(
                    "IMAP {}:{}: logged in as {}{how}, selected {} (UIDVALIDITY {})",
                    imap.host, imap.port, imap.username, imap.mailbox, connection.uid_validity
                );
            }
            Err(err) => {
                failed = true;
                println!("IMAP {}:{}: FAILED: {err:#}", imap.host, imap.port);
            }
        },
        SourceConfig::Maildir { path } => println!("maildir {}: nothing to connect to", path.display()),
    }
    let checked = match crate::outbound::sender::Transport::from_config(config, tokens) {
        Ok(transport) => transport.check_connection().await,
        Err(err) => Err(err),
    };
    match checked {
        Ok(line) => println!("{line}"),
        Err(err) => {
            failed = true;
            println!("SMTP: FAILED: {err:#}");
        }
    }
    !failed
}

/// The desk's OAuth2 tokens (from its database) when an edge logs in with OAuth2.
async fn oauth2_tokens(config: &Config) -> anyhow::Result<Option<crate::oauth2::TokenSource>> {
    if config.oauth2.is_none() {
        return Ok(None);
    }
    Ok(crate::desk::Desk::open(config.clone()).await?.tokens)
}
