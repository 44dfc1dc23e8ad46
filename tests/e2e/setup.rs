//! Setting the desk up: `check --connect` logs in to the real servers and says what failed;
//! commands that never connect run without the mailbox password.

use super::desk::TestDesk;
use super::lab::MailLab;

fn printed(output: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test(flavor = "multi_thread")]
async fn check_connect_logs_in_to_both_servers_and_names_the_one_that_refused() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let good = desk.command(&["check", "--connect"]).output().unwrap();
    let text = printed(&good);
    assert!(good.status.success(), "{text}");
    assert!(text.contains("IMAP 127.0.0.1") && text.contains("selected INBOX (UIDVALIDITY"), "{text}");
    assert!(text.contains("greeted, no login configured, no mail sent"), "{text}");

    let wrong = desk.command(&["check", "--connect"]).env("TEST_DESK_IMAP_PASSWORD", "wrong").output().unwrap();
    let text = printed(&wrong);
    assert_eq!(wrong.status.code(), Some(1), "{text}");
    assert!(text.contains("IMAP 127.0.0.1") && text.contains("FAILED") && text.contains("login"), "{text}");
    assert!(!text.contains("wrong"), "the password is never printed: {text}");
    // Without --connect the same config is only read: it says OK without a login.
    let offline = desk.command(&["check"]).env("TEST_DESK_IMAP_PASSWORD", "wrong").output().unwrap();
    assert!(offline.status.success() && !printed(&offline).contains("IMAP 127"), "{}", printed(&offline));
    lab.stop_postfix();
    let down = desk.command(&["check", "--connect"]).output().unwrap();
    let text = printed(&down);
    assert_eq!(down.status.code(), Some(1), "{text}");
    assert!(text.contains("SMTP: FAILED"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_that_do_not_connect_run_without_the_password_and_run_asks_for_it() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    for args in [&["tickets"][..], &["hours"], &["metrics"], &["clients"], &["time", "list"]] {
        let output = desk.command(args).env_remove("TEST_DESK_IMAP_PASSWORD").output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", printed(&output));
    }
    let run = desk.command(&["run", "--once"]).env_remove("TEST_DESK_IMAP_PASSWORD").output().unwrap();
    let text = printed(&run);
    assert!(!run.status.success(), "{text}");
    assert!(text.contains("TEST_DESK_IMAP_PASSWORD is not set"), "{text}");
}
