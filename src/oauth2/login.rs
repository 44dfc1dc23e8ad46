//! `helpdesk auth login`: the two ways a person signs the desk in. The authorization code
//! flow with PKCE (S256) and a random `state`, the browser coming back to a listener on
//! http://127.0.0.1:PORT/ or its address pasted on standard input; and the device flow
//! (RFC 8628). Both end in a stored grant. The URL building and redirect reading are pure.

use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

use super::endpoint::{DeviceStart, Granted, TokenEndpoint, TokenError};
use super::grant::{self, SealedTokens, SignedIn};
use super::seal::TokenKey;
use crate::config::{OAuth2Config, Provider};
use crate::storage::Db;
use crate::text::one_line;

/// How long a login waits for the person.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// A PKCE verifier and its S256 challenge (RFC 7636).
pub struct Pkce {
    pub verifier: SecretString,
    pub challenge: String,
}

/// 32 random bytes, base64url without padding (43 characters).
pub fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| anyhow::anyhow!("the system has no random numbers"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl Pkce {
    pub fn new() -> anyhow::Result<Pkce> {
        Ok(Pkce::from_verifier(random_token()?))
    }

    pub fn from_verifier(verifier: String) -> Pkce {
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
        Pkce { verifier: SecretString::from(verifier), challenge }
    }
}

/// The address the person opens to sign in.
pub fn authorization_url(config: &OAuth2Config, state: &str, challenge: &str) -> Url {
    let mut url = config.auth_url.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", &config.redirect_uri())
            .append_pair("scope", &config.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        if config.provider == Provider::Google {
            // Without these Google issues no refresh token on a second sign-in.
            query.append_pair("access_type", "offline").append_pair("prompt", "consent");
        }
    }
    url
}

/// Text from the provider or a browser, as shown: one line, control characters escaped,
/// at most `max` characters.
fn outside(text: &str, max: usize) -> String {
    one_line(text).chars().take(max).collect()
}

/// What a redirect carried.
#[derive(Debug, PartialEq, Eq)]
pub enum Redirect {
    Code(String),
    /// The provider said no (`error=access_denied`, ...), with its description.
    Refused(String),
    /// Not for this login: no or another `state`, or neither code nor error.
    NotOurs(String),
}

/// Reads a redirected address (as the listener got it, or as pasted: with or without the
/// scheme and host) for the code of the login whose state is `state`.
pub fn read_redirect(address: &str, state: &str) -> Redirect {
    // As copied from an address bar or a mail: maybe quoted or in angle brackets.
    let address = address.trim().trim_matches(|c: char| "\"'<>‹›«»".contains(c) || c.is_whitespace());
    let url = Url::parse(address).or_else(|_| Url::parse("http://127.0.0.1/").and_then(|base| base.join(address))).ok();
    let Some(url) = url else { return Redirect::NotOurs("not an address".into()) };
    let value = |name: &str| url.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned());
    match value("state") {
        None => return Redirect::NotOurs("it has no state: paste the whole address the browser ended on".into()),
        Some(given) if given != state => {
            return Redirect::NotOurs("its state is not this login's (an old or foreign link)".into())
        }
        Some(_) => {}
    }
    match (value("code"), value("error")) {
        (Some(code), None) if !code.is_empty() => Redirect::Code(code),
        (_, Some(error)) => {
            let description = value("error_description").unwrap_or_default();
            Redirect::Refused(outside(format!("{error} {description}").trim(), 300))
        }
        _ => Redirect::NotOurs("it carries no code".into()),
    }
}

/// The grant as stored after a login.
pub struct LoggedIn {
    pub account: String,
    pub scopes: String,
}

/// The authorization code flow: prints the URL, waits for the browser's redirect or a
/// pasted address, exchanges the code and stores the grant.
pub async fn login_with_browser(db: &Db, config: &OAuth2Config, mailbox: &str) -> anyhow::Result<LoggedIn> {
    let state = random_token()?;
    let pkce = Pkce::new()?;
    let listener = TcpListener::bind(("127.0.0.1", config.redirect_port)).await.map_err(|err| {
        anyhow::anyhow!(
            "cannot listen on 127.0.0.1:{} for the browser's redirect ({err}): set oauth2.redirect_port to a free port (and register http://127.0.0.1:PORT/ with the provider)",
            config.redirect_port
        )
    })?;
    println!(
        "Open this address in a browser and sign in with the account that may open {mailbox}:\n\n{}\n",
        authorization_url(config, &state, &pkce.challenge)
    );
    println!(
        "Waiting for the browser to come back to {}. On a machine without a browser, open the address elsewhere, then paste here the address the browser ends on (it may fail to load: that is expected).",
        config.redirect_uri()
    );
    let code = tokio::time::timeout(LOGIN_TIMEOUT, wait_for_code(listener, &state))
        .await
        .map_err(|_| anyhow::anyhow!("no sign-in within {} minutes", LOGIN_TIMEOUT.as_secs() / 60))??;
    let endpoint = TokenEndpoint::new(config)?;
    let granted = endpoint.exchange_code(&code, &pkce.verifier).await.map_err(login_refused)?;
    store(db, config, mailbox, granted).await
}

/// The device flow: prints where to go and the code, polls at the server's pace.
pub async fn login_with_device(db: &Db, config: &OAuth2Config, mailbox: &str) -> anyhow::Result<LoggedIn> {
    let endpoint = TokenEndpoint::new(config)?;
    let start = endpoint.start_device().await.map_err(login_refused)?;
    let (code, uri) = (outside(&start.user_code, 64), outside(&start.verification_uri, 500));
    println!("On any device, open {uri} and enter the code {code} (sign in with the account that may open {mailbox}).");
    if let Some(complete) = &start.verification_uri_complete {
        println!("Or open {}", outside(complete, 500));
    }
    let granted = poll_device(&endpoint, &start).await?;
    store(db, config, mailbox, granted).await
}

async fn poll_device(endpoint: &TokenEndpoint, start: &DeviceStart) -> anyhow::Result<Granted> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(start.expires_in.min(LOGIN_TIMEOUT.as_secs()));
    let mut interval = Duration::from_secs(start.interval.clamp(1, 60));
    loop {
        tokio::time::sleep(interval).await;
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "the device code expired before the sign-in was finished: run `helpdesk auth login --device` again"
            );
        }
        match endpoint.poll_device(&start.device_code).await {
            Ok(granted) => return Ok(granted),
            Err(TokenError::Pending) => {}
            Err(TokenError::SlowDown) => {
                interval += Duration::from_secs(5);
                tracing::debug!(interval_secs = interval.as_secs(), "the provider asked to poll more slowly");
            }
            Err(err) => return Err(login_refused(err)),
        }
    }
}

fn login_refused(err: TokenError) -> anyhow::Error {
    anyhow::anyhow!("the sign-in was not completed: {err}")
}

async fn store(db: &Db, config: &OAuth2Config, mailbox: &str, granted: Granted) -> anyhow::Result<LoggedIn> {
    if granted.refresh_token.is_none() {
        tracing::warn!("the provider issued no refresh token: the desk must sign in again when the access token expires (Microsoft: add the offline_access scope)");
    }
    let now = Utc::now();
    let tokens = SealedTokens::seal(&TokenKey::from_secret(&config.token_key), &granted, now)?;
    let account = granted.account.clone().unwrap_or_else(|| mailbox.to_string());
    let scopes = granted.scope.clone().unwrap_or_else(|| config.scopes.join(" "));
    let login = SignedIn {
        provider: config.provider.as_str().to_string(),
        client_id: config.client_id.clone(),
        account: account.clone(),
        scopes: scopes.clone(),
        tokens,
    };
    grant::store_login(db, &login, now).await?;
    Ok(LoggedIn { account, scopes })
}

/// The code, from whichever comes first with this login's state: a request to the listener
/// or a line on standard input. Anything else is answered and waited past.
async fn wait_for_code(listener: TcpListener, state: &str) -> anyhow::Result<String> {
    let mut pasted = pasted_lines();
    let mut browsed = browser_redirects(listener, state.to_string());
    let mut stdin_open = true;
    loop {
        let redirect = tokio::select! {
            Some(redirect) = browsed.recv() => redirect,
            line = pasted.recv(), if stdin_open => match line {
                Some(line) if line.trim().is_empty() => continue,
                Some(line) => read_redirect(&line, state),
                None => { stdin_open = false; continue }
            },
        };
        match redirect {
            Redirect::Code(code) => return Ok(code),
            Redirect::Refused(why) => anyhow::bail!("the provider refused the sign-in: {why}"),
            Redirect::NotOurs(why) => println!("That address is not this sign-in's ({why}); still waiting."),
        }
    }
}

/// What the browser brings to the listener, each connection answered on a task of its own
/// (a silent connection holds up no other). Only requests with a code or an error are passed
/// on; favicons and probes are answered and dropped.
fn browser_redirects(listener: TcpListener, state: String) -> tokio::sync::mpsc::Receiver<Redirect> {
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let (sender, state) = (sender.clone(), state.clone());
            tokio::spawn(async move {
                let redirect = answer_browser(stream, &state).await;
                if !matches!(&redirect, Redirect::NotOurs(why) if why == NO_REQUEST) {
                    let _ = sender.send(redirect).await;
                }
            });
        }
    });
    receiver
}

/// Why a connection that sent no request within the time limit is dropped.
const NO_REQUEST: &str = "no request";

/// Lines typed or pasted on standard input. Read on a thread of their own: a read of the
/// terminal cannot be cancelled, and on the runtime's blocking pool it would keep the
/// process from exiting after the browser brought the code.
fn pasted_lines() -> tokio::sync::mpsc::Receiver<String> {
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if sender.blocking_send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

/// Reads one request from the browser and answers it with a short page.
async fn answer_browser(mut stream: tokio::net::TcpStream, state: &str) -> Redirect {
    let mut head = vec![0u8; 8192];
    let mut length = 0;
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while length < head.len() && !head[..length].windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut head[length..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => length += n,
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&head[..length]);
    let target = text.lines().next().and_then(|line| line.split(' ').nth(1)).unwrap_or("");
    let redirect = if read.is_err() || target.is_empty() {
        Redirect::NotOurs(NO_REQUEST.into())
    } else {
        read_redirect(target, state)
    };
    let (status, message) = match &redirect {
        Redirect::Code(_) => ("200 OK", "Signed in: the desk has the sign-in. You can close this tab."),
        Redirect::Refused(_) => ("200 OK", "The sign-in was refused; see the terminal."),
        Redirect::NotOurs(_) => ("404 Not Found", "Not this sign-in's address."),
    };
    let page = format!("<!doctype html><meta charset=utf-8><title>helpdesk</title><p>{message}</p>\n");
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{page}",
        page.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
    redirect
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn config(provider: Provider) -> OAuth2Config {
        OAuth2Config {
            provider,
            client_id: "client-1".into(),
            client_secret: None,
            auth_url: Url::parse("https://login.example.test/authorize?tenant=x").unwrap(),
            token_url: Url::parse("https://login.example.test/token").unwrap(),
            device_auth_url: None,
            scopes: vec!["https://mail.example.test/".into(), "offline_access".into()],
            redirect_port: 8765,
            token_key: SecretString::from("k".repeat(32)),
        }
    }

    #[test]
    fn the_pkce_challenge_is_the_rfc_7636_example() {
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(pkce.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(Pkce::new().unwrap().verifier.expose_secret().len(), 43);
    }

    #[test]
    fn the_authorization_url_asks_for_a_code_with_pkce_and_state() {
        let url = authorization_url(&config(Provider::Microsoft), "st4te", "ch4llenge");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        assert_eq!(get("tenant"), Some("x"), "the configured URL's own query is kept");
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("redirect_uri"), Some("http://127.0.0.1:8765/"));
        assert_eq!(get("scope"), Some("https://mail.example.test/ offline_access"));
        assert_eq!((get("state"), get("code_challenge_method")), (Some("st4te"), Some("S256")));
        assert_eq!(get("access_type"), None);
        let google = authorization_url(&config(Provider::Google), "s", "c");
        assert!(google.query().unwrap().contains("access_type=offline&prompt=consent"), "{google}");
    }

    #[test]
    fn a_redirect_gives_its_code_only_with_this_logins_state() {
        let url = "http://127.0.0.1:8765/?code=4%2F0Ab&state=abc&scope=x";
        assert_eq!(read_redirect(url, "abc"), Redirect::Code("4/0Ab".into()));
        assert_eq!(read_redirect("/?state=abc&code=c1", "abc"), Redirect::Code("c1".into()), "the listener's target");
        assert_eq!(read_redirect("  127.0.0.1:8765/?state=abc&code=c2 ", "abc"), Redirect::Code("c2".into()));
        assert!(matches!(read_redirect("http://127.0.0.1:8765/?code=c&state=other", "abc"), Redirect::NotOurs(_)));
        assert!(
            matches!(read_redirect("http://127.0.0.1:8765/?code=c", "abc"), Redirect::NotOurs(why) if why.contains("paste the whole address"))
        );
        assert_eq!(read_redirect("\"http://127.0.0.1:8765/?code=c3&state=abc\"", "abc"), Redirect::Code("c3".into()));
        assert_eq!(read_redirect("<http://127.0.0.1:8765/?code=c4&state=abc>", "abc"), Redirect::Code("c4".into()));
        assert_eq!(read_redirect("?code=c5&state=abc", "abc"), Redirect::Code("c5".into()), "the query alone");
        assert!(matches!(read_redirect("/favicon.ico", "abc"), Redirect::NotOurs(_)));
        let denied =
            "http://127.0.0.1:8765/?error=access_denied&error_description=The+user+said+no%0A%1b[31m&state=abc";
        let escaped = Redirect::Refused("access_denied The user said no\\n\\u{1b}[31m".into());
        assert_eq!(read_redirect(denied, "abc"), escaped, "control characters shown escaped");
    }
}
