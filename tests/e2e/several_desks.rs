//! Several desks on one PostgreSQL database and one mailbox (`helpdesk::lease`): three `run`
//! processes, the active one SIGKILLed twice while 500 mails wait; and a database that goes
//! away under a running desk. Always on PostgreSQL, whatever `HELPDESK_TEST_DATABASE` says.

use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::desk::{assert_exactly_once, connect, count, header, sample_desk, TestDesk, AGENT, SUPPORT};
use super::lab::MailLab;
use super::proxy::CuttingProxy;
use super::restart::{copies_by_in_reply_to, fill_mailbox, sender, Lcg, MAILS_PER_SENDER, MANY_PEOPLE_OF_ONE_DOMAIN};
use helpdesk::storage::Db;
use helpdesk::testing::fresh_postgres_database_url;

const TAKEOVER_SECS: u64 = 5;

/// The desk that holds the mailbox now, by its `helpdesk status --json`.
fn holder_pid(desk: &TestDesk) -> Option<u32> {
    let status: Value = serde_json::from_slice(&desk.helpdesk(&["status", "--json"]).stdout).unwrap();
    if status["expired"].as_bool() != Some(false) {
        return None;
    }
    status["holder"].as_str()?.split(':').nth(1)?.parse().ok()
}

async fn wait_for_holder(desk: &TestDesk, not: Option<u32>, secs: u64) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match holder_pid(desk) {
            Some(pid) if Some(pid) != not => return pid,
            _ => {}
        }
        assert!(Instant::now() < deadline, "no desk took the mailbox within {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The running desks (log name, process): killed when the test ends without stopping them,
/// so that a failing test leaves no desk behind.
struct Running(Vec<(String, Child)>);

impl Drop for Running {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The database `direct` (on the local server, port 5432) reached through `proxy`.
fn by_proxy(direct: &str, proxy: &CuttingProxy) -> String {
    let (server, name) = direct.rsplit_once('/').unwrap();
    format!("{}:{}/{name}", server.rsplit_once(':').unwrap().0, proxy.port)
}

async fn messages(db: &Db) -> i64 {
    count(db, "SELECT COUNT(*) FROM messages").await
}

#[tokio::test(flavor = "multi_thread")]
async fn three_desks_one_mailbox_the_active_one_killed_twice_every_mail_once_and_the_takeover_measured() {
    let lab = MailLab::start();
    // The daily summary falls due a minute or two after the desks start (a desk sends none
    // for a time before its first start): one of them sends it, once.
    let summary_at = (chrono::Utc::now() + chrono::Duration::seconds(120)).with_timezone(&chrono_tz::America::New_York);
    let config = format!(
        "{MANY_PEOPLE_OF_ONE_DOMAIN}[ha]\ntakeover_secs = {TAKEOVER_SECS}\n[summary]\nenabled = true\ntime = \"{}\"\n",
        summary_at.format("%H:%M")
    );
    let desk = TestDesk::with_sample_on(&lab, sample_desk().section(&config), &fresh_postgres_database_url());
    const SENDERS: usize = 100;
    let mails = SENDERS * MAILS_PER_SENDER;
    fill_mailbox(&lab, mails, SENDERS).await;
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("several desks: seed {seed}");
    let mut random = Lcg(seed);

    // Three machines as far as the desks can tell: a host name each, so that a dead desk is
    // seen only by its lease running out, as across machines.
    let mut desks = Running(
        ["a", "b", "c"]
            .iter()
            .map(|host| {
                let log = format!("run-{host}.log");
                let env = [("HELPDESK_HA__HOST", *host), ("HELPDESK_IMAP__POLL_INTERVAL_SECS", "5")];
                let child = desk.spawn_run_with_env(&log, &env);
                (log, child)
            })
            .collect(),
    );
    let mut holder = wait_for_holder(&desk, None, 60).await;
    let db = desk.db().await;
    let status: Value = serde_json::from_slice(&desk.helpdesk(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["desks"].as_array().unwrap().len(), 3, "all three desks beat: {status}");

    let mut takeovers = Vec::new();
    for kill in 0..2 {
        // A random moment while the active desk is taking mail in.
        let before = messages(&db).await;
        while messages(&db).await == before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(random.next_in(100, 800))).await;
        let index = desks.0.iter().position(|(_, child)| child.id() == holder).expect("the holder is one of ours");
        let (log, mut child) = desks.0.remove(index);
        child.kill().unwrap();
        child.wait().unwrap();
        let killed = Instant::now();
        // Counted once the desk is dead: nothing it recorded is taken for the next desk's.
        let at_kill = messages(&db).await;
        assert!((at_kill as usize) < mails, "kill {kill} came after all mail was in: nothing to take over");
        while messages(&db).await == at_kill {
            assert!(killed.elapsed() < Duration::from_secs(60), "no desk went on after the kill:\n{}", desk.log(&log));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        takeovers.push(killed.elapsed());
        holder = wait_for_holder(&desk, Some(holder), 10).await;
    }

    let all_in = super::desk::wait_for_count(&db, "SELECT COUNT(*) FROM tickets", mails as i64, 120).await;
    assert_eq!(all_in, mails as i64, "every mail became a ticket");
    let summary = super::desk::wait_for_count(&db, "SELECT COUNT(*) FROM daily_summaries", 1, 180).await;
    assert_eq!(summary, 1, "the daily summary was due at {summary_at}");
    let sent = (2 * mails + 1) as i64;
    assert_eq!(
        super::desk::wait_for_count(&db, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'", sent, 120).await,
        sent
    );
    for (log, child) in std::mem::take(&mut desks.0) {
        desk.stop(child, &log);
    }

    assert_exactly_once(&db, mails as i64).await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM daily_summaries").await, 1, "one daily summary");

    desk.drain(&lab).await;
    let mut duplicate_acks = 0;
    for i in 0..SENDERS {
        let received = lab.wait_for_mails(&sender(i, SENDERS), MAILS_PER_SENDER).await;
        let copies = copies_by_in_reply_to(&received);
        assert_eq!(copies.len(), MAILS_PER_SENDER, "every acknowledgement arrived");
        duplicate_acks += copies.values().map(|n| n - 1).sum::<usize>();
    }
    let agent_mail = lab.wait_for_mails(AGENT, mails + 1).await;
    let summaries = agent_mail
        .iter()
        .filter(|raw| header(raw, "Subject").is_some_and(|subject| subject.starts_with("Daily summary")))
        .count();
    let duplicate_notifications: usize = copies_by_in_reply_to(&agent_mail).values().map(|n| n - 1).sum();
    let shown: Vec<String> = takeovers.iter().map(|t| format!("{:.1} s", t.as_secs_f64())).collect();
    println!(
        "several desks: 3 desks, {mails} mails, 2 SIGKILLs of the active desk, takeover (kill to the next mail recorded) {} with takeover_secs = {TAKEOVER_SECS}; \
         0 lost, 0 recorded twice, {duplicate_acks} duplicate acknowledgements and {duplicate_notifications} duplicate notifications received, {summaries} daily summary",
        shown.join(" and ")
    );
    assert_eq!(summaries, 1, "the agent got one daily summary");
    // A kill can only duplicate what was handed over but not recorded: one mail per SMTP lane.
    assert!(duplicate_acks + duplicate_notifications <= 2 * 4, "duplicates beyond the window");
    for takeover in &takeovers {
        assert!(*takeover < Duration::from_secs(TAKEOVER_SECS + 3), "took over in {takeover:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_going_away_under_a_running_desk_is_logged_retried_and_every_mail_recorded_once() {
    let lab = MailLab::start();
    let proxy = CuttingProxy::start(5432).await;
    let direct = fresh_postgres_database_url();
    let through_proxy = by_proxy(&direct, &proxy);
    let desk = TestDesk::with_sample_on(&lab, sample_desk(), &through_proxy);
    let child = desk.spawn_run_with_env("run.log", &[("HELPDESK_IMAP__POLL_INTERVAL_SECS", "1")]);
    desk.wait_for_log("run.log", "IMAP connected", 60).await;
    let db = connect(&direct).await;

    let mail = |i: usize| {
        format!("From: pg{i}@acme.test\r\nTo: {SUPPORT}\r\nSubject: Outage problem {i}\r\nMessage-ID: <pg{i}@acme.test>\r\n\r\nHelp\r\n")
    };
    const BEFORE: usize = 3;
    const DURING: usize = 4;
    for i in 0..BEFORE {
        lab.send(&format!("pg{i}@acme.test"), SUPPORT, &mail(i)).await;
    }
    assert_eq!(
        super::desk::wait_for_count(&db, "SELECT COUNT(*) FROM tickets", BEFORE as i64, 60).await,
        BEFORE as i64
    );

    proxy.set_down(true);
    for i in BEFORE..BEFORE + DURING {
        lab.send(&format!("pg{i}@acme.test"), SUPPORT, &mail(i)).await;
    }
    lab.wait_for_support_mail(BEFORE + DURING).await;
    desk.wait_for_log("run.log", "database unavailable", 60).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let recorded_while_down = count(&db, "SELECT COUNT(*) FROM tickets").await;
    proxy.set_down(false);
    let back = Instant::now();

    let all = (BEFORE + DURING) as i64;
    assert_eq!(
        super::desk::wait_for_count(&db, "SELECT COUNT(*) FROM tickets", all, 90).await,
        all,
        "{}",
        desk.log("run.log")
    );
    let caught_up = back.elapsed();
    super::desk::wait_for_count(
        &db,
        "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement' AND status = 'sent'",
        all,
        60,
    )
    .await;
    desk.stop(child, "run.log");
    assert_exactly_once(&db, all).await;
    let log = desk.log("run.log");
    let failures = log.matches("database unavailable").count();
    assert!(failures >= 1 && recorded_while_down == BEFORE as i64, "{log}");
    println!(
        "postgres outage: connections cut and refused for about 3 s; {failures} failed passes logged (\"database unavailable\"); \
         {DURING} mails that arrived meanwhile recorded {:.1} s after the database came back; 0 lost, 0 twice",
        caught_up.as_secs_f64()
    );
}

/// The active desk cut off from the database (its own connections through the proxy, cut and
/// refused) while a standby reaches it: the active one stops working once it has not renewed
/// for half the takeover time, the standby takes over when the lease runs out and records the
/// mail that came meanwhile once, and the cut-off desk stands by when it is back.
#[tokio::test(flavor = "multi_thread")]
async fn the_active_desk_cut_off_from_the_database_is_replaced_and_stands_by_when_back() {
    let lab = MailLab::start();
    let proxy = CuttingProxy::start(5432).await;
    let direct = fresh_postgres_database_url();
    let through_proxy = by_proxy(&direct, &proxy);
    let extra = format!("[ha]\ntakeover_secs = {TAKEOVER_SECS}\n");
    let desk = TestDesk::with_sample_on(&lab, sample_desk().section(&extra), &direct);
    let poll = ("HELPDESK_IMAP__POLL_INTERVAL_SECS", "1");
    let cut_off = desk.spawn_run_with_env(
        "run-a.log",
        &[("HELPDESK_HA__HOST", "a"), ("HELPDESK_DATABASE__URL", through_proxy.as_str()), poll],
    );
    let mut running = Running(vec![("run-a.log".to_string(), cut_off)]);
    desk.wait_for_log("run-a.log", "this desk is active", 60).await;
    let standby = desk.spawn_run_with_env("run-b.log", &[("HELPDESK_HA__HOST", "b"), poll]);
    running.0.push(("run-b.log".to_string(), standby));
    desk.wait_for_log("run-b.log", "standing by", 60).await;
    let db = desk.db().await;

    proxy.set_down(true);
    let cut = Instant::now();
    const MAILS: usize = 3;
    for i in 0..MAILS {
        let from = format!("cut{i}@acme.test");
        let mail = format!("From: {from}\r\nTo: {SUPPORT}\r\nSubject: Cut problem {i}\r\nMessage-ID: <cut{i}@acme.test>\r\n\r\nHelp\r\n");
        lab.send(&from, SUPPORT, &mail).await;
    }
    desk.wait_for_log("run-b.log", "this desk is active", 60).await;
    let took_over = cut.elapsed();
    let recorded = super::desk::wait_for_count(&db, "SELECT COUNT(*) FROM tickets", MAILS as i64, 60).await;
    assert_eq!(recorded, MAILS as i64, "{}", desk.log("run-b.log"));
    desk.wait_for_log("run-a.log", "stopping work", 60).await;

    proxy.set_down(false);
    desk.wait_for_log("run-a.log", "standing by: another desk holds the mailbox holder=\"b:", 60).await;
    super::desk::wait_for_count(
        &db,
        "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement' AND status = 'sent'",
        MAILS as i64,
        60,
    )
    .await;
    for (log, child) in std::mem::take(&mut running.0) {
        desk.stop(child, &log);
    }
    assert_exactly_once(&db, MAILS as i64).await;
    let holder = desk.log("run-b.log");
    assert!(holder.contains("not renewed in time"), "B says how A's lease ended:\n{holder}");
    println!(
        "cut off: the active desk's database connections cut; the standby took over {:.1} s later (takeover_secs = {TAKEOVER_SECS}), \
         recorded the {MAILS} mails that came meanwhile once, and the cut-off desk stood by when it was back",
        took_over.as_secs_f64()
    );
    assert!(took_over < Duration::from_secs(TAKEOVER_SECS + 3), "took over in {took_over:?}");
}
