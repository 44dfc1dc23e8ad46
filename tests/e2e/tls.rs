//! The desk over TLS, as it runs against a real provider: IMAP with implicit TLS and with
//! STARTTLS, SMTP with STARTTLS and with implicit TLS, against servers whose certificate is
//! signed by a private CA that `imap.ca_file` / `smtp.ca_file` make the desk trust. A server
//! the desk cannot verify gets nothing: no login, no mail.

use super::desk::{count, header, TestDesk, SUPPORT};
use super::lab::MailLab;

const JANE: &str = "jane@acme.test";

fn client_mail(subject: &str, message_id: &str) -> String {
    format!(
        "From: Jane Roe <{JANE}>\nTo: {SUPPORT}\nSubject: {subject}\nMessage-ID: <{message_id}>\n\
         Date: Mon, 30 Nov 2026 10:00:00 -0500\n\nThe CRM sync stopped.\n"
    )
}

/// `helpdesk run --once` with config overrides; returns whether it succeeded, and its log.
fn run_once_with(desk: &TestDesk, env: &[(&str, &str)]) -> (bool, String) {
    let output = desk.command(&["run", "--once"]).envs(env.iter().copied()).output().unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn over_tls_the_desk_trusts_its_configured_ca_and_talks_to_nothing_it_cannot_verify() {
    let lab = MailLab::start_with_tls();
    let tls = lab.tls.as_ref().unwrap();
    let (imaps, smtps) = (tls.imaps_port.to_string(), tls.smtps_port.to_string());
    let (ca, other_ca) = (tls.ca_file.to_str().unwrap(), tls.other_ca_file.to_str().unwrap());
    let desk = TestDesk::new(&lab);
    lab.send(JANE, SUPPORT, &client_mail("CRM sync stopped", "t1@acme.test")).await;
    lab.wait_for_support_mail(1).await;

    // IMAP over implicit TLS, trusting a CA that did not sign the server's certificate.
    let imap_tls = [("HELPDESK_IMAP__TLS", "tls"), ("HELPDESK_IMAP__PORT", imaps.as_str())];
    let (ok, log) = run_once_with(&desk, &[imap_tls[0], imap_tls[1], ("HELPDESK_IMAP__CA_FILE", other_ca)]);
    assert!(!ok, "an unverifiable IMAP server is an error:\n{log}");
    assert!(log.contains("certificate") && log.contains("imap.ca_file"), "the error says why and what to set:\n{log}");
    assert_eq!(desk.messages_json().len(), 0, "nothing read");
    let desk_logins = |log: &str| -> usize {
        log.lines().filter(|line| line.contains("Login: user=<support@") && line.contains(", TLS")).count()
    };
    let dovecot_log = std::fs::read_to_string(lab.dir.join("log/dovecot.log")).unwrap();
    assert_eq!(desk_logins(&dovecot_log), 0, "no login happened:\n{dovecot_log}");

    // The right CA for IMAP; SMTP over STARTTLS, trusting the wrong CA: the mail is read and
    // its acknowledgement queued, but nothing is handed to the unverified server.
    let smtp_starttls = ("HELPDESK_SMTP__TLS", "starttls");
    let (ok, log) = run_once_with(
        &desk,
        &[
            imap_tls[0],
            imap_tls[1],
            ("HELPDESK_IMAP__CA_FILE", ca),
            smtp_starttls,
            ("HELPDESK_SMTP__CA_FILE", other_ca),
        ],
    );
    assert!(ok, "{log}");
    assert_eq!(desk.tickets_json("all").len(), 1, "{log}");
    // The outbox: what was handed to the SMTP server, and why the rest was not.
    let db = desk.db().await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'").await, 0, "{log}");
    let errors: Vec<String> =
        sqlx::query_scalar("SELECT last_error FROM outbox WHERE last_error IS NOT NULL").fetch_all(&db).await.unwrap();
    let named = |error: &String| error.contains("certificate") && error.contains("smtp.ca_file");
    assert!(!errors.is_empty() && errors.iter().all(named), "{errors:?}\n{log}");
    // The acknowledgement is meant to stay queued, so no drain: Postfix's queue empty is enough
    // to know that nothing the desk might have handed over is still on its way.
    lab.wait_for_empty_queue().await;
    assert!(lab.mails_received_by(JANE).await.is_empty(), "nothing went out unverified");

    // The right CA for SMTP too: the queued mail goes out over STARTTLS (at the retry time).
    let later = (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339();
    let output = desk
        .command(&["--now", &later, "run", "--once"])
        .envs([imap_tls[0], imap_tls[1], ("HELPDESK_IMAP__CA_FILE", ca), smtp_starttls, ("HELPDESK_SMTP__CA_FILE", ca)])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    desk.drain(&lab).await;
    let acks = lab.mails_received_by(JANE).await;
    assert_eq!(acks.len(), 1);
    assert!(header(&acks[0], "Subject").unwrap().contains("[#1]"));

    // Another mail: IMAP over STARTTLS, SMTP over implicit TLS, first trusting the wrong CA.
    lab.send(JANE, SUPPORT, &client_mail("Forms broken too", "t2@acme.test")).await;
    lab.wait_for_support_mail(2).await;
    fn implicit_tls<'a>(imap_ca: &'a str, smtp_ca: &'a str, smtps: &'a str) -> [(&'static str, &'a str); 5] {
        [
            ("HELPDESK_IMAP__TLS", "starttls"),
            ("HELPDESK_IMAP__CA_FILE", imap_ca),
            ("HELPDESK_SMTP__TLS", "tls"),
            ("HELPDESK_SMTP__PORT", smtps),
            ("HELPDESK_SMTP__CA_FILE", smtp_ca),
        ]
    }
    let (ok, log) = run_once_with(&desk, &implicit_tls(ca, other_ca, &smtps));
    assert!(ok, "{log}");
    let error: String = sqlx::query_scalar("SELECT last_error FROM outbox WHERE status = 'pending' AND attempts > 0")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(error.contains("certificate") && error.contains("smtp.ca_file"), "{error}\n{log}");
    lab.wait_for_empty_queue().await;
    assert_eq!(lab.mails_received_by(JANE).await.len(), 1, "nothing went out unverified");
    let later = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
    let output = desk.command(&["--now", &later, "run", "--once"]).envs(implicit_tls(ca, ca, &smtps)).output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{log}");
    desk.drain(&lab).await;
    let acks = lab.mails_received_by(JANE).await;
    assert_eq!(acks.len(), 2, "{log}");

    // The servers saw the desk's encrypted sessions (the test's own checks log in and send in
    // plain text, and are not counted).
    let dovecot_log = std::fs::read_to_string(lab.dir.join("log/dovecot.log")).unwrap();
    let imap_tls_logins = desk_logins(&dovecot_log);
    let postfix_log = std::fs::read_to_string(lab.dir.join("log/postfix.log")).unwrap();
    let smtp_tls_sessions = postfix_log.matches("TLS connection established from").count();
    // Every one of the desk's four runs that reached the servers logged in over TLS (a
    // STARTTLS run that stayed in plain text would leave 3), and sent over TLS.
    assert_eq!(imap_tls_logins, 4, "{dovecot_log}");
    assert_eq!(smtp_tls_sessions, 4, "{postfix_log}");
    println!(
        "tls: IMAP over implicit TLS and STARTTLS ({imap_tls_logins} TLS logins by the desk), SMTP over STARTTLS and implicit TLS ({smtp_tls_sessions} TLS sessions); an unknown CA: 0 logins, 0 mails handed over"
    );
}
