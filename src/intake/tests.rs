//! Intake through the real transaction, on a fresh SQLite database.

use super::acknowledgement::without_links;
use super::*;
use crate::domain::EmailAddress;
use chrono::Duration;

/// Only in unit tests: a mail starting with these bytes makes intake panic.
pub const PANIC_TRIGGER: &[u8] = b"X-Test-Panic: yes";
/// Only in unit tests: reading a mail starting with these bytes takes 3 s.
pub const SLOW_TRIGGER: &[u8] = b"X-Test-Slow: yes";

#[tokio::test]
async fn a_panic_on_one_mail_keeps_it_aside_and_moves_on() {
    let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
    let now = Utc::now();
    let poison = RawMail::new(b"X-Test-Panic: yes\r\nFrom: a@acme.test\r\n\r\nboom\r\n".to_vec(), now);
    let outcome = record_mail(&desk, &poison, now).await.unwrap();
    assert!(matches!(outcome, IntakeOutcome::HeldAside { .. }), "{outcome:?}");
    // Again (a rescan): still one row, no error.
    record_mail(&desk, &poison, now).await.unwrap();
    let problems: Vec<(Option<String>, Vec<u8>)> =
        sqlx::query_as("SELECT parse_problem, raw FROM messages").fetch_all(&desk.db).await.unwrap();
    assert_eq!(problems.len(), 1);
    assert!(problems[0].0.as_deref().unwrap().contains("test panic"));
    assert_eq!(problems[0].1, poison.bytes, "kept raw");
    let notices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'unprocessable'")
        .fetch_one(&desk.db)
        .await
        .unwrap();
    assert_eq!(notices, 1, "the agent is told once");
    // The next mail goes through normally.
    let next = RawMail::new(b"From: b@acme.test\r\nSubject: hi\r\n\r\nhello\r\n".to_vec(), now);
    assert!(matches!(record_mail(&desk, &next, now).await.unwrap(), IntakeOutcome::NewTicket { .. }));
}

#[test]
fn links_are_taken_out_of_an_echoed_subject() {
    assert_eq!(
        without_links("URGENT wire 50000 USD http://evil.test/pay now, or www.evil.test or evil.test/pay?x=1"),
        "URGENT wire 50000 USD [link removed] now, or [link removed] or [link removed]"
    );
    assert_eq!(without_links("Sync fails at 10.30 on v2.1"), "Sync fails at 10.30 on v2.1");
}

async fn held_problems(desk: &Desk) -> Vec<String> {
    sqlx::query_scalar("SELECT parse_problem FROM messages WHERE ticket_id IS NULL AND parse_problem IS NOT NULL")
        .fetch_all(&desk.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_mail_slower_to_read_than_the_limit_is_kept_aside_and_intake_goes_on() {
    let mut config = crate::testing::sample_config();
    config.intake.max_seconds_per_mail = 1;
    let desk = Desk::open(config).await.unwrap();
    let now = Utc::now();
    // Large enough to be marked while it is read.
    let padding = "x".repeat(crate::inbound::attempts::LARGE_MAIL_BYTES);
    let slow = RawMail::new(
        format!("X-Test-Slow: yes\r\nFrom: a@acme.test\r\nSubject: s\r\n\r\nslow {padding}\r\n").into_bytes(),
        now,
    );
    let outcome = record_mail(&desk, &slow, now).await.unwrap();
    assert!(matches!(outcome, IntakeOutcome::HeldAside { .. }), "{outcome:?}");
    let problems = held_problems(&desk).await;
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("longer than 1 s (intake.max_seconds_per_mail)"), "{}", problems[0]);
    let next = RawMail::new(b"From: b@acme.test\r\nSubject: hi\r\n\r\nhello\r\n".to_vec(), now);
    assert!(matches!(record_mail(&desk, &next, now).await.unwrap(), IntakeOutcome::NewTicket { .. }));
    let marks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM intake_attempts").fetch_one(&desk.db).await.unwrap();
    assert_eq!(marks, 0, "the large mail's mark went with its record");
}

#[tokio::test]
async fn a_mail_the_desk_died_on_twice_is_kept_aside_on_the_third_start() {
    let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
    let now = Utc::now();
    let padding = "x".repeat(crate::inbound::attempts::LARGE_MAIL_BYTES);
    let poison =
        RawMail::new(format!("From: a@acme.test\r\nSubject: crash\r\n\r\nboom {padding}\r\n").into_bytes(), now);
    // Two processes began it and died (their marks stay).
    for _ in 0..2 {
        crate::inbound::attempts::begin(&desk.db, &poison.bytes, now).await.unwrap();
    }
    let outcome = record_mail(&desk, &poison, now).await.unwrap();
    assert!(matches!(outcome, IntakeOutcome::HeldAside { .. }), "{outcome:?}");
    assert!(held_problems(&desk).await[0].contains("stopped 2 times"), "{:?}", held_problems(&desk).await);
    let notices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'unprocessable'")
        .fetch_one(&desk.db)
        .await
        .unwrap();
    assert_eq!(notices, 1, "the agent is told once");
    // One unfinished attempt is an ordinary crash: the mail is recorded normally.
    let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
    crate::inbound::attempts::begin(&desk.db, &poison.bytes, now).await.unwrap();
    assert!(matches!(record_mail(&desk, &poison, now).await.unwrap(), IntakeOutcome::NewTicket { .. }));
}

#[tokio::test]
async fn a_flood_from_one_sender_is_announced_up_to_the_limit_then_once() {
    let mut config = crate::testing::sample_config();
    config.intake.agent_notifications_per_sender_per_hour = 3;
    let desk = Desk::open(config).await.unwrap();
    let start = Utc::now();
    let mail_at = |index: i64, minutes: i64| {
        let text = format!("From: zap@acme.test\r\nSubject: Zap error {index}\r\nMessage-ID: <z{index}@acme.test>\r\n\r\nStep 3 failed.\r\n");
        RawMail::new(text.into_bytes(), start + Duration::minutes(minutes))
    };
    for index in 0..6 {
        let mail = mail_at(index, index);
        assert!(matches!(record_mail(&desk, &mail, mail.arrived_at).await.unwrap(), IntakeOutcome::NewTicket { .. }));
    }
    let kinds = || async {
        sqlx::query_as::<_, (String, i64)>("SELECT kind, COUNT(*) FROM outbox GROUP BY kind ORDER BY kind")
            .fetch_all(&desk.db)
            .await
            .unwrap()
    };
    assert_eq!(
        kinds().await,
        vec![("acknowledgement".into(), 5), ("agent_notification".into(), 3), ("flood_notice".into(), 1)],
        "3 announced, then one notice; acknowledgements have their own limit"
    );
    // Two hours later the sender is announced again.
    let later = mail_at(6, 130);
    record_mail(&desk, &later, later.arrived_at).await.unwrap();
    assert_eq!(kinds().await[1], ("agent_notification".into(), 4));
    assert_eq!(kinds().await[2], ("flood_notice".into(), 1));
}

/// Records one new mail from each of `senders`, a second apart, and counts the outbox by kind.
async fn outbox_after_mails_from(desk: &Desk, senders: &[String]) -> Vec<(String, i64)> {
    let start = Utc::now();
    for (index, sender) in senders.iter().enumerate() {
        let text = format!(
            "From: {sender}\r\nSubject: Sync failed {index}\r\nMessage-ID: <f{index}@flood.test>\r\n\r\nAgain.\r\n"
        );
        let mail = RawMail::new(text.into_bytes(), start + Duration::seconds(index as i64));
        let outcome = record_mail(desk, &mail, mail.arrived_at).await.unwrap();
        assert!(matches!(outcome, IntakeOutcome::NewTicket { .. }), "{sender}: {outcome:?}");
    }
    sqlx::query_as("SELECT kind, COUNT(*) FROM outbox GROUP BY kind ORDER BY kind").fetch_all(&desk.db).await.unwrap()
}

fn counts(acknowledgements: i64, notifications: i64, flood_notices: i64) -> Vec<(String, i64)> {
    vec![
        ("acknowledgement".into(), acknowledgements),
        ("agent_notification".into(), notifications),
        ("flood_notice".into(), flood_notices),
    ]
}

#[tokio::test]
async fn a_new_plus_tag_or_case_is_the_same_mailbox_for_both_brakes() {
    let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
    let senders: Vec<String> = (0..25)
        .map(|index| {
            if index % 2 == 0 {
                format!("client2+{index}@globex.test")
            } else {
                format!("Client2+{index}@Globex.TEST")
            }
        })
        .collect();
    let kinds = outbox_after_mails_from(&desk, &senders).await;
    assert_eq!(kinds, counts(5, 20, 1), "5 acknowledgements and 20 notifications per mailbox, then one notice");
    let notice: String =
        sqlx::query_scalar("SELECT subject FROM outbox WHERE kind = 'flood_notice'").fetch_one(&desk.db).await.unwrap();
    assert!(notice.contains("client2@globex.test"), "{notice}");
    let keys: Vec<(String, String)> = sqlx::query_as("SELECT DISTINCT requester_key, requester_domain FROM tickets")
        .fetch_all(&desk.db)
        .await
        .unwrap();
    assert_eq!(keys, vec![("client2@globex.test".to_string(), "globex.test".to_string())]);
    // Another mailbox of the domain is still below the domain's limits.
    let other = outbox_after_mails_from(&desk, &["ops+1@globex.test".to_string()]).await;
    assert_eq!(other, counts(6, 21, 1));
}

#[tokio::test]
async fn many_mailboxes_of_one_domain_share_the_domain_limits() {
    let mut config = crate::testing::sample_config();
    config.intake.acknowledgements_per_domain_per_hour = 4;
    config.intake.agent_notifications_per_domain_per_hour = 7;
    let desk = Desk::open(config).await.unwrap();
    let senders: Vec<String> = (0..12).map(|index| format!("a{index}@globex.test")).collect();
    let kinds = outbox_after_mails_from(&desk, &senders).await;
    assert_eq!(kinds, counts(4, 7, 1), "a1@, a2@ ... each new, the domain's limits hold");
    let notice: String =
        sqlx::query_scalar("SELECT subject FROM outbox WHERE kind = 'flood_notice'").fetch_one(&desk.db).await.unwrap();
    assert!(notice.contains("globex.test") && notice.contains('8'), "{notice}");
    // Another domain has its own counts.
    let other = outbox_after_mails_from(&desk, &["zap@acme.test".to_string()]).await;
    assert_eq!(other, counts(5, 8, 1));
}

/// Travis's reply to the desk's notification of `ticket`.
async fn agent_reply(desk: &Desk, ticket: TicketId, text: &str, now: DateTime<Utc>) -> IntakeOutcome {
    agent_reply_with_headers(desk, ticket, "", text, now).await
}

async fn agent_reply_with_headers(
    desk: &Desk,
    ticket: TicketId,
    headers: &str,
    text: &str,
    now: DateTime<Utc>,
) -> IntakeOutcome {
    let notification: String =
        sqlx::query_scalar("SELECT message_id FROM outbox WHERE kind = 'agent_notification' AND ticket_id = $1")
            .bind(ticket.0)
            .fetch_one(&desk.db)
            .await
            .unwrap();
    let reply = format!(
            "From: travis@example.test\r\nSubject: Re: ticket\r\nMessage-ID: <r{}.{}@example.test>\r\nIn-Reply-To: <{notification}>\r\n{headers}\r\n{text}\r\n",
            ticket.0,
            text.len()
        );
    record_mail(desk, &RawMail::new(reply.into_bytes(), now), now).await.unwrap()
}

async fn new_ticket(desk: &Desk, from: &str, subject: &str, now: DateTime<Utc>) -> TicketId {
    let id = subject.replace(' ', "-");
    let mail = format!("From: {from}\r\nSubject: {subject}\r\nMessage-ID: <{id}@x.test>\r\n\r\nPlease.\r\n");
    let IntakeOutcome::NewTicket { ticket, .. } =
        record_mail(desk, &RawMail::new(mail.into_bytes(), now), now).await.unwrap()
    else {
        panic!("a new ticket")
    };
    ticket
}

async fn outbox_text(desk: &Desk, kind: &str, ticket: TicketId) -> Vec<(String, String)> {
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT subject, raw FROM outbox WHERE kind = $1 AND ticket_id = $2 ORDER BY id")
            .bind(kind)
            .bind(ticket.0)
            .fetch_all(&desk.db)
            .await
            .unwrap();
    rows.into_iter().map(|(subject, raw)| (subject, crate::inbound::parse::parse_mail(&raw, 1 << 20).text)).collect()
}

#[tokio::test]
async fn a_reopened_ticket_gets_a_fresh_resolution_clock() {
    let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
    let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
    let ticket = new_ticket(&desk, "jane@acme.test", "Sync stopped", at("2026-11-02T15:00:00Z")).await;
    agent_reply(&desk, ticket, "Fixed.\nRESOLVED", at("2026-11-02T16:00:00Z")).await;
    let acknowledgement: String =
        sqlx::query_scalar("SELECT message_id FROM outbox WHERE kind = 'acknowledgement' AND ticket_id = $1")
            .bind(ticket.0)
            .fetch_one(&desk.db)
            .await
            .unwrap();
    let later = at("2026-11-09T15:00:00Z");
    let again = format!(
            "From: jane@acme.test\r\nSubject: Re: Sync stopped\r\nMessage-ID: <again@acme.test>\r\nIn-Reply-To: <{acknowledgement}>\r\n\r\nIt stopped again.\r\n"
        );
    record_mail(&desk, &RawMail::new(again.into_bytes(), later), later).await.unwrap();
    let (status, due): (String, String) = sqlx::query_as("SELECT status, resolution_due_at FROM tickets WHERE id = $1")
        .bind(ticket.0)
        .fetch_one(&desk.db)
        .await
        .unwrap();
    assert_eq!(status, "open");
    assert!(crate::storage::time_from_db(&due).unwrap() > later, "the clock runs from the reopening: {due}");
}

#[tokio::test]
async fn the_acknowledgement_fits_the_hour_and_the_request() {
    let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
    let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
    // Saturday 03:38 New York time, a problem from Initech (STARTER): looked at on Monday
    // morning, no update promised at night, the troubleshooting question.
    let night = new_ticket(&desk, "bill@initech.test", "Sync stopped", at("2026-12-05T08:38:00Z")).await;
    let text = &outbox_text(&desk, "acknowledgement", night).await[0].1;
    assert!(text.contains("I'll look into \"Sync stopped\" first thing Monday, December 7 at 9:00 AM EST"), "{text}");
    assert!(!text.contains("now."), "{text}");
    assert!(text.contains("update for you by Wednesday, December 9 at 9:00 AM EST"), "{text}");
    assert!(text.contains("when did this start"), "{text}");
    // A feature request in business hours: looked at now, asked what success looks like.
    let idea =
        new_ticket(&desk, "bill@initech.test", "Feature request: Slack alerts", at("2026-12-01T15:00:00Z")).await;
    let text = &outbox_text(&desk, "acknowledgement", idea).await[0].1;
    assert!(text.contains("looking into \"Feature request: Slack alerts\" now."), "{text}");
    assert!(text.contains("what would a good result look like for you"), "{text}");
    assert!(!text.contains("when did this start"), "{text}");
    // Before opening on a working day: "first thing today".
    let early = new_ticket(&desk, "bill@initech.test", "Export stuck", at("2026-12-01T13:45:00Z")).await;
    let text = &outbox_text(&desk, "acknowledgement", early).await[0].1;
    assert!(text.contains("I'll look into \"Export stuck\" first thing today at 9:00 AM EST"), "{text}");
}

#[tokio::test]
async fn the_reply_that_resolves_and_uses_the_hours_up_sends_the_resolved_email_first() {
    let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
    let now = Utc::now();
    let ticket = new_ticket(&desk, "jane@acme.test", "Sync down", now).await;
    agent_reply(&desk, ticket, "The sync runs again.\n#time 10h\nRESOLVED", now).await;
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT kind FROM outbox WHERE ticket_id = $1 AND kind IN ('resolved', 'hours_depleted') ORDER BY id",
    )
    .bind(ticket.0)
    .fetch_all(&desk.db)
    .await
    .unwrap();
    assert_eq!(kinds, vec!["resolved", "hours_depleted"], "SOP order");
    let depleted = &outbox_text(&desk, "hours_depleted", ticket).await[0].1;
    assert!(depleted.contains("For further requests this period, I have"), "{depleted}");
    assert!(!depleted.contains("Sync down"), "not about the request just resolved: {depleted}");
}

#[tokio::test]
async fn with_hours_used_up_the_agent_is_told_and_estimate_sends_the_depleted_email_before_the_work() {
    let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
    let now = Utc::now();
    let first = new_ticket(&desk, "jane@acme.test", "Sync down", now).await;
    assert!(!outbox_text(&desk, "agent_notification", first).await[0].1.contains("Hours:"));
    agent_reply(&desk, first, "Fixed the sync.\n#time 10h", now).await;
    assert_eq!(outbox_text(&desk, "hours_depleted", first).await.len(), 1, "Acme's 10 hours are used up");

    // The next request: the agent hears of it before he starts, and quotes his estimate.
    let second = new_ticket(&desk, "jane@acme.test", "New report", now).await;
    let notification = &outbox_text(&desk, "agent_notification", second).await[0].1;
    assert!(notification.contains("all 10 of Acme's hours") && notification.contains("#estimate 2h"), "{notification}");
    agent_reply(&desk, second, "#estimate 2h", now).await;
    let offers = outbox_text(&desk, "hours_depleted", second).await;
    assert_eq!(offers.len(), 1);
    assert!(offers[0].0.contains("Support Hours Depleted"), "{}", offers[0].0);
    assert!(
        offers[0].1.contains("For \"New report\"") && offers[0].1.contains("$150/hour (estimated 2 hours = $300)"),
        "{}",
        offers[0].1
    );
    assert!(offers[0].1.contains("\n\nWhich would you prefer?"), "a blank line before the question: {}", offers[0].1);
    assert!(outbox_text(&desk, "agent_reply", second).await.is_empty(), "an estimate alone relays nothing");

    // Time that uses the hours up and an estimate in one reply: one depleted email.
    let initech = new_ticket(&desk, "peter@initech.test", "CSV export", now).await;
    agent_reply(&desk, initech, "Started on it.\n#time 5h #estimate 1h #note", now).await;
    assert!(outbox_text(&desk, "hours_depleted", initech).await.is_empty(), "#estimate with #note is refused");
    agent_reply(&desk, initech, "Started on it.\n#time 5h #estimate 1h", now).await;
    let offers = outbox_text(&desk, "hours_depleted", initech).await;
    assert_eq!(offers.len(), 1, "the automatic email gives way to the estimate");
    assert!(offers[0].1.contains("(estimated 1 hour = $150)"), "{}", offers[0].1);

    // Globex has all its hours: nothing goes to the client, the agent is told why.
    let globex = new_ticket(&desk, "li@globex.test", "Question", now).await;
    agent_reply(&desk, globex, "Looking into it.\n#estimate 1h", now).await;
    assert!(outbox_text(&desk, "hours_depleted", globex).await.is_empty());
    let feedback = outbox_text(&desk, "agent_feedback", globex).await;
    assert!(feedback[0].1.contains("#estimate 1h: Globex has used 0 of 20 hours"), "{}", feedback[0].1);
    assert_eq!(outbox_text(&desk, "agent_reply", globex).await.len(), 1, "the rest of the reply still went out");
}

/// How the agent's mail clients quote the notification below his words (`{n}` is the
/// notification's text as it arrived, `{q}` the same behind `> `).
const QUOTING_STYLES: &[(&str, &str)] = &[
        ("Outlook for Windows", "{words}\n\n________________________________\nFrom: Support <support@example.test>\nSent: Monday, January 5, 2026 10:00 AM\nTo: Travis <travis@example.test>\nSubject: [#1] New ticket\n\n{n}"),
        ("Outlook for Mac", "{words}\n\nFrom: Support <support@example.test>\nDate: Monday, 5 January 2026 at 10:00\nTo: Travis <travis@example.test>\nSubject: [#1] New ticket\n\n{n}"),
        ("Outlook mobile", "{words}\n\nGet Outlook for iOS\nOn Mon, Jan 5, 2026 at 10:00 AM, \"Support\" <support@example.test> wrote:\n\n{n}"),
        ("Outlook mobile, no marker", "{words}\n\n{n}"),
        ("Apple Mail", "{words}\n\n> On 5 Jan 2026, at 10:00, Support <support@example.test> wrote:\n> \n{q}"),
        ("Gmail", "{words}\n\nOn Mon, Jan 5, 2026 at 10:00 AM Support <support@example.test> wrote:\n\n{q}"),
        ("Thunderbird", "{words}\n\nOn 1/5/26 10:00, Support wrote:\n{q}"),
        ("K-9 / FairEmail", "{words}\n\nOn January 5, 2026 10:00:00 AM UTC, Support <support@example.test> wrote:\n{q}"),
        ("Outlook HTML", "<html><body><div>{words}</div><hr><div id=\"divRplyFwdMsg\"><b>From:</b> Support &lt;support@example.test&gt;<br><b>Sent:</b> Monday</div><div>{n}</div></body></html>"),
        ("HTML, no marker", "<html><body><div>{words}</div><br><div>{n}</div></body></html>"),
    ];

fn html_lines(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\n', "<br>\n")
}

#[tokio::test]
async fn a_clients_tags_in_the_notification_never_run_whatever_the_agents_mail_client() {
    let hostile = "The sync fails.\r\n> earlier\r\nRESOLVED\r\n#time 9h\r\n#billable\r\n> more\r\n";
    for (style, template) in QUOTING_STYLES {
        for (words, minutes) in [("Looking into it now.", 0), ("Looking into it now.\n#time 30m", 30)] {
            let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
            let now = Utc::now();
            let mail = format!("From: jane@acme.test\r\nSubject: Sync\r\nMessage-ID: <h1@acme.test>\r\n\r\n{hostile}");
            let IntakeOutcome::NewTicket { ticket, .. } =
                record_mail(&desk, &RawMail::new(mail.into_bytes(), now), now).await.unwrap()
            else {
                panic!("a new ticket")
            };
            let notification = outbox_text(&desk, "agent_notification", ticket).await.remove(0).1;
            // The worst case: a client that lost the quote markers of the desk's text.
            let bare = notification.lines().map(|line| line.trim_start_matches("> ")).collect::<Vec<_>>().join("\n");
            let quoted = notification.lines().map(|line| format!("> {line}")).collect::<Vec<_>>().join("\n");
            if template.starts_with("<html>") {
                let html = template.replace("{words}", &html_lines(words)).replace("{n}", &html_lines(&bare));
                let headers = "Content-Type: text/html; charset=utf-8\r\n";
                agent_reply_with_headers(&desk, ticket, headers, &html, now).await;
            } else {
                let text = template.replace("{words}", words).replace("{n}", &bare).replace("{q}", &quoted);
                agent_reply(&desk, ticket, &text, now).await;
            }
            let logged: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(minutes), 0) AS BIGINT) FROM time_entries")
                .fetch_one(&desk.db)
                .await
                .unwrap();
            assert_eq!(logged, minutes, "{style}: only the agent's own #time counts");
            let billable: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM time_entries WHERE kind = 'billable'")
                .fetch_one(&desk.db)
                .await
                .unwrap();
            assert_eq!(billable, 0, "{style}");
            let status: String = sqlx::query_scalar("SELECT status FROM tickets WHERE id = $1")
                .bind(ticket.0)
                .fetch_one(&desk.db)
                .await
                .unwrap();
            assert_eq!(status, "open", "{style}: the client's RESOLVED closed nothing");
            let relayed = outbox_text(&desk, "agent_reply", ticket).await;
            assert_eq!(relayed.len(), 1, "{style}");
            assert!(relayed[0].1.contains("Looking into it now."), "{style}: {}", relayed[0].1);
            assert!(
                !relayed[0].1.contains("RESOLVED") && !relayed[0].1.contains("New ticket"),
                "{style}: the desk's text is not relayed: {}",
                relayed[0].1
            );
        }
    }
}

#[tokio::test]
async fn a_reply_to_a_client_whose_address_cannot_be_written_applies_and_tells_the_agent() {
    let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
    let now = Utc::now();
    // Accepted by mail servers (old Japanese carriers), refused by lettre in a header.
    let client = RawMail::new(
        b"From: taro..yamada@acme.test\r\nSubject: Sync down\r\nMessage-ID: <c1@acme.test>\r\n\r\nNo sync.\r\n"
            .to_vec(),
        now,
    );
    let IntakeOutcome::NewTicket { ticket, acknowledged: false } = record_mail(&desk, &client, now).await.unwrap()
    else {
        panic!("a ticket, unacknowledged")
    };
    // Travis answers the desk's notification (its Message-ID is signed for him).
    let outcome = agent_reply(&desk, ticket, "Restarted the sync.\n#time 30m", now).await;
    assert!(matches!(outcome, IntakeOutcome::AddedToTicket { .. }), "{outcome:?}");
    let minutes: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(minutes), 0) AS BIGINT) FROM time_entries")
        .fetch_one(&desk.db)
        .await
        .unwrap();
    assert_eq!(minutes, 30, "the reply's tags still apply");
    let queued: Vec<(String, String, Vec<u8>)> =
        sqlx::query_as("SELECT kind, subject, raw FROM outbox ORDER BY id").fetch_all(&desk.db).await.unwrap();
    assert!(queued.iter().all(|(kind, _, _)| kind != "agent_reply"), "nothing relayed");
    let feedback: Vec<_> = queued.iter().filter(|(kind, _, _)| kind == "agent_feedback").collect();
    assert_eq!(feedback.len(), 1);
    assert!(feedback[0].1.contains("Applied, except"), "{}", feedback[0].1);
    let text = crate::inbound::parse::parse_mail(&feedback[0].2, 1 << 20).text;
    assert!(text.contains("nothing was sent to the client") && text.contains("\"taro..yamada@acme.test\""), "{text}");
}

async fn held_id(desk: &Desk, sender: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM messages WHERE ticket_id IS NULL AND sender = $1")
        .bind(sender)
        .fetch_one(&desk.db)
        .await
        .unwrap()
}

async fn acknowledgements(desk: &Desk) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement'").fetch_one(&desk.db).await.unwrap()
}

#[tokio::test]
async fn held_mail_taken_in_by_the_agent_gets_its_ticket_once() {
    let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
    let now = Utc::now();
    // A client whose mail carries a list header, so the screening holds it as automated.
    let screened = RawMail::new(
            b"From: Dana <dana@acme.test>\r\nSubject: Zap stopped\r\nMessage-ID: <s1@acme.test>\r\nList-Unsubscribe: <mailto:x@acme.test>\r\nPrecedence: bulk\r\n\r\nThe Zap stopped.\r\n".to_vec(),
            now,
        );
    assert!(matches!(record_mail(&desk, &screened, now).await.unwrap(), IntakeOutcome::HeldAside { .. }));
    assert_eq!(acknowledgements(&desk).await, 0);
    let id = held_id(&desk, "dana@acme.test").await;
    let outcome = take_in_held_mail(&desk, id, now).await.unwrap();
    let IntakeOutcome::NewTicket { ticket, acknowledged: true } = outcome else { panic!("{outcome:?}") };
    assert_eq!(acknowledgements(&desk).await, 1);
    let opened: String = sqlx::query_scalar("SELECT opened_at FROM tickets WHERE id = $1")
        .bind(ticket.0)
        .fetch_one(&desk.db)
        .await
        .unwrap();
    assert_eq!(opened, crate::storage::time_to_db(now), "its clocks start when it is taken in");
    let client: Option<String> = sqlx::query_scalar("SELECT client FROM tickets WHERE id = $1")
        .bind(ticket.0)
        .fetch_one(&desk.db)
        .await
        .unwrap();
    assert_eq!(client.as_deref(), Some("Acme"));
    // Taken in once: the mail is on the ticket now, and arriving again is a duplicate.
    let again = take_in_held_mail(&desk, id, now).await.unwrap_err().to_string();
    assert!(again.contains("no message") || again.contains("already on ticket"), "{again}");
    assert!(matches!(record_mail(&desk, &screened, now).await.unwrap(), IntakeOutcome::Duplicate));
    assert_eq!(acknowledgements(&desk).await, 1);

    // Mail the desk failed on is processed again (as after an upgrade that fixed the bug).
    let poison = RawMail::new(b"X-Test-Panic: yes\r\nFrom: a@acme.test\r\nSubject: boom\r\n\r\nboom\r\n".to_vec(), now);
    record_mail(&desk, &poison, now).await.unwrap();
    let id = held_id(&desk, "(not read)").await;
    assert!(matches!(take_in_held_mail(&desk, id, now).await.unwrap(), IntakeOutcome::NewTicket { .. }));

    // Mail the desk failed on after fetching only its headers (it was oversized) is taken in
    // with its body still marked unread.
    let headers_only = RawMail {
        headers_only_of: Some(40_000_000),
        ..RawMail::new(b"X-Test-Panic: yes\r\nFrom: c@acme.test\r\nSubject: huge\r\n\r\n".to_vec(), now)
    };
    record_mail(&desk, &headers_only, now).await.unwrap();
    let id =
        sqlx::query_scalar("SELECT MAX(id) FROM messages WHERE ticket_id IS NULL").fetch_one(&desk.db).await.unwrap();
    let IntakeOutcome::NewTicket { ticket, .. } = take_in_held_mail(&desk, id, now).await.unwrap() else { panic!() };
    let (problem, body): (Option<String>, String) =
        sqlx::query_as("SELECT parse_problem, body_text FROM messages WHERE ticket_id = $1")
            .bind(ticket.0)
            .fetch_one(&desk.db)
            .await
            .unwrap();
    assert!(problem.unwrap().starts_with("40000000 bytes is over"), "still marked unread");
    assert!(body.contains("its body was not read"), "{body}");

    // Agent mail about no ticket is not the screening's doing: refused, still held.
    let agent = "travis@example.test";
    let note = format!("From: {agent}\r\nSubject: note to self\r\n\r\nremember\r\n");
    record_mail(&desk, &RawMail::new(note.into_bytes(), now), now).await.unwrap();
    let id = held_id(&desk, agent).await;
    let refused = take_in_held_mail(&desk, id, now).await.unwrap_err().to_string();
    assert!(refused.contains("only mail held as automated"), "{refused}");
    assert_eq!(held_id(&desk, agent).await, id);
    assert!(take_in_held_mail(&desk, 9999, now).await.unwrap_err().to_string().contains("no message 9999"));
}

#[tokio::test]
async fn a_signed_reply_to_the_daily_summary_takes_held_mail_in() {
    let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
    let now = Utc::now();
    let screened = b"From: Dana <dana@acme.test>\r\nSubject: Zap stopped\r\nMessage-ID: <s2@acme.test>\r\nAuto-Submitted: auto-generated\r\n\r\nThe Zap stopped.\r\n";
    record_mail(&desk, &RawMail::new(screened.to_vec(), now), now).await.unwrap();
    let id = held_id(&desk, "dana@acme.test").await;
    let agent = EmailAddress::parse("travis@example.test").unwrap();
    let summary_id = desk.agent_message_ids.signed_summary_id(&agent, "example.test", chrono::Utc::now());
    let reply = |message_id: &str, in_reply_to: &str, body: &str| {
        let text = format!(
                "From: travis@example.test\r\nSubject: Re: Daily summary\r\nMessage-ID: <{message_id}>\r\nIn-Reply-To: {in_reply_to}\r\n\r\n{body}\r\n\r\n> message {id} ... #take 77\r\n"
            );
        RawMail::new(text.into_bytes(), now)
    };
    let feedback = || async {
        sqlx::query_scalar::<_, Vec<u8>>("SELECT raw FROM outbox WHERE kind = 'held_taken_in' ORDER BY id")
            .fetch_all(&desk.db)
            .await
            .unwrap()
            .into_iter()
            .map(|raw| String::from_utf8_lossy(&raw).into_owned())
            .collect::<Vec<_>>()
    };

    // Forged: the right words, no signed reference. Nothing is taken in.
    let forged = reply("f1@evil.test", "<helpdesk.t0.aabc.0123456789abcdef0123@example.test>", &format!("#take {id}"));
    record_mail(&desk, &forged, now).await.unwrap();
    assert_eq!(held_id(&desk, "dana@acme.test").await, id, "still held");
    assert!(feedback().await.is_empty());

    let signed =
        reply("r1@example.test", &format!("<{}>", summary_id.as_str()), &format!("Yes, that one.\r\n#take {id}, 9999"));
    let outcome = record_mail(&desk, &signed, now).await.unwrap();
    let IntakeOutcome::HeldAside { reason } = outcome else { panic!("{outcome:?}") };
    assert!(reason.contains(&format!("message {id}: opened ticket #1")), "{reason}");
    assert!(reason.contains("message 9999: not taken in: there is no message 9999"), "{reason}");
    assert!(!reason.contains("77"), "quoted text takes nothing in: {reason}");
    assert_eq!(acknowledgements(&desk).await, 1);
    let notes = feedback().await;
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("opened ticket #1") && notes[0].contains("there is no message 9999"), "{}", notes[0]);
    // The same reply fetched again changes nothing.
    assert!(matches!(record_mail(&desk, &signed, now).await.unwrap(), IntakeOutcome::Duplicate));
    assert_eq!(acknowledgements(&desk).await, 1);
}
