//! The IMAP source: the only code that speaks IMAP. It tracks the mailbox by UIDVALIDITY and
//! UID (the cursor lives in the database, moved in the intake transaction), fetches only what
//! is new, and marks a message processed (flag or move) only after its ticket change has
//! committed. A UIDVALIDITY change rescans the mailbox; the intake's dedupe key keeps that
//! from duplicating anything.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use anyhow::{bail, Context};
use async_imap::extensions::idle::IdleResponse;
use async_imap::types::UnsolicitedResponse;
use async_imap::Session;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::cursor::load_cursor;
use super::{RawMail, SourceCursor};
use crate::config::{ImapConfig, MailLogin, ProcessedAction, TlsMode};
use crate::oauth2::sasl::{BearerMechanism, ImapBearer};
use crate::oauth2::TokenSource;
use crate::storage::Db;
use crate::tls::{self, TlsPeer};

pub trait ImapIo: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> ImapIo for T {}

pub type ImapSession = Session<Box<dyn ImapIo>>;

/// The keyword set on processed mail when `imap.processed = "flag"`.
pub const PROCESSED_KEYWORD: &str = "$HelpdeskProcessed";

/// Messages fetched per round trip: bounds memory and gives the sender a turn between batches.
pub const FETCH_BATCH: usize = 25;

/// An open, logged-in session with the support mailbox selected.
pub struct MailboxConnection {
    pub session: ImapSession,
    pub uid_validity: u32,
    pub supports_idle: bool,
    pub supports_move: bool,
    /// Identifies this mailbox in the cursor table.
    pub source: String,
    /// Whether recorded mail left unmarked by an earlier run has been marked on this connection.
    pub caught_up: bool,
}

pub fn source_key(config: &ImapConfig) -> String {
    format!("imap://{}@{}:{}/{}", config.username, config.host, config.port, config.mailbox)
}

async fn wrap_tls(config: &ImapConfig, tcp: TcpStream) -> anyhow::Result<Box<dyn ImapIo>> {
    let peer =
        TlsPeer { host: &config.host, trusted: config.ca_file.as_ref(), server: "IMAP", ca_file_key: "imap.ca_file" };
    Ok(Box::new(tls::handshake(&peer, tcp).await?))
}

/// How long connecting, TLS, the greeting, login and SELECT may take together. A server that
/// never answers (`tls = "none"` or `"starttls"` against an implicit-TLS port waits for a
/// greeting that never comes) is an error, and the service loop's backoff retries it.
const SESSION_SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Connects, logs in (with a password, or with `tokens`' access token when `imap.auth` is
/// "oauth2") and selects the mailbox.
pub async fn connect(config: &ImapConfig, tokens: Option<&TokenSource>) -> anyhow::Result<MailboxConnection> {
    match tokio::time::timeout(SESSION_SETUP_TIMEOUT, connect_without_deadline(config, tokens)).await {
        Ok(connected) => connected,
        Err(_) => bail!(
            "the IMAP server {}:{} did not finish greeting, TLS, login and SELECT within {} s (is imap.tls right for this port?)",
            config.host,
            config.port,
            SESSION_SETUP_TIMEOUT.as_secs()
        ),
    }
}

async fn connect_without_deadline(
    config: &ImapConfig,
    tokens: Option<&TokenSource>,
) -> anyhow::Result<MailboxConnection> {
    let address = (config.host.as_str(), config.port);
    let tcp = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(address))
        .await
        .context("timed out connecting to the IMAP server")?
        .with_context(|| format!("cannot connect to IMAP server {}:{}", config.host, config.port))?;
    tcp.set_nodelay(true).ok();
    let stream: Box<dyn ImapIo> = match config.tls {
        TlsMode::None => Box::new(tcp),
        TlsMode::Tls => wrap_tls(config, tcp).await?,
        TlsMode::StartTls => {
            let mut client = async_imap::Client::new(tcp);
            client.read_response().await.context("no IMAP greeting")?;
            client.run_command_and_check_ok("STARTTLS", None).await.context("STARTTLS refused")?;
            wrap_tls(config, client.into_inner()).await?
        }
    };
    let mut client = async_imap::Client::new(stream);
    if config.tls != TlsMode::StartTls {
        client.read_response().await.context("no IMAP greeting")?;
    }
    let mut session = match &config.login {
        MailLogin::Password(password) => client
            .login(&config.username, password.expose_secret())
            .await
            .map_err(|(err, _)| err)
            .with_context(|| format!("IMAP login as {} failed", config.username))?,
        MailLogin::OAuth2 => {
            let tokens = tokens.context("imap.auth = \"oauth2\" needs the desk's [oauth2] grant")?;
            bearer_login(client, &config.username, tokens).await?
        }
    };
    let capabilities = session.capabilities().await.context("CAPABILITY failed")?;
    let supports_idle = capabilities.has_str("IDLE");
    let supports_move = capabilities.has_str("MOVE");
    let mailbox = session.select(&config.mailbox).await.with_context(|| format!("cannot select {}", config.mailbox))?;
    let uid_validity = mailbox.uid_validity.context("the server gave no UIDVALIDITY")?;
    if let ProcessedAction::Move(target) = &config.processed {
        // Create the target once; "already exists" is fine.
        let _ = session.create(target).await;
    }
    tracing::info!(host = %config.host, mailbox = %config.mailbox, uid_validity, supports_idle, "IMAP connected");
    Ok(MailboxConnection {
        session,
        uid_validity,
        supports_idle,
        supports_move,
        source: source_key(config),
        caught_up: false,
    })
}

/// `AUTHENTICATE XOAUTH2` (or OAUTHBEARER, when that is all the server offers) with the
/// grant's access token; when the server refuses it, once more with a freshly refreshed one.
async fn bearer_login(
    mut client: async_imap::Client<Box<dyn ImapIo>>,
    username: &str,
    tokens: &TokenSource,
) -> anyhow::Result<ImapSession> {
    let offered = capabilities_before_login(&mut client).await?;
    let mechanism = BearerMechanism::choose(|name| offered.iter().any(|offer| offer.eq_ignore_ascii_case(name)));
    let token = tokens.bearer(chrono::Utc::now()).await?;
    let refused = match client.authenticate(mechanism.name(), ImapBearer::new(mechanism, username, &token)).await {
        Ok(session) => return Ok(session),
        // Only the server's NO is a refusal of the token; a broken connection is not.
        Err((err @ (async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_)), client)) => {
            tracing::info!(error = %err, mechanism = mechanism.name(), "the IMAP server refused the access token: refreshing it once");
            client
        }
        Err((err, _)) => {
            return Err(anyhow::Error::new(err).context(format!("IMAP {} login as {username} failed", mechanism.name())))
        }
    };
    let token = tokens.bearer_after_rejection(&token, chrono::Utc::now()).await?;
    let exchange = ImapBearer::new(mechanism, username, &token);
    let challenge = exchange.error_challenge.clone();
    refused.authenticate(mechanism.name(), exchange).await.map_err(|(err, _)| {
        let said = challenge.lock().map(|said| said.clone()).unwrap_or_default();
        anyhow::Error::new(err).context(format!(
            "IMAP {} login as {username} refused twice, with a freshly refreshed token{}: check imap.username (the mailbox the signed-in user may open) and the grant's scopes",
            mechanism.name(),
            said.map(|said| format!(" (the server said {said})")).unwrap_or_default()
        ))
    })
}

/// The `AUTH=` mechanisms the server names before login.
async fn capabilities_before_login(client: &mut async_imap::Client<Box<dyn ImapIo>>) -> anyhow::Result<Vec<String>> {
    use async_imap::imap_proto::{Capability, Response};
    let (sender, receiver) = async_channel::bounded(16);
    client.run_command_and_check_ok("CAPABILITY", Some(sender)).await.context("CAPABILITY failed")?;
    let mut mechanisms = Vec::new();
    while let Ok(response) = receiver.try_recv() {
        let UnsolicitedResponse::Other(response) = response else { continue };
        if let Response::Capabilities(capabilities) = response.parsed() {
            mechanisms.extend(capabilities.iter().filter_map(|capability| match capability {
                Capability::Auth(name) => Some(name.to_string()),
                _ => None,
            }));
        }
    }
    Ok(mechanisms)
}

/// The UIDs past the cursor, in order, at most `max_messages`. The first call on a
/// connection also marks processed what was recorded but left unmarked below the cursor (a
/// crash between the commit and the mark).
pub async fn pending_uids(
    db: &Db,
    connection: &mut MailboxConnection,
    config: &ImapConfig,
    max_messages: usize,
) -> anyhow::Result<Vec<u32>> {
    let last_uid = match load_cursor(db, &connection.source).await? {
        Some((validity, last_uid)) if validity == connection.uid_validity => last_uid,
        Some((validity, _)) => {
            tracing::warn!(
                old = validity,
                new = connection.uid_validity,
                "UIDVALIDITY changed: rescanning the mailbox (duplicates are skipped)"
            );
            0
        }
        None => 0,
    };
    if !connection.caught_up {
        mark_recorded_leftovers(connection, config, last_uid).await?;
        connection.caught_up = true;
    }
    // UIDs end at 2^32 - 1: a cursor there has nothing after it.
    let Some(next_uid) = last_uid.checked_add(1) else { return Ok(Vec::new()) };
    let found = answered_within(connection.session.uid_search(format!("UID {next_uid}:*")), "UID SEARCH")
        .await?
        .context("UID SEARCH failed")?;
    let mut uids: Vec<u32> = found.into_iter().filter(|uid| *uid > last_uid).collect();
    uids.sort_unstable();
    uids.truncate(max_messages);
    Ok(uids)
}

/// How long one IMAP command may go unanswered (a FETCH of a full batch included). A server
/// or a connection that goes silent fails the step, and the service loop reconnects with
/// backoff, instead of waiting until TCP gives up.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

async fn answered_within<T>(command: impl std::future::Future<Output = T>, name: &str) -> anyhow::Result<T> {
    tokio::time::timeout(COMMAND_TIMEOUT, command)
        .await
        .map_err(|_| anyhow::anyhow!("no answer to {name} within {} s", COMMAND_TIMEOUT.as_secs()))
}

/// Bytes of whole mails asked for in one FETCH (a single larger mail is fetched alone).
const FETCH_BYTES: usize = 32 << 20;

/// Fetches a batch of messages in full, except those over `max_bytes` (by RFC822.SIZE, asked
/// first): of those only the headers are fetched, so one huge mail costs no memory. Only
/// answers for the UIDs asked for count (servers also send unsolicited FETCH responses, such
/// as flag changes), and only the run of asked UIDs up to the first one the server did not
/// deliver is returned, so the cursor never passes a mail that was not read.
pub async fn fetch_batch(
    connection: &mut MailboxConnection,
    uids: &[u32],
    max_bytes: usize,
) -> anyhow::Result<Vec<(u32, RawMail)>> {
    let uid_set = |uids: &[u32]| uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let mut sizes: BTreeMap<u32, usize> = BTreeMap::new();
    let size_fetch = async {
        let responses = connection.session.uid_fetch(uid_set(uids), "(UID RFC822.SIZE)").await?;
        responses.try_collect::<Vec<_>>().await
    };
    for fetch in answered_within(size_fetch, "UID FETCH RFC822.SIZE").await?.context("UID FETCH RFC822.SIZE failed")? {
        if let (Some(uid), Some(size)) = (fetch.uid, fetch.size) {
            if uids.contains(&uid) {
                sizes.insert(uid, size as usize);
            }
        }
    }
    // Whole mails in FETCHes of at most FETCH_BYTES; oversized ones headers-only, together.
    let mut plans: Vec<(Vec<u32>, bool)> = Vec::new();
    let mut whole: Vec<u32> = Vec::new();
    let mut whole_bytes = 0;
    for (&uid, &size) in sizes.iter().filter(|(_, size)| **size <= max_bytes) {
        if !whole.is_empty() && whole_bytes + size > FETCH_BYTES {
            plans.push((std::mem::take(&mut whole), false));
            whole_bytes = 0;
        }
        whole.push(uid);
        whole_bytes += size;
    }
    if !whole.is_empty() {
        plans.push((whole, false));
    }
    let oversized: Vec<u32> = sizes.iter().filter(|(_, size)| **size > max_bytes).map(|(uid, _)| *uid).collect();
    if !oversized.is_empty() {
        plans.push((oversized, true));
    }
    let mut fetched: BTreeMap<u32, RawMail> = BTreeMap::new();
    for (chosen, headers_only) in plans {
        let query =
            if headers_only { "(UID INTERNALDATE BODY.PEEK[HEADER])" } else { "(UID INTERNALDATE BODY.PEEK[])" };
        let mail_fetch = async {
            let responses = connection.session.uid_fetch(uid_set(&chosen), query).await?;
            responses.try_collect::<Vec<_>>().await
        };
        let fetches = answered_within(mail_fetch, "UID FETCH").await?.context("UID FETCH failed")?;
        for fetch in fetches {
            let Some(uid) = fetch.uid.filter(|uid| chosen.contains(uid) && !fetched.contains_key(uid)) else {
                continue;
            };
            let bytes = if headers_only { fetch.header() } else { fetch.body() };
            let Some(bytes) = bytes else { continue };
            let headers_only_of = headers_only.then(|| sizes[&uid]);
            if let Some(size) = headers_only_of {
                tracing::warn!(uid, size, max_bytes, "mail over the size limit: fetching only its headers");
            }
            let arrived_at: DateTime<Utc> =
                fetch.internal_date().map(|date| date.with_timezone(&Utc)).unwrap_or_else(Utc::now);
            let cursor = SourceCursor { source: connection.source.clone(), uid_validity: connection.uid_validity, uid };
            fetched.insert(uid, RawMail { bytes: bytes.to_vec(), arrived_at, cursor: Some(cursor), headers_only_of });
        }
    }
    let mut mails = Vec::new();
    for &uid in uids {
        match fetched.remove(&uid) {
            Some(mail) => mails.push((uid, mail)),
            None => {
                tracing::warn!(uid, "the server did not deliver this mail; stopping the batch before it");
                break;
            }
        }
    }
    Ok(mails)
}

/// A crash between a commit and the flag or move leaves recorded mail unmarked below the
/// cursor. It is never recorded again (the cursor is past it), but it should not stay in the
/// mailbox looking unprocessed: once per connection, mark whatever is left.
async fn mark_recorded_leftovers(
    connection: &mut MailboxConnection,
    config: &ImapConfig,
    last_uid: u32,
) -> anyhow::Result<()> {
    if last_uid == 0 {
        return Ok(());
    }
    let query = match config.processed {
        ProcessedAction::Flag => format!("UID 1:{last_uid} UNKEYWORD {PROCESSED_KEYWORD}"),
        // Mail copied and flagged \Deleted whose expunge failed is not copied again.
        ProcessedAction::Move(_) => format!("UID 1:{last_uid} UNDELETED"),
    };
    let found = answered_within(connection.session.uid_search(query), "UID SEARCH")
        .await?
        .context("UID SEARCH for leftovers failed")?;
    let mut leftovers: Vec<u32> = found.into_iter().filter(|uid| *uid <= last_uid).collect();
    if leftovers.is_empty() {
        return Ok(());
    }
    leftovers.sort_unstable();
    tracing::info!(count = leftovers.len(), "marking mail recorded before a crash but not yet marked on the server");
    mark_processed(connection, config, &leftovers).await
}

/// Flags or moves messages whose ticket change has committed. A failure here loses nothing:
/// the cursor is already past them, and a rescan would find them recorded.
pub async fn mark_processed(
    connection: &mut MailboxConnection,
    config: &ImapConfig,
    uids: &[u32],
) -> anyhow::Result<()> {
    if uids.is_empty() {
        return Ok(());
    }
    let set = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let marking = async {
        match &config.processed {
            ProcessedAction::Flag => {
                let updates: Vec<_> = connection
                    .session
                    .uid_store(&set, format!("+FLAGS.SILENT (\\Seen {PROCESSED_KEYWORD})"))
                    .await
                    .context("UID STORE failed")?
                    .try_collect()
                    .await?;
                drop(updates);
            }
            ProcessedAction::Move(target) => {
                if connection.supports_move {
                    connection.session.uid_mv(&set, target).await.context("UID MOVE failed")?;
                } else {
                    connection.session.uid_copy(&set, target).await.context("UID COPY failed")?;
                    let updates: Vec<_> = connection
                        .session
                        .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                        .await
                        .context("UID STORE failed")?
                        .try_collect()
                        .await?;
                    drop(updates);
                    let expunged: Vec<_> = connection.session.uid_expunge(&set).await?.try_collect().await?;
                    drop(expunged);
                }
            }
        }
        anyhow::Ok(())
    };
    answered_within(marking, "marking mail processed").await?
}

/// Waits for the server to report new mail (IDLE), or for `timeout`. Without IDLE support the
/// caller sleeps instead. Returns the session, which IDLE borrows.
pub async fn wait_for_mail(
    connection: MailboxConnection,
    timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<MailboxConnection> {
    let MailboxConnection { session, uid_validity, supports_idle, supports_move, source, caught_up } = connection;
    if !supports_idle {
        bail!("the server does not support IDLE");
    }
    // Mail that arrived while we were busy was announced as an unsolicited EXISTS; IDLE would
    // not announce it again, so look before waiting.
    let mut announced = false;
    while let Ok(response) = session.unsolicited_responses.try_recv() {
        announced |= matches!(response, UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_));
    }
    if announced {
        return Ok(MailboxConnection { session, uid_validity, supports_idle, supports_move, source, caught_up });
    }
    let mut idle = session.idle();
    idle.init().await.context("IDLE failed to start")?;
    tracing::debug!(timeout_secs = timeout.as_secs(), "IDLE: waiting for new mail");
    {
        let (wait, interrupt) = idle.wait_with_timeout(timeout);
        tokio::select! {
            response = wait => match response.context("IDLE failed")? {
                IdleResponse::NewData(data) => tracing::debug!(response = ?data.parsed(), "IDLE: mailbox changed"),
                IdleResponse::Timeout => tracing::trace!("IDLE timeout"),
                IdleResponse::ManualInterrupt => {}
            },
            _ = stop.changed() => drop(interrupt),
        }
    }
    let session = idle.done().await.context("ending IDLE failed")?;
    Ok(MailboxConnection { session, uid_validity, supports_idle, supports_move, source, caught_up })
}
