//! Mail loops against the real servers. An autoresponder at a client that answers every mail
//! it gets, once well-behaved (RFC 3834 headers, threaded) and once in the worst way (no
//! header says it is a machine, a fresh subject and Message-ID each time, no threading, Reply-To
//! ignored, so each answer looks like a new client mail); and a second helpdesk instance that
//! answers the first. Each test runs the desks in watch mode for a fixed window, counts the
//! mails exchanged, prints its figures and asserts a small bound.

use std::time::{Duration, Instant};

use sqlx::SqlitePool;

use super::desk::{count, header, TestDesk, AGENT, SUPPORT};
use super::lab::MailLab;

/// How long the desks and the autoresponder run. A round of a loop (desk answers, bot answers)
/// takes under a second on the lab; the window leaves dozens of rounds of room for a loop that
/// does not stop, and time to see the silence after one that does.
const WINDOW: Duration = Duration::from_secs(25);
/// How often the autoresponder looks at its mailbox.
const BOT_POLL: Duration = Duration::from_millis(200);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    /// `Auto-Submitted: auto-replied`, In-Reply-To and References to the mail it answers.
    WellBehaved,
    /// Nothing that marks it as a machine, no threading headers, a new subject each time.
    Naive,
    /// Naive, and each answer from a fresh `+N` address of its mailbox (`bot+1@`, `bot+2@` ...),
    /// as if every new address got a fresh allowance of acknowledgements.
    NaiveNewPlusTag,
}

impl Style {
    /// The address the bot's `n`th answer comes from.
    fn sender(self, bot: &str, n: usize) -> String {
        match self {
            Style::NaiveNewPlusTag => {
                let (local, domain) = bot.rsplit_once('@').expect("an address");
                format!("{local}+{n}@{domain}")
            }
            Style::Naive | Style::WellBehaved => bot.to_string(),
        }
    }
}

/// What the autoresponder did: when each mail reached it and when it sent each answer.
#[derive(Default)]
struct BotLog {
    received: Vec<Instant>,
    sent: Vec<Instant>,
}

/// The first address in a mail's From header.
fn from_address(raw: &[u8]) -> Option<String> {
    let message = mail_parser::MessageParser::default().parse(raw)?;
    Some(message.from()?.first()?.address()?.to_ascii_lowercase())
}

fn rfc2822_now() -> String {
    chrono::Utc::now().to_rfc2822()
}

fn fresh_id(domain: &str) -> String {
    format!("<{}@{domain}>", uuid::Uuid::new_v4())
}

/// A mail a person could have written: no automation header, no threading header.
fn human_mail(from: &str, to: &str, subject: &str, text: &str) -> String {
    let domain = from.rsplit('@').next().unwrap_or("lab.test");
    format!(
        "From: {from}\nTo: {to}\nSubject: {subject}\nMessage-ID: {id}\nDate: {date}\n\n{text}\n",
        id = fresh_id(domain),
        date = rfc2822_now()
    )
}

/// The autoresponder's answer to `mail`, the `n`th it writes.
fn answer(style: Style, bot: &str, to: &str, mail: &[u8], n: usize) -> String {
    match style {
        Style::Naive | Style::NaiveNewPlusTag => human_mail(
            bot,
            to,
            &format!("Quick question about our account, part {n}"),
            &format!("Hello,\n\nThanks for getting in touch! Could you tell me more? (note {n})\n\nBest,\nBot"),
        ),
        Style::WellBehaved => {
            let subject = header(mail, "Subject").unwrap_or_default();
            let answered = header(mail, "Message-ID").unwrap_or_default();
            let references = match header(mail, "References") {
                Some(chain) => format!("{chain} {answered}"),
                None => answered.clone(),
            };
            format!(
                "From: {bot}\nTo: {to}\nSubject: Re: {subject}\nMessage-ID: {id}\nDate: {date}\nIn-Reply-To: {answered}\nReferences: {references}\nAuto-Submitted: auto-replied\n\nThis mailbox answers automatically. Your message has been received.\n",
                id = fresh_id("acme.test"),
                date = rfc2822_now()
            )
        }
    }
}

/// Answers every mail that reaches `bot`'s INBOX (Dovecot delivers `bot+N@` there too), to its
/// From address (the naive one ignores Reply-To, the worst case: the desk's signed reply
/// address would thread the answer), until `until`.
async fn run_autoresponder(lab: &MailLab, bot: &str, style: Style, until: Instant) -> BotLog {
    let mut log = BotLog::default();
    let mut answered = 0;
    while Instant::now() < until {
        let mails = lab.mails_received_by(bot).await;
        for mail in mails.iter().skip(answered) {
            log.received.push(Instant::now());
            answered += 1;
            let to = from_address(mail).expect("the desk's mail has a From address");
            let from = style.sender(bot, answered);
            lab.send(&from, &to, &answer(style, &from, &to, mail, answered)).await;
            log.sent.push(Instant::now());
        }
        tokio::time::sleep(BOT_POLL).await;
    }
    log
}

/// The acknowledgement limit the desk actually runs with, read through the desk's own config
/// code (`intake.acknowledgements_per_sender_per_hour`, default 5).
/// The documented default of `intake.acknowledgements_per_sender_per_hour` (README), which
/// these desks do not set: a literal, so that a changed default fails here.
const ACKNOWLEDGEMENT_LIMIT: u32 = 5;

/// Seconds from `start` to the last of `times` (0 when there is none).
fn last_after(start: Instant, times: &[Instant]) -> f64 {
    times.iter().map(|time| time.saturating_duration_since(start).as_secs_f64()).fold(0.0, f64::max)
}

/// Desk A in watch mode with an autoresponder at a client, for the window; the loop is started
/// by one mail from the bot. Returns the bot's log (its first mail included) and the start.
async fn autoresponder_loop(lab: &MailLab, desk: &TestDesk, bot: &str, style: Style) -> (BotLog, Instant) {
    let child = desk.spawn_run_with_env("run.log", &[]);
    desk.wait_for_log("run.log", "IMAP connected", 30).await;
    let started = Instant::now();
    let first = human_mail(bot, SUPPORT, "Leads are not reaching the CRM", "Since this morning nothing arrives.");
    lab.send(bot, SUPPORT, &first).await;
    let mut log = run_autoresponder(lab, bot, style, started + WINDOW).await;
    log.sent.insert(0, started);
    desk.stop(child, "run.log");
    // Drain, then count: whatever the desk still had to take in or send goes out now, and
    // Postfix delivers it, so a count of the bot's mailbox misses nothing.
    desk.run_once();
    lab.wait_for_empty_queue().await;
    assert_eq!(desk.unsent_mail().await, 0, "the outbox drained");
    (log, started)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_well_behaved_autoresponder_gets_one_acknowledgement_and_nothing_more() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let bot = "polite-bot@acme.test";
    let (log, started) = autoresponder_loop(&lab, &desk, bot, Style::WellBehaved).await;

    let db = desk.db().await;
    let from_desk = lab.mails_received_by(bot).await.len();
    let from_bot = log.sent.len();
    let tickets = count(&db, "SELECT COUNT(*) FROM tickets").await;
    let on_ticket = count(
        &db,
        "SELECT COUNT(*) FROM messages WHERE ticket_id IS NOT NULL AND automated_reason LIKE 'Auto-Submitted%'",
    )
    .await;
    let last = last_after(started, &log.sent).max(last_after(started, &log.received));
    println!(
        "loops: well-behaved autoresponder: {from_desk} mail from the desk, {from_bot} from the bot in {:.1} s (last at {last:.1} s); its auto-reply threaded onto ticket #1 and got no answer",
        WINDOW.as_secs_f64()
    );
    assert_eq!(from_desk, 1, "one acknowledgement, then nothing:\n{}", desk.log("run.log"));
    assert_eq!(from_bot, 2, "the first mail and one auto-reply");
    assert_eq!(tickets, 1, "the auto-reply opened no ticket");
    assert_eq!(on_ticket, 1, "the auto-reply is kept on the ticket:\n{}", desk.log("run.log"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_naive_autoresponder_that_answers_every_mail_exchanges_a_bounded_number_of_mails() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let limit = ACKNOWLEDGEMENT_LIMIT;
    let bot = "bot@acme.test";
    let (log, started) = autoresponder_loop(&lab, &desk, bot, Style::Naive).await;

    let db = desk.db().await;
    let from_desk = lab.mails_received_by(bot).await.len();
    let from_bot = log.sent.len();
    let tickets = count(&db, "SELECT COUNT(*) FROM tickets").await;
    let acknowledgements: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement' AND recipients = ?")
            .bind(bot)
            .fetch_one(&db)
            .await
            .unwrap();
    let to_bot: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE recipients = ?").bind(bot).fetch_one(&db).await.unwrap();
    let notifications = count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'agent_notification'").await;
    let held_back = desk.log("run.log").matches("acknowledgement limit reached").count();
    let last = last_after(started, &log.sent).max(last_after(started, &log.received));
    println!(
        "loops: naive autoresponder: {from_desk} mails from the desk, {from_bot} from the bot in {:.1} s (the last at {last:.1} s, then silence); {tickets} tickets ({notifications} agent notifications), acknowledgements stopped at the limit of {limit} per mailbox per hour ({held_back} held back)",
        WINDOW.as_secs_f64()
    );
    // The desk answers nothing but acknowledgements here, and at most `limit` of them.
    assert_eq!(to_bot, acknowledgements, "the desk sent the bot only acknowledgements");
    assert!(from_desk as u32 <= limit, "{from_desk} mails to the bot, limit {limit}:\n{}", desk.log("run.log"));
    assert!(from_bot as u32 <= limit + 1, "the bot answered each of the desk's mails once, plus its first");
    // And the loop really ran up to the limit (it is not bounded by doing nothing).
    assert_eq!(from_desk as u32, limit, "the loop reached the limit within the window:\n{}", desk.log("run.log"));
    assert_eq!(tickets, from_bot as i64, "each of the bot's mails looks new and opens a ticket");
    assert_eq!(notifications, tickets, "the agent hears of each ticket once");
    assert!(held_back >= 1, "the desk said it held an acknowledgement back:\n{}", desk.log("run.log"));
    assert!(WINDOW.as_secs_f64() - last >= 5.0, "the loop ended well inside the window (last mail at {last:.1} s)");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_naive_autoresponder_answering_from_a_new_plus_tag_each_time_ends_in_silence() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let limit = ACKNOWLEDGEMENT_LIMIT;
    let bot = "tagbot@acme.test";
    let (log, started) = autoresponder_loop(&lab, &desk, bot, Style::NaiveNewPlusTag).await;
    assert_eq!(desk.unsent_mail().await, 0, "everything queued went out:\n{}", desk.log("run.log"));
    lab.wait_for_empty_queue().await;

    let db = desk.db().await;
    let from_desk = lab.mails_received_by(bot).await.len();
    let from_bot = log.sent.len();
    let tickets = count(&db, "SELECT COUNT(*) FROM tickets").await;
    let addresses = count(&db, "SELECT COUNT(DISTINCT requester) FROM tickets").await;
    let acknowledgements = count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement'").await;
    let held_back = desk.log("run.log").matches("acknowledgement limit reached").count();
    let last = last_after(started, &log.sent).max(last_after(started, &log.received));
    println!(
        "loops: naive autoresponder with a new +tag each answer: {from_desk} mails from the desk, {from_bot} from the bot from {addresses} addresses in {:.1} s (the last at {last:.1} s, then silence); {tickets} tickets, {acknowledgements} acknowledgements, stopped at the limit of {limit} per mailbox ({held_back} held back)",
        WINDOW.as_secs_f64()
    );
    assert!(
        from_desk as u32 <= limit,
        "{from_desk} mails to the bot's mailbox, limit {limit}:\n{}",
        desk.log("run.log")
    );
    assert_eq!(acknowledgements, from_desk as i64, "the desk sent the bot only acknowledgements");
    assert_eq!(from_desk as u32, limit, "the loop reached the limit within the window:\n{}", desk.log("run.log"));
    assert_eq!(addresses, from_bot as i64, "every mail of the bot came from a new address");
    assert_eq!(tickets, from_bot as i64, "each of the bot's mails looks new and opens a ticket");
    assert!(held_back >= 1, "the desk said it held an acknowledgement back:\n{}", desk.log("run.log"));
    assert!(WINDOW.as_secs_f64() - last >= 5.0, "the loop ended well inside the window (last mail at {last:.1} s)");
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_five_mails_from_plus_tags_of_one_mailbox_are_braked_as_one_mailbox() {
    const MAILS: usize = 25;
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    for index in 0..MAILS {
        let from = format!("client2+{index}@globex.test");
        let mail =
            human_mail(&from, SUPPORT, &format!("Export job {index} failed"), "The nightly export stopped again.");
        lab.send(&from, SUPPORT, &mail).await;
    }
    lab.wait_for_support_mail(MAILS).await;
    desk.run_once();
    assert_eq!(desk.unsent_mail().await, 0, "everything queued went out");
    lab.wait_for_empty_queue().await;

    let db = desk.db().await;
    let tickets = count(&db, "SELECT COUNT(*) FROM tickets").await;
    let to_client = lab.mails_received_by("client2@globex.test").await;
    let to_agent = lab.mails_received_by(AGENT).await;
    let is_flood_notice = |raw: &Vec<u8>| header(raw, "Subject").unwrap_or_default().contains("no more announced");
    let flood_notices = to_agent.iter().filter(|raw| is_flood_notice(raw)).count();
    let notifications = to_agent.len() - flood_notices;
    println!(
        "loops: {MAILS} mails from client2+0..{}@globex.test: {tickets} tickets, {} acknowledgements in client2@'s mailbox, {notifications} agent notifications and {flood_notices} flood notice",
        MAILS - 1,
        to_client.len()
    );
    assert_eq!(tickets, MAILS as i64, "everything is recorded");
    assert_eq!(to_client.len(), 5, "acknowledgements per mailbox, not per +tag");
    assert_eq!(notifications, 20, "agent notifications per mailbox");
    assert_eq!(flood_notices, 1, "one flood notice when the limit is reached");
    let notice = to_agent.iter().find(|raw| is_flood_notice(raw)).unwrap();
    assert!(header(notice, "Subject").unwrap().contains("client2@globex.test"), "the notice names the mailbox");
}

/// A second helpdesk: help@globex.test, whose agent is boss@globex.test and whose one client
/// is example.test, so that it would acknowledge desk A's mail if it took it for a person's.
fn globex_desk(lab: &MailLab) -> TestDesk {
    let people = r#"
[agent]
name = "Bea"
addresses = ["boss@globex.test"]
timezone = "Europe/Berlin"

[[clients]]
name = "Example"
tier = "growth"
domains = ["example.test"]
"#;
    TestDesk::with_mailbox(lab, "help@globex.test", "Help <help@globex.test>", people)
}

/// Mails in `user`'s INBOX whose From is `from`.
async fn mails_from(lab: &MailLab, user: &str, from: &str) -> usize {
    lab.mails_received_by(user).await.iter().filter(|raw| from_address(raw).as_deref() == Some(from)).count()
}

/// The mails a desk recorded as automated: the ticket each went to (if any) and why.
async fn automated_mails(db: &SqlitePool) -> Vec<(Option<i64>, String)> {
    sqlx::query_as("SELECT ticket_id, thread_reason FROM messages WHERE automated_reason IS NOT NULL ORDER BY id")
        .fetch_all(db)
        .await
        .unwrap()
}

fn where_kept(mails: &[(Option<i64>, String)]) -> String {
    let places: Vec<String> = mails
        .iter()
        .map(|(ticket, reason)| match ticket {
            Some(ticket) => format!("on its ticket #{ticket}, {reason}"),
            None => "held aside".to_string(),
        })
        .collect();
    if places.is_empty() {
        "none".into()
    } else {
        places.join(", ")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_helpdesk_instances_do_not_answer_each_other_forever() {
    const HELP: &str = "help@globex.test";
    let lab = MailLab::start();
    let desk_a = TestDesk::new(&lab);
    let desk_b = globex_desk(&lab);
    let child_a = desk_a.spawn_run_with_env("run.log", &[]);
    let child_b = desk_b.spawn_run_with_env("run.log", &[]);
    desk_a.wait_for_log("run.log", "IMAP connected", 30).await;
    desk_b.wait_for_log("run.log", "IMAP connected", 30).await;

    // Each desk is provoked once by a person writing from the other desk's address.
    let started = Instant::now();
    let to_a = human_mail(HELP, SUPPORT, "Our invoices are not arriving", "Could you check the billing run?");
    lab.send(HELP, SUPPORT, &to_a).await;
    let to_b = human_mail(SUPPORT, HELP, "Your API returns errors", "Every call since noon fails.");
    lab.send(SUPPORT, HELP, &to_b).await;

    // Watch both mailboxes for the whole window, noting when the exchange last grew.
    let mut exchanged = 0;
    let mut last_change = started;
    while started.elapsed() < WINDOW {
        let now = mails_from(&lab, SUPPORT, HELP).await + mails_from(&lab, HELP, SUPPORT).await;
        if now != exchanged {
            exchanged = now;
            last_change = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    desk_a.stop(child_a, "run.log");
    desk_b.stop(child_b, "run.log");

    let a_path = desk_a.dir.path().join("helpdesk.db");
    let b_path = desk_b.dir.path().join("helpdesk.db");
    assert!(a_path.exists() && b_path.exists() && a_path != b_path, "two separate databases");
    let db_a = desk_a.db().await;
    let db_b = desk_b.db().await;
    let a_to_b: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE recipients = ?")
        .bind(HELP)
        .fetch_one(&db_a)
        .await
        .unwrap();
    let b_to_a: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE recipients = ?")
        .bind(SUPPORT)
        .fetch_one(&db_b)
        .await
        .unwrap();
    let (automated_a, automated_b) = (automated_mails(&db_a).await, automated_mails(&db_b).await);
    let (tickets_a, tickets_b) =
        (count(&db_a, "SELECT COUNT(*) FROM tickets").await, count(&db_b, "SELECT COUNT(*) FROM tickets").await);
    let in_support = mails_from(&lab, SUPPORT, HELP).await;
    let in_help = mails_from(&lab, HELP, SUPPORT).await;
    let total = in_support + in_help;
    let last = last_change.duration_since(started).as_secs_f64();
    println!(
        "loops: two desks: {total} mails exchanged in {:.1} s (the last at {last:.1} s), then silence: 2 first mails, {a_to_b} + {b_to_a} acknowledgements, each kept as automated mail and not answered (desk A: {}; desk B: {})",
        WINDOW.as_secs_f64(),
        where_kept(&automated_a),
        where_kept(&automated_b),
    );
    let logs = || format!("== desk A ==\n{}\n== desk B ==\n{}", desk_a.log("run.log"), desk_b.log("run.log"));
    assert_eq!(total, exchanged, "nothing arrived after the window closed");
    assert_eq!((a_to_b, b_to_a), (1, 1), "each desk acknowledged the first mail once:\n{}", logs());
    assert_eq!(total, 4, "the two first mails and one acknowledgement each:\n{}", logs());
    assert_eq!(
        (automated_a.len(), automated_b.len()),
        (1, 1),
        "each desk recognised the other's acknowledgement as automated:\n{}",
        logs()
    );
    assert_eq!((tickets_a, tickets_b), (1, 1), "one ticket each, for the person's mail");
    // The other desk's `[#1]` is not this desk's ticket 1: automated mail never threads by token.
    assert!(
        automated_a.iter().chain(&automated_b).all(|(ticket, _)| ticket.is_none()),
        "each acknowledgement is held aside, not put on an unrelated ticket: A {automated_a:?}, B {automated_b:?}"
    );
    assert!(WINDOW.as_secs_f64() - last >= 5.0, "the exchange ended well inside the window (last at {last:.1} s)");
}
