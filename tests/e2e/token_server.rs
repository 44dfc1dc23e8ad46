//! An OAuth2 authorization server on 127.0.0.1 for the tests: the authorization code grant
//! with PKCE S256 (RFC 6749 4.1, RFC 7636), refresh tokens that rotate at each use and can be
//! revoked, and the device grant (RFC 8628) with `authorization_pending` and `slow_down`. It
//! plays the user too: `/authorize` approves at once, `/device/verify` approves a user code.
//! Access tokens are the JWTs the lab's Dovecot validates (`lab::access_token`, same key).
//!
//! Plain HTTP/1.1, one request per connection, parsed by hand: a request it cannot read gets
//! 400, never a panic. The state sits behind one std Mutex, never held across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::lab::{access_token, signed_jwt, unix_seconds};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// How long a device code can be polled.
const DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(300);
/// The poll interval a device code starts with, and what each `slow_down` adds (RFC 8628 3.5).
const DEVICE_INTERVAL: Duration = Duration::from_secs(1);
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// A request's head and body may each be this long, and take this long to arrive.
const MAX_HEAD_BYTES: usize = 16 * 1024;
const MAX_BODY_BYTES: usize = 64 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server grants, and to whom.
pub struct TokenServerSettings {
    /// The HS256 key access tokens are signed with: the lab's (`LabOAuth2::key`).
    pub key: Vec<u8>,
    /// The mailbox the tokens are for, e.g. "support@example.test".
    pub account: String,
    pub client_id: String,
    /// When set, the token endpoint wants it (HTTP Basic or the `client_secret` field).
    pub client_secret: Option<String>,
    /// How long an access token lives (`set_access_lifetime` changes it).
    pub access_lifetime: Duration,
}

impl TokenServerSettings {
    /// The `expires_in` the answers state: the real lifetime unless `claim_lifetime` says
    /// otherwise (a provider that revokes early, or a clock that runs apart).
    fn stated_lifetime(&self, claimed: Option<Duration>) -> u64 {
        claimed.unwrap_or(self.access_lifetime).as_secs()
    }
}

/// The running server; it stops when dropped.
pub struct TokenServer {
    port: u16,
    state: Arc<Mutex<State>>,
    accept_loop: tokio::task::JoinHandle<()>,
}

/// A code `/authorize` issued and `/token` has not taken yet.
struct IssuedCode {
    redirect_uri: String,
    code_challenge: String,
    scope: String,
}

/// A device authorization started at `/device`.
struct DeviceCode {
    user_code: String,
    scope: String,
    approved: bool,
    interval: Duration,
    last_poll: Option<Instant>,
    expires_at: Instant,
}

struct State {
    settings: TokenServerSettings,
    codes: HashMap<String, IssuedCode>,
    /// Live refresh tokens and the scope each grants.
    refresh_tokens: HashMap<String, String>,
    devices: HashMap<String, DeviceCode>,
    refreshes: usize,
    code_exchanges: usize,
    device_polls: usize,
    device_poll_times: Vec<Instant>,
    slow_downs: usize,
    forced_slow_downs: usize,
    requests: Vec<String>,
    last_authorize_query: Vec<(String, String)>,
    /// What `expires_in` says when set (`claim_lifetime`).
    claimed_lifetime: Option<Duration>,
}

/// A request as read off the connection.
struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    form: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// An answer to write back.
struct Response {
    status: u16,
    content_type: &'static str,
    extra_headers: Vec<(&'static str, String)>,
    body: String,
}

impl Response {
    fn text(status: u16, body: &str) -> Response {
        Response { status, content_type: "text/plain; charset=utf-8", extra_headers: Vec::new(), body: body.into() }
    }

    fn json(status: u16, body: serde_json::Value) -> Response {
        Response { status, content_type: "application/json", extra_headers: Vec::new(), body: body.to_string() }
    }

    /// An OAuth error answer (RFC 6749 5.2).
    fn error(status: u16, error: &str, description: &str) -> Response {
        Response::json(status, serde_json::json!({ "error": error, "error_description": description }))
    }

    fn invalid_client(description: &str) -> Response {
        let mut response = Response::error(401, "invalid_client", description);
        response.extra_headers.push(("WWW-Authenticate", "Basic realm=\"token-server\"".into()));
        response
    }

    fn redirect(location: String) -> Response {
        let mut response = Response::text(302, "approved: back to the client");
        response.extra_headers.push(("Location", location));
        response
    }

    fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            302 => "Found",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Status",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
             Connection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.extra_headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

impl TokenServer {
    /// Binds a free port on 127.0.0.1 and serves on the current tokio runtime.
    pub async fn start(settings: TokenServerSettings) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            settings,
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            devices: HashMap::new(),
            refreshes: 0,
            code_exchanges: 0,
            device_polls: 0,
            device_poll_times: Vec::new(),
            slow_downs: 0,
            forced_slow_downs: 0,
            requests: Vec::new(),
            last_authorize_query: Vec::new(),
            claimed_lifetime: None,
        }));
        let shared = state.clone();
        let accept_loop = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_connection(stream, shared.clone(), port));
            }
        });
        TokenServer { port, state, accept_loop }
    }

    /// `path` on this server: "http://127.0.0.1:PORT" + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Every refresh token issued so far dies: using one is answered `invalid_grant`.
    pub fn revoke_all(&self) {
        self.state().refresh_tokens.clear();
    }

    /// Successful `refresh_token` grants.
    pub fn refreshes(&self) -> usize {
        self.state().refreshes
    }

    /// Successful `authorization_code` grants.
    pub fn code_exchanges(&self) -> usize {
        self.state().code_exchanges
    }

    /// Token requests with the device grant, whatever the answer.
    pub fn device_polls(&self) -> usize {
        self.state().device_polls
    }

    /// When each device grant token request arrived, in order.
    pub fn device_poll_times(&self) -> Vec<Instant> {
        self.state().device_poll_times.clone()
    }

    /// `slow_down` answers given.
    pub fn slow_downs(&self) -> usize {
        self.state().slow_downs
    }

    /// The next `count` polls of a device code that has been polled before are answered
    /// `slow_down` however late they come (a first poll has no pace to be too fast for).
    pub fn slow_down_next(&self, count: usize) {
        self.state().forced_slow_downs = count;
    }

    /// Refresh tokens issued, neither rotated away nor revoked.
    pub fn live_refresh_tokens(&self) -> usize {
        self.state().refresh_tokens.len()
    }

    /// How long the access tokens issued from now on live.
    pub fn set_access_lifetime(&self, lifetime: Duration) {
        self.state().settings.access_lifetime = lifetime;
    }

    /// From now on, answers say tokens live `lifetime` (`expires_in`), whatever they really do.
    pub fn claim_lifetime(&self, lifetime: Duration) {
        self.state().claimed_lifetime = Some(lifetime);
    }

    /// "METHOD /path grant_type" for each request so far (no grant type but at `/token`).
    pub fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }

    /// The query parameters of the last `/authorize` request, in order.
    pub fn last_authorize_query(&self) -> Vec<(String, String)> {
        self.state().last_authorize_query.clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// The state, even if a handler panicked while holding it (the test then fails anyway).
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn serve_connection(mut stream: TcpStream, state: Arc<Mutex<State>>, port: u16) {
    let response = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(request)) => handle(&mut lock(&state), &request, port),
        Ok(Err(problem)) => Response::text(400, &problem),
        Err(_) => Response::text(400, "the request took too long"),
    };
    let _ = stream.write_all(&response.to_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads the request line, the headers and a `Content-Length` body.
async fn read_request(stream: &mut TcpStream) -> Result<Request, String> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > MAX_HEAD_BYTES {
            return Err("the request head is too long".into());
        }
        read_some(stream, &mut buffer).await?;
    };
    let head = std::str::from_utf8(&buffer[..head_end]).map_err(|_| "the request head is not UTF-8")?;
    let mut request = parse_head(head)?;
    let length = match request.header("Content-Length") {
        Some(value) => value.parse::<usize>().map_err(|_| "a bad Content-Length")?,
        None => 0,
    };
    if length > MAX_BODY_BYTES {
        return Err("the body is too long".into());
    }
    if request.header("Transfer-Encoding").is_some() {
        return Err("only Content-Length bodies are read here".into());
    }
    let body_start = head_end + 4;
    while buffer.len() < body_start + length {
        read_some(stream, &mut buffer).await?;
    }
    request.form = parse_form(&buffer[body_start..body_start + length]);
    Ok(request)
}

async fn read_some(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) => Err("the connection closed mid-request".into()),
        Ok(read) => {
            buffer.extend_from_slice(&chunk[..read]);
            Ok(())
        }
        Err(err) => Err(format!("reading the request: {err}")),
    }
}

/// The request line and the headers (the form is read after).
fn parse_head(head: &str) -> Result<Request, String> {
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("a bad request line: {request_line:?}"));
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(format!("a bad request line: {request_line:?}"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| format!("a bad header line: {line:?}"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = parse_form(query.as_bytes());
    Ok(Request { method: method.to_string(), path: path.to_string(), query, headers, form: Vec::new() })
}

fn parse_form(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

fn handle(state: &mut State, request: &Request, port: u16) -> Response {
    let grant_type = match request.path.as_str() {
        "/token" => param(&request.form, "grant_type").map(|grant| format!(" {grant}")).unwrap_or_default(),
        _ => String::new(),
    };
    state.requests.push(format!("{} {}{grant_type}", request.method, request.path));
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/authorize") => authorize(state, &request.query),
        ("POST", "/token") => token(state, request),
        ("POST", "/device") => start_device(state, request, port),
        ("GET", "/device/verify") => verify_device(state, &request.query),
        (_, "/authorize" | "/token" | "/device" | "/device/verify") => Response::text(405, "method not allowed"),
        _ => Response::text(404, "no such endpoint"),
    }
}

/// The user approves at once: a single-use code, sent back to `redirect_uri`.
fn authorize(state: &mut State, query: &[(String, String)]) -> Response {
    state.last_authorize_query = query.to_vec();
    let wanted = |name: &str| param(query, name).unwrap_or_default().to_string();
    if wanted("response_type") != "code" {
        return Response::text(400, "response_type must be code");
    }
    if wanted("client_id") != state.settings.client_id {
        return Response::text(400, "unknown client_id");
    }
    if wanted("code_challenge_method") != "S256" || wanted("code_challenge").is_empty() {
        return Response::text(400, "PKCE with code_challenge_method=S256 is required");
    }
    let redirect_uri = wanted("redirect_uri");
    if url::Url::parse(&redirect_uri).is_err() {
        return Response::text(400, "redirect_uri must be an absolute URL");
    }
    let code = random_token();
    let issued = IssuedCode {
        redirect_uri: redirect_uri.clone(),
        code_challenge: wanted("code_challenge"),
        scope: wanted("scope"),
    };
    state.codes.insert(code.clone(), issued);
    let mut location = redirect_uri;
    location.push(if location.contains('?') { '&' } else { '?' });
    location.push_str(&format!("code={code}"));
    if let Some(client_state) = param(query, "state") {
        location.push_str(&format!("&state={}", url_encode(client_state)));
    }
    Response::redirect(location)
}

fn token(state: &mut State, request: &Request) -> Response {
    if let Err(refused) = authenticate_client(&state.settings, request, true) {
        return refused;
    }
    let form = &request.form;
    match param(form, "grant_type").unwrap_or_default() {
        "authorization_code" => exchange_code(state, form),
        "refresh_token" => refresh(state, form),
        DEVICE_GRANT => poll_device(state, form),
        other => Response::error(400, "unsupported_grant_type", &format!("grant_type {other:?} is not served")),
    }
}

/// Client authentication (RFC 6749 2.3.1): HTTP Basic with the form-encoded id and secret, or
/// the `client_id` and `client_secret` form fields. The secret is checked when the server has
/// one and `secret_required` (the device endpoint only checks a secret that is given).
fn authenticate_client(
    settings: &TokenServerSettings,
    request: &Request,
    secret_required: bool,
) -> Result<(), Response> {
    let (client_id, secret) = match request.header("Authorization") {
        Some(authorization) => basic_credentials(authorization)
            .map(|(id, secret)| (Some(id), Some(secret)))
            .ok_or_else(|| Response::invalid_client("a bad Authorization header"))?,
        None => (
            param(&request.form, "client_id").map(str::to_string),
            param(&request.form, "client_secret").map(str::to_string),
        ),
    };
    if client_id.as_deref() != Some(settings.client_id.as_str()) {
        return Err(Response::invalid_client("unknown client"));
    }
    let Some(expected) = &settings.client_secret else { return Ok(()) };
    match secret {
        Some(secret) if secret == *expected => Ok(()),
        None if !secret_required => Ok(()),
        _ => Err(Response::invalid_client("wrong or missing client secret")),
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))` as (id, secret).
fn basic_credentials(authorization: &str) -> Option<(String, String)> {
    let (scheme, encoded) = authorization.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((url_decode(id)?, url_decode(secret)?))
}

/// application/x-www-form-urlencoded decoding of one value: `+` is a space, `%XX` a byte.
fn url_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        rest = after;
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(rest.get(..2)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &rest[2..];
            }
            _ => bytes.push(byte),
        }
    }
    String::from_utf8(bytes).ok()
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The authorization code grant with PKCE: the code once (a failed try uses it up too), with
/// the authorization request's redirect_uri and the verifier of its challenge. The client is
/// the one the code was issued to: `authorize` and `authenticate_client` both check the id.
fn exchange_code(state: &mut State, form: &[(String, String)]) -> Response {
    let Some(issued) = param(form, "code").and_then(|code| state.codes.remove(code)) else {
        return Response::error(400, "invalid_grant", "unknown or used code");
    };
    if param(form, "redirect_uri") != Some(issued.redirect_uri.as_str()) {
        return Response::error(400, "invalid_grant", "redirect_uri differs from the authorization request's");
    }
    let verifier = param(form, "code_verifier").unwrap_or_default();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if verifier.is_empty() || challenge != issued.code_challenge {
        return Response::error(400, "invalid_grant", "code_verifier does not match the code_challenge");
    }
    state.code_exchanges += 1;
    issue_tokens(state, &issued.scope)
}

/// The refresh grant, with rotation: the token used dies, a new one comes with the answer.
fn refresh(state: &mut State, form: &[(String, String)]) -> Response {
    let Some(scope) = param(form, "refresh_token").and_then(|token| state.refresh_tokens.remove(token)) else {
        return Response::error(400, "invalid_grant", "the refresh token is unknown, rotated away or revoked");
    };
    state.refreshes += 1;
    issue_tokens(state, &scope)
}

/// One poll of the device grant (RFC 8628 3.4, 3.5).
fn poll_device(state: &mut State, form: &[(String, String)]) -> Response {
    let now = Instant::now();
    state.device_polls += 1;
    state.device_poll_times.push(now);
    let code = param(form, "device_code").unwrap_or_default().to_string();
    let Some(device) = state.devices.get_mut(&code) else {
        return Response::error(400, "invalid_grant", "unknown or used device code");
    };
    if now > device.expires_at {
        return Response::error(400, "expired_token", "the device code expired");
    }
    let too_soon = device.last_poll.is_some_and(|last| now.duration_since(last) < device.interval);
    let forced = device.last_poll.is_some() && state.forced_slow_downs > 0;
    device.last_poll = Some(now);
    if too_soon || forced {
        device.interval += SLOW_DOWN_STEP;
        state.forced_slow_downs -= usize::from(forced);
        state.slow_downs += 1;
        return Response::error(400, "slow_down", "polled faster than the interval: it grows by 5 s");
    }
    if !device.approved {
        return Response::error(400, "authorization_pending", "the user has not approved yet");
    }
    let scope = device.scope.clone();
    state.devices.remove(&code);
    issue_tokens(state, &scope)
}

fn start_device(state: &mut State, request: &Request, port: u16) -> Response {
    if let Err(refused) = authenticate_client(&state.settings, request, false) {
        return refused;
    }
    let device_code = random_token();
    let letters: String =
        uuid::Uuid::new_v4().as_bytes()[..8].iter().map(|byte| char::from(b'A' + byte % 26)).collect();
    let user_code = format!("{}-{}", &letters[..4], &letters[4..]);
    let device = DeviceCode {
        user_code: user_code.clone(),
        scope: param(&request.form, "scope").unwrap_or_default().to_string(),
        approved: false,
        interval: DEVICE_INTERVAL,
        last_poll: None,
        expires_at: Instant::now() + DEVICE_CODE_LIFETIME,
    };
    state.devices.insert(device_code.clone(), device);
    Response::json(
        200,
        serde_json::json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": format!("http://127.0.0.1:{port}/device/verify"),
            "expires_in": DEVICE_CODE_LIFETIME.as_secs(),
            "interval": DEVICE_INTERVAL.as_secs(),
        }),
    )
}

/// The user enters the code and approves.
fn verify_device(state: &mut State, query: &[(String, String)]) -> Response {
    let user_code = param(query, "user_code").unwrap_or_default();
    match state.devices.values_mut().find(|device| device.user_code == user_code) {
        Some(device) => {
            device.approved = true;
            Response::text(200, "approved: the device may continue")
        }
        None => Response::text(400, "unknown user code"),
    }
}

/// A fresh access token, a fresh refresh token and an id_token naming the account.
fn issue_tokens(state: &mut State, scope: &str) -> Response {
    let settings = &state.settings;
    let now = SystemTime::now();
    let lifetime = settings.access_lifetime;
    let refresh_token = random_token();
    let id_claims = serde_json::json!({
        "iss": "http://127.0.0.1",
        "aud": settings.client_id,
        "sub": settings.account,
        "email": settings.account,
        "preferred_username": settings.account,
        "iat": unix_seconds(now),
        "exp": unix_seconds(now + lifetime),
    });
    let answer = serde_json::json!({
        "access_token": access_token(&settings.key, &settings.account, now, now + lifetime),
        "token_type": "Bearer",
        "expires_in": settings.stated_lifetime(state.claimed_lifetime),
        "refresh_token": refresh_token,
        "scope": scope,
        "id_token": signed_jwt(&settings.key, &id_claims),
    });
    state.refresh_tokens.insert(refresh_token, scope.to_string());
    Response::json(200, answer)
}

fn random_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}
