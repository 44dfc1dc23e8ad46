//! Restart safety: the desk killed (SIGKILL) in the middle of a batch loses nothing and
//! does nothing twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::desk::TestDesk;
use super::lab::MailLab;

const MAILS: usize = 200;

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_batch_and_restarted_every_mail_is_on_one_ticket_with_one_acknowledgement() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    for i in 0..MAILS {
        let eml = format!(
            "From: client{i}@acme.test\nTo: support@example.test\nSubject: Problem number {i}\nMessage-ID: <p{i}@acme.test>\n\nDetails of problem {i}.\n"
        );
        lab.send(&format!("client{i}@acme.test"), "support@example.test", &eml).await;
    }
    lab.wait_for_support_mail(MAILS).await;

    // First run: killed once some tickets exist, while the batch is still going.
    let mut child = desk
        .command(&["run", "--once"])
        .stderr(std::fs::File::create(desk.dir.path().join("first.log")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let db = loop {
        if desk.dir.path().join("helpdesk.db").exists() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            break desk.db().await;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the desk exited ({status}) before opening its database:\n{}", desk.log("first.log"));
        }
        assert!(Instant::now() < deadline, "the desk never opened its database: {}", desk.log("first.log"));
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let killed_at = loop {
        let tickets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets").fetch_one(&db).await.unwrap_or(0);
        if tickets >= 40 {
            child.kill().unwrap();
            child.wait().unwrap();
            break tickets;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the desk finished ({status}) before it could be killed; log:\n{}", desk.log("first.log"));
        }
        assert!(Instant::now() < deadline, "no progress: {}", desk.log("first.log"));
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!((killed_at as usize) < MAILS, "killed mid-batch");

    // Second run finishes the job.
    desk.run_once();

    let per_message: Vec<(String, i64)> =
        sqlx::query_as("SELECT message_id, COUNT(*) FROM messages WHERE ticket_id IS NOT NULL GROUP BY message_id")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(per_message.len(), MAILS, "every mail is on a ticket");
    assert!(per_message.iter().all(|(_, count)| *count == 1), "no mail recorded twice");
    let tickets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets").fetch_one(&db).await.unwrap();
    assert_eq!(tickets as usize, MAILS);
    let acks_per_ticket: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT t.id, (SELECT COUNT(*) FROM outbox o WHERE o.ticket_id = t.id AND o.kind = 'acknowledgement') FROM tickets t",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(acks_per_ticket.iter().all(|(_, count)| *count == 1), "one queued acknowledgement per ticket");
    let unsent: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status != 'sent'").fetch_one(&db).await.unwrap();
    assert_eq!(unsent, 0);

    // And what the clients actually received, read over IMAP.
    let mut received: HashMap<usize, usize> = HashMap::new();
    for i in 0..MAILS {
        received.insert(i, lab.wait_for_mails(&format!("client{i}@acme.test"), 1).await.len());
    }
    let missing: Vec<_> = received.iter().filter(|(_, n)| **n == 0).map(|(i, _)| *i).collect();
    let doubled: Vec<_> = received.iter().filter(|(_, n)| **n > 1).map(|(i, _)| *i).collect();
    println!("restart: killed after {killed_at} tickets; missing acknowledgements {missing:?}, duplicates {doubled:?}");
    assert!(missing.is_empty(), "clients without an acknowledgement: {missing:?}");
    assert!(doubled.is_empty(), "clients with two acknowledgements: {doubled:?}");
}
