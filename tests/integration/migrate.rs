//! `helpdesk migrate` from a SQLite desk to PostgreSQL, always on both backends (a SQLite file
//! in a temp dir, a fresh `helpdesk_t_*` database on the test server), whatever
//! `HELPDESK_TEST_DATABASE` says: a desk of a few hundred tickets of every kind reads the same
//! after the move (`tickets`, `hours`, `metrics`), the agent's answer to a notification sent
//! before it still authenticates, the next mail gets the next ticket number, and a second
//! migrate into the now full database, or to an unknown scheme, is refused.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use helpdesk::desk::Desk;
use helpdesk::intake::IntakeOutcome;
use helpdesk::storage;
use helpdesk::testing::{test_postgres_server, SampleDesk};

use crate::common::{at, deliver, open_desk, write_config};

const NOW: &str = "2026-11-28T15:00:00Z";
const TICKETS: usize = 300;

fn helpdesk(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .current_dir(dir)
        .arg("--config")
        .arg(dir.join("helpdesk.toml"))
        .args(args)
        .output()
        .unwrap()
}

fn succeeded(out: Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// What the desk shows: every ticket, this period's hours, November's metrics.
fn views(dir: &Path) -> [String; 3] {
    [
        succeeded(helpdesk(dir, &["--now", NOW, "tickets", "--status", "all", "--json"])),
        succeeded(helpdesk(dir, &["--now", NOW, "hours", "--json"])),
        succeeded(helpdesk(dir, &["--now", NOW, "metrics", "--period", "2026-11", "--json"])),
    ]
}

fn desk_on(url: &str) -> SampleDesk {
    SampleDesk::new().database(Some(url)).folders("maildir", "outbox")
}

/// The desk's mail to the agent about `ticket`: its signed Message-ID and reply address.
async fn notification(desk: &Desk, ticket: i64) -> (String, String) {
    let (message_id, raw): (String, Vec<u8>) = sqlx::query_as(
        "SELECT message_id, raw FROM outbox WHERE kind = 'agent_notification' AND ticket_id = $1 ORDER BY id",
    )
    .bind(ticket)
    .fetch_one(&desk.db)
    .await
    .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let reply_to = text.lines().find_map(|line| line.strip_prefix("Reply-To: ")).unwrap().to_string();
    (message_id, reply_to)
}

/// Travis answering the notification of `ticket`.
async fn agent_reply(desk: &Desk, ticket: i64, body: &str, arrived: &str, n: usize) -> IntakeOutcome {
    let (notification, reply_to) = notification(desk, ticket).await;
    let mail = format!(
        "From: Travis <travis@example.test>\r\nTo: {reply_to}\r\nSubject: Re: [#{ticket}]\r\n\
         Message-ID: <agent-{n}@example.test>\r\nIn-Reply-To: <{notification}>\r\n\r\n{body}\r\n"
    );
    deliver(desk, mail.into_bytes(), at(arrived)).await
}

const SENDERS: [&str; 5] =
    ["jane@acme.test", "ops@partner.test", "hans@globex.test", "peter@initech.test", "someone@gmail.test"];
const SUBJECTS: [&str; 6] = [
    "Production outage, nothing loads",
    "The dashboard is slow",
    "Typo on the invoice page",
    "Feature request: export to CSV",
    "Question about our account",
    "Urgent: leads not arriving",
];

/// Builds the SQLite desk: client mail of every tier and severity and from a stranger,
/// follow-ups, the agent's replies with time, resolutions and merges, automated and held
/// mail, proactive tickets, and satisfaction scores. Returns the number of mails delivered.
async fn build_history(desk: &Desk) -> usize {
    let mut mails = 0;
    let mut ticket_ids = Vec::new();
    for n in 0..TICKETS {
        let day = 1 + n / 12;
        let hour = (n % 12) * 2;
        let arrived = format!("2026-11-{day:02}T{hour:02}:05:00Z");
        let (sender, subject) = (SENDERS[n % SENDERS.len()], SUBJECTS[n % SUBJECTS.len()]);
        let mail = format!(
            "From: {sender}\r\nTo: support@example.test\r\nSubject: {subject} ({n})\r\nMessage-ID: <c{n}@client.test>\r\n\r\nPlease help with case {n}.\r\n"
        );
        mails += 1;
        match deliver(desk, mail.into_bytes(), at(&arrived)).await {
            IntakeOutcome::NewTicket { ticket, .. } => ticket_ids.push((n, ticket.0, sender, day, hour)),
            other => panic!("mail {n}: {other:?}"),
        }
        let later = |minutes: usize| format!("2026-11-{day:02}T{hour:02}:{:02}:00Z", 5 + minutes);
        if n % 3 == 0 {
            let follow_up = format!(
                "From: {sender}\r\nTo: support@example.test\r\nSubject: Re: {subject} ({n})\r\nMessage-ID: <f{n}@client.test>\r\nIn-Reply-To: <c{n}@client.test>\r\n\r\nAny news on case {n}?\r\n"
            );
            mails += 1;
            assert!(matches!(
                deliver(desk, follow_up.into_bytes(), at(&later(10))).await,
                IntakeOutcome::AddedToTicket { .. }
            ));
        }
        let ticket = ticket_ids.last().unwrap().1;
        let body = match n % 4 {
            0 => "We restarted the sync.\r\n#time 30m Restarted the sync\r\nRESOLVED".to_string(),
            1 => "Looking into it.\r\n#time 45m".to_string(),
            2 if n % 8 == 2 => "Fixed it.\r\n#time 1h30m\r\n#billable\r\nRESOLVED".to_string(),
            _ => String::new(),
        };
        if !body.is_empty() {
            mails += 1;
            let outcome = agent_reply(desk, ticket, &body, &later(30), n).await;
            assert!(matches!(outcome, IntakeOutcome::AddedToTicket { .. }), "reply {n}: {outcome:?}");
        }
        if n % 10 == 7 {
            let bounce = format!(
                "From: MAILER-DAEMON@acme.test\r\nTo: support@example.test\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b{n}@acme.test>\r\nAuto-Submitted: auto-replied\r\n\r\nThe mail could not be delivered.\r\n"
            );
            mails += 1;
            assert!(matches!(
                deliver(desk, bounce.into_bytes(), at(&later(40))).await,
                IntakeOutcome::HeldAside { .. }
            ));
        }
        if n % 25 == 11 {
            let heads_up = format!(
                "From: Travis <travis@example.test>\r\nTo: jane@acme.test\r\nCc: support@example.test\r\nSubject: Heads up: maintenance {n}\r\nMessage-ID: <p{n}@example.test>\r\n\r\nWe patch the servers tonight.\r\n"
            );
            mails += 1;
            assert!(matches!(
                deliver(desk, heads_up.into_bytes(), at(&later(50))).await,
                IntakeOutcome::NewTicket { .. }
            ));
        }
    }
    // Scores on resolved tickets, and merges into a later ticket (a link to a row copied after).
    for &(n, ticket, sender, day, _) in ticket_ids.iter().filter(|(n, ..)| n % 20 == 0) {
        let thanks = format!(
            "From: {sender}\r\nTo: support@example.test\r\nSubject: Re: [#{ticket}]\r\nMessage-ID: <s{n}@client.test>\r\nIn-Reply-To: <c{n}@client.test>\r\n\r\nThanks! 9\r\n"
        );
        mails += 1;
        deliver(desk, thanks.into_bytes(), at(&format!("2026-11-{day:02}T23:50:00Z"))).await;
    }
    // Tickets n = 5 (mod 20) are open, and so are n + 2, which are merged into nothing.
    for &(n, ticket, ..) in ticket_ids.iter().filter(|(n, ..)| n % 20 == 5) {
        let into = ticket_ids.iter().find(|(m, ..)| *m == n + 2).unwrap().1;
        mails += 1;
        let outcome = agent_reply(desk, ticket, &format!("#merge {into}"), "2026-11-27T12:00:00Z", 1000 + n).await;
        assert!(matches!(outcome, IntakeOutcome::AddedToTicket { .. }), "merge {n}: {outcome:?}");
    }
    mails
}

async fn count(db: &storage::Db, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

#[tokio::test]
async fn migrate_moves_a_whole_sqlite_desk_to_postgres_and_it_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let sqlite = desk_on("sqlite://desk.db");
    write_config(dir, &sqlite);
    let desk = open_desk(dir, &sqlite).await;
    let mails = build_history(&desk).await;
    desk.db.close().await;
    for (client, time) in [("Acme", "45m"), ("Initech", "2h"), ("Globex", "1h30m")] {
        succeeded(helpdesk(dir, &["--now", NOW, "time", "add", client, time, "Monthly health check"]));
    }
    let before = views(dir);
    let desk = open_desk(dir, &sqlite).await;
    let (tickets, merged, messages, held, proactive) = (
        count(&desk.db, "SELECT COUNT(*) FROM tickets").await,
        count(&desk.db, "SELECT COUNT(*) FROM tickets WHERE merged_into > id").await,
        count(&desk.db, "SELECT COUNT(*) FROM messages").await,
        count(&desk.db, "SELECT COUNT(*) FROM messages WHERE ticket_id IS NULL").await,
        count(&desk.db, "SELECT COUNT(*) FROM tickets WHERE origin = 'proactive'").await,
    );
    assert!(tickets > 300 && merged >= 14 && held >= 25 && proactive >= 10, "{tickets} {merged} {held} {proactive}");
    for table in ["outbox", "time_entries", "message_refs", "satisfaction_scores", "settings"] {
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&desk.db)
            .await
            .unwrap();
        assert!(rows > 0, "the history has {table} rows");
    }
    // A notification sent before the move, to an open ticket, that the agent answers after it.
    let open_ticket: i64 = sqlx::query_scalar(
        "SELECT MAX(t.id) FROM tickets t JOIN outbox o ON o.ticket_id = t.id AND o.kind = 'agent_notification'
         WHERE t.status = 'open' AND t.merged_into IS NULL AND t.origin = 'client'",
    )
    .fetch_one(&desk.db)
    .await
    .unwrap();
    let (notification, reply_to) = notification(&desk, open_ticket).await;
    desk.db.close().await;

    let postgres =
        format!("{}/helpdesk_t_{}", test_postgres_server().trim_end_matches('/'), uuid::Uuid::new_v4().simple());
    // No config file: migrate names both databases itself.
    let migrate = |to: &str| {
        Command::new(env!("CARGO_BIN_EXE_helpdesk"))
            .current_dir(dir)
            .args(["--config", "/nonexistent/helpdesk.toml", "migrate", "--from", "sqlite://desk.db", "--to", to])
            .output()
            .unwrap()
    };
    let started = Instant::now();
    let printed = succeeded(migrate(&postgres));
    let took = started.elapsed();
    let summary = printed.lines().last().unwrap();
    assert!(summary.starts_with("Copied ") && summary.contains("every table's count matches"), "{printed}");
    assert!(printed
        .lines()
        .any(|line| line.split_whitespace().collect::<Vec<_>>() == ["tickets", &tickets.to_string()]));
    assert!(printed
        .lines()
        .any(|line| line.split_whitespace().collect::<Vec<_>>() == ["messages", &messages.to_string()]));
    eprintln!("migrated {tickets} tickets, {messages} messages ({mails} mails delivered) in {took:?}: {summary}");

    let on_postgres = desk_on(&postgres);
    write_config(dir, &on_postgres);
    let after = views(dir);
    let names = ["tickets --json", "hours --json", "metrics --json"];
    for ((name, before), after) in names.iter().zip(&before).zip(&after) {
        assert_eq!(before, after, "{name} differs after the move");
    }
    let listed: serde_json::Value = serde_json::from_str(&after[0]).unwrap();
    assert_eq!(listed.as_array().unwrap().len() as i64, tickets);

    // Into a database that has data now: refused, nothing changed; a scheme it does not know: refused.
    let again = migrate(&postgres);
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && said.contains("already has data") && said.contains("tickets"), "{said}");
    assert_eq!(views(dir), after, "the refused migrate changed nothing");
    let unknown = migrate("mysql://root@127.0.0.1/helpdesk");
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success() && said.contains("give a sqlite:// or postgres:// URL"), "{said}");

    // The agent's reply to the notification sent before the move authenticates: his time is
    // logged and the ticket resolved.
    let desk = open_desk(dir, &on_postgres).await;
    let reply = format!(
        "From: Travis <travis@example.test>\r\nTo: {reply_to}\r\nSubject: Re: [#{open_ticket}]\r\n\
         Message-ID: <after-the-move@example.test>\r\nIn-Reply-To: <{notification}>\r\n\r\nAll done.\r\n#time 2h After the move\r\nRESOLVED\r\n"
    );
    let outcome = deliver(&desk, reply.into_bytes(), at("2026-11-28T16:00:00Z")).await;
    assert!(matches!(outcome, IntakeOutcome::AddedToTicket { ticket } if ticket.0 == open_ticket), "{outcome:?}");
    let (status, author): (String, String) = sqlx::query_as(
        "SELECT t.status, m.author_kind FROM tickets t JOIN messages m ON m.ticket_id = t.id
         WHERE t.id = $1 AND m.message_id = 'after-the-move@example.test'",
    )
    .bind(open_ticket)
    .fetch_one(&desk.db)
    .await
    .unwrap();
    assert_eq!((status.as_str(), author.as_str()), ("closed", "agent"));
    let logged: Vec<String> =
        sqlx::query_scalar("SELECT task FROM time_entries WHERE ticket_id = $1 AND minutes = 120")
            .bind(open_ticket)
            .fetch_all(&desk.db)
            .await
            .unwrap();
    assert_eq!(logged, ["After the move"]);

    // The identities go on past the copied ids: the next mail is the next ticket.
    let max_id = count(&desk.db, "SELECT MAX(id) FROM tickets").await;
    let mail = "From: jane@acme.test\r\nTo: support@example.test\r\nSubject: New after the move\r\nMessage-ID: <new@acme.test>\r\n\r\nHello.\r\n";
    let outcome = deliver(&desk, mail, at("2026-11-28T17:00:00Z")).await;
    assert!(
        matches!(outcome, IntakeOutcome::NewTicket { ticket, acknowledged: true } if ticket.0 == max_id + 1),
        "{outcome:?}"
    );

    // And back (the library's step): PostgreSQL into a new SQLite file, every row.
    let back = storage::open(&format!("sqlite://{}/back.db", dir.display()), std::time::Duration::from_secs(5), false)
        .await
        .unwrap();
    let report = storage::migrate::copy_desk(&desk.db, &back).await.unwrap();
    assert_eq!(report.tables.iter().find(|table| table.table == "tickets").unwrap().rows, tickets + 1);
    assert_eq!(count(&back, "SELECT COUNT(*) FROM messages").await, messages + 2);
    desk.db.close().await;
    drop_database(&postgres).await;
}

/// Drops the test's PostgreSQL database (`scripts/drop-test-databases` does it otherwise).
async fn drop_database(url: &str) {
    use sqlx::Connection;
    let name = url.rsplit_once('/').unwrap().1;
    if let Ok(mut admin) = sqlx::PgConnection::connect(&test_postgres_server()).await {
        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await;
    }
}
