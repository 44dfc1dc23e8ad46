//! Restart safety. The desk is killed (SIGKILL) at random moments 20 times in a row while 500
//! mails wait, during intake and during sending, and restarted each time: every mail ends on
//! exactly one ticket with one acknowledgement, and the duplicates the clients actually
//! received are counted. And a SIGTERM mid-batch finishes the message in hand and leaves
//! nothing half-written.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use helpdesk::storage::Db;

use super::desk::{count, count_once_migrated, header, TestDesk, AGENT, SUPPORT};
use super::lab::MailLab;

/// Five per sender: the default acknowledgement limit is five per sender per hour.
pub(super) const MAILS_PER_SENDER: usize = 5;

/// The soak knobs: `HELPDESK_SOAK_SENDERS` (default 100, so 500 mails) and
/// `HELPDESK_SOAK_KILLS` (default 20); `HELPDESK_SOAK_SEED` repeats a run.
fn soak_setting(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Err(_) => default,
        Ok(value) => value.parse().unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")),
    }
}

/// Each `crashN@acme.test` is a different person of one client here: the per-domain brakes
/// (by default 20 acknowledgements and 50 notifications an hour for all of a domain) stop mail
/// loops, and would stop this test's acknowledgements after 20.
pub(super) const MANY_PEOPLE_OF_ONE_DOMAIN: &str =
    "[intake]\nacknowledgements_per_domain_per_hour = 10000\nagent_notifications_per_domain_per_hour = 10000\n";

pub(super) fn sender(i: usize, senders: usize) -> String {
    format!("crash{}@acme.test", i % senders)
}

pub(super) async fn fill_mailbox(lab: &MailLab, mails: usize, senders: usize) {
    for i in 0..mails {
        let from = sender(i, senders);
        let eml = format!(
            "From: {from}\nTo: {SUPPORT}\nSubject: Problem number {i}\nMessage-ID: <p{i}@acme.test>\n\nDetails of problem {i}.\n"
        );
        lab.send(&from, SUPPORT, &eml).await;
    }
    lab.wait_for_support_mail(mails).await;
}

/// A small deterministic generator, so that a failing run can be repeated with its seed.
pub(super) struct Lcg(pub(super) u64);

impl Lcg {
    pub(super) fn next_in(&mut self, low: u64, high: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        low + (self.0 >> 33) % (high - low)
    }
}

/// How many times each mail was received, keyed by the Message-ID it answers.
pub(super) fn copies_by_in_reply_to(mails: &[Vec<u8>]) -> HashMap<String, usize> {
    let mut copies = HashMap::new();
    for raw in mails {
        let key = header(raw, "In-Reply-To").unwrap_or_default();
        *copies.entry(key).or_insert(0) += 1;
    }
    copies
}

/// Every `name=<number>` a log holds.
fn logged_numbers(log: &str, name: &str) -> Vec<u64> {
    let pattern = regex::Regex::new(&format!("{name}=([0-9]+)")).unwrap();
    pattern.captures_iter(log).filter_map(|captures| captures[1].parse().ok()).collect()
}

/// (count, median, p99).
fn percentiles(mut values: Vec<u64>) -> (usize, u64, u64) {
    values.sort_unstable();
    let at = |fraction: f64| values.get(((values.len() as f64 - 1.0) * fraction) as usize).copied().unwrap_or(0);
    (values.len(), at(0.5), at(0.99))
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_20_times_during_intake_and_sending_every_mail_is_on_one_ticket_with_one_acknowledgement() {
    let lab = MailLab::start();
    let desk = TestDesk::with_extra_config(&lab, MANY_PEOPLE_OF_ONE_DOMAIN);
    let senders = soak_setting("HELPDESK_SOAK_SENDERS", 100);
    let kills = soak_setting("HELPDESK_SOAK_KILLS", 20);
    let mails = senders * MAILS_PER_SENDER;
    fill_mailbox(&lab, mails, senders).await;
    let seed: u64 = std::env::var("HELPDESK_SOAK_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    // Printed first, so that a run that fails below can be repeated.
    eprintln!("crash: seed {seed} (HELPDESK_SOAK_SEED repeats this run)");
    let mut random = Lcg(seed);
    let mut db: Option<Db> = None;
    let (mut during_intake, mut during_sending, mut after_everything) = (0, 0, 0);
    for round in 0..kills {
        let log = format!("run{round}.log");
        let mut child = desk.spawn_run_with_env(&log, &[("HELPDESK_IMAP__POLL_INTERVAL_SECS", "600")]);
        // Startup takes ~100 ms and the job a few seconds: the kills fall anywhere in it.
        let delay = random.next_in(50, 700);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.kill().unwrap();
        let status = child.wait().unwrap();
        // A desk that exited by itself before the kill is a failure, not a kill.
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "round {round}: the desk exited by itself ({status}) before the kill:\n{}",
            desk.log(&log)
        );
        if db.is_none() && desk.database_exists().await {
            db = Some(desk.db().await);
        }
        let (tickets, unsent) = match &db {
            Some(db) => (
                count_once_migrated(db, "SELECT COUNT(*) FROM tickets").await,
                count_once_migrated(db, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'").await,
            ),
            None => (0, 0),
        };
        // Intake and sending alternate (100 mails in, then what they queued goes out), so a
        // kill often falls while both are unfinished.
        during_intake += usize::from((tickets as usize) < mails);
        during_sending += usize::from(unsent > 0);
        after_everything += usize::from(tickets as usize == mails && unsent == 0);
    }
    // The last start finishes the job.
    let finish = desk.run_once();
    let db = desk.db().await;

    // Every ticket's messages in one query (`ticket show` would be one run per ticket).
    let per_message: Vec<(String, i64)> =
        sqlx::query_as("SELECT message_id, COUNT(*) FROM messages WHERE ticket_id IS NOT NULL GROUP BY message_id")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(per_message.len(), mails, "every mail is on a ticket\n{finish}");
    assert!(per_message.iter().all(|(_, count)| *count == 1), "no mail recorded twice");
    assert_eq!(desk.tickets_json("all").len(), mails);
    // The outbox: one acknowledgement row per ticket.
    let without_one_ack = count(
        &db,
        "SELECT COUNT(*) FROM tickets t WHERE (SELECT COUNT(*) FROM outbox o WHERE o.ticket_id = t.id AND o.kind = 'acknowledgement') != 1",
    )
    .await;
    assert_eq!(without_one_ack, 0, "one queued acknowledgement per ticket");

    // Every mail is marked processed on the server, also those recorded just before a kill.
    let mut session = lab.imap(SUPPORT).await;
    let unmarked = session.uid_search("UNKEYWORD $HelpdeskProcessed").await.unwrap().len();
    session.logout().await.ok();
    assert_eq!(unmarked, 0, "recorded mail left unmarked on the server");

    // What the clients and the agent actually received, read over IMAP once everything was
    // handed over and Postfix has delivered it (so no late copy is missed).
    desk.drain(&lab).await;
    let mut missing = 0;
    let mut duplicate_acks = 0;
    for i in 0..senders {
        let received = lab.wait_for_mails(&sender(i, senders), MAILS_PER_SENDER).await;
        let copies = copies_by_in_reply_to(&received);
        missing += MAILS_PER_SENDER.saturating_sub(copies.len());
        duplicate_acks += copies.values().map(|n| n - 1).sum::<usize>();
    }
    let agent_mail = lab.wait_for_mails(AGENT, mails).await;
    let agent_copies = copies_by_in_reply_to(&agent_mail);
    let duplicate_notifications: usize = agent_copies.values().map(|n| n - 1).sum();

    // The duplicate window: the server's handling of the final "." (bounded by the whole SMTP
    // exchange, `smtp_us`) plus the commit that records the mail as sent (`recorded_us`).
    let logs: String = (0..kills).map(|round| desk.log(&format!("run{round}.log"))).collect();
    let smtp = percentiles(logged_numbers(&logs, "smtp_us"));
    let record = percentiles(logged_numbers(&logs, "recorded_us"));
    println!(
        "crash: {mails} mails, {kills} SIGKILLs (seed {seed}: {during_intake} with intake unfinished, {during_sending} with mail queued for sending, {after_everything} after all was done), \
         0 lost, {missing} acknowledgements missing, {duplicate_acks} duplicate acknowledgements and {duplicate_notifications} duplicate agent notifications received \
         ({} sends logged: SMTP exchange median {} us / p99 {} us, recording median {} us / p99 {} us)",
        smtp.0, smtp.1, smtp.2, record.1, record.2
    );
    assert_eq!(missing, 0, "every client got its acknowledgements");
    assert_eq!(agent_copies.len(), mails, "the agent got every notification");
    // A kill can only duplicate what was accepted but not yet recorded: one mail per SMTP lane.
    assert!(duplicate_acks + duplicate_notifications <= 4 * kills, "duplicates beyond the window");
    assert!(during_intake > 0 && during_sending > 0, "kills landed during intake and during sending (seed {seed})");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_batch_finishes_the_message_in_hand_and_leaves_nothing_half_written() {
    let lab = MailLab::start();
    let desk = TestDesk::with_extra_config(&lab, MANY_PEOPLE_OF_ONE_DOMAIN);
    const WAITING: usize = 300;
    fill_mailbox(&lab, WAITING, WAITING).await;
    let mut child = desk.spawn_run_with_env("run.log", &[("HELPDESK_IMAP__POLL_INTERVAL_SECS", "600")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let db = loop {
        if desk.database_exists().await {
            tokio::time::sleep(Duration::from_millis(100)).await;
            break desk.db().await;
        }
        assert!(Instant::now() < deadline, "the desk never opened its database");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Polled every 5 ms while the desk runs, so read directly.
    while count(&db, "SELECT COUNT(*) FROM tickets").await < 30 {
        assert!(Instant::now() < deadline, "no progress: {}", desk.log("run.log"));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pid = child.id().to_string();
    let asked = Instant::now();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    let exit_ms = asked.elapsed().as_millis();
    assert!(status.success(), "clean exit on SIGTERM: {status}\n{}", desk.log("run.log"));

    // Nothing half-written: each recorded mail has its ticket and its acknowledgement row, the
    // cursor is at the last recorded mail, and exactly the recorded mails are flagged.
    let recorded = desk.messages_json().len() as i64;
    assert!((recorded as usize) < WAITING, "stopped mid-batch ({recorded} of {WAITING})");
    assert_eq!(desk.tickets_json("all").len() as i64, recorded);
    // The outbox and the IMAP cursor: no command shows them.
    assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement'").await, recorded);
    let cursor = count(&db, "SELECT last_uid FROM mailbox_cursors").await;
    assert_eq!(cursor, recorded, "the cursor is at the last recorded mail (UIDs start at 1)");
    let mut session = lab.imap(SUPPORT).await;
    let flagged = session.uid_search("KEYWORD $HelpdeskProcessed").await.unwrap().len() as i64;
    let all: Vec<_> = session.uid_fetch("1:*", "UID").await.unwrap().try_collect().await.unwrap();
    session.logout().await.ok();
    assert_eq!(flagged, recorded, "exactly the recorded mails are marked processed on the server");
    assert_eq!(all.len(), WAITING, "nothing was removed from the mailbox");

    desk.run_once();
    assert_eq!(desk.tickets_json("all").len(), WAITING);
    // Every ticket's messages in one query (`ticket show` would be one run per ticket).
    assert_eq!(count(&db, "SELECT COUNT(DISTINCT message_id) FROM messages").await as usize, WAITING);
    println!(
        "sigterm: stopped after {recorded} of {WAITING} mails, exited {exit_ms} ms after the signal, {recorded} recorded = {flagged} flagged on the server = cursor; the next run took the other {}",
        WAITING as i64 - recorded
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_move_mode_a_kill_mid_batch_loses_nothing_and_every_mail_ends_in_the_processed_folder() {
    let lab = MailLab::start();
    let desk = TestDesk::with_extra_config(&lab, MANY_PEOPLE_OF_ONE_DOMAIN);
    const WAITING: usize = 150;
    fill_mailbox(&lab, WAITING, WAITING).await;
    let move_mode = [("HELPDESK_IMAP__PROCESSED", "move:Processed"), ("HELPDESK_IMAP__POLL_INTERVAL_SECS", "600")];
    let mut child = desk.spawn_run_with_env("run.log", &move_mode);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !desk.database_exists().await {
        assert!(Instant::now() < deadline, "the desk never opened its database");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let db = desk.db().await;
    // Polled every 5 ms while the desk runs, so read directly.
    while count(&db, "SELECT COUNT(*) FROM tickets").await < 40 {
        assert!(Instant::now() < deadline, "no progress: {}", desk.log("run.log"));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = desk.tickets_json("all").len();

    let output = desk.command(&["run", "--once"]).envs(move_mode).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(desk.tickets_json("all").len(), WAITING);
    // Every ticket's messages in one query (`ticket show` would be one run per ticket).
    assert_eq!(count(&db, "SELECT COUNT(DISTINCT message_id) FROM messages").await as usize, WAITING);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM messages").await as usize, WAITING);

    let mut session = lab.imap(SUPPORT).await;
    let left_in_inbox = session.select("INBOX").await.unwrap().exists;
    let processed = session.select("Processed").await.unwrap().exists;
    session.logout().await.ok();
    println!(
        "move mode: killed after {killed_at} of {WAITING} mails; after the restart {processed} in Processed, {left_in_inbox} left in INBOX, {WAITING} tickets, 0 duplicates"
    );
    assert_eq!(processed as usize, WAITING, "every mail was moved once");
    assert_eq!(left_in_inbox, 0, "nothing recorded is left behind in the INBOX");
}
