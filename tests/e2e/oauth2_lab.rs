//! The OAuth2 test harness itself: the lab's Dovecot and Postfix take bearer tokens signed
//! with the lab key over SASL XOAUTH2 and OAUTHBEARER (and still passwords), and the token
//! server runs the code, refresh and device grants over real HTTP, minting tokens the lab
//! takes. The desk's own OAuth2 tests build on both (see `oauth2`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_imap::Session;
use base64::Engine as _;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::lab::{access_token, MailLab};
use super::token_server::{TokenServer, TokenServerSettings};

const SUPPORT: &str = "support@example.test";
const CLIENT_ID: &str = "lab-test-app";
/// With characters that HTTP Basic must carry form-encoded (RFC 6749 2.3.1).
const CLIENT_SECRET: &str = "s3cret with+odd&chars:=%";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback?desk=1";

/// Answers the first challenge (Dovecot's empty `+`) with the SASL initial response, and any
/// later one (the JSON error a refused token gets) with the empty response SASL wants there.
/// Keeps the later challenges, decoded.
struct Bearer {
    initial: Option<String>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl async_imap::Authenticator for Bearer {
    type Response = String;

    fn process(&mut self, challenge: &[u8]) -> String {
        match self.initial.take() {
            Some(initial) => initial,
            None => {
                self.errors.lock().unwrap().push(String::from_utf8_lossy(challenge).into_owned());
                String::new()
            }
        }
    }
}

/// The SASL initial response of `mechanism` (XOAUTH2 or OAUTHBEARER, RFC 7628), unencoded.
fn initial_response(mechanism: &str, user: &str, token: &str) -> String {
    match mechanism {
        "XOAUTH2" => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
        "OAUTHBEARER" => format!("n,a={user},\x01auth=Bearer {token}\x01\x01"),
        other => panic!("no such bearer mechanism {other}"),
    }
}

/// Logs in to the lab's IMAP with `mechanism` and selects INBOX; on refusal, the error and
/// the error challenges the server sent.
async fn bearer_login(lab: &MailLab, mechanism: &str, user: &str, token: &str) -> Result<Session<TcpStream>, String> {
    let tcp = TcpStream::connect(("127.0.0.1", lab.imap_port)).await.unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let bearer = Bearer { initial: Some(initial_response(mechanism, user, token)), errors: errors.clone() };
    match client.authenticate(mechanism, bearer).await {
        Ok(mut session) => {
            session.select("INBOX").await.map_err(|err| format!("SELECT INBOX: {err}"))?;
            Ok(session)
        }
        Err((err, _)) => Err(format!("{err}; error challenges: {}", errors.lock().unwrap().join(" | "))),
    }
}

/// Waits (a little: both servers log through a log process) until `name` holds `wanted`.
async fn wait_for_log(lab: &MailLab, name: &str, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lab.log(name).contains(wanted) {
        assert!(Instant::now() < deadline, "{name} never said {wanted:?}: {}", lab.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn imap_takes_xoauth2_and_oauthbearer_tokens_signed_with_the_lab_key_and_passwords_still() {
    let lab = MailLab::start_with_oauth2();
    let oauth2 = lab.oauth2.as_ref().expect("an OAuth2 lab");
    let token = oauth2.token(SUPPORT, Duration::from_secs(60));
    for mechanism in ["XOAUTH2", "OAUTHBEARER"] {
        let mut session = bearer_login(&lab, mechanism, SUPPORT, &token).await.unwrap_or_else(|err| {
            panic!("{mechanism} with a valid token: {err}\n{}", lab.logs());
        });
        session.logout().await.ok();
        wait_for_log(&lab, "dovecot.log", &format!("Login: user=<{SUPPORT}>, method={mechanism}")).await;
    }
    let mut session = lab.imap(SUPPORT).await;
    session.logout().await.ok();
    wait_for_log(&lab, "dovecot.log", &format!("Login: user=<{SUPPORT}>, method=PLAIN")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn imap_refuses_expired_foreign_and_wrongly_signed_tokens_at_once() {
    let lab = MailLab::start_with_oauth2();
    let oauth2 = lab.oauth2.as_ref().expect("an OAuth2 lab");
    let now = std::time::SystemTime::now();
    let refused = [
        ("expired", oauth2.expired_token(SUPPORT)),
        ("for another user", oauth2.token("dana@acme.test", Duration::from_secs(60))),
        ("signed with another key", access_token(&[7; 32], SUPPORT, now, now + Duration::from_secs(60))),
        ("not a JWT", "not-a-token".to_string()),
    ];
    for (why, token) in &refused {
        // The error challenge each sends before the NO, which the client answers with nothing
        // (OAUTHBEARER's is RFC 7628 3.2.2's; XOAUTH2's is Google's).
        let challenges = [
            ("XOAUTH2", r#"{"status":"401","schemes":"bearer","scope":"mail"}"#),
            ("OAUTHBEARER", r#"{"status":"invalid_token"}"#),
        ];
        for (mechanism, challenge) in challenges {
            let started = Instant::now();
            let err = bearer_login(&lab, mechanism, SUPPORT, token).await.err();
            let err = err.unwrap_or_else(|| panic!("{mechanism} took a token {why}"));
            assert!(err.contains("AUTHENTICATIONFAILED"), "{mechanism}, token {why}: {err}");
            assert!(err.ends_with(&format!("error challenges: {challenge}")), "{err}");
            // No growing penalty per client IP: each refusal comes within auth_failure_delay's
            // half-second tick.
            assert!(started.elapsed() < Duration::from_secs(2), "{mechanism} {why}: {:?}", started.elapsed());
        }
    }
    for why in ["Token has expired", "did not match", "Incorrect JWT signature"] {
        wait_for_log(&lab, "dovecot.log", why).await;
    }
    // Refusals leave the valid token and the password working.
    let token = oauth2.token(SUPPORT, Duration::from_secs(60));
    bearer_login(&lab, "XOAUTH2", SUPPORT, &token).await.unwrap().logout().await.ok();
    lab.imap(SUPPORT).await.logout().await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_auth_xoauth2_through_dovecot_sends_mail_and_unauthenticated_loopback_mail_still_goes() {
    let lab = MailLab::start_with_oauth2();
    let token = lab.oauth2.as_ref().expect("an OAuth2 lab").token(SUPPORT, Duration::from_secs(60));
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(lab.smtp_port)
        .credentials(Credentials::new(SUPPORT.into(), token))
        .authentication(vec![Mechanism::Xoauth2])
        .build();
    let envelope = Envelope::new(Some(SUPPORT.parse().unwrap()), vec!["dana@acme.test".parse().unwrap()]).unwrap();
    let mail = format!("From: {SUPPORT}\r\nTo: dana@acme.test\r\nSubject: Sent with XOAUTH2\r\n\r\nHello.\r\n");
    transport.send_raw(&envelope, mail.as_bytes()).await.unwrap_or_else(|err| panic!("{err}: {}", lab.logs()));
    lab.wait_for_mail_with_subject("dana@acme.test", "Sent with XOAUTH2").await;
    wait_for_log(&lab, "postfix.log", &format!("sasl_method=XOAUTH2, sasl_username={SUPPORT}")).await;

    let stale = lab.oauth2.as_ref().unwrap().expired_token(SUPPORT);
    let refused = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(lab.smtp_port)
        .credentials(Credentials::new(SUPPORT.into(), stale))
        .authentication(vec![Mechanism::Xoauth2])
        .build();
    // Postfix relays Dovecot's error challenge (334) before its 535, and lettre, which expects
    // none with XOAUTH2, gives up with a client error instead of answering it.
    let err = refused.send_raw(&envelope, mail.as_bytes()).await.expect_err("an expired token is refused");
    assert!(err.is_client() && err.to_string().contains("does not expect a challenge"), "{err}");
    let initial = initial_response("XOAUTH2", SUPPORT, &lab.oauth2.as_ref().unwrap().expired_token(SUPPORT));
    let auth = format!("AUTH XOAUTH2 {}", base64::engine::general_purpose::STANDARD.encode(initial));
    let replies = smtp_dialogue(lab.smtp_port, &["EHLO client.test", &auth, "", "QUIT"]).await;
    assert!(replies[1].contains("AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER"), "{replies:?}");
    let challenge = replies[2].strip_prefix("334 ").unwrap_or_else(|| panic!("an error challenge: {replies:?}"));
    let challenge = base64::engine::general_purpose::STANDARD.decode(challenge).unwrap();
    assert_eq!(String::from_utf8_lossy(&challenge), r#"{"status":"401","schemes":"bearer","scope":"mail"}"#);
    assert!(replies[3].starts_with("535 5.7.8"), "{replies:?}");

    lab.send(
        "dana@acme.test",
        SUPPORT,
        "From: dana@acme.test\r\nTo: support@example.test\r\nSubject: No AUTH\r\n\r\nHi\r\n",
    )
    .await;
    lab.wait_for_mail_with_subject(SUPPORT, "No AUTH").await;
}

/// Sends each command in turn on one SMTP connection; the greeting and each command's reply,
/// the lines of a multi-line reply joined by newlines.
async fn smtp_dialogue(port: u16, commands: &[&str]) -> Vec<String> {
    use tokio::io::AsyncBufReadExt;
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(reader).lines();
    let mut replies = Vec::new();
    for command in std::iter::once(None).chain(commands.iter().map(Some)) {
        if let Some(command) = command {
            writer.write_all(format!("{command}\r\n").as_bytes()).await.unwrap();
        }
        let mut reply = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            let last = line.as_bytes().get(3) != Some(&b'-');
            reply.push(line);
            if last {
                break;
            }
        }
        replies.push(reply.join("\n"));
    }
    replies
}

/// An HTTP answer: the status, the Location header, the body.
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|err| panic!("{err}: {}", self.body))
    }

    /// The OAuth `error` of a JSON answer.
    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_string()
    }
}

/// Sends `request` over a fresh connection to the server and reads the answer to its end.
async fn exchange(server: &TokenServer, request: &[u8]) -> Answer {
    let address = server.url("").trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let location = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("location").then(|| value.trim().to_string())
    });
    Answer { status, location, body: body.to_string() }
}

async fn get(server: &TokenServer, path: &str, query: &[(&str, &str)]) -> Answer {
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
    let request = format!("GET {path}?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    exchange(server, request.as_bytes()).await
}

/// A form POST, with HTTP Basic client authentication when `basic` is given.
async fn post(server: &TokenServer, path: &str, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Answer {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let authorization = match basic {
        None => String::new(),
        Some((id, secret)) => {
            let encode = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", encode(id), encode(secret));
            format!("Authorization: Basic {}\r\n", base64::engine::general_purpose::STANDARD.encode(pair))
        }
    };
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{authorization}Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    exchange(server, request.as_bytes()).await
}

/// A lab with OAuth2 and a token server minting with its key.
async fn lab_and_server(client_secret: Option<&str>) -> (MailLab, TokenServer) {
    let lab = MailLab::start_with_oauth2();
    let server = TokenServer::start(TokenServerSettings {
        key: lab.oauth2.as_ref().expect("an OAuth2 lab").key.clone(),
        account: SUPPORT.into(),
        client_id: CLIENT_ID.into(),
        client_secret: client_secret.map(str::to_string),
        access_lifetime: Duration::from_secs(60),
    })
    .await;
    (lab, server)
}

/// The query parameters of a URL.
fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

fn value_of<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Approves an authorization request with `challenge`; the code sent back.
async fn authorize(server: &TokenServer, challenge: &str, state: &str) -> String {
    let query = [
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "mail offline_access"),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("login_hint", SUPPORT),
    ];
    let answer = get(server, "/authorize", &query).await;
    assert_eq!(answer.status, 302, "{}", answer.body);
    let location = answer.location.expect("a Location");
    assert!(location.starts_with(&format!("{REDIRECT_URI}&code=")), "{location}");
    let back = query_of(&location);
    assert_eq!(value_of(&back, "state"), Some(state), "{location}");
    value_of(&back, "code").unwrap().to_string()
}

const WITH_SECRET: Option<(&str, &str)> = Some((CLIENT_ID, CLIENT_SECRET));

/// The authorization code grant, the client authenticated with `basic`.
async fn exchange_code(server: &TokenServer, basic: Option<(&str, &str)>, code: &str, verifier: &str) -> Answer {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ];
    post(server, "/token", basic, &form).await
}

/// The refresh grant, the client's id and secret in the form.
async fn refresh(server: &TokenServer, refresh_token: &str) -> Answer {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    post(server, "/token", None, &form).await
}

/// The claims of a JWT, unverified.
fn claims_of(jwt: &str) -> serde_json::Value {
    let claims = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_server_exchanges_a_pkce_code_once_for_tokens_the_lab_takes() {
    let (lab, server) = lab_and_server(Some(CLIENT_SECRET)).await;
    let (verifier, challenge) = pkce();
    let plain = [("response_type", "code"), ("client_id", CLIENT_ID), ("redirect_uri", REDIRECT_URI)];
    assert_eq!(get(&server, "/authorize", &plain).await.status, 400, "PKCE is required");
    let wasted = authorize(&server, &challenge, "first").await;
    let code = authorize(&server, &challenge, "a state & more=").await;
    let query = server.last_authorize_query();
    assert_eq!(value_of(&query, "code_challenge_method"), Some("S256"), "{query:?}");
    assert_eq!(value_of(&query, "login_hint"), Some(SUPPORT), "{query:?}");

    let answer = exchange_code(&server, WITH_SECRET, &wasted, "another verifier").await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_grant".into()), "{}", answer.body);
    let answer = exchange_code(&server, Some((CLIENT_ID, "guess")), &code, &verifier).await;
    assert_eq!((answer.status, answer.error()), (401, "invalid_client".into()));
    let answer = exchange_code(&server, WITH_SECRET, &code, &verifier).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let granted = answer.json();
    assert_eq!((&granted["token_type"], &granted["scope"]), (&"Bearer".into(), &"mail offline_access".into()));
    assert_eq!(granted["expires_in"], 60);
    let id_claims = claims_of(granted["id_token"].as_str().unwrap());
    assert_eq!((id_claims["email"].as_str(), id_claims["preferred_username"].as_str()), (Some(SUPPORT), Some(SUPPORT)));
    let again = exchange_code(&server, WITH_SECRET, &code, &verifier).await;
    assert_eq!((again.status, again.error()), (400, "invalid_grant".into()), "a code works once");
    assert_eq!(server.code_exchanges(), 1);
    let access = granted["access_token"].as_str().unwrap();
    assert_eq!(claims_of(access)["email"], SUPPORT);
    bearer_login(&lab, "XOAUTH2", SUPPORT, access).await.unwrap().logout().await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_server_rotates_refresh_tokens_and_revokes_them_all_on_demand() {
    let (lab, server) = lab_and_server(Some(CLIENT_SECRET)).await;
    let (verifier, challenge) = pkce();
    let code = authorize(&server, &challenge, "state").await;
    let granted = exchange_code(&server, WITH_SECRET, &code, &verifier).await.json();
    let first = granted["refresh_token"].as_str().unwrap().to_string();

    server.set_access_lifetime(Duration::from_secs(90));
    let answer = refresh(&server, &first).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let refreshed = answer.json();
    assert_eq!(refreshed["expires_in"], 90);
    let second = refreshed["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(first, second, "rotated");
    let old = refresh(&server, &first).await;
    assert_eq!((old.status, old.error()), (400, "invalid_grant".into()), "the rotated-away token is dead");
    assert_eq!((server.refreshes(), server.live_refresh_tokens()), (1, 1));
    bearer_login(&lab, "OAUTHBEARER", SUPPORT, refreshed["access_token"].as_str().unwrap()).await.unwrap();

    server.revoke_all();
    let revoked = refresh(&server, &second).await;
    assert_eq!((revoked.status, revoked.error()), (400, "invalid_grant".into()), "{}", revoked.body);
    assert!(revoked.json()["error_description"].as_str().is_some_and(|text| !text.is_empty()));
    assert_eq!((server.refreshes(), server.live_refresh_tokens()), (1, 0));
    let requests = server.requests();
    assert_eq!(requests.iter().filter(|line| *line == "POST /token refresh_token").count(), 3, "{requests:?}");
    assert_eq!(requests[..2], ["GET /authorize", "POST /token authorization_code"], "{requests:?}");
}

/// One poll of the device grant.
async fn poll(server: &TokenServer, device_code: &str) -> Answer {
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code),
        ("client_id", CLIENT_ID),
    ];
    post(server, "/token", None, &form).await
}

/// Starts a device authorization: its device code and user code.
async fn start_device(server: &TokenServer) -> (String, String) {
    let answer = post(server, "/device", None, &[("client_id", CLIENT_ID), ("scope", "mail offline_access")]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let started = answer.json();
    assert_eq!(started["verification_uri"].as_str(), Some(server.url("/device/verify").as_str()));
    assert_eq!((started["interval"].as_u64(), started["expires_in"].as_u64()), (Some(1), Some(300)));
    let user_code = started["user_code"].as_str().unwrap().to_string();
    assert!(regex::Regex::new("^[A-Z]{4}-[A-Z]{4}$").unwrap().is_match(&user_code), "{user_code}");
    (started["device_code"].as_str().unwrap().to_string(), user_code)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_server_runs_the_device_flow_with_pending_and_slow_down_and_its_token_logs_in() {
    let (lab, server) = lab_and_server(None).await;
    let pace = Duration::from_millis(1100);
    // Too fast: slow_down, and the interval grows by 5 s, so a second later is still too fast.
    let (hasty, _) = start_device(&server).await;
    assert_eq!(poll(&server, &hasty).await.error(), "authorization_pending");
    assert_eq!(poll(&server, &hasty).await.error(), "slow_down");
    tokio::time::sleep(pace).await;
    assert_eq!(poll(&server, &hasty).await.error(), "slow_down", "the interval grew to 6 s");
    // Told to slow down however late: never at a code's first poll.
    let (told, _) = start_device(&server).await;
    server.slow_down_next(1);
    assert_eq!(poll(&server, &told).await.error(), "authorization_pending");
    tokio::time::sleep(pace).await;
    assert_eq!(poll(&server, &told).await.error(), "slow_down");
    assert_eq!(server.slow_downs(), 3);

    // At the server's pace: pending until the user approves, then the tokens, once.
    let (device_code, user_code) = start_device(&server).await;
    assert_eq!(poll(&server, &device_code).await.error(), "authorization_pending");
    assert_eq!(get(&server, "/device/verify", &[("user_code", "ZZZZ-ZZZZ")]).await.status, 400);
    let verified = get(&server, "/device/verify", &[("user_code", &user_code)]).await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    tokio::time::sleep(pace).await;
    let answer = poll(&server, &device_code).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    tokio::time::sleep(pace).await;
    assert_eq!(poll(&server, &device_code).await.error(), "invalid_grant", "a device code grants once");
    assert_eq!(poll(&server, "made-up").await.error(), "invalid_grant");
    assert_eq!((server.device_polls(), server.slow_downs(), server.live_refresh_tokens()), (9, 3, 1));
    let times = server.device_poll_times();
    assert!(times.len() == 9 && times.windows(2).all(|pair| pair[0] <= pair[1]), "{times:?}");

    let granted = answer.json();
    assert_eq!(granted["scope"], "mail offline_access");
    bearer_login(&lab, "XOAUTH2", SUPPORT, granted["access_token"].as_str().unwrap()).await.unwrap();
    wait_for_log(&lab, "dovecot.log", &format!("Login: user=<{SUPPORT}>, method=XOAUTH2")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_server_answers_what_it_cannot_take_with_an_error_and_keeps_serving() {
    let server = TokenServer::start(TokenServerSettings {
        key: vec![1; 32],
        account: SUPPORT.into(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(CLIENT_SECRET.into()),
        access_lifetime: Duration::from_secs(60),
    })
    .await;
    let garbage: [&[u8]; 5] = [
        b"HELLO\r\n\r\n",
        b"GET /token HTTP/1.1 extra\r\n\r\n",
        b"POST /token HTTP/1.1\r\nContent-Length: many\r\n\r\n",
        b"POST /token HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
        b"GET /authorize HTTP/1.1\r\nno colon here\r\n\r\n",
    ];
    for request in garbage {
        let answer = exchange(&server, request).await;
        assert_eq!(answer.status, 400, "{:?}: {}", String::from_utf8_lossy(request), answer.body);
    }
    let bad_basic = b"POST /token HTTP/1.1\r\nAuthorization: Basic !!!\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(exchange(&server, bad_basic).await.error(), "invalid_client");
    let no_secret = post(&server, "/token", None, &[("grant_type", "refresh_token"), ("client_id", CLIENT_ID)]).await;
    assert_eq!((no_secret.status, no_secret.error()), (401, "invalid_client".into()));
    let other_client = post(&server, "/token", Some(("someone-else", CLIENT_SECRET)), &[]).await;
    assert_eq!((other_client.status, other_client.error()), (401, "invalid_client".into()));
    let unsupported = post(&server, "/token", Some((CLIENT_ID, CLIENT_SECRET)), &[("grant_type", "password")]).await;
    assert_eq!((unsupported.status, unsupported.error()), (400, "unsupported_grant_type".into()));
    assert_eq!(get(&server, "/token", &[]).await.status, 405);
    assert_eq!(get(&server, "/nowhere", &[]).await.status, 404);
    let plain = [("response_type", "code"), ("client_id", CLIENT_ID), ("redirect_uri", REDIRECT_URI)];
    let not_s256 = [&plain[..], &[("code_challenge", "abc"), ("code_challenge_method", "plain")]].concat();
    assert_eq!(get(&server, "/authorize", &not_s256).await.status, 400);
    let (_, challenge) = pkce();
    let other_id = [("response_type", "code"), ("client_id", "x"), ("redirect_uri", REDIRECT_URI)];
    let other_id =
        [&other_id[..], &[("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")]].concat();
    assert_eq!(get(&server, "/authorize", &other_id).await.status, 400);
    // A connection that sends nothing and closes does not stop the server.
    drop(TcpStream::connect(server.url("").trim_start_matches("http://")).await.unwrap());
    let token = post(&server, "/token", Some((CLIENT_ID, CLIENT_SECRET)), &[("grant_type", "refresh_token")]).await;
    assert_eq!((token.status, token.error()), (400, "invalid_grant".into()));
}
