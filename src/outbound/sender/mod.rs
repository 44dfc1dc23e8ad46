//! Delivers outbox rows: over SMTP with lettre, or as `.eml` files into a folder (lettre's
//! file transport). `send_step` is the one public step: it tries every due row once (over
//! several SMTP connections at once, each recipient's mail in order), marks each `sent` right
//! after the server accepted it, retries transient failures with exponential backoff, and
//! records permanent ones (5xx) as `failed` without retrying.

use anyhow::Context;
use chrono::{DateTime, Utc};
use lettre::address::Envelope;
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncFileTransport, AsyncTransport, Tokio1Executor};

use super::outbox::{self, PendingMail};
use crate::config::{Config, DeliveryConfig, HaConfig};
use crate::lease::DeskId;
use crate::oauth2::{AuthError, TokenSource};
use crate::storage::Db;

mod smtp;

pub use smtp::SmtpSender;
pub use smtp::SMTP_LANES;

/// How long queued mail waits, untried, while the OAuth2 provider cannot be reached.
pub const WAIT_FOR_LOGIN: chrono::Duration = chrono::Duration::seconds(60);

/// After this many attempts a transiently failing mail is given up as failed.
pub const MAX_ATTEMPTS: i64 = 12;

/// Where mail goes, plus what this process knows beyond the database: mail the server
/// accepted whose `sent` mark could not be written yet (a locked or full database). Such mail
/// is never handed over again by this process; the mark is retried first on every step.
pub struct Transport {
    delivery: Delivery,
    accepted_unrecorded: std::sync::Mutex<std::collections::BTreeSet<i64>>,
    /// The desk whose claims this sender's mail carries (`outbox::claim_due`).
    claimant: DeskId,
    /// How long a claim lasts: longer than one batch takes to hand over.
    claim_for: chrono::Duration,
}

enum Delivery {
    Smtp(Box<SmtpSender>),
    Folder(AsyncFileTransport<Tokio1Executor>),
}

/// Whether a failed delivery is worth another try.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server may take it later (4xx, a cut connection, a timeout): the cause kept.
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
    /// It will never be taken as it is (5xx, an address that cannot be written).
    #[error("permanent: {0:#}")]
    Permanent(anyhow::Error),
    /// It was not tried: no OAuth2 token to log in with. It waits without using up an attempt.
    #[error("not tried: {0}")]
    NoToken(AuthError),
}

impl SendError {
    /// The error as stored on the outbox row and shown to the agent: every cause, one line.
    fn reason(&self) -> String {
        match self {
            SendError::Transient(error) | SendError::Permanent(error) => format!("{error:#}"),
            SendError::NoToken(error) => error.to_string(),
        }
    }
}

impl Transport {
    fn new(delivery: Delivery, ha: &HaConfig) -> Transport {
        Transport {
            delivery,
            accepted_unrecorded: Default::default(),
            claimant: DeskId::of_this_process(ha),
            claim_for: claim_length(ha),
        }
    }

    /// Why mail cannot go out until someone signs in again (`smtp.auth = "oauth2"` with a
    /// refused grant); then `send_step` tries nothing, so no mail uses up its attempts.
    pub async fn waits_for_login(&self) -> Option<AuthError> {
        let Delivery::Smtp(sender) = &self.delivery else { return None };
        let (Some(tokens), Some((_, crate::config::MailLogin::OAuth2))) = (&sender.tokens, &sender.config.login) else {
            return None;
        };
        let waiting = tokens.waiting_for_login().await?;
        tokens.report("smtp", &waiting, Utc::now());
        Some(waiting)
    }

    fn accepted_unrecorded(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<i64>> {
        self.accepted_unrecorded.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `helpdesk check --connect`: connects, greets, logs in (EHLO, STARTTLS, AUTH as the desk
    /// would) and says QUIT. No mail is sent. For a folder, says where mail goes.
    pub async fn check_connection(&self) -> anyhow::Result<String> {
        match &self.delivery {
            Delivery::Folder(_) => Ok("delivery to a folder: nothing to connect to".into()),
            Delivery::Smtp(sender) => {
                let mut connection = sender.connect().await.map_err(|err| anyhow::anyhow!("{err}"))?;
                let _ = connection.quit().await;
                let smtp = &sender.config;
                let login = match &smtp.login {
                    Some((username, crate::config::MailLogin::OAuth2)) => {
                        format!("logged in as {username} with OAuth2 (XOAUTH2)")
                    }
                    Some((username, _)) => format!("logged in as {username}"),
                    None => "no login configured".to_string(),
                };
                Ok(format!("SMTP {}:{} ({:?}): greeted, {login}, no mail sent", smtp.host, smtp.port, smtp.tls))
            }
        }
    }

    /// The transport of `config`; `tokens` are the desk's OAuth2 tokens (see `Desk::tokens`).
    pub fn from_config(config: &Config, tokens: Option<TokenSource>) -> anyhow::Result<Transport> {
        config.require_secrets()?;
        match &config.delivery {
            DeliveryConfig::OutboxDir { path } => {
                std::fs::create_dir_all(path)
                    .with_context(|| format!("cannot create outbox_dir {}", path.display()))?;
                Ok(Transport::new(Delivery::Folder(AsyncFileTransport::new(path)), &config.ha))
            }
            DeliveryConfig::Smtp(smtp) => {
                let helo = smtp.helo_name.clone().unwrap_or_else(|| config.support_address().domain().to_string());
                Ok(Transport::new(
                    Delivery::Smtp(Box::new(SmtpSender {
                        config: smtp.clone(),
                        hello: ClientId::Domain(helo),
                        tokens,
                        connections: (0..SMTP_LANES).map(|_| tokio::sync::Mutex::new(None)).collect(),
                    })),
                    &config.ha,
                ))
            }
        }
    }

    /// How many mails can be in flight at once.
    pub fn lanes(&self) -> usize {
        match self.delivery {
            Delivery::Smtp(_) => SMTP_LANES,
            Delivery::Folder(_) => 1,
        }
    }

    async fn deliver(&self, lane: usize, mail: &PendingMail) -> Result<(), SendError> {
        let from: Address = mail
            .envelope_from
            .parse()
            .map_err(|err| SendError::Permanent(anyhow::Error::new(err).context("bad sender")))?;
        let to: Vec<Address> = mail
            .recipients
            .iter()
            .map(|r| r.parse())
            .collect::<Result<_, _>>()
            .map_err(|err| SendError::Permanent(anyhow::Error::new(err).context("bad recipient")))?;
        let envelope = Envelope::new(Some(from), to).map_err(|err| SendError::Permanent(err.into()))?;
        match &self.delivery {
            Delivery::Folder(folder) => {
                folder.send_raw(&envelope, &mail.raw).await.map(|_| ()).map_err(|err| SendError::Transient(err.into()))
            }
            Delivery::Smtp(smtp) => smtp.send(lane, &envelope, &mail.raw).await,
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendReport {
    pub sent: usize,
    pub retry_later: usize,
    pub failed: usize,
}

/// How long a sender's claim on queued mail lasts: twice the takeover time and half a minute,
/// longer than a batch takes to hand over. Mail claimed by a desk that died on another
/// machine waits this long for the next active desk (on the same machine, not at all).
pub fn claim_length(ha: &HaConfig) -> chrono::Duration {
    chrono::Duration::seconds(2 * ha.takeover_secs as i64 + 30)
}

/// The delay before attempt `attempts + 1`: 30 s doubling per attempt, at most an hour.
pub fn retry_delay(attempts: i64) -> chrono::Duration {
    let seconds = 30i64.saturating_mul(1i64 << attempts.clamp(0, 20)).min(3600);
    chrono::Duration::seconds(seconds)
}

/// Tries every due outbox row once, over the transport's lanes at the same time (each lane
/// in queue order). When a lane meets a transient failure (the server is probably down), the
/// rest of the queue is postponed in order for the next step.
pub async fn send_step(db: &Db, transport: &Transport, now: DateTime<Utc>) -> anyhow::Result<SendReport> {
    let mut report = SendReport::default();
    // First the marks that could not be written before: until they are, nothing else goes.
    let unrecorded: Vec<i64> = transport.accepted_unrecorded().iter().copied().collect();
    for id in unrecorded {
        outbox::mark_sent(db, id, now).await.context("recording a mail the server accepted earlier")?;
        transport.accepted_unrecorded().remove(&id);
        tracing::info!(outbox = id, "sent (recorded late)");
        report.sent += 1;
    }
    if transport.waits_for_login().await.is_some() {
        // Not tried, so no attempt is used up; due as soon as someone signs in again.
        return Ok(report);
    }
    loop {
        let real_now = Utc::now();
        let claimed_until = real_now + transport.claim_for;
        let batch = outbox::claim_due(db, &transport.claimant, now, real_now, claimed_until, 200).await?;
        if batch.is_empty() {
            return Ok(report);
        }
        let lanes = transport.lanes();
        let mut shards: Vec<Vec<PendingMail>> = vec![Vec::new(); lanes];
        for mail in batch {
            let lane = lane_of(&mail.recipients, lanes);
            shards[lane].push(mail);
        }
        let results = futures::future::join_all(
            shards.into_iter().enumerate().map(|(lane, mails)| send_lane(db, transport, lane, mails, now)),
        )
        .await;
        let mut postpone_until = None;
        for result in results {
            let (lane_report, stopped) = result?;
            report.sent += lane_report.sent;
            report.failed += lane_report.failed;
            report.retry_later += lane_report.retry_later;
            postpone_until = postpone_until.max(stopped);
        }
        if let Some(next) = postpone_until {
            for later in outbox::due_ids(db, &transport.claimant, now, Utc::now()).await? {
                outbox::mark_retry_without_attempt(db, later, next).await?;
                report.retry_later += 1;
            }
            return Ok(report);
        }
    }
}

fn lane_of(recipients: &[String], lanes: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    recipients.hash(&mut hasher);
    (hasher.finish() % lanes.max(1) as u64) as usize
}

/// Sends one lane's mails in order; stops at the first transient failure and says until when
/// the rest should wait.
async fn send_lane(
    db: &Db,
    transport: &Transport,
    lane: usize,
    mails: Vec<PendingMail>,
    now: DateTime<Utc>,
) -> anyhow::Result<(SendReport, Option<DateTime<Utc>>)> {
    let mut report = SendReport::default();
    for mail in mails {
        let started = std::time::Instant::now();
        let delivered = transport.deliver(lane, &mail).await;
        let smtp_us = started.elapsed().as_micros() as u64;
        match delivered {
            Ok(()) => {
                // A crash between the server taking the message (our final ".") and this
                // commit sends it twice on restart: the server's part of that window is at most
                // `smtp_us`, ours is this one UPDATE (`recorded_us`). Both are logged.
                let accepted = std::time::Instant::now();
                if let Err(err) = outbox::mark_sent(db, mail.id, now).await {
                    // Never hand it over again: remembered, and recorded first next time.
                    transport.accepted_unrecorded().insert(mail.id);
                    return Err(err.context(format!(
                        "the server accepted outbox mail {} but it could not be recorded as sent",
                        mail.id
                    )));
                }
                let recorded_us = accepted.elapsed().as_micros() as u64;
                tracing::info!(outbox = mail.id, kind = %mail.kind, message_id = %mail.message_id, to = ?mail.recipients, smtp_us, recorded_us, "sent");
                report.sent += 1;
            }
            Err(failure @ SendError::Permanent(_)) => {
                let error = failure.reason();
                outbox::mark_failed(db, mail.id, &error).await?;
                tracing::error!(outbox = mail.id, kind = %mail.kind, to = ?mail.recipients, %error, "delivery failed permanently; not retrying");
                report.failed += 1;
            }
            Err(failure @ SendError::Transient(_)) if mail.attempts + 1 >= MAX_ATTEMPTS => {
                let error = failure.reason();
                outbox::mark_failed(db, mail.id, &format!("gave up after {MAX_ATTEMPTS} attempts: {error}")).await?;
                tracing::error!(outbox = mail.id, kind = %mail.kind, %error, "delivery failed {MAX_ATTEMPTS} times; giving up");
                report.failed += 1;
            }
            // The grant was refused just now: this step ends (the rest due as they are, no
            // attempt used up), and the next one finds the desk waiting for a login.
            Err(SendError::NoToken(error)) if error.needs_login() => {
                tracing::warn!(outbox = mail.id, kind = %mail.kind, %error, "not sent: the OAuth2 grant needs a new login; it waits without using up an attempt");
                outbox::mark_retry_without_attempt(db, mail.id, now).await?;
                return Ok((report, Some(now)));
            }
            // The provider is out of reach: a minute before the next try, none used up.
            Err(SendError::NoToken(error)) => {
                let next = now + WAIT_FOR_LOGIN;
                outbox::mark_retry_without_attempt(db, mail.id, next).await?;
                tracing::warn!(outbox = mail.id, kind = %mail.kind, %error, next_attempt = %next, "not sent: no OAuth2 token; it waits without using up an attempt");
                report.retry_later += 1;
                return Ok((report, Some(next)));
            }
            Err(failure @ SendError::Transient(_)) => {
                let error = failure.reason();
                let next = now + retry_delay(mail.attempts);
                outbox::mark_retry(db, mail.id, next, &error).await?;
                tracing::warn!(outbox = mail.id, kind = %mail.kind, %error, next_attempt = %next, "delivery failed; will retry");
                report.retry_later += 1;
                return Ok((report, Some(next)));
            }
        }
    }
    Ok((report, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_at_an_hour() {
        assert_eq!(retry_delay(0).num_seconds(), 30);
        assert_eq!(retry_delay(1).num_seconds(), 60);
        assert_eq!(retry_delay(3).num_seconds(), 240);
        assert_eq!(retry_delay(10).num_seconds(), 3600);
        assert_eq!(retry_delay(1000).num_seconds(), 3600);
    }

    /// Three acknowledgements queued, to client1..3@acme.test, subjects "queued mail 1".."3".
    async fn queue_three_mails(db: &Db, now: DateTime<Utc>) {
        let from: lettre::message::Mailbox = "Support <support@example.test>".parse().unwrap();
        let mut tx = crate::storage::begin_write(db).await.unwrap();
        for n in 1..=3 {
            let draft = crate::outbound::compose::Draft {
                to: vec![format!("client{n}@acme.test").parse().unwrap()],
                subject: format!("queued mail {n}"),
                body: "hello".into(),
                ..crate::outbound::compose::Draft::new(crate::outbound::outbox::OutboxKind::Acknowledgement)
            };
            let mail = crate::outbound::compose::build_mail(&from, draft, now).unwrap();
            outbox::enqueue(&mut tx, &mail, now).await.unwrap();
        }
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn a_mail_whose_sent_mark_fails_is_never_handed_over_again_and_nothing_goes_before_its_mark() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("desk.db").display());
        let db = crate::storage::open(&url, std::time::Duration::from_secs(1), false).await.unwrap();
        let folder = dir.path().join("outbox");
        std::fs::create_dir_all(&folder).unwrap();
        let transport = Transport::new(Delivery::Folder(AsyncFileTransport::new(&folder)), &HaConfig::default());
        let now = Utc::now();
        // Three mails queued: the first one's mark will fail.
        queue_three_mails(&db, now).await;
        // How many copies of each queued mail were handed over, by subject.
        let handed_over = || -> Vec<usize> {
            let texts: Vec<String> = std::fs::read_dir(&folder)
                .unwrap()
                .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
                .collect();
            (1..=3).map(|n| texts.iter().filter(|text| text.contains(&format!("queued mail {n}"))).count()).collect()
        };
        let pending_untried = || async {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts = 0")
                .fetch_one(&db)
                .await
                .unwrap();
            n
        };

        // The first mail's mark fails (as on a full disk) after it was handed over; the other
        // two could be marked, so only the order of the sender keeps them back.
        sqlx::query(
            "CREATE TRIGGER no_marks BEFORE UPDATE OF status ON outbox
             WHEN NEW.status = 'sent' AND OLD.id = (SELECT MIN(id) FROM outbox)
             BEGIN SELECT RAISE(ABORT, 'disk full'); END",
        )
        .execute(&db)
        .await
        .unwrap();
        assert!(send_step(&db, &transport, now).await.is_err());
        assert_eq!(handed_over(), [1, 0, 0], "the first mail went, and the step stopped at its failed mark");
        assert!(send_step(&db, &transport, now).await.is_err(), "the mark is retried first, and fails again");
        assert_eq!(handed_over(), [1, 0, 0], "not handed over a second time, and nothing else before its mark");
        // All three rows still read as queued and untried: the first one's mark is what failed,
        // so only the process's memory keeps it from going out again.
        assert_eq!(pending_untried().await, 3, "all three still queued in the database");

        sqlx::query("DROP TRIGGER no_marks").execute(&db).await.unwrap();
        let report = send_step(&db, &transport, now).await.unwrap();
        assert_eq!(report.sent, 3, "the first recorded late, then the other two sent");
        assert_eq!(handed_over(), [1, 1, 1], "each mail handed over exactly once");
        let statuses: Vec<String> =
            sqlx::query_scalar("SELECT status FROM outbox ORDER BY id").fetch_all(&db).await.unwrap();
        assert_eq!(statuses, ["sent", "sent", "sent"]);
    }

    /// Two desks' senders on one database: a batch one has claimed is not the other's until
    /// the claim runs out, or at once when its desk is gone (its process ended on this host).
    #[tokio::test]
    async fn queued_mail_claimed_by_one_desk_is_not_sent_by_another_until_the_claim_ends() {
        let desk = crate::desk::Desk::open(crate::testing::sample_config()).await.unwrap();
        let now = Utc::now();
        queue_three_mails(&desk.db, now).await;
        let desk_a = DeskId { id: "a:1:x".into(), host: "a".into(), pid: 1 };
        let desk_b = DeskId { id: "b:2:y".into(), host: "b".into(), pid: 2 };
        let minute = chrono::Duration::minutes(1);
        let ids = |mails: Vec<PendingMail>| mails.into_iter().map(|mail| mail.id).collect::<Vec<_>>();

        let claimed_by_a = ids(outbox::claim_due(&desk.db, &desk_a, now, now, now + minute, 2).await.unwrap());
        assert_eq!(claimed_by_a.len(), 2, "the oldest two");
        let claimed_by_b = ids(outbox::claim_due(&desk.db, &desk_b, now, now, now + minute, 10).await.unwrap());
        assert_eq!(claimed_by_b.len(), 1, "only the one A did not claim");
        assert!(!claimed_by_a.contains(&claimed_by_b[0]));
        assert!(
            outbox::claim_due(&desk.db, &desk_b, now, now, now + minute, 10).await.unwrap().len() == 1,
            "B's own again"
        );
        let after_claims_end = now + minute + chrono::Duration::seconds(1);
        let later = ids(outbox::claim_due(&desk.db, &desk_b, now, after_claims_end, after_claims_end + minute, 10)
            .await
            .unwrap());
        assert_eq!(later.len(), 3, "once A's claim ran out, B may send A's mail");

        // A desk on this host whose process is gone: its claims are released at once.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone_pid = child.id();
        child.wait().unwrap();
        let here = DeskId::of_this_process(&HaConfig::default());
        let gone = DeskId { id: format!("{}:{gone_pid}:z", here.host), host: here.host.clone(), pid: gone_pid };
        let far = after_claims_end + minute * 10;
        assert_eq!(outbox::claim_due(&desk.db, &gone, now, far, far + minute, 10).await.unwrap().len(), 3);
        assert_eq!(outbox::claim_due(&desk.db, &here, now, far, far + minute, 10).await.unwrap().len(), 3);
    }
}
