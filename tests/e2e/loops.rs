//! Mail loops against the real servers. An autoresponder at a client that answers every mail
//! it gets, once well-behaved (RFC 3834 headers, threaded) and once in the worst way (no
//! header says it is a machine, a fresh subject and Message-ID each time, no threading, Reply-To
//! ignored, so each answer looks like a new client mail); and a second helpdesk instance that
//! answers the first.
//!
//! No clock decides anything here: each test drives the exchange in rounds. A round runs the
//! desk once (`run --once`), drains it (no unsent row, Postfix's queue empty), lets the other
//! side answer every mail the desk sent it, and waits until those answers reached support@. A
//! round that adds no mail is a fixed point: nothing new reached anyone, so nothing new can be
//! answered, and the exchange is over. An exchange still adding mail after `MAX_ROUNDS` is a
//! loop and fails the test (it is never taken for silence). Each test prints its figures and
//! asserts the exact rounds and counts.

use std::collections::HashSet;

use super::desk::{count, header, TestDesk, AGENT, SUPPORT};
use super::lab::MailLab;

/// The documented default of `intake.acknowledgements_per_sender_per_hour`
/// (examples/helpdesk.toml), which these desks do not set: a literal, so that a changed default
/// fails here.
const ACKNOWLEDGEMENT_LIMIT: usize = 5;

/// Rounds an exchange may take: the desk acknowledges at most one mail of the bot per round
/// until the limit, one round finds the limit reached and sends nothing, and one is spare. A
/// loop that the limit did not stop reaches it.
const MAX_ROUNDS: usize = ACKNOWLEDGEMENT_LIMIT + 2;

/// What a round added to an exchange, and whether the exchange goes on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Round {
    /// The round added mail: run another.
    Continue,
    /// The round added nothing: the exchange is over.
    Quiet,
    /// The round added mail and was the last one allowed: a loop.
    Loop,
}

/// The mails each round of an exchange added, bounded by `max` rounds.
struct Rounds {
    max: usize,
    added: Vec<usize>,
}

impl Rounds {
    fn new(max: usize) -> Rounds {
        Rounds { max, added: Vec::new() }
    }

    /// Records a round that added `mails`.
    fn record(&mut self, mails: usize) -> Round {
        self.added.push(mails);
        if mails == 0 {
            Round::Quiet
        } else if self.added.len() >= self.max {
            Round::Loop
        } else {
            Round::Continue
        }
    }
}

/// The bound is a failure: an exchange that adds mail every round is called a loop at round
/// `MAX_ROUNDS`, and one that falls quiet before it is not.
#[test]
fn an_exchange_that_never_stops_is_a_loop_at_the_round_bound() {
    let mut endless = Rounds::new(MAX_ROUNDS);
    let outcomes: Vec<Round> = (0..2 * MAX_ROUNDS).map(|_| endless.record(1)).collect();
    assert_eq!(outcomes.iter().position(|round| *round == Round::Loop), Some(MAX_ROUNDS - 1), "{outcomes:?}");
    assert!(outcomes[..MAX_ROUNDS - 1].iter().all(|round| *round == Round::Continue), "{outcomes:?}");
    let mut ending = Rounds::new(MAX_ROUNDS);
    let outcomes: Vec<Round> = [1, 1, 0].into_iter().map(|mails| ending.record(mails)).collect();
    assert_eq!(outcomes, [Round::Continue, Round::Continue, Round::Quiet]);
}

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

/// An exchange between the desk and an autoresponder, as the rounds left it.
struct Exchange {
    /// The mails the desk sent the bot in each round; the last round's is 0.
    from_desk_per_round: Vec<usize>,
    /// The bot's mails: its first and one answer to each of the desk's.
    from_bot: usize,
    /// The desk's log of every run.
    log: String,
}

impl Exchange {
    fn desk_mails(&self) -> usize {
        self.from_desk_per_round.iter().sum()
    }

    fn rounds(&self) -> usize {
        self.from_desk_per_round.len()
    }
}

/// The rounds `[1, 1, ..., 0]` of an exchange in which the desk sent one mail in each of the
/// first `mails` rounds and nothing in the next.
fn one_a_round_then_quiet(mails: usize) -> Vec<usize> {
    let mut rounds = vec![1; mails];
    rounds.push(0);
    rounds
}

/// Desk A and an autoresponder at a client, in rounds; the exchange is started by one mail
/// from the bot. In each round the desk runs once and drains, and the bot answers every mail
/// that reached its INBOX (Dovecot delivers `bot+N@` there too), to its From address (the
/// naive one ignores Reply-To, the worst case: the desk's signed reply address would thread
/// the answer). Ends at the first round in which the desk sent the bot nothing.
async fn autoresponder_exchange(lab: &MailLab, desk: &TestDesk, bot: &str, style: Style) -> Exchange {
    let first = human_mail(bot, SUPPORT, "Leads are not reaching the CRM", "Since this morning nothing arrives.");
    lab.send(bot, SUPPORT, &first).await;
    let mut from_bot = 1;
    lab.wait_for_support_mail(from_bot).await;
    let mut rounds = Rounds::new(MAX_ROUNDS);
    let mut log = String::new();
    let mut answered = 0;
    loop {
        log.push_str(&desk.run_once());
        desk.drain(lab).await;
        let mails = lab.mails_received_by(bot).await;
        let new = &mails[answered..];
        match rounds.record(new.len()) {
            Round::Quiet => break,
            Round::Continue => {}
            Round::Loop => panic!(
                "still exchanging mail after {MAX_ROUNDS} rounds (the desk's mails per round: {:?}): a loop\n{log}",
                rounds.added
            ),
        }
        for mail in new {
            answered += 1;
            let to = from_address(mail).expect("the desk's mail has a From address");
            let from = style.sender(bot, answered);
            lab.send(&from, &to, &answer(style, &from, &to, mail, answered)).await;
            from_bot += 1;
        }
        lab.wait_for_support_mail(from_bot).await;
    }
    Exchange { from_desk_per_round: rounds.added, from_bot, log }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_well_behaved_autoresponder_gets_one_acknowledgement_and_nothing_more() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let bot = "polite-bot@acme.test";
    let exchange = autoresponder_exchange(&lab, &desk, bot, Style::WellBehaved).await;

    let from_desk = lab.mails_received_by(bot).await.len();
    let tickets = desk.tickets_json("all").len() as i64;
    let on_ticket = desk
        .messages_json()
        .iter()
        .filter(|(ticket, mail)| {
            ticket.is_some()
                && mail["automated_reason"].as_str().is_some_and(|reason| reason.starts_with("Auto-Submitted"))
        })
        .count() as i64;
    println!(
        "loops: well-behaved autoresponder: {from_desk} mail from the desk, {} from the bot in {} rounds (the desk's mails per round {:?}, the last round quiet); its auto-reply threaded onto ticket #1 and got no answer",
        exchange.from_bot,
        exchange.rounds(),
        exchange.from_desk_per_round
    );
    assert_eq!(from_desk, exchange.desk_mails(), "the bot's mailbox holds what the rounds counted");
    assert_eq!(exchange.from_desk_per_round, one_a_round_then_quiet(1), "one acknowledgement, then nothing");
    assert_eq!(from_desk, 1, "one acknowledgement, then nothing:\n{}", exchange.log);
    assert_eq!(exchange.from_bot, 2, "the first mail and one auto-reply");
    assert_eq!(tickets, 1, "the auto-reply opened no ticket");
    assert_eq!(on_ticket, 1, "the auto-reply is kept on the ticket:\n{}", exchange.log);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_naive_autoresponder_that_answers_every_mail_exchanges_a_bounded_number_of_mails() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let limit = ACKNOWLEDGEMENT_LIMIT;
    let bot = "bot@acme.test";
    let exchange = autoresponder_exchange(&lab, &desk, bot, Style::Naive).await;

    let db = desk.db().await;
    let from_desk = lab.mails_received_by(bot).await.len();
    let from_bot = exchange.from_bot;
    let tickets = desk.tickets_json("all").len() as i64;
    // The outbox: what the desk queued for the bot, by kind.
    let acknowledgements: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement' AND recipients = $1")
            .bind(bot)
            .fetch_one(&db)
            .await
            .unwrap();
    let to_bot: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE recipients = $1").bind(bot).fetch_one(&db).await.unwrap();
    let notifications = count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'agent_notification'").await;
    let held_back = exchange.log.matches("acknowledgement limit reached").count();
    println!(
        "loops: naive autoresponder: {from_desk} mails from the desk, {from_bot} from the bot in {} rounds (the desk's mails per round {:?}, the last round quiet; bound {MAX_ROUNDS}); {tickets} tickets ({notifications} agent notifications), acknowledgements stopped at the limit of {limit} per mailbox per hour ({held_back} held back)",
        exchange.rounds(),
        exchange.from_desk_per_round
    );
    assert_eq!(from_desk, exchange.desk_mails(), "the bot's mailbox holds what the rounds counted");
    // The desk answers nothing but acknowledgements here, one a round up to the limit: the
    // loop really ran up to the limit (it is not bounded by doing nothing), then stopped.
    assert_eq!(to_bot, acknowledgements, "the desk sent the bot only acknowledgements");
    assert_eq!(
        exchange.from_desk_per_round,
        one_a_round_then_quiet(limit),
        "one acknowledgement a round up to the limit, then a quiet round:\n{}",
        exchange.log
    );
    assert_eq!(from_desk, limit, "{from_desk} mails to the bot, limit {limit}:\n{}", exchange.log);
    assert_eq!(from_bot, limit + 1, "the bot answered each of the desk's mails once, plus its first");
    assert_eq!(tickets, from_bot as i64, "each of the bot's mails looks new and opens a ticket");
    assert_eq!(notifications, tickets, "the agent hears of each ticket once");
    assert_eq!(held_back, 1, "the desk said it held the last mail's acknowledgement back:\n{}", exchange.log);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_naive_autoresponder_answering_from_a_new_plus_tag_each_time_ends_in_silence() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let limit = ACKNOWLEDGEMENT_LIMIT;
    let bot = "tagbot@acme.test";
    let exchange = autoresponder_exchange(&lab, &desk, bot, Style::NaiveNewPlusTag).await;

    let db = desk.db().await;
    let from_desk = lab.mails_received_by(bot).await.len();
    let from_bot = exchange.from_bot;
    let listed = desk.tickets_json("all");
    let tickets = listed.len() as i64;
    let addresses =
        listed.iter().map(|ticket| ticket["requester"].as_str().unwrap()).collect::<HashSet<_>>().len() as i64;
    // The outbox: every acknowledgement queued, sent or not.
    let acknowledgements = count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement'").await;
    let held_back = exchange.log.matches("acknowledgement limit reached").count();
    println!(
        "loops: naive autoresponder with a new +tag each answer: {from_desk} mails from the desk, {from_bot} from the bot from {addresses} addresses in {} rounds (the desk's mails per round {:?}, the last round quiet; bound {MAX_ROUNDS}); {tickets} tickets, {acknowledgements} acknowledgements, stopped at the limit of {limit} per mailbox ({held_back} held back)",
        exchange.rounds(),
        exchange.from_desk_per_round
    );
    assert_eq!(from_desk, exchange.desk_mails(), "the bot's mailbox holds what the rounds counted");
    assert_eq!(acknowledgements, from_desk as i64, "the desk sent the bot only acknowledgements");
    assert_eq!(
        exchange.from_desk_per_round,
        one_a_round_then_quiet(limit),
        "one acknowledgement a round up to the limit of the mailbox (not of each +tag), then a quiet round:\n{}",
        exchange.log
    );
    assert_eq!(from_desk, limit, "{from_desk} mails to the bot's mailbox, limit {limit}:\n{}", exchange.log);
    assert_eq!(from_bot, limit + 1, "the bot answered each of the desk's mails once, plus its first");
    assert_eq!(addresses, from_bot as i64, "every mail of the bot came from a new address");
    assert_eq!(tickets, from_bot as i64, "each of the bot's mails looks new and opens a ticket");
    assert_eq!(held_back, 1, "the desk said it held the last mail's acknowledgement back:\n{}", exchange.log);
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
    desk.drain(&lab).await;

    let tickets = desk.tickets_json("all").len() as i64;
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
fn automated_mails(desk: &TestDesk) -> Vec<(Option<i64>, String)> {
    let messages = desk.messages_json();
    let automated = messages.into_iter().filter(|(_, mail)| !mail["automated_reason"].is_null());
    automated.map(|(ticket, mail)| (ticket, mail["thread_reason"].as_str().unwrap().to_string())).collect()
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

    // Each desk is provoked once by a person writing from the other desk's address.
    let to_a = human_mail(HELP, SUPPORT, "Our invoices are not arriving", "Could you check the billing run?");
    lab.send(HELP, SUPPORT, &to_a).await;
    let to_b = human_mail(SUPPORT, HELP, "Your API returns errors", "Every call since noon fails.");
    lab.send(SUPPORT, HELP, &to_b).await;
    lab.wait_for_empty_queue().await;
    let exchanged = || async { mails_from(&lab, SUPPORT, HELP).await + mails_from(&lab, HELP, SUPPORT).await };
    let first_mails = exchanged().await;
    assert_eq!(first_mails, 2, "both first mails arrived");

    // Rounds: desk A runs once and drains (whatever it sent is then in help@'s INBOX), then
    // desk B does the same; a round that adds no mail between the two ends the exchange.
    let mut rounds = Rounds::new(MAX_ROUNDS);
    let (mut log_a, mut log_b) = (String::new(), String::new());
    let mut total = first_mails;
    loop {
        log_a.push_str(&desk_a.run_once());
        desk_a.drain(&lab).await;
        log_b.push_str(&desk_b.run_once());
        desk_b.drain(&lab).await;
        let now = exchanged().await;
        let added = now - total;
        total = now;
        match rounds.record(added) {
            Round::Quiet => break,
            Round::Continue => {}
            Round::Loop => panic!(
                "the desks were still exchanging mail after {MAX_ROUNDS} rounds (mails per round {:?}): a loop\n== desk A ==\n{log_a}\n== desk B ==\n{log_b}",
                rounds.added
            ),
        }
    }

    assert!(desk_a.database_exists().await && desk_b.database_exists().await, "both databases exist");
    assert_ne!(desk_a.database_url, desk_b.database_url, "two separate databases");
    let db_a = desk_a.db().await;
    let db_b = desk_b.db().await;
    // The outbox: what each desk queued for the other.
    let a_to_b: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE recipients = $1")
        .bind(HELP)
        .fetch_one(&db_a)
        .await
        .unwrap();
    let b_to_a: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE recipients = $1")
        .bind(SUPPORT)
        .fetch_one(&db_b)
        .await
        .unwrap();
    let (automated_a, automated_b) = (automated_mails(&desk_a), automated_mails(&desk_b));
    let (tickets_a, tickets_b) = (desk_a.tickets_json("all").len() as i64, desk_b.tickets_json("all").len() as i64);
    println!(
        "loops: two desks: {total} mails exchanged in {} rounds of desk A then desk B (2 first mails, then mails per round {:?}, the last round quiet): {a_to_b} + {b_to_a} acknowledgements, each kept as automated mail and not answered (desk A: {}; desk B: {})",
        rounds.added.len(),
        rounds.added,
        where_kept(&automated_a),
        where_kept(&automated_b),
    );
    let logs = || format!("== desk A ==\n{log_a}\n== desk B ==\n{log_b}");
    assert_eq!((a_to_b, b_to_a), (1, 1), "each desk acknowledged the first mail once:\n{}", logs());
    assert_eq!(rounds.added, [2, 0], "both acknowledgements in the first round, nothing after:\n{}", logs());
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
}
