//! Threading against dovecot/imaptest's THREAD=REFERENCES cases (MIT, see
//! tests/data/imaptest_threading/COPYING). Each mbox is fed through the real intake in order;
//! mails in one expected top-level thread must share a ticket, different threads must not.
//!
//! Where the desk differs from RFC 5256 on purpose, the case states the desk's own rule:
//! it never threads by subject alone (a client's unrelated mail with the same subject is a new
//! ticket), a mail that replies to a stored mail always joins that mail's ticket (reference
//! loops do not split it), and the same bytes delivered twice are one mail.
//!
//! One more case is the desk's own: a reply whose In-Reply-To and References CPython's `email`
//! package folded into RFC 2047 encoded words (its output, written inline).

use std::collections::HashMap;
use std::path::Path;

use chrono::{TimeZone, Utc};
use helpdesk::config::Config;
use helpdesk::desk::Desk;
use helpdesk::inbound::RawMail;
use helpdesk::intake::record_mail;

fn mbox_messages(name: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/imaptest_threading").join(name);
    let text = std::fs::read_to_string(path).unwrap();
    let mut messages: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("From ") {
            messages.push(String::new());
        } else if let Some(current) = messages.last_mut() {
            current.push_str(line);
            current.push_str("\r\n");
        }
    }
    // The blank line before each "From " separator belongs to the mbox, not the message.
    messages.into_iter().map(|message| format!("{}\r\n", message.trim_end())).collect()
}

async fn desk(dir: &Path) -> Desk {
    let config = format!(
        r#"[database]
url = {:?}
[maildir]
path = "unused"
[outbox_dir]
path = "unused"
from = "Support <support@example.test>"
[agent]
name = "Travis"
addresses = ["travis@example.test"]
[[clients]]
name = "Domain"
tier = "growth"
domains = ["domain.test"]
"#,
        helpdesk::testing::test_database_url(&format!("sqlite://{}/t.db", dir.display()))
    );
    Desk::open(Config::from_toml(&config, &HashMap::new(), dir).unwrap()).await.unwrap()
}

/// Feeds the first `count` mails of `mbox` and returns the ticket of each recorded mail, in
/// order (None for a mail recorded without a ticket, absent for a duplicate).
async fn tickets_for(mbox: &str, count: usize) -> Vec<Option<i64>> {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path()).await;
    let arrived = Utc.with_ymd_and_hms(2026, 11, 30, 15, 0, 0).unwrap();
    for message in mbox_messages(mbox).into_iter().take(count) {
        let raw = format!("From: user@domain.test\r\n{message}");
        record_mail(&desk, &RawMail::new(raw.into_bytes(), arrived), arrived).await.unwrap();
    }
    // Intake catches its own failures and keeps such mail aside: none may have happened here.
    let failed: Vec<String> = sqlx::query_scalar("SELECT parse_problem FROM messages WHERE parse_problem LIKE $1")
        .bind(format!("{}%", helpdesk::tickets::store::UNPROCESSABLE_PROBLEM))
        .fetch_all(&desk.db)
        .await
        .unwrap();
    assert!(failed.is_empty(), "{mbox}: intake failed on {failed:?}");
    sqlx::query_scalar("SELECT ticket_id FROM messages ORDER BY id").fetch_all(&desk.db).await.unwrap()
}

/// `groups` lists, per expected thread, the 1-based positions of its mails.
async fn check(mbox: &str, count: usize, groups: &[&[usize]]) {
    let tickets = tickets_for(mbox, count).await;
    let ticket_of =
        |position: usize| tickets[position - 1].unwrap_or_else(|| panic!("{mbox}: mail {position} has no ticket"));
    for group in groups {
        for position in group.iter() {
            assert_eq!(
                ticket_of(*position),
                ticket_of(group[0]),
                "{mbox}: mails {group:?} should share a ticket ({tickets:?})"
            );
        }
    }
    for (i, first) in groups.iter().enumerate() {
        for second in &groups[i + 1..] {
            assert_ne!(
                ticket_of(first[0]),
                ticket_of(second[0]),
                "{mbox}: {first:?} and {second:?} must not share ({tickets:?})"
            );
        }
    }
}

#[tokio::test]
async fn references_cases_that_apply_to_a_helpdesk() {
    // * THREAD (1 (2 4)(3)) before any expunge.
    check("thread5.mbox", 4, &[&[1, 2, 3, 4]]).await;
    // * thread (1 (2 3)(4)): a reused Message-ID with other content joins too.
    check("thread7.mbox", 4, &[&[1, 2, 3, 4]]).await;
    // * thread (1 2) before any expunge.
    check("thread8.mbox", 2, &[&[1, 2]]).await;
}

#[tokio::test]
async fn two_different_replies_to_one_unseen_mail_share_a_ticket() {
    // thread6's point (((1)(2)): siblings under a missing parent), with two distinct mails.
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path()).await;
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 15, 0, 0).unwrap();
    for (id, text) in [("r1@domain.test", "first"), ("r2@domain.test", "second")] {
        let raw = format!("From: user@domain.test\r\nMessage-ID: <{id}>\r\nReferences: <a@b>\r\n\r\n{text}\r\n");
        record_mail(&desk, &RawMail::new(raw.into_bytes(), now), now).await.unwrap();
    }
    let tickets: Vec<Option<i64>> =
        sqlx::query_scalar("SELECT ticket_id FROM messages ORDER BY id").fetch_all(&desk.db).await.unwrap();
    assert_eq!(tickets.len(), 2);
    assert!(tickets[0].is_some() && tickets[0] == tickets[1], "{tickets:?}");
}

#[tokio::test]
async fn where_the_desk_differs_from_rfc_5256_on_purpose() {
    // RFC 5256 breaks the reference loop into (3 2)(1); for the desk, mail 2 replies to the
    // stored mail 1 and joins its ticket.
    check("thread.mbox", 3, &[&[1, 2, 3]]).await;
    // RFC 5256 merges by subject ("foo" / "Re: foo"); the desk does not thread by subject.
    check("thread3.mbox", 2, &[&[1], &[2]]).await;
    check("thread4.mbox", 2, &[&[1], &[2]]).await;
    // Byte-identical mails are one mail delivered twice: the second is not recorded again.
    // (thread6's two mails have no Message-ID and the same bytes: the same holds.)
    assert_eq!(tickets_for("thread2.mbox", 2).await.len(), 1);
    assert_eq!(tickets_for("thread6.mbox", 2).await.len(), 1);
}

#[tokio::test]
async fn a_reply_whose_threading_headers_python_folded_into_encoded_words_joins_its_ticket() {
    // Python's `email` package (CPython 3.11, policy.SMTP) writes an In-Reply-To or References
    // longer than a line as RFC 2047 words (python/cpython#79986); these two headers are its
    // output for an Outlook-length Message-ID.
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path()).await;
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 15, 0, 0).unwrap();
    let first = "From: user@domain.test\r\nSubject: printer offline\r\n\
                 Message-ID: <DM6PR11MB41230F9C2A1B3D4E5F60718293A4B5C6D7E8F@DM6PR11MB4123.namprd11.prod.outlook.com>\r\n\
                 \r\nThe printer is offline.\r\n";
    let reply = "From: user@domain.test\r\nSubject: Re: printer offline\r\nMessage-ID: <reply-2@domain.test>\r\n\
                 In-Reply-To: =?utf-8?q?=3CDM6PR11MB41230F9C2A1B3D4E5F60718293A4B5C6D7E8F=40D?=\r\n \
                 =?utf-8?q?M6PR11MB4123=2Enamprd11=2Eprod=2Eoutlook=2Ecom=3E?=\r\n\
                 References: =?utf-8?q?=3CDM6PR11MB41230F9C2A1B3D4E5F60718293A4B5C6D7E8F=40DM?=\r\n \
                 =?utf-8?q?6PR11MB4123=2Enamprd11=2Eprod=2Eoutlook=2Ecom=3E?=\r\n\
                 Content-Type: text/plain; charset=\"utf-8\"\r\n\r\nStill offline after the restart.\r\n";
    for raw in [first, reply] {
        record_mail(&desk, &RawMail::new(raw.as_bytes().to_vec(), now), now).await.unwrap();
    }
    let tickets: Vec<Option<i64>> =
        sqlx::query_scalar("SELECT ticket_id FROM messages ORDER BY id").fetch_all(&desk.db).await.unwrap();
    assert_eq!(tickets.len(), 2);
    assert!(tickets[0].is_some() && tickets[0] == tickets[1], "{tickets:?}");
}
