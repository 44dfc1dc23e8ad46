//! OAuth2 mailboxes end to end: the real `helpdesk` binary signs in against the tests' token
//! server on loopback (`token_server`), then reads and sends through the lab's Dovecot and
//! Postfix with SASL XOAUTH2, their logs showing the mechanism. Access tokens live seconds, so
//! the desk must refresh; the server rotates refresh tokens and revokes them on demand.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::desk::{count, wait_for_count, TestDesk, CLIENT_SECRET, SUPPORT};
use super::lab::MailLab;
use super::token_server::{TokenServer, TokenServerSettings};

const CLIENT_ID: &str = "helpdesk-test-app";

/// A lab with OAuth2 on, its token server, and a desk on both.
struct OAuthLab {
    lab: MailLab,
    server: TokenServer,
    desk: TestDesk,
}

async fn oauth_lab(access_lifetime: Duration) -> OAuthLab {
    oauth_lab_on(access_lifetime, true).await
}

/// `oauth_lab`, with IMAP on OAuth2 too (`imap_too`) or on the lab's password.
async fn oauth_lab_on(access_lifetime: Duration, imap_too: bool) -> OAuthLab {
    let lab = MailLab::start_with_oauth2();
    let key = lab.oauth2.as_ref().expect("an OAuth2 lab").key.clone();
    let server = TokenServer::start(TokenServerSettings {
        key,
        account: SUPPORT.into(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(CLIENT_SECRET.into()),
        access_lifetime,
    })
    .await;
    let redirect_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let section = format!(
        "provider = \"generic\"\nclient_id = {CLIENT_ID:?}\nclient_secret_env = \"TEST_OAUTH2_CLIENT_SECRET\"\n\
         auth_url = {:?}\ntoken_url = {:?}\ndevice_auth_url = {:?}\nscopes = [\"mail\", \"offline_access\"]\n\
         redirect_port = {redirect_port}",
        server.url("/authorize"),
        server.url("/token"),
        server.url("/device"),
    );
    let desk = TestDesk::with_oauth2(&lab, &section, imap_too);
    OAuthLab { lab, server, desk }
}

/// `helpdesk auth login` running, its standard output read line by line.
struct Login {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Login {
    fn start(desk: &TestDesk, args: &[&str]) -> Login {
        let mut child =
            desk.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Login { child, stdin, lines, seen: Vec::new() }
    }

    /// The first printed line that `wanted` picks, within 30 s.
    fn line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.seen.iter().find(|line| wanted(line)) {
            return line.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("auth login never printed the line wanted; it printed: {:#?}", self.seen),
            }
        }
    }

    fn authorization_url(&mut self) -> String {
        self.line(|line| line.starts_with("http://")).trim().to_string()
    }

    fn paste(&mut self, text: &str) {
        writeln!(self.stdin, "{text}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for the process; its exit code, everything it printed on stdout, and its log.
    fn finish(self) -> (Option<i32>, String, String) {
        let Login { mut child, stdin, lines, mut seen } = self;
        // Open, as a terminal would be: the process must exit on its own once signed in.
        let status = wait_with_deadline(&mut child, Duration::from_secs(60));
        drop(stdin);
        seen.extend(lines.try_iter());
        let mut log = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
        (status, seen.join("\n"), log)
    }
}

/// The exit code of `child` within `limit`; a process still running then is killed and the
/// test fails with what it printed.
fn wait_with_deadline(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("auth login did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP GET over a fresh connection: the status, the Location header, the body.
async fn get(url: &str) -> (u16, Option<String>, String) {
    let url = url::Url::parse(url).unwrap();
    let address = (url.host_str().unwrap().to_string(), url.port().unwrap());
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    let request = format!("GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", url.host_str().unwrap());
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let location = head
        .lines()
        .find_map(|line| line.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("location")))
        .map(|(_, value)| value.trim().to_string());
    (status, location, body.to_string())
}

/// Plays the person at the browser: opens the authorization URL at the token server, which
/// approves at once; the address the browser is sent back to.
async fn approve(authorization_url: &str) -> String {
    let (status, location, body) = get(authorization_url).await;
    assert_eq!(status, 302, "the token server approves: {body}");
    location.expect("a redirect back to the desk")
}

/// Signs the desk in by pasting the redirected address, as on a server without a browser.
async fn sign_in(setup: &OAuthLab) {
    let mut login = Login::start(&setup.desk, &["auth", "login"]);
    let redirected = approve(&login.authorization_url()).await;
    login.paste(&redirected);
    let (code, printed, log) = login.finish();
    assert_eq!(code, Some(0), "{printed}\n{log}");
}

fn client_mail(subject: &str) -> String {
    format!(
        "From: Dana <dana@acme.test>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nMessage-ID: <{}@acme.test>\r\n\r\nThe sync stopped this morning.\r\n",
        uuid::Uuid::new_v4()
    )
}

async fn acknowledgements(desk: &TestDesk) -> i64 {
    count(&desk.db().await, "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement' AND status = 'sent'").await
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_login_through_the_loopback_redirect_stores_a_sealed_grant_and_reads_and_sends_with_xoauth2() {
    let setup = oauth_lab(Duration::from_secs(600)).await;
    let mut login = Login::start(&setup.desk, &["auth", "login"]);
    let url = login.authorization_url();
    let redirected = approve(&url).await;
    let query = setup.server.last_authorize_query();
    let param = |name: &str| query.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"), "{query:?}");
    assert_eq!(param("state").map(|state| state.len()), Some(43), "a random state: {query:?}");
    // The browser comes back to the desk's listener, which answers it with a page.
    let (status, _, page) = get(&redirected).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Signed in"), "{page}");
    let (code, printed, log) = login.finish();
    assert_eq!(code, Some(0), "{printed}\n{log}");
    assert!(printed.contains(&format!("Signed in as {SUPPORT}")), "{printed}");
    assert_eq!(setup.server.code_exchanges(), 1);

    // The tokens are stored sealed: neither appears in the database or the log.
    let db = setup.desk.db().await;
    let (refresh, access): (String, String) =
        sqlx::query_as("SELECT refresh_token, access_token FROM oauth2_grants").fetch_one(&db).await.unwrap();
    assert!(refresh.starts_with("v1.") && access.starts_with("v1."), "sealed: {refresh} {access}");
    assert!(!refresh.contains("eyJ") && !access.contains("eyJ"), "no JWT in the clear");
    assert!(!log.contains("eyJ"), "no token in the log: {log}");

    setup.lab.send("dana@acme.test", SUPPORT, &client_mail("Sync stopped")).await;
    setup.lab.wait_for_support_mail(1).await;
    // Even with every crate tracing: the token appears neither as a JWT nor inside the
    // base64 SASL string ("user=support@..." encodes to "dXNlcj1zdXBwb3J0").
    let run = setup.desk.command(&["run", "--once"]).env("RUST_LOG", "trace").output().unwrap();
    let run_log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{run_log}");
    assert!(!run_log.contains("eyJ") && !run_log.contains("dXNlcj1zdXBwb3J0"), "no token in the run's log");
    setup.lab.wait_for_mail_with_subject("dana@acme.test", "Re: Sync stopped").await;
    let dovecot = setup.lab.log("dovecot.log");
    assert!(dovecot.contains(&format!("user=<{SUPPORT}>, method=XOAUTH2")), "{dovecot}");
    let postfix = setup.lab.log("postfix.log");
    assert!(postfix.contains(&format!("sasl_method=XOAUTH2, sasl_username={SUPPORT}")), "{postfix}");

    let status = setup.desk.command(&["auth", "status", "--json"]).output().unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(status.status.success(), "{shown}");
    assert_eq!(shown["state"], "ok");
    assert_eq!(shown["account"], SUPPORT);
    assert_eq!(shown["scopes"], serde_json::json!(["mail", "offline_access"]));

    let logout = setup.desk.helpdesk(&["auth", "logout"]);
    assert!(String::from_utf8_lossy(&logout.stdout).contains("Forgot"));
    let after = setup.desk.command(&["auth", "status"]).output().unwrap();
    assert_eq!(after.status.code(), Some(1), "no grant: not ok");
    assert!(String::from_utf8_lossy(&after.stdout).contains("needs_login"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pasted_address_signs_in_and_one_from_another_login_is_refused() {
    let setup = oauth_lab(Duration::from_secs(600)).await;
    let mut login = Login::start(&setup.desk, &["auth", "login"]);
    let redirected = approve(&login.authorization_url()).await;
    // A link with another state (an attacker's, or an old login's) is not taken.
    let code = redirected.split_once("code=").unwrap().1.split('&').next().unwrap();
    login.paste(&format!("http://127.0.0.1:1/?code={code}&state=forged"));
    login.line(|line| line.contains("not this sign-in's"));
    login.paste("   ");
    login.paste(&redirected);
    let (exit, printed, log) = login.finish();
    assert_eq!(exit, Some(0), "{printed}\n{log}");
    assert!(printed.contains(&format!("Signed in as {SUPPORT}")), "{printed}");
    assert_eq!(setup.server.code_exchanges(), 1, "the forged link was never exchanged");
    assert!(setup.desk.command(&["auth", "status"]).output().unwrap().status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_device_flow_polls_at_the_servers_pace_and_slows_down_when_told() {
    let setup = oauth_lab(Duration::from_secs(600)).await;
    setup.server.slow_down_next(1);
    let mut login = Login::start(&setup.desk, &["auth", "login", "--device"]);
    let line = login.line(|line| line.contains("enter the code"));
    let user_code = line.split("enter the code ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    // The person takes a moment: the desk is told to wait, then to slow down.
    let deadline = Instant::now() + Duration::from_secs(30);
    while setup.server.slow_downs() < 1 {
        assert!(Instant::now() < deadline, "no poll was answered slow_down: {:?}", setup.server.requests());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _, body) = get(&setup.server.url(&format!("/device/verify?user_code={user_code}"))).await;
    assert_eq!(status, 200, "{body}");
    let (exit, printed, log) = login.finish();
    assert_eq!(exit, Some(0), "{printed}\n{log}");
    assert!(printed.contains(&format!("Signed in as {SUPPORT}")), "{printed}");
    let times = setup.server.device_poll_times();
    assert!(times.len() >= 3, "pending, slow_down, then the token: {times:?}");
    let gaps: Vec<Duration> = times.windows(2).map(|pair| pair[1] - pair[0]).collect();
    assert!(gaps.iter().all(|gap| *gap >= Duration::from_millis(950)), "never faster than the interval: {gaps:?}");
    assert!(gaps.last().unwrap() >= &Duration::from_millis(5900), "5 s slower after slow_down: {gaps:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_outlives_its_access_tokens_and_a_second_process_works_with_the_rotated_refresh_token() {
    let setup = oauth_lab(Duration::from_secs(4)).await;
    sign_in(&setup).await;
    let run = setup.desk.spawn_run_with_env("run.log", &[]);
    setup.lab.send("dana@acme.test", SUPPORT, &client_mail("First")).await;
    assert_eq!(
        wait_for_count(
            &setup.desk.db().await,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement' AND status = 'sent'",
            1,
            60
        )
        .await,
        1,
        "{}",
        setup.desk.log("run.log")
    );
    // The tokens run out; the servers restart, so both edges must log in again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    setup.lab.stop_dovecot();
    setup.lab.stop_postfix();
    setup.lab.restart_dovecot();
    setup.lab.restart_postfix();
    setup.lab.send("dana@acme.test", SUPPORT, &client_mail("Second")).await;
    let acked = wait_for_count(
        &setup.desk.db().await,
        "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement' AND status = 'sent'",
        2,
        90,
    )
    .await;
    assert_eq!(acked, 2, "{}", setup.desk.log("run.log"));
    setup.desk.stop(run, "run.log");
    let refreshed = setup.server.refreshes();
    assert!(refreshed >= 1, "the run refreshed: {:?}", setup.server.requests());
    assert!(setup.desk.log("run.log").contains("refreshed the OAuth2 access token"));

    // Another process, later: only the rotated refresh token is alive, and it has it.
    tokio::time::sleep(Duration::from_secs(5)).await;
    setup.lab.send("dana@acme.test", SUPPORT, &client_mail("Third")).await;
    setup.lab.wait_for_support_mail(3).await;
    setup.desk.run_once();
    assert_eq!(acknowledgements(&setup.desk).await, 3);
    assert!(setup.server.refreshes() > refreshed, "the second process refreshed with the rotated token");
    assert_eq!(setup.server.live_refresh_tokens(), 1, "each rotation killed the old token");
    let log = setup.desk.log("run.log");
    assert!(!log.contains("eyJ"), "no token in the log");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_grant_says_run_auth_login_once_and_after_a_new_login_the_waiting_mail_is_acknowledged_once() {
    let setup = oauth_lab(Duration::from_secs(3)).await;
    sign_in(&setup).await;
    setup.server.revoke_all();
    tokio::time::sleep(Duration::from_secs(4)).await;
    setup.lab.send("dana@acme.test", SUPPORT, &client_mail("While revoked")).await;
    setup.lab.wait_for_support_mail(1).await;
    let once = setup.desk.command(&["run", "--once"]).output().unwrap();
    let said = String::from_utf8_lossy(&once.stderr);
    assert!(!once.status.success(), "{said}");
    assert!(
        said.contains("was refused by the provider (invalid_grant") && said.contains("run `helpdesk auth login`"),
        "{said}"
    );
    let check = setup.desk.command(&["check", "--connect"]).output().unwrap();
    let printed = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{printed}");
    assert!(printed.contains("run `helpdesk auth login`"), "{printed}");
    let status = setup.desk.command(&["auth", "status", "--json"]).output().unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!((status.status.code(), shown["state"].as_str()), (Some(1), Some("needs_login")), "{shown}");
    assert!(shown["last_error"].as_str().unwrap().contains("invalid_grant"), "{shown}");
    assert_eq!(acknowledgements(&setup.desk).await, 0, "nothing was sent");
    let run = setup.desk.spawn_run_with_env("run.log", &[]);
    setup.desk.wait_for_log("run.log", "run `helpdesk auth login`", 30).await;

    // Seconds of retries later: still one error line, and no new request to the provider.
    let refreshes_tried = setup.server.requests().iter().filter(|r| r.contains("refresh_token")).count();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let log = setup.desk.log("run.log");
    assert_eq!(log.matches("OAuth2 sign-in needed").count(), 1, "once an hour:\n{log}");
    let refreshes_now = setup.server.requests().iter().filter(|r| r.contains("refresh_token")).count();
    assert_eq!(refreshes_now, refreshes_tried, "a refused grant is not retried at the provider");

    sign_in(&setup).await;
    let signed_in = Instant::now();
    let db = setup.desk.db().await;
    // The desk looks for a new grant every 10 s while it waits: the mail goes within 30 s.
    let acked =
        wait_for_count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement' AND status = 'sent'", 1, 30)
            .await;
    eprintln!("waiting mail acknowledged {:?} after the new login", signed_in.elapsed());
    assert_eq!(acked, 1, "{}", setup.desk.log("run.log"));
    setup.lab.wait_for_mail_with_subject("dana@acme.test", "Re: While revoked").await;
    setup.desk.wait_for_log("run.log", "the OAuth2 grant works again", 10).await;
    setup.desk.stop(run, "run.log");
    super::desk::assert_exactly_once(&db, 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_the_servers_refuse_before_its_stated_expiry_is_refreshed_once_and_the_login_retried() {
    // The provider says an hour; the servers stop taking the token after 2 s (revoked early,
    // or clocks apart): the desk finds out at login.
    let setup = oauth_lab(Duration::from_secs(2)).await;
    setup.server.claim_lifetime(Duration::from_secs(3600));
    sign_in(&setup).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    setup.lab.send("dana@acme.test", SUPPORT, &client_mail("Refused early")).await;
    setup.lab.wait_for_support_mail(1).await;
    let log = setup.desk.run_once();
    assert!(log.contains("the IMAP server refused the access token: refreshing it once"), "{log}");
    setup.lab.wait_for_mail_with_subject("dana@acme.test", "Re: Refused early").await;
    assert!(setup.server.refreshes() >= 1, "{:?}", setup.server.requests());
    assert_eq!(acknowledgements(&setup.desk).await, 1);
    // A token refused even when fresh is an error that names the login, never a loop.
    setup.server.revoke_all();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let refused = setup.desk.command(&["check", "--connect"]).output().unwrap();
    let printed = String::from_utf8_lossy(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{printed}");
    assert!(printed.contains("IMAP 127.0.0.1") && printed.contains("run `helpdesk auth login`"), "{printed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_mail_waits_in_the_outbox_untried_while_the_smtp_grant_needs_a_login_then_goes_once() {
    let setup = oauth_lab_on(Duration::from_secs(2), false).await;
    sign_in(&setup).await;
    setup.server.revoke_all();
    tokio::time::sleep(Duration::from_secs(3)).await;
    setup.lab.send("dana@acme.test", SUPPORT, &client_mail("Queued while revoked")).await;
    setup.lab.wait_for_support_mail(1).await;
    let outbox = |db: helpdesk::storage::Db| async move {
        sqlx::query_as::<_, (String, i64)>("SELECT status, attempts FROM outbox WHERE kind = 'acknowledgement'")
            .fetch_all(&db)
            .await
            .unwrap()
    };
    for _ in 0..2 {
        let once = setup.desk.command(&["run", "--once"]).output().unwrap();
        let said = String::from_utf8_lossy(&once.stderr);
        assert!(!once.status.success(), "{said}");
        assert!(
            said.contains("outgoing mail waits in the outbox") && said.contains("run `helpdesk auth login`"),
            "{said}"
        );
        assert_eq!(outbox(setup.desk.db().await).await, vec![("pending".to_string(), 0)], "untried: {said}");
    }
    sign_in(&setup).await;
    // Due at once: nothing postponed it while it waited.
    setup.desk.run_once();
    assert_eq!(outbox(setup.desk.db().await).await, vec![("sent".to_string(), 1)], "one attempt, the one that sent it");
    setup.lab.wait_for_mail_with_subject("dana@acme.test", "Re: Queued while revoked").await;
}
