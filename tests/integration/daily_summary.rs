//! The daily summary rendered from a fixture history, compared with a reviewed expected file
//! (`tests/data/daily_summary/expected.txt`). After an intended change, regenerate it with
//! `UPDATE_EXPECTED=1 cargo test --test integration daily_summary` and review the diff.

use std::path::Path;

use chrono::NaiveDate;
use helpdesk::desk::Desk;

use crate::common::{self, at, crlf, open_desk, sample_desk};

async fn deliver(desk: &Desk, raw: &str, arrived: &str) {
    common::deliver(desk, crlf(raw), at(arrived)).await;
}

#[tokio::test]
async fn the_summary_of_a_fixture_history_matches_the_reviewed_file() {
    let dir = tempfile::tempdir().unwrap();
    // Acme's contract renews within the summary's horizon.
    let config =
        sample_desk(dir.path()).client("Acme", |acme| acme.contract = Some(("2026-01-15".into(), "annual".into())));
    let desk = open_desk(dir.path(), &config).await;
    deliver(&desk, "From: Jane <jane@acme.test>\nSubject: HubSpot integration completely failed\nMessage-ID: <1@acme.test>\n\nNothing syncs.\n", "2026-12-01T14:00:00Z").await;
    deliver(&desk, "From: Li <li@globex.test>\nSubject: Weekly report formatting is off\nMessage-ID: <2@globex.test>\n\nColumns shifted.\n", "2026-12-01T15:00:00Z").await;
    deliver(&desk, "From: Peter <peter@initech.test>\nSubject: Feature request: CSV export\nMessage-ID: <3@initech.test>\n\nWould be nice.\n", "2026-12-01T16:00:00Z").await;
    deliver(
        &desk,
        "From: Sam <sam@example.org>\nSubject: Do you build chatbots?\nMessage-ID: <4@example.org>\n\nHi\n",
        "2026-12-01T17:00:00Z",
    )
    .await;
    // Held without a ticket: a bounce (counted only), and a client's mail that a tool marked
    // as automatic (listed for a look).
    deliver(&desk, "From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail Returned to Sender\nMessage-ID: <6@mx.example.net>\n\nNo such user.\n", "2026-12-01T17:10:00Z").await;
    deliver(&desk, "From: Li <li@globex.test>\nSubject: Nightly export failed\nAuto-Submitted: auto-generated\nMessage-ID: <7@globex.test>\n\nExport job 42 failed.\n", "2026-12-01T17:20:00Z").await;
    // A forged agent mail on ticket 1.
    deliver(&desk, "From: travis@example.test\nSubject: Re: HubSpot\nMessage-ID: <5@evil.test>\nIn-Reply-To: <1@acme.test>\n\nRESOLVED\n", "2026-12-01T18:00:00Z").await;
    // Time on Acme from the CLI's path: 8 hours of the 10.
    let mut conn = desk.db.acquire().await.unwrap();
    sqlx::query("INSERT INTO time_entries (ticket_id, client, work_date, minutes_written, minutes, kind, task, created_at) VALUES (1, 'Acme', '2026-12-01', 480, 480, 'included', 'Rebuilt the sync', '2026-12-01T19:00:00.000Z')")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);

    let now = at("2026-12-02T13:00:00Z");
    let summary = helpdesk::reports::daily::build_summary(
        &desk,
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(),
        at("2026-12-01T12:00:00Z"),
        now,
    )
    .await
    .unwrap();
    let rendered = format!("Subject: {}\n\n{}", summary.subject, summary.text);
    let expected_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/daily_summary/expected.txt");
    if std::env::var("UPDATE_EXPECTED").as_deref() == Ok("1") {
        std::fs::write(&expected_path, &rendered).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).expect("the reviewed expected file exists");
    assert_eq!(rendered, expected, "the summary changed; if intended, regenerate and review (see the file header)");
    assert!(summary.html.contains("&ldquo;Do you build chatbots?&rdquo;"));
    assert!(summary.html.contains("&ldquo;#take 6&rdquo;"), "{}", summary.html);
}
