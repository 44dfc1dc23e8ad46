//! The service loop: take in new mail, send what is queued, wait (IMAP IDLE, or polling), and
//! on a dropped connection reconnect with backoff. `run --once` does one full pass and
//! returns. Each pass is made of the public steps `ingest_imap_step`, `ingest_maildir_step`
//! and `sender::send_step`, which tests call directly.
//!
//! This is the only place that reads the clock for the pipeline and the only place that
//! sleeps. A shutdown request (SIGTERM, Ctrl-C) is honoured between messages, never inside
//! one, so no half-written state is left behind.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::{ImapConfig, SourceConfig};
use crate::desk::Desk;
use crate::inbound::imap::{self, MailboxConnection};
use crate::inbound::maildir;
use crate::intake::{record_mail, IntakeOutcome};
use crate::lease::{self, DeskId, Holding, Keeper, STANDBY_POLL};
use crate::oauth2::AuthError;
use crate::outbound::failures::delivery_failure_step;
use crate::outbound::outbox;
use crate::outbound::sender::{send_step, Transport};
use crate::reports::client::client_reports_step;
use crate::reports::daily::daily_summary_step;
use crate::sla_notices::sla_alert_step;
use crate::storage::database_problem;

/// Messages taken in before the sender gets a turn.
const INGEST_BATCH: usize = 100;

#[derive(Debug, Default, Clone, Copy)]
pub struct PassReport {
    pub mails: usize,
    pub alerts: usize,
    pub sent: usize,
    pub retry_later: usize,
    pub failed: usize,
}

impl PassReport {
    fn add(&mut self, other: PassReport) {
        self.mails += other.mails;
        self.alerts += other.alerts;
        self.sent += other.sent;
        self.retry_later += other.retry_later;
        self.failed += other.failed;
    }
}

/// Runs until `shutdown` turns true (`once == false`), or for one full pass (`once == true`).
/// Works only while this desk holds the mailbox lease (`crate::lease`): until then, and again
/// after losing it, it stands by.
pub async fn run(desk: &Desk, once: bool, clock: Clock, shutdown: watch::Receiver<bool>) -> anyhow::Result<PassReport> {
    let transport = Transport::from_config(&desk.config, desk.tokens.clone())?;
    let me = DeskId::of_this_process(&desk.config.ha);
    let lease_name = mailbox_lease_name(&desk.config.source);
    let mut report = PassReport::default();
    loop {
        if !stand_by_until_active(desk, &lease_name, &me, once, shutdown.clone()).await? {
            return Ok(report);
        }
        let keeper = Keeper::start(desk.db.clone(), lease_name.clone(), me.clone(), &desk.config.ha, Clock::System);
        let (active, watcher) = active_until(shutdown.clone(), keeper.lost.clone());
        let pass = match &desk.config.source {
            SourceConfig::Maildir { path } => run_maildir(desk, path, &transport, once, clock, active).await,
            SourceConfig::Imap(imap_config) => run_imap(desk, imap_config, &transport, once, clock, active).await,
        };
        watcher.abort();
        let lost = keeper.stop();
        if !lost {
            match lease::release(&desk.db, &lease_name, &me, Clock::System.now()).await {
                Ok(()) => tracing::info!(desk = me.id, "released the mailbox lease: a standby desk takes over"),
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), "could not release the mailbox lease: it ends by time")
                }
            }
        }
        report.add(pass?);
        if once {
            // Queued mail waits in the outbox; a single pass says why it did not go.
            if let Some(waiting) = transport.waits_for_login().await {
                return Err(anyhow::Error::new(waiting).context("outgoing mail waits in the outbox"));
            }
        }
        if !lost || once || *shutdown.borrow() {
            return Ok(report);
        }
        tracing::warn!("this desk lost the mailbox lease: standing by");
    }
}

/// The lease of the mailbox this config reads: the same for every desk with this config.
pub fn mailbox_lease_name(source: &SourceConfig) -> String {
    match source {
        SourceConfig::Imap(imap) => format!("imap:{}@{}:{}/{}", imap.username, imap.host, imap.port, imap.mailbox),
        SourceConfig::Maildir { path } => format!("maildir:{}", path.display()),
    }
}

/// Asks for the mailbox lease every second until this desk holds it; false when shut down
/// first. With `once`, gives up (an error) after the takeover time: another desk does the work.
async fn stand_by_until_active(
    desk: &Desk,
    lease_name: &str,
    me: &DeskId,
    once: bool,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<bool> {
    let length = lease::lease_length(&desk.config.ha);
    let give_up_at = tokio::time::Instant::now() + Duration::from_secs(desk.config.ha.takeover_secs) + STANDBY_POLL;
    let mut announced: Option<String> = None;
    loop {
        if *shutdown.borrow() {
            return Ok(false);
        }
        match lease::hold_step(&desk.db, lease_name, me, length, Clock::System.now()).await {
            Ok(Holding::Held { taken, previous }) => {
                if taken {
                    tracing::info!(desk = me.id, previous, "this desk is active: it holds the mailbox");
                }
                return Ok(true);
            }
            Ok(Holding::HeldBy(holder)) if once && tokio::time::Instant::now() >= give_up_at => anyhow::bail!(
                "the desk {} holds the mailbox (since {}, renewed {}): it does this work; stop it first, or leave --once out to stand by",
                holder.holder,
                holder.held_since,
                holder.renewed_at
            ),
            Ok(Holding::HeldBy(holder)) => {
                if announced.as_deref() != Some(holder.holder.as_str()) {
                    tracing::info!(holder = holder.holder, since = %holder.held_since, "standing by: another desk holds the mailbox");
                    announced = Some(holder.holder);
                }
            }
            Err(err) if once => return Err(explain_database_problem(err)),
            Err(err) => tracing::error!(
                problem = database_problem(&err),
                error = format!("{err:#}"),
                "database unavailable: cannot ask for the mailbox lease; retrying"
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(STANDBY_POLL) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// A channel that turns true when `shutdown` or `lost` does: the active desk's stop signal.
fn active_until(
    mut shutdown: watch::Receiver<bool>,
    mut lost: watch::Receiver<bool>,
) -> (watch::Receiver<bool>, tokio::task::JoinHandle<()>) {
    let (sender, receiver) = watch::channel(*shutdown.borrow() || *lost.borrow());
    let watcher = tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => {}
            _ = lost.wait_for(|lost| *lost) => {}
        }
        let _ = sender.send(true);
    });
    (receiver, watcher)
}

/// Takes in every message past the IMAP cursor, in UID order, in batches: each mail is
/// recorded (its commit moves the cursor), then the batch is marked processed on the server.
/// Returns how many mails were handled. Stops between messages when `stop` says so.
pub async fn ingest_imap_step(
    desk: &Desk,
    connection: &mut MailboxConnection,
    config: &ImapConfig,
    max_messages: usize,
    clock: Clock,
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<usize> {
    let uids = imap::pending_uids(&desk.db, connection, config, max_messages).await?;
    let mut handled = 0;
    for batch in uids.chunks(imap::FETCH_BATCH) {
        let mails = imap::fetch_batch(connection, batch, desk.config.intake.max_message_bytes).await?;
        let short = mails.len() < batch.len();
        let mut committed = Vec::new();
        for (uid, mail) in &mails {
            if stop() {
                break;
            }
            let outcome =
                record_mail(desk, mail, clock.now()).await.with_context(|| format!("recording UID {uid} failed"))?;
            tracing::debug!(uid, ?outcome, "intake");
            committed.push(*uid);
            handled += 1;
        }
        imap::mark_processed(connection, config, &committed).await?;
        // A mail the server did not deliver: the next step searches again from the cursor.
        if stop() || short {
            break;
        }
    }
    Ok(handled)
}

/// Takes in every waiting Maildir mail; each file moves to `cur/` after its commit.
pub async fn ingest_maildir_step(
    desk: &Desk,
    root: &Path,
    clock: Clock,
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<usize> {
    maildir::ensure_maildir(root)?;
    let mut handled = 0;
    for file in maildir::waiting_files(root)? {
        if stop() {
            break;
        }
        let mail = maildir::read_file(&file)?;
        let outcome = record_mail(desk, &mail, clock.now())
            .await
            .with_context(|| format!("recording {} failed", file.display()))?;
        if outcome == IntakeOutcome::Duplicate {
            tracing::info!(file = %file.display(), "already recorded");
        }
        maildir::mark_processed(root, &file)?;
        handled += 1;
    }
    Ok(handled)
}

async fn run_maildir(
    desk: &Desk,
    root: &Path,
    transport: &Transport,
    once: bool,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<PassReport> {
    let mut report = PassReport::default();
    let mut failures: u32 = 0;
    loop {
        let stop_flag = shutdown.clone();
        let stop = move || *stop_flag.borrow();
        let pass = async {
            report.mails += ingest_maildir_step(desk, root, clock, &stop).await?;
            add_sends(&mut report, desk, transport, clock).await
        };
        let mut wait = Duration::from_secs(5);
        match pass.await {
            Ok(()) => failures = 0,
            Err(err) if once => return Err(explain_database_problem(err)),
            Err(err) => {
                failures += 1;
                wait = reconnect_delay(failures);
                tracing::error!(
                    problem = database_problem(&err),
                    error = format!("{err:#}"),
                    retry_in_secs = wait.as_secs(),
                    "pass failed: the mail in hand stays in new/; retrying"
                );
            }
        }
        if once || stop() {
            return Ok(report);
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// A database problem the user can fix, named in front of the error.
fn explain_database_problem(err: anyhow::Error) -> anyhow::Error {
    match database_problem(&err) {
        Some(problem) => err.context(format!("{problem}; nothing was lost, run again once it is fixed")),
        None => err,
    }
}

/// The periodic work after intake: SLA alerts, then delivery of everything due.
async fn add_sends(report: &mut PassReport, desk: &Desk, transport: &Transport, clock: Clock) -> anyhow::Result<()> {
    report.alerts += sla_alert_step(desk, clock.now()).await?;
    if daily_summary_step(desk, clock.now()).await? {
        report.alerts += 1;
    }
    report.alerts += client_reports_step(desk, clock.now()).await?;
    // A second round only when the first gave up on mail: its notices go out in this pass.
    for _ in 0..2 {
        let sent = send_step(&desk.db, transport, clock.now()).await?;
        report.sent += sent.sent;
        report.retry_later += sent.retry_later;
        report.failed += sent.failed;
        if delivery_failure_step(desk, clock.now()).await? == 0 {
            break;
        }
    }
    Ok(())
}

async fn run_imap(
    desk: &Desk,
    config: &ImapConfig,
    transport: &Transport,
    once: bool,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<PassReport> {
    let mut report = PassReport::default();
    let mut failures: u32 = 0;
    loop {
        if *shutdown.borrow() {
            return Ok(report);
        }
        let result =
            imap_session(desk, config, transport, once, clock, shutdown.clone(), &mut report, &mut failures).await;
        match result {
            Ok(()) => return Ok(report),
            Err(err) if once => return Err(explain_database_problem(err)),
            Err(err) => {
                failures += 1;
                let waits_for_login = err.downcast_ref::<AuthError>().filter(|auth| auth.needs_login());
                // A new grant is only a database read away: looked for often, never the provider.
                let delay = match waits_for_login {
                    Some(_) => reconnect_delay(failures).min(LOGIN_POLL),
                    None => reconnect_delay(failures),
                };
                match database_problem(&err) {
                    None if waits_for_login.is_some() => {
                        if let (Some(tokens), Some(auth)) = (&desk.tokens, waits_for_login) {
                            tokens.report("imap", auth, chrono::Utc::now());
                        }
                    }
                    Some(problem) => tracing::error!(
                        problem,
                        error = format!("{err:#}"),
                        retry_in_secs = delay.as_secs(),
                        "database unavailable: the mail in hand stays unprocessed on the server; retrying"
                    ),
                    None => tracing::error!(
                        error = format!("{err:#}"),
                        retry_in_secs = delay.as_secs(),
                        "IMAP session ended by an error; reconnecting"
                    ),
                }
                // Mail queued meanwhile still goes out while IMAP is down.
                if let Err(send_err) = add_sends(&mut report, desk, transport, clock).await {
                    tracing::error!(error = format!("{send_err:#}"), "sending failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

/// 1 s, 2 s, 4 s ... at most 60 s between reconnect attempts.
pub fn reconnect_delay(failures: u32) -> Duration {
    Duration::from_secs((1u64 << failures.saturating_sub(1).min(6)).min(60))
}

/// One connection's life: returns Ok when done (once, or shutdown), Err when the connection
/// broke or a pass failed. `failures` (for the backoff) is reset after the first good pass.
#[allow(clippy::too_many_arguments)]
async fn imap_session(
    desk: &Desk,
    config: &ImapConfig,
    transport: &Transport,
    once: bool,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
    report: &mut PassReport,
    failures: &mut u32,
) -> anyhow::Result<()> {
    let mut connection = imap::connect(config, desk.tokens.as_ref()).await?;
    let stop_flag = shutdown.clone();
    let stop = move || *stop_flag.borrow();
    loop {
        let handled = ingest_imap_step(desk, &mut connection, config, INGEST_BATCH, clock, &stop).await?;
        report.mails += handled;
        add_sends(report, desk, transport, clock).await?;
        *failures = 0;
        if stop() {
            connection.session.logout().await.ok();
            return Ok(());
        }
        if handled > 0 {
            continue;
        }
        if once {
            connection.session.logout().await.ok();
            return Ok(());
        }
        let wait = next_wait(desk, config, transport, clock.now()).await?;
        if connection.supports_idle && config.idle {
            connection = imap::wait_for_mail(connection, wait, shutdown.clone()).await?;
        } else {
            let mut shutdown = shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
            connection.session.noop().await.context("NOOP failed")?;
        }
    }
}

/// How often a desk whose mail waits for an OAuth2 login looks for a new grant.
pub const LOGIN_POLL: Duration = Duration::from_secs(10);

/// How long to wait for mail: the poll interval, or less when an outbox retry falls due sooner
/// (and `LOGIN_POLL` while queued mail waits for a new OAuth2 login).
async fn next_wait(
    desk: &Desk,
    config: &ImapConfig,
    transport: &Transport,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Duration> {
    let poll = Duration::from_secs(config.poll_interval_secs);
    let Some(next_due) = outbox::next_due_at(&desk.db).await? else {
        return Ok(poll);
    };
    if transport.waits_for_login().await.is_some() {
        return Ok(poll.min(LOGIN_POLL));
    }
    let until_due = (next_due - now).to_std().unwrap_or(Duration::from_secs(1)).max(Duration::from_secs(1));
    Ok(poll.min(until_due))
}

/// A channel that turns true on SIGTERM or Ctrl-C.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
        }
        tracing::info!("shutdown requested: finishing the message in hand");
        let _ = sender.send(true);
    });
    receiver
}
