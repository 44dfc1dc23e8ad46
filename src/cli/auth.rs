//! `helpdesk auth login [--device] | status [--json] | logout`: signing the desk in to an
//! OAuth2 mailbox and looking after the stored grant (`crate::oauth2`).

use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::args::AuthCommand;
use super::format::print_json;
use crate::config::{DeliveryConfig, MailLogin, OAuth2Config, SmtpConfig, SourceConfig};
use crate::desk::Desk;
use crate::oauth2::status::GrantState;
use crate::oauth2::{grant, login};
use crate::text::one_line;

pub async fn auth(desk: &Desk, command: AuthCommand, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let config = desk.config.oauth2.as_ref().context(
        "this desk has no [oauth2] section: set auth = \"oauth2\" in [imap] and/or [smtp] and describe the OAuth2 client in [oauth2] (docs/oauth2.md)",
    )?;
    match command {
        AuthCommand::Login { device } => sign_in(desk, config, device).await,
        AuthCommand::Status { json } => status(desk, json, now).await,
        AuthCommand::Logout => logout(desk).await,
    }
}

/// The address the person signs in for: the IMAP mailbox when IMAP logs in with OAuth2,
/// else the SMTP login user.
fn mailbox(desk: &Desk) -> String {
    match (&desk.config.source, &desk.config.delivery) {
        (SourceConfig::Imap(imap), _) if matches!(imap.login, MailLogin::OAuth2) => imap.username.clone(),
        (_, DeliveryConfig::Smtp(SmtpConfig { login: Some((user, MailLogin::OAuth2)), .. })) => user.clone(),
        _ => desk.config.support_address().as_str().to_string(),
    }
}

async fn sign_in(desk: &Desk, config: &OAuth2Config, device: bool) -> anyhow::Result<ExitCode> {
    desk.config.require_secrets()?;
    let mailbox = mailbox(desk);
    let logged_in = if device {
        login::login_with_device(&desk.db, config, &mailbox).await?
    } else {
        login::login_with_browser(&desk.db, config, &mailbox).await?
    };
    let for_mailbox = if logged_in.account.eq_ignore_ascii_case(&mailbox) {
        String::new()
    } else {
        format!(" for the mailbox {mailbox}")
    };
    println!(
        "Signed in as {}{for_mailbox} ({}; scopes {}). The grant is stored in the database; a running desk uses it within {} s.",
        logged_in.account,
        config.provider.as_str(),
        logged_in.scopes,
        crate::service::LOGIN_POLL.as_secs()
    );
    Ok(ExitCode::SUCCESS)
}

async fn status(desk: &Desk, json: bool, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    desk.config.require_secrets()?;
    let tokens = desk.tokens.as_ref().context("the desk has no OAuth2 token source")?;
    let status = tokens.status(now).await?;
    if json {
        print_json(&status)?;
    } else {
        let time = |time: Option<DateTime<Utc>>| time.map(|t| desk.config.agent_local_time(t)).unwrap_or("-".into());
        println!("provider:        {}", status.provider.as_deref().unwrap_or("-"));
        println!("account:         {}", status.account.as_deref().unwrap_or("-"));
        println!("scopes:          {}", status.scopes.join(" "));
        println!("signed in:       {}", time(status.signed_in_at));
        println!("token expires:   {}", time(status.access_token_expires_at));
        println!("last refresh:    {}", time(status.last_refresh_at));
        println!("last error:      {}", status.last_error.as_deref().map(one_line).unwrap_or("-".into()));
        println!("state:           {}", status.state.as_str());
        if let Some(problem) = &status.problem {
            println!("{problem}");
        }
    }
    Ok(if status.state == GrantState::Ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

async fn logout(desk: &Desk) -> anyhow::Result<ExitCode> {
    if grant::forget(&desk.db).await? {
        println!("Forgot the stored OAuth2 grant. It is not revoked at the provider: remove the app's access in the account's security settings to revoke it.");
    } else {
        println!("No OAuth2 grant was stored.");
    }
    Ok(ExitCode::SUCCESS)
}
