//! Runs the `helpdesk` binary the way a user does: a config file in a temp dir pointing at the
//! lab, a fresh database of the backend under test (`HELPDESK_TEST_DATABASE`: a SQLite file in
//! the desk's dir, or a PostgreSQL database of its own), and the CLI's own commands.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::Datelike;
use serde_json::Value;

use helpdesk::storage::Db;
use helpdesk::testing::{test_database_url, Delivery, SampleDesk, Source};

use super::lab::{MailLab, PASSWORD};

pub const AGENT: &str = "travis@example.test";
pub const SUPPORT: &str = "support@example.test";
/// The token key every test desk's environment holds (`HELPDESK_OAUTH2_KEY`).
pub const TOKEN_KEY: &str = "test-token-key-0123456789abcdefghijklmnop";
/// The OAuth2 client secret of the tests' token server, in `TEST_OAUTH2_CLIENT_SECRET`.
pub const CLIENT_SECRET: &str = "client-secret-of-the-test-app";

pub struct TestDesk {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// The desk's database, as the config gives it (a SQLite URL made absolute).
    pub database_url: String,
}

/// The line every test config starts its `[database]` with; `TestDesk::write` puts the
/// backend under test in its place.
const SQLITE_URL_LINE: &str = "url = \"sqlite://helpdesk.db\"";

/// The sample desk (`helpdesk::testing::SampleDesk`) as these tests run it: Globex's reports
/// go to Li Chen, and Globex's due times are in the agent's timezone.
pub fn sample_desk() -> SampleDesk {
    SampleDesk::new().client("Globex", |globex| {
        globex.timezone = None;
        globex.report_to = Some(("li@globex.test".into(), "Li Chen".into()));
    })
}

impl TestDesk {
    pub fn new(lab: &MailLab) -> TestDesk {
        TestDesk::with_sample(lab, sample_desk())
    }

    /// A desk that also sends the daily summary and prepares client reports on schedule (both
    /// off in the other tests, so that they can count the agent's mail on any day); its tests
    /// run with a fixed `--now`.
    pub fn with_daily_summary(lab: &MailLab) -> TestDesk {
        TestDesk::with_extra_config(lab, "[summary]\nenabled = true\ntime = \"07:30\"\n[reports]\nscheduled = true\n")
    }

    /// The sample desk with `extra` (whole sections) added.
    pub fn with_extra_config(lab: &MailLab, extra: &str) -> TestDesk {
        TestDesk::with_sample(lab, sample_desk().section(extra))
    }

    /// `desk` reading support@example.test on the lab and sending through the lab's Postfix.
    pub fn with_sample(lab: &MailLab, desk: SampleDesk) -> TestDesk {
        TestDesk::write(on_the_lab(lab, desk).toml())
    }

    /// The sample desk sending with OAuth2 as support@, and reading with it too when
    /// `imap_too` (else with the lab's password); `oauth2` is the body of its `[oauth2]`.
    pub fn with_oauth2(lab: &MailLab, oauth2: &str, imap_too: bool) -> TestDesk {
        let password = "password_env = \"TEST_DESK_IMAP_PASSWORD\"";
        let imap_auth = if imap_too { "auth = \"oauth2\"" } else { password };
        let imap = imap_keys(lab, SUPPORT).replace(password, imap_auth);
        let smtp = format!("{}\nauth = \"oauth2\"\nusername = {SUPPORT:?}", smtp_keys(lab));
        let desk = on_the_lab(lab, sample_desk())
            .source(Source::Imap(imap))
            .delivery(Delivery::Smtp(smtp))
            .section(&format!("[oauth2]\n{oauth2}\n"));
        TestDesk::write(desk.toml())
    }

    /// A desk other than the sample one: it reads `mailbox` on the lab and sends as `from`
    /// (its agent, clients and any other sections in `rest`).
    pub fn with_mailbox(lab: &MailLab, mailbox: &str, from: &str, rest: &str) -> TestDesk {
        TestDesk::write(format!(
            "[database]\nurl = \"sqlite://helpdesk.db\"\n\n[imap]\n{}\n\n[smtp]\n{}\nfrom = {from:?}\n{rest}",
            imap_keys(lab, mailbox),
            smtp_keys(lab)
        ))
    }

    /// Writes `config` into a fresh temp dir, with the daily summary and scheduled client
    /// reports off unless it has `[summary]` or `[reports]`: the tests run on the real
    /// calendar, and on a Monday or the first week of a month the agent would otherwise get
    /// report drafts no test expects.
    fn write(config: String) -> TestDesk {
        TestDesk::write_on(config, None)
    }

    /// `desk` as `with_sample` makes it, on the database `database_url` whatever the backend
    /// under test (a PostgreSQL database for what only PostgreSQL offers).
    pub fn with_sample_on(lab: &MailLab, desk: SampleDesk, database_url: &str) -> TestDesk {
        TestDesk::write_on(on_the_lab(lab, desk).toml(), Some(database_url.to_string()))
    }

    fn write_on(config: String, database_url: Option<String>) -> TestDesk {
        let summary = if config.contains("[summary]") { "" } else { "[summary]\nenabled = false\n" };
        let reports = if config.contains("[reports]") { "" } else { "[reports]\nscheduled = false\n" };
        let dir = tempfile::tempdir().unwrap();
        let database_url = database_url
            .unwrap_or_else(|| test_database_url(&format!("sqlite://{}", dir.path().join("helpdesk.db").display())));
        let config = config.replace(SQLITE_URL_LINE, &format!("url = {database_url:?}"));
        let config_path = dir.path().join("helpdesk.toml");
        std::fs::write(&config_path, format!("{summary}{reports}{config}")).unwrap();
        TestDesk { dir, config_path, database_url }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_helpdesk"));
        command
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .env("TEST_DESK_IMAP_PASSWORD", PASSWORD)
            .env("HELPDESK_OAUTH2_KEY", TOKEN_KEY)
            .env("TEST_OAUTH2_CLIENT_SECRET", CLIENT_SECRET)
            .env("RUST_LOG", "helpdesk=debug,warn");
        command
    }

    pub fn helpdesk(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().unwrap();
        assert!(
            output.status.success(),
            "helpdesk {args:?} failed: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// `helpdesk run --once`: everything waiting is processed and everything queued sent.
    /// Returns its log.
    pub fn run_once(&self) -> String {
        self.run_once_with_env(&[])
    }

    /// `run_once` with settings from the environment (`HELPDESK_SECTION__KEY`); it must succeed.
    pub fn run_once_with_env(&self, env: &[(&str, &str)]) -> String {
        let output = self.command(&["run", "--once"]).envs(env.iter().copied()).output().unwrap();
        let log = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "helpdesk run --once with {env:?} failed: {}\n{log}", output.status);
        log
    }

    /// `helpdesk run` in the background, logging to a file in the desk's dir.
    pub fn spawn_run_with_env(&self, log_name: &str, env: &[(&str, &str)]) -> Child {
        let log = std::fs::File::create(self.dir.path().join(log_name)).unwrap();
        let mut command = self.command(&["run"]);
        command.envs(env.iter().copied());
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn().unwrap()
    }

    pub fn log(&self, log_name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(log_name)).unwrap_or_default()
    }

    /// Waits until the log `log_name` contains `text`.
    pub async fn wait_for_log(&self, log_name: &str, text: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.log(log_name).contains(text) {
            assert!(Instant::now() < deadline, "the log never said {text:?}:\n{}", self.log(log_name));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM to a `run` started with `spawn_run_with_env`; it must exit cleanly.
    pub fn stop(&self, mut child: Child, log_name: &str) {
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "the desk exits cleanly on SIGTERM: {status}\n{}", self.log(log_name));
    }

    pub fn tickets_json(&self, status: &str) -> Vec<Value> {
        let output = self.helpdesk(&["tickets", "--status", status, "--json"]);
        serde_json::from_slice(&output.stdout).unwrap()
    }

    pub fn ticket_json(&self, id: i64) -> Value {
        let output = self.helpdesk(&["ticket", "show", &id.to_string(), "--json"]);
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Every mail kept without a ticket, of any age (`held --json` over 100 years).
    pub fn held_json(&self) -> Vec<Value> {
        let output = self.helpdesk(&["held", "--days", "36500", "--json"]);
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Every mail the desk recorded, as the CLI shows it, with its ticket: each ticket's
    /// `message_list` (`ticket show ID --json`), then every held mail (ticket `None`); by id.
    pub fn messages_json(&self) -> Vec<(Option<i64>, Value)> {
        let mut messages = Vec::new();
        for ticket in self.tickets_json("all") {
            let id = ticket["id"].as_i64().unwrap();
            let shown = self.ticket_json(id);
            messages.extend(shown["message_list"].as_array().unwrap().iter().map(|m| (Some(id), m.clone())));
        }
        messages.extend(self.held_json().into_iter().map(|m| (None, m)));
        messages.sort_by_key(|(_, m)| m["id"].as_i64().unwrap());
        messages
    }

    /// The time entries worked this month or last, on the agent's calendar (`time list --json`
    /// for both): every entry a test on the real calendar can have logged.
    pub fn time_entries_json(&self) -> Vec<Value> {
        let today = chrono::Utc::now().with_timezone(&chrono_tz::America::New_York).date_naive();
        let last_month = today.with_day(1).unwrap() - chrono::Duration::days(1);
        let mut entries = Vec::new();
        for month in [last_month, today] {
            let period = month.format("%Y-%m").to_string();
            let output = self.helpdesk(&["time", "list", "--period", &period, "--json"]);
            entries.extend(serde_json::from_slice::<Vec<Value>>(&output.stdout).unwrap());
        }
        entries
    }

    /// The database itself, for what no command shows (the outbox, the IMAP cursor, scores).
    pub async fn db(&self) -> Db {
        connect(&self.database_url).await
    }

    /// Whether the desk has created its database yet (the file, or the PostgreSQL database).
    pub async fn database_exists(&self) -> bool {
        if !self.database_url.starts_with("postgres") {
            return self.dir.path().join("helpdesk.db").exists();
        }
        sqlx::any::install_default_drivers();
        let server = format!("{}/postgres", helpdesk::testing::test_postgres_server());
        let name = self.database_url.rsplit('/').next().unwrap().to_string();
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&server).await.unwrap();
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_optional(&mut admin)
            .await
            .unwrap();
        found.is_some()
    }

    /// Drain, then count: fails unless the outbox holds no row that was not handed to the SMTP
    /// server (pending or failed), then waits until Postfix's queue is empty. After it, every
    /// mailbox holds everything the desk will ever send it for what has run so far, so a count
    /// of it (above all a count of 0) is final.
    pub async fn drain(&self, lab: &MailLab) {
        let unsent: Vec<(i64, String, String, String)> = sqlx::query_as(
            "SELECT id, kind, status, COALESCE(last_error, '') FROM outbox WHERE status != 'sent' ORDER BY id",
        )
        .fetch_all(&self.db().await)
        .await
        .unwrap_or_else(|err| panic!("reading the unsent outbox rows: {err}"));
        assert!(unsent.is_empty(), "the outbox did not drain; unsent (id, kind, status, error): {unsent:?}");
        lab.wait_for_empty_queue().await;
    }
}

/// The `[imap]` keys of a desk reading `mailbox` on the lab.
fn imap_keys(lab: &MailLab, mailbox: &str) -> String {
    format!(
        "host = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = {mailbox:?}\npassword_env = \"TEST_DESK_IMAP_PASSWORD\"\nmailbox = \"INBOX\"\npoll_interval_secs = 30",
        lab.imap_port
    )
}

/// The `[smtp]` keys (all but `from`) of a desk sending through the lab's Postfix.
/// `desk` reading support@example.test on the lab and sending through the lab's Postfix, its
/// `[database]` line the one `TestDesk::write_on` replaces with the database of the test.
fn on_the_lab(lab: &MailLab, desk: SampleDesk) -> SampleDesk {
    desk.database(Some("sqlite://helpdesk.db"))
        .source(Source::Imap(imap_keys(lab, SUPPORT)))
        .delivery(Delivery::Smtp(smtp_keys(lab)))
        .from(&format!("Support <{SUPPORT}>"))
}

/// A pool on `url`, for reading what the desk wrote.
pub async fn connect(url: &str) -> Db {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.unwrap()
}

fn smtp_keys(lab: &MailLab) -> String {
    format!("host = \"127.0.0.1\"\nport = {}\ntls = \"none\"", lab.smtp_port)
}

/// The single number `sql` selects, for facts no command shows (the outbox, the IMAP cursor,
/// scores) or reads while a desk runs; the rest goes through `tickets_json` and its kin. A
/// query that fails fails the test: a broken probe must never read as "0 duplicates" or
/// "nothing unsent".
pub async fn count(db: &Db, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap_or_else(|err| panic!("{sql}: {err}"))
}

/// `count`, but 0 while the desk has not yet created its tables (a database file that a
/// desk killed at start left empty); any other failure fails the test.
pub async fn count_once_migrated(db: &Db, sql: &'static str) -> i64 {
    match sqlx::query_scalar(sql).fetch_one(db).await {
        Ok(n) => n,
        // SQLite's and PostgreSQL's words for a table not made yet.
        Err(err) if err.to_string().contains("no such table") || err.to_string().contains("does not exist") => 0,
        Err(err) => panic!("{sql}: {err}"),
    }
}

/// Polls `sql` until it gives at least `expected` or `secs` pass; returns the last count.
/// Raw SQL on purpose: it polls while `run` works (and the outbox, which no command shows).
pub async fn wait_for_count(db: &Db, sql: &'static str, expected: i64, secs: u64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let n = count_once_migrated(db, sql).await;
        if n >= expected || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every recorded mail is on exactly one row, and every ticket has exactly one acknowledgement.
/// Raw SQL: one query over every ticket's messages and the outbox, which no command shows.
pub async fn assert_exactly_once(db: &Db, mails: i64) {
    let per_message: Vec<(String, i64)> =
        sqlx::query_as("SELECT message_id, COUNT(*) FROM messages WHERE ticket_id IS NOT NULL GROUP BY message_id")
            .fetch_all(db)
            .await
            .unwrap();
    assert_eq!(per_message.len() as i64, mails, "every mail is on a ticket");
    assert!(per_message.iter().all(|(_, n)| *n == 1), "no mail recorded twice: {per_message:?}");
    let doubled = count(
        db,
        "SELECT COUNT(*) FROM tickets t WHERE (SELECT COUNT(*) FROM outbox o WHERE o.ticket_id = t.id AND o.kind = 'acknowledgement') != 1",
    )
    .await;
    assert_eq!(doubled, 0, "one acknowledgement per ticket");
}

/// A header's value in a raw mail (first occurrence, unfolded).
pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let message = mail_parser::MessageParser::default().parse(raw)?;
    message.header_raw(name).map(|value| value.split_whitespace().collect::<Vec<_>>().join(" "))
}

pub fn body(raw: &[u8]) -> String {
    let message = mail_parser::MessageParser::default().parse(raw).unwrap();
    message.body_text(0).map(|text| text.into_owned()).unwrap_or_default()
}
