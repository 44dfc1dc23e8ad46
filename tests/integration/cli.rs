//! The command line without mail servers: a config with a Maildir source and a folder for
//! outgoing mail, as the demo uses.

use std::process::Command;

use helpdesk::testing::SampleDesk;

fn helpdesk(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .arg("--config")
        .arg(dir.join("helpdesk.toml"))
        .args(args)
        .output()
        .unwrap()
}

/// The sample desk with Initech alone, whose reports and hour-bank mail go to Peter.
fn initech_desk() -> SampleDesk {
    SampleDesk::new()
        .database(Some(&helpdesk::testing::test_database_url("sqlite://helpdesk.db")))
        .folders("maildir", "outbox")
        .only_clients(&["Initech"])
        .client("Initech", |initech| initech.report_to = Some(("peter@initech.test".into(), "Peter Gibbons".into())))
}

fn write_config(dir: &std::path::Path, config: &str) {
    std::fs::write(dir.join("helpdesk.toml"), config).unwrap();
}

#[test]
fn time_without_a_ticket_counts_against_the_bank_and_crosses_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &initech_desk().toml());
    let now = "2026-11-20T15:00:00Z";
    let out = helpdesk(dir.path(), &["--now", now, "time", "add", "Initech", "3h50m", "Monthly health check"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("Logged entry 1: 4h (included) for Initech"), "{printed}");
    assert!(
        printed
            .contains("Queued hours_update to peter@initech.test,travis@example.test: Initech - Support Hours Update"),
        "time add says which client mail it queued: {printed}"
    );

    let out = helpdesk(dir.path(), &["--now", now, "clients", "--json"]);
    let clients: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(clients[0]["available_minutes"], 300, "STARTER: 5 hours");
    assert_eq!(clients[0]["used_minutes"], 240);
    assert_eq!(clients[0]["remaining_minutes"], 60);

    // 4h of 5h is 80%: the 75% email is queued for the report address; `run --once` sends it.
    let out = helpdesk(dir.path(), &["--now", now, "run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sent: Vec<String> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|mail| !mail.contains("Subject: Daily summary"))
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("Subject: Initech - Support Hours Update"));
    assert!(sent[0].contains("To: \"Peter Gibbons\" <peter@initech.test>"));

    let out = helpdesk(dir.path(), &["--now", now, "hours", "--period", "2026-11"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Monthly health check") && text.contains("remaining 1h"), "{text}");

    // A mistaken entry: listed with its id, corrected, then removed; the email stays sent.
    let out = helpdesk(dir.path(), &["--now", now, "time", "add", "Initech", "30m", "Mistake"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = helpdesk(dir.path(), &["--now", now, "time", "list", "--client", "Initech", "--json"]);
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tasks: Vec<(i64, &str, i64)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_i64().unwrap(), e["task"].as_str().unwrap(), e["minutes"].as_i64().unwrap()))
        .collect();
    assert_eq!(tasks, vec![(1, "Monthly health check", 240), (2, "Mistake", 30)]);
    let out = helpdesk(dir.path(), &["--now", now, "time", "edit", "2", "--minutes", "15m", "--task", "Call"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("is:  2026-11-20 Initech 0.25h (included)"));
    let out = helpdesk(dir.path(), &["--now", now, "time", "remove", "2"]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("Removed entry 2") && printed.contains("the 75% hour-bank email"), "{printed}");
    let out = helpdesk(dir.path(), &["--now", now, "clients", "--json"]);
    let clients: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(clients[0]["used_minutes"], 240, "the mistake counts for nothing");
    let out = helpdesk(dir.path(), &["time", "remove", "2"]);
    assert!(!out.status.success(), "an entry is removed once");
}

#[test]
fn check_reports_every_problem_with_its_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = initech_desk().toml();
    let broken = config.replace("tier = \"starter\"", "tier = \"gold\"").replace("America/New_York", "Nowhere/City")
        + "\n[imap]\nhost = \"x\"\n";
    std::fs::write(dir.path().join("helpdesk.toml"), broken).unwrap();
    let out = helpdesk(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    for key in ["clients[0].tier", "agent.timezone", "imap"] {
        assert!(text.contains(key), "{key} missing:\n{text}");
    }
    write_config(dir.path(), &initech_desk().toml());
    let out = helpdesk(dir.path(), &["check"]);
    assert!(out.status.success());

    // Mistakes a person makes: two clients that differ only in case, the agent listed as a
    // client's contact, two clients claiming one domain (problems); "@domain" (a warning).
    let mistakes = config.replace("domains = [\"initech.test\"]", "domains = [\"@initech.test\"]")
        + "[[clients]]\nname = \"initech\"\ntier = \"growth\"\ndomains = [\"initech.test\"]\ncontacts = [\"travis@example.test\"]\n";
    std::fs::write(dir.path().join("helpdesk.toml"), mistakes).unwrap();
    let out = helpdesk(dir.path(), &["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    for expected in [
        "client initech and client Initech differ only in case",
        "travis@example.test is the agent's own address",
        "initech.test already belongs to client Initech",
    ] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
    let only_at = config.replace("domains = [\"initech.test\"]", "domains = [\"@initech.test\"]");
    std::fs::write(dir.path().join("helpdesk.toml"), only_at).unwrap();
    let out = helpdesk(dir.path(), &["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("warning: clients[0].domains[0]: \"@initech.test\" is read as \"initech.test\""), "{text}");
}

#[test]
fn held_mail_is_listed_shown_raw_and_taken_in_as_a_ticket() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &initech_desk().toml());
    let new = dir.path().join("maildir/new");
    std::fs::create_dir_all(&new).unwrap();
    // Peter's real question, sent by a tool that marks its mail as automatic.
    let mail = "From: Peter Gibbons <peter@initech.test>\r\nTo: support@example.test\r\nSubject: TPS export failed\r\n\
                Message-ID: <tps-1@initech.test>\r\nAuto-Submitted: auto-generated\r\n\r\nThe TPS export failed at 9am.\r\n";
    std::fs::write(new.join("1.tps"), mail).unwrap();
    let now = "2026-11-20T15:00:00Z";
    let run_once = || {
        let out = helpdesk(dir.path(), &["--now", now, "run", "--once"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    run_once();

    let out = helpdesk(dir.path(), &["--now", now, "held", "--json"]);
    let held: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(held.as_array().unwrap().len(), 1, "{held}");
    assert_eq!(held[0]["sender"], "peter@initech.test");
    assert!(held[0]["automated_reason"].as_str().unwrap().contains("Auto-Submitted"), "{held}");
    let id = held[0]["id"].to_string();
    let table = String::from_utf8_lossy(&helpdesk(dir.path(), &["--now", now, "held"]).stdout).to_string();
    assert!(table.contains("TPS export failed") && table.contains("automated"), "{table}");

    let out = helpdesk(dir.path(), &["held", "show", &id, "--raw"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), mail, "the original, byte for byte");
    // Its arrival in the agent's time, as every other command shows times ("Fri Nov 20,
    // 10:00 AM EST"), not the stored RFC 3339 UTC.
    let shown = String::from_utf8_lossy(&helpdesk(dir.path(), &["held", "show", &id]).stdout).to_string();
    let first = shown.lines().next().unwrap_or_default();
    let arrival =
        regex::Regex::new(r"^Message \d+ from peter@initech\.test at \w{3} \w{3} \d{1,2}, \d{1,2}:\d{2} [AP]M \w+$");
    assert!(arrival.unwrap().is_match(first), "{shown}");

    let out = helpdesk(dir.path(), &["--now", now, "held", "open", &id]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("opened ticket #1"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = helpdesk(dir.path(), &["--now", now, "held", "open", &id]);
    assert_eq!(out.status.code(), Some(1), "a second take-in is refused");
    run_once();
    let acknowledgements: Vec<String> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|mail| mail.contains("To: \"Peter Gibbons\" <peter@initech.test>") && mail.contains("[#1]"))
        .collect();
    assert_eq!(acknowledgements.len(), 1, "{acknowledgements:?}");
    let out = helpdesk(dir.path(), &["--now", now, "held", "--json"]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(), serde_json::json!([]));
}

#[test]
fn reports_fit_the_tier_and_html_is_only_the_document() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &initech_desk().toml());
    let now = "2026-11-20T15:00:00Z";
    // Initech is STARTER: quarterly reports, no weekly call.
    let weekly = helpdesk(dir.path(), &["--now", now, "report", "weekly", "--client", "Initech"]);
    assert!(weekly.status.success());
    let warned = String::from_utf8_lossy(&weekly.stderr);
    assert!(warned.contains("Initech is a STARTER client: its reports are quarterly, not weekly"), "{warned}");
    assert!(!String::from_utf8_lossy(&weekly.stdout).contains("See you on our weekly call!"));
    let sent = helpdesk(dir.path(), &["--now", now, "report", "weekly", "--client", "Initech", "--send"]);
    assert!(!sent.status.success(), "a kind the tier does not get is never sent");
    assert!(String::from_utf8_lossy(&sent.stderr).contains("nothing sent"));
    let html = helpdesk(dir.path(), &["--now", now, "report", "quarterly", "--client", "Initech", "--html"]);
    let document = String::from_utf8_lossy(&html.stdout);
    assert!(document.trim_start().to_ascii_lowercase().starts_with("<!doctype html>"), "{document}");
    let quarterly = helpdesk(dir.path(), &["--now", now, "report", "quarterly", "--client", "Initech"]);
    let text = String::from_utf8_lossy(&quarterly.stdout);
    assert!(
        text.contains(" left.\n\nLet me know if you have questions!\n\n- Travis"),
        "a blank line before the closing: {text}"
    );
    let daily = helpdesk(dir.path(), &["--now", now, "report", "daily", "--html"]);
    assert!(String::from_utf8_lossy(&daily.stdout).trim_start().to_ascii_lowercase().starts_with("<!doctype html>"));

    // Metrics count the hour bank in hours, not minutes.
    let metrics = helpdesk(dir.path(), &["--now", now, "metrics"]);
    let text = String::from_utf8_lossy(&metrics.stdout);
    assert!(text.contains("5h of bank"), "{text}");
}

#[test]
fn a_signal_brings_its_draft_once_then_a_one_line_reminder() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        initech_desk().client("Initech", |initech| initech.contract = Some(("2026-01-10".into(), "annual".into())));
    write_config(dir.path(), &config.toml());
    // Started the evening before, then two mornings (07:30 New York is 12:30 UTC).
    for now in ["2026-11-19T23:00:00Z", "2026-11-20T13:00:00Z", "2026-11-21T13:00:00Z"] {
        let out = helpdesk(dir.path(), &["--now", now, "run", "--once"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut summaries: Vec<String> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|mail| mail.contains("Subject: Daily summary"))
        .collect();
    assert_eq!(summaries.len(), 2, "one a morning, none for the day before the desk started");
    summaries.sort_by_key(|mail| mail.contains("Subject: Daily summary Sat Nov 21"));
    let text = |raw: &String| {
        let message = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        message.body_text(0).unwrap().into_owned()
    };
    let (first, second) = (&text(&summaries[0]), &text(&summaries[1]));
    assert!(first.contains("Draft to forward") && first.contains("Hey Peter,"), "{first}");
    assert!(first.contains("Renewal Coming Up"), "{first}");
    assert!(!second.contains("Renewal Coming Up"), "the draft once: {second}");
    assert!(second.contains("still open; the draft was in the summary of 2026-11-20"), "{second}");
}
