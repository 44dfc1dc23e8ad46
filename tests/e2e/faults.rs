//! Faults against the real servers: the SMTP server down and back, a permanent rejection,
//! the IMAP connection cut mid-fetch and Dovecot restarted during IDLE, a UIDVALIDITY reset,
//! the database locked by another process, a full disk under the database, a mail over the
//! size limit, and a mail the server cannot deliver. Each test prints its figures.

use std::process::Command;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use helpdesk::storage::Db;
use helpdesk::testing::testing_on_postgres;
use helpdesk::tickets::store::UNPROCESSABLE_PROBLEM;
use sqlx::sqlite::SqliteConnection;
use sqlx::Connection;

use super::desk::{assert_exactly_once, body, count, header, wait_for_count, TestDesk, AGENT, SUPPORT};
use super::lab::{MailLab, REJECTED_RECIPIENT};
use super::proxy::CuttingProxy;

fn client_mail(from: &str, subject: &str, message_id: &str, text: &str) -> String {
    format!(
        "From: {from}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Mon, 30 Nov 2026 10:00:00 -0500\r\n\r\n{text}\r\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_down_then_back_sends_the_queue_in_order_and_a_permanent_rejection_is_reported_once() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    lab.stop_postfix();
    // Mail reaches the mailbox while the SMTP server is down (straight into IMAP).
    const QUEUED: usize = 5;
    for i in 0..QUEUED {
        let mail = client_mail("ops@acme.test", &format!("Outage problem {i}"), &format!("o{i}@acme.test"), "Help");
        lab.append(SUPPORT, mail.as_bytes()).await;
    }
    let rejected = client_mail(REJECTED_RECIPIENT, "Printer on fire", "r1@initech.test", "Help");
    lab.append(SUPPORT, rejected.as_bytes()).await;

    let child = desk.spawn_run_with_env("run.log", &[]);
    let db = loop {
        if desk.database_exists().await {
            break desk.db().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let tickets = wait_for_count(&db, "SELECT COUNT(*) FROM tickets", 6, 30).await;
    assert_eq!(tickets, 6, "{}", desk.log("run.log"));
    desk.wait_for_log("run.log", "delivery failed; will retry", 30).await;
    let sent_while_down = count(&db, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'").await;
    assert_eq!(sent_while_down, 0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    lab.restart_postfix();
    let restarted = Instant::now();

    // The retry falls due 30 s after the failure; the desk wakes for it by itself.
    let acks_sent = wait_for_count(
        &db,
        "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement' AND recipients = 'ops@acme.test' AND status = 'sent'",
        QUEUED as i64,
        90,
    )
    .await;
    assert_eq!(acks_sent, QUEUED as i64, "the queue went out once the server was back: {}", desk.log("run.log"));
    let recovery = restarted.elapsed();
    let failure_notices =
        wait_for_count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'delivery_failure' AND status = 'sent'", 1, 30)
            .await;
    assert_eq!(failure_notices, 1, "the agent was told once: {}", desk.log("run.log"));

    // In order: the desk handed the recipient's mail to the server in queue order (its log
    // has one `sent` line per mail, written right after the server's 250).
    let queued: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM outbox WHERE recipients = 'ops@acme.test' AND kind = 'acknowledgement' ORDER BY id",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let sent_line = regex::Regex::new(r#"sent outbox=([0-9]+) .*to=\["ops@acme.test"\]"#).unwrap();
    let handed_over: Vec<i64> =
        sent_line.captures_iter(&desk.log("run.log")).map(|captures| captures[1].parse().unwrap()).collect();
    assert_eq!(handed_over, queued, "sent in queue order, each once");
    // Every acknowledgement is marked sent: once Postfix's queue is empty, the mailbox is final
    // (no drain: the rejected mail stays `failed` in the outbox).
    lab.wait_for_empty_queue().await;
    let received = lab.mails_received_by("ops@acme.test").await;
    assert_eq!(received.len(), QUEUED, "nothing lost, nothing twice");

    // The permanent rejection: recorded once, not retried, shown to the agent.
    let (status, attempts, error): (String, i64, String) = sqlx::query_as(
        "SELECT status, attempts, last_error FROM outbox WHERE kind = 'acknowledgement' AND recipients = $1",
    )
    .bind(REJECTED_RECIPIENT)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(status, "failed");
    assert!(error.contains("550"), "{error}");
    let agent_mail = lab.wait_for_mails(AGENT, 7).await;
    let notice = agent_mail
        .iter()
        .find(|raw| header(raw, "Subject").is_some_and(|subject| subject.contains("Undeliverable")))
        .expect("the agent got a delivery failure notice");
    assert!(body(notice).contains("550"), "{}", body(notice));
    assert!(body(notice).contains(REJECTED_RECIPIENT));
    desk.stop(child, "run.log");
    // Two hours on (past every retry time a transient failure would have): not tried again.
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    desk.helpdesk(&["--now", &later, "run", "--once"]);
    let attempts_later: i64 =
        sqlx::query_scalar("SELECT attempts FROM outbox WHERE kind = 'acknowledgement' AND recipients = $1")
            .bind(REJECTED_RECIPIENT)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(attempts_later, attempts, "a permanent failure is not retried");
    let notices_later = count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'delivery_failure'").await;
    assert_eq!(notices_later, 1, "reported once");
    println!(
        "smtp outage: {QUEUED} acknowledgements queued while down, {acks_sent} sent in order {:.1} s after the server came back, 0 lost; 1 permanent rejection (550) recorded after {attempts} attempts (the first while the server was down), 1 notice to the agent",
        recovery.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn imap_cut_mid_fetch_and_dovecot_restarted_during_idle_lose_nothing_and_repeat_nothing() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let proxy = CuttingProxy::start(lab.imap_port).await;
    const FIRST: usize = 20;
    const DURING_RESTART: usize = 5;
    let filler = "All the leads from the form are stuck in the queue again.\r\n".repeat(150);
    for i in 0..FIRST {
        let from = format!("user{i}@acme.test");
        lab.send(&from, SUPPORT, &client_mail(&from, &format!("Cut problem {i}"), &format!("c{i}@acme.test"), &filler))
            .await;
    }
    lab.wait_for_support_mail(FIRST).await;

    // The first connection is cut after 40 kB from the server: inside the first FETCH.
    proxy.cut_next_after(40_000);
    let port = proxy.port.to_string();
    let child = desk.spawn_run_with_env(
        "run.log",
        &[("HELPDESK_IMAP__PORT", port.as_str()), ("HELPDESK_IMAP__POLL_INTERVAL_SECS", "600")],
    );
    desk.wait_for_log("run.log", "IMAP connected", 30).await;
    let db = desk.db().await;
    let tickets = wait_for_count(&db, "SELECT COUNT(*) FROM tickets", FIRST as i64, 60).await;
    assert_eq!(tickets, FIRST as i64, "{}", desk.log("run.log"));
    assert_eq!(proxy.cuts(), 1, "the connection was cut mid-fetch");

    // Now idling: restart Dovecot; mail sent meanwhile waits in Postfix's queue.
    wait_for_count(&db, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'", 2 * FIRST as i64, 30).await;
    desk.wait_for_log("run.log", "IDLE: waiting for new mail", 30).await;
    // Postfix must have handed every acknowledgement to Dovecot first: a delivery cut by the
    // stop is retried by Postfix and arrives twice, which is the MTA's doing, not the desk's.
    lab.wait_for_empty_queue().await;
    lab.stop_dovecot();
    for i in 0..DURING_RESTART {
        let from = format!("late{i}@globex.test");
        lab.send(
            &from,
            SUPPORT,
            &client_mail(&from, &format!("Late problem {i}"), &format!("l{i}@globex.test"), "Help"),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    lab.restart_dovecot();
    let all = (FIRST + DURING_RESTART) as i64;
    let tickets = wait_for_count(&db, "SELECT COUNT(*) FROM tickets", all, 60).await;
    assert_eq!(tickets, all, "{}", desk.log("run.log"));
    let acks =
        wait_for_count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement' AND status = 'sent'", all, 60)
            .await;
    assert_eq!(acks, all, "{}", desk.log("run.log"));
    desk.stop(child, "run.log");

    assert_exactly_once(&db, all).await;
    lab.wait_for_empty_queue().await;
    let clients = (0..FIRST).map(|i| format!("user{i}@acme.test"));
    let clients = clients.chain((0..DURING_RESTART).map(|i| format!("late{i}@globex.test")));
    let mut received_twice = Vec::new();
    for client in clients {
        if lab.wait_for_mails(&client, 1).await.len() > 1 {
            received_twice.push(client);
        }
    }
    assert!(received_twice.is_empty(), "acknowledged twice: {received_twice:?}\n{}", lab.logs());
    let log = desk.log("run.log");
    let reconnects = log.matches("IMAP session ended by an error; reconnecting").count();
    assert!(reconnects >= 2, "one reconnect after the cut, at least one after the restart:\n{log}");
    println!(
        "imap faults: {all} mails, 1 connection cut mid-fetch, 1 Dovecot restart during IDLE, {reconnects} reconnects ({} connections), 0 lost, 0 duplicates",
        proxy.connections()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_uidvalidity_reset_with_the_same_mails_creates_no_duplicates() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let mails: Vec<String> = (0..5)
        .map(|i| {
            client_mail(&format!("u{i}@acme.test"), &format!("Reset problem {i}"), &format!("u{i}@acme.test"), "Help")
        })
        .collect();
    let mut session = lab.imap(SUPPORT).await;
    session.create("Support").await.unwrap();
    for mail in &mails {
        session.append("Support", None, None, mail.as_bytes()).await.unwrap();
    }
    let first_validity = session.select("Support").await.unwrap().uid_validity;
    let run_on_support = || {
        let output = desk.command(&["run", "--once"]).env("HELPDESK_IMAP__MAILBOX", "Support").output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    run_on_support();
    let db = desk.db().await;
    assert_eq!(desk.tickets_json("all").len(), 5);

    // The mailbox is deleted and recreated with the same mails (as a restore would), plus one new.
    session.select("INBOX").await.unwrap();
    session.delete("Support").await.unwrap();
    session.create("Support").await.unwrap();
    for mail in &mails {
        session.append("Support", None, None, mail.as_bytes()).await.unwrap();
    }
    let new_mail = client_mail("new@acme.test", "A new problem", "new@acme.test", "Help");
    session.append("Support", None, None, new_mail.as_bytes()).await.unwrap();
    let second_validity = session.select("Support").await.unwrap().uid_validity;
    session.logout().await.ok();
    assert_ne!(first_validity, second_validity, "the recreated mailbox has a new UIDVALIDITY");
    let log = run_on_support();
    assert!(log.contains("UIDVALIDITY changed"), "{log}");

    let skipped = log.matches("already recorded; skipping duplicate").count();
    assert_eq!(skipped, 5, "the 5 restored mails recognised as already recorded:\n{log}");
    assert_eq!(desk.tickets_json("all").len(), 6);
    assert_eq!(desk.messages_json().len(), 6);
    assert_exactly_once(&db, 6).await;
    println!(
        "uidvalidity reset: {first_validity:?} -> {second_validity:?}, 6 mails rescanned, {skipped} recognised as already recorded, 1 new ticket, 0 duplicates"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_locked_by_another_process_makes_the_desk_wait_and_lose_nothing() {
    let lab = MailLab::start();
    if testing_on_postgres() {
        eprintln!("SQLite's file lock: see postgres_restarted_under_a_running_desk for PostgreSQL");
        return;
    }
    let desk = TestDesk::with_extra_config(&lab, "");
    desk.run_once(); // creates the database
    let path = desk.dir.path().join("helpdesk.db");
    let mut locker = SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut locker).await.unwrap();
    let locked_at = Instant::now();

    const MAILS: usize = 5;
    for i in 0..MAILS {
        let from = format!("lock{i}@acme.test");
        lab.send(&from, SUPPORT, &client_mail(&from, &format!("Lock problem {i}"), &format!("k{i}@acme.test"), "Help"))
            .await;
    }
    lab.wait_for_support_mail(MAILS).await;

    // `run --once` fails at once with a clear message (after the configured wait).
    let once = desk.command(&["run", "--once"]).env("HELPDESK_DATABASE__BUSY_TIMEOUT_SECS", "1").output().unwrap();
    let stderr = String::from_utf8_lossy(&once.stderr);
    assert!(!once.status.success());
    assert!(stderr.contains("busy or locked by another process"), "{stderr}");
    assert!(stderr.contains("nothing was lost"), "{stderr}");

    // The watching desk keeps retrying with backoff.
    let child = desk.spawn_run_with_env("run.log", &[("HELPDESK_DATABASE__BUSY_TIMEOUT_SECS", "1")]);
    desk.wait_for_log("run.log", "database unavailable", 30).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    let held = locked_at.elapsed();
    drop(locker);

    let db = desk.db().await;
    let acks =
        wait_for_count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement' AND status = 'sent'", 5, 60)
            .await;
    assert_eq!(acks, MAILS as i64, "{}", desk.log("run.log"));
    desk.stop(child, "run.log");
    assert_exactly_once(&db, MAILS as i64).await;
    let retries = desk.log("run.log").matches("database unavailable").count();
    println!(
        "database locked: held {:.1} s by another process, {retries} failed passes logged and retried, then {MAILS} of {MAILS} mails recorded and acknowledged once",
        held.as_secs_f64()
    );
}

/// A tmpfs mounted for one test, unmounted on drop.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(path: std::path::PathBuf, size: &str) -> SmallDisk {
        std::fs::create_dir_all(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "mounting a small tmpfs needs root (scripts/test runs as root)");
        SmallDisk(path)
    }

    /// Writes a file until the disk is full; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_under_the_database_stops_intake_cleanly_and_loses_nothing_once_space_is_freed() {
    if testing_on_postgres() {
        eprintln!("a full disk under the SQLite file: PostgreSQL's disk is the server's");
        return;
    }
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let disk = SmallDisk::mount(desk.dir.path().join("dbdisk"), "32m");
    let db_path = disk.0.join("helpdesk.db");
    let url = format!("sqlite://{}", db_path.display());
    let child = desk.spawn_run_with_env(
        "run.log",
        &[("HELPDESK_DATABASE__URL", url.as_str()), ("HELPDESK_IMAP__POLL_INTERVAL_SECS", "600")],
    );
    desk.wait_for_log("run.log", "IMAP connected", 30).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let filler = disk.fill();

    const MAILS: usize = 5;
    let text = "The export log follows.\r\n".repeat(4000);
    for i in 0..MAILS {
        let from = format!("disk{i}@acme.test");
        lab.send(&from, SUPPORT, &client_mail(&from, &format!("Disk problem {i}"), &format!("d{i}@acme.test"), &text))
            .await;
    }
    desk.wait_for_log("run.log", "the disk holding the database is full", 60).await;
    sqlx::any::install_default_drivers();
    let db: Db = sqlx::AnyPool::connect(&url).await.unwrap();
    // Read while the disk is full (a command would open the desk) and the outbox besides.
    let (messages, tickets, acks) = (
        count(&db, "SELECT COUNT(*) FROM messages").await,
        count(&db, "SELECT COUNT(*) FROM tickets").await,
        count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement'").await,
    );
    assert!(
        messages == tickets && tickets == acks,
        "nothing half-recorded: {messages} messages, {tickets} tickets, {acks} acknowledgements"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::remove_file(&filler).unwrap();

    let acks =
        wait_for_count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement' AND status = 'sent'", 5, 90)
            .await;
    assert_eq!(acks, MAILS as i64, "{}", desk.log("run.log"));
    desk.stop(child, "run.log");
    assert_exactly_once(&db, MAILS as i64).await;
    lab.wait_for_empty_queue().await;
    for i in 0..MAILS {
        assert_eq!(lab.wait_for_mails(&format!("disk{i}@acme.test"), 1).await.len(), 1);
    }
    let log = desk.log("run.log");
    assert!(!log.contains("non-zero transaction depth"), "a failed commit left a connection unusable:\n{log}");
    let failures = log.matches("the disk holding the database is full").count();
    db.close().await;
    println!(
        "full disk: {failures} failed passes logged while the database's disk was full, then {MAILS} of {MAILS} mails recorded and acknowledged once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mail_over_the_size_limit_is_kept_with_its_headers_and_the_agent_is_told() {
    oversized_mail(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn in_move_mode_a_mail_over_the_size_limit_is_moved_whole_to_the_processed_folder() {
    oversized_mail(Some("Processed")).await;
}

/// The sizes of the mails in `folder` of `user`'s mailbox, read over IMAP.
async fn sizes_in(lab: &MailLab, user: &str, folder: &str) -> Vec<u32> {
    let mut session = lab.imap(user).await;
    let exists = session.select(folder).await.unwrap_or_else(|err| panic!("SELECT {folder}: {err}")).exists;
    let sizes: Vec<u32> = if exists == 0 {
        Vec::new()
    } else {
        let fetched: Vec<_> = session.uid_fetch("1:*", "RFC822.SIZE").await.unwrap().try_collect().await.unwrap();
        fetched.iter().filter_map(|fetch| fetch.size).collect()
    };
    session.logout().await.ok();
    assert_eq!(sizes.len(), exists as usize, "a size for every mail in {folder}");
    sizes
}

/// A 3 MiB mail over a 1 MiB limit and a small one; with `processed` set, the desk runs in
/// move mode (`imap.processed = "move:<processed>"`).
async fn oversized_mail(processed: Option<&str>) {
    let lab = MailLab::start();
    let desk = TestDesk::with_extra_config(&lab, "[intake]\nmax_message_bytes = 1048576\n");
    let big_body = "0123456789abcdef".repeat(4 * 65536 / 16 * 12); // 3 MiB
    let big = client_mail("big@acme.test", "Huge log attached", "big@acme.test", &big_body);
    lab.send("big@acme.test", SUPPORT, &big).await;
    let small = client_mail("small@acme.test", "Small problem", "small@acme.test", "Help");
    lab.send("small@acme.test", SUPPORT, &small).await;
    lab.wait_for_support_mail(2).await;
    let move_to = processed.map(|folder| format!("move:{folder}"));
    let env: Vec<(&str, &str)> = move_to.iter().map(|mode| ("HELPDESK_IMAP__PROCESSED", mode.as_str())).collect();
    let log = desk.run_once_with_env(&env);
    assert!(log.contains("mail over the size limit: fetching only its headers"), "{log}");
    desk.drain(&lab).await;

    let db = desk.db().await;
    // The stored size: no command shows it for mail on a ticket.
    let (problem, stored): (String, i64) =
        sqlx::query_as("SELECT parse_problem, LENGTH(raw) FROM messages WHERE message_id = 'big@acme.test'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert!(problem.contains("over the 1048576 byte limit"), "{problem}");
    assert!(stored < 10_000, "only the headers were fetched and stored ({stored} bytes)");
    assert_eq!(desk.tickets_json("all").len(), 2);
    assert_eq!(lab.mails_received_by("big@acme.test").await.len(), 1, "the sender is acknowledged once");
    let agent_mail = lab.mails_received_by(AGENT).await;
    let notice = agent_mail
        .iter()
        .map(|raw| body(raw))
        .find(|text| text.contains("Could not read it all"))
        .expect("the agent is told the body was not read");
    assert!(notice.contains("The original is on the mail server"), "{notice}");
    // The whole original stays on the server: in the INBOX, or moved to the processed folder.
    let whole = |sizes: &[u32]| sizes.iter().filter(|size| **size as usize >= big.len()).count();
    let inbox = sizes_in(&lab, SUPPORT, "INBOX").await;
    let mode = match processed {
        None => {
            assert_eq!((inbox.len(), whole(&inbox)), (2, 1), "both mails in the INBOX, the big one whole: {inbox:?}");
            "flags".to_string()
        }
        Some(folder) => {
            let moved = sizes_in(&lab, SUPPORT, folder).await;
            assert!(inbox.is_empty(), "nothing left in the INBOX in move mode: {inbox:?}");
            assert_eq!((moved.len(), whole(&moved)), (2, 1), "both mails in {folder}, the big one whole: {moved:?}");
            format!("move mode, both mails in {folder}")
        }
    };
    println!(
        "oversized mail ({mode}): {} bytes over a 1 MiB limit, {stored} bytes of headers fetched and kept, ticket opened, agent told, the original whole on the server",
        big.len()
    );
}

/// The maildir file of the mail in `user`'s INBOX whose text contains `needle`.
fn maildir_file(lab: &MailLab, user: &str, needle: &str) -> std::path::PathBuf {
    let (name, domain) = user.split_once('@').unwrap();
    let maildir = lab.dir.join("mail").join(domain).join(name).join("Maildir");
    for folder in ["cur", "new"] {
        for entry in std::fs::read_dir(maildir.join(folder)).unwrap().flatten() {
            if std::fs::read_to_string(entry.path()).is_ok_and(|text| text.contains(needle)) {
                return entry.path();
            }
        }
    }
    panic!("no mail with {needle:?} in {}", maildir.display());
}

/// A mail whose file breaks under Dovecot between the desk's SEARCH and its FETCH (the
/// maildir file replaced by a directory): Dovecot delivers nothing for it and then drops it.
/// The desk stops its batch there, searches again, and takes the mails after it; nothing
/// else is lost and nothing is recorded twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_mail_the_server_cannot_deliver_does_not_block_the_mails_after_it() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    for i in 1..=3 {
        let mail = client_mail("ops@acme.test", &format!("Problem {i}"), &format!("u{i}@acme.test"), "Help");
        lab.send("ops@acme.test", SUPPORT, &mail).await;
        lab.wait_for_support_mail(i).await;
    }
    let file = maildir_file(&lab, SUPPORT, "<u2@acme.test>");
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let log = desk.run_once();
    assert!(log.contains("the server did not deliver this mail"), "{log}");
    let recorded: Vec<String> =
        desk.messages_json().iter().map(|(_, mail)| mail["message_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(recorded, ["u1@acme.test", "u3@acme.test"], "{log}");
    // The broken mail is gone from the server: the mailbox now lists only the other two.
    let on_server: Vec<String> =
        lab.mails_received_by(SUPPORT).await.iter().filter_map(|raw| header(raw, "Message-ID")).collect();
    assert_eq!(on_server, ["<u1@acme.test>", "<u3@acme.test>"], "the broken mail is no longer listed");
    let again = desk.run_once();
    assert_eq!(desk.tickets_json("all").len(), 2, "nothing recorded twice");
    assert!(!again.contains("the server did not deliver this mail"), "the next run meets no broken mail:\n{again}");
    println!(
        "undeliverable: 3 mails, 1 broken under the server, 2 recorded in one run, the broken one gone from the server ({} listed), 0 blocked",
        on_server.len()
    );
}

/// A mail the desk fails on (here: one that takes longer to read than
/// `intake.max_seconds_per_mail`, set to its minimum of 1 s; reading 10 MB of attribution-like
/// lines takes longer, see `cargo bench --bench hostile`) is kept aside once, raw, the agent is
/// told once, the mail after it is taken in, and the next run does not fetch it again: it is
/// marked processed on the server like any recorded mail.
#[tokio::test(flavor = "multi_thread")]
async fn a_mail_the_desk_fails_on_is_kept_aside_once_and_never_fetched_again() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let lines = "On Mon, Jan 5, 2026 at 10:00 AM Jane <jane@acme.test>\r\n".repeat(10 * 1024 * 1024 / 56);
    let hostile = client_mail("jane@acme.test", "Re: hi", "slow@acme.test", &lines);
    lab.send("jane@acme.test", SUPPORT, &hostile).await;
    let next = client_mail("bob@acme.test", "Another question", "next@acme.test", "Hello.");
    lab.send("bob@acme.test", SUPPORT, &next).await;
    lab.wait_for_support_mail(2).await;
    let one_second = [("HELPDESK_INTAKE__MAX_SECONDS_PER_MAIL", "1")];
    let log = desk.run_once_with_env(&one_second);
    assert!(
        log.contains("took longer than 1 s (intake.max_seconds_per_mail)"),
        "the mail was read within 1 s: this test needs a mail that takes longer\n{log}"
    );
    desk.drain(&lab).await;

    let kept_aside = || {
        let held = desk.held_json();
        let failed_on = |mail: &&serde_json::Value| {
            mail["parse_problem"].as_str().is_some_and(|problem| problem.starts_with(UNPROCESSABLE_PROBLEM))
        };
        held.iter().filter(failed_on).map(|mail| mail["id"].as_i64().unwrap()).collect::<Vec<_>>()
    };
    let kept = kept_aside();
    assert_eq!(kept.len(), 1, "the mail is kept aside, raw:\n{log}");
    let raw_kept = desk.helpdesk(&["held", "show", &kept[0].to_string(), "--raw"]).stdout.len();
    assert!(raw_kept >= hostile.len(), "the whole mail is stored ({raw_kept} bytes)");
    let tickets = desk.tickets_json("all");
    assert_eq!(tickets.len(), 1, "only the mail after it got a ticket: {tickets:?}");
    assert_eq!(tickets[0]["requester"], "bob@acme.test");
    let notices = || async {
        let subjects: Vec<String> =
            lab.mails_received_by(AGENT).await.iter().filter_map(|raw| header(raw, "Subject")).collect();
        subjects.iter().filter(|subject| subject.contains("could not process a mail")).count()
    };
    assert_eq!(notices().await, 1, "the agent is told once");
    assert!(lab.mails_received_by("jane@acme.test").await.is_empty(), "nothing is sent about it to the sender");
    let mut session = lab.imap(SUPPORT).await;
    let unmarked = session.uid_search("UNKEYWORD $HelpdeskProcessed").await.unwrap().len();
    session.logout().await.ok();
    assert_eq!(unmarked, 0, "both mails, the one kept aside too, are marked processed on the server");

    // The next run fetches nothing again: no second attempt, no second notice.
    let again = desk.run_once_with_env(&one_second);
    desk.drain(&lab).await;
    assert!(!again.contains("keeping the mail aside"), "the mail was fetched and read again:\n{again}");
    assert_eq!(kept_aside().len(), 1, "kept aside once");
    assert_eq!(desk.messages_json().len(), 2, "nothing recorded again");
    assert_eq!(notices().await, 1, "still one notice");
    println!(
        "kept aside: a {} byte mail read for over 1 s (intake.max_seconds_per_mail = 1) kept aside raw once, 1 notice to the agent, the mail after it recorded, marked processed on the server, not fetched by the next run",
        hostile.len()
    );
}
