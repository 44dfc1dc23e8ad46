//! The SMTP side: kept connections per lane over the desk's own no-delay socket (plain,
//! STARTTLS or implicit TLS), login, and one mail's exchange with a time limit.

use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use secrecy::{ExposeSecret, SecretString};

use super::SendError;
use crate::config::{MailLogin, SmtpConfig, TlsMode};
use crate::oauth2::{AuthError, TokenSource};
use crate::tls::{self, TlsPeer};

/// One SMTP connection, opened on first use, reused for every mail, reopened after an error.
/// The socket (plain, STARTTLS or implicit TLS) has TCP_NODELAY: lettre writes a message and
/// its final `.` in two writes, and with Nagle's algorithm each mail would wait ~40 ms for the
/// server's delayed ACK.
pub struct SmtpSender {
    pub(super) config: SmtpConfig,
    pub(super) hello: ClientId,
    /// The access tokens, when `smtp.auth = "oauth2"`.
    pub(super) tokens: Option<TokenSource>,
    /// One kept connection per lane; lanes send at the same time.
    pub(super) connections: Vec<tokio::sync::Mutex<Option<KeptConnection>>>,
}

pub(super) struct KeptConnection {
    connection: AsyncSmtpConnection,
    last_used: std::time::Instant,
}

/// A kept connection idle longer than this is checked with NOOP before a mail goes over it:
/// servers close idle sessions (Postfix after 300 s), and a mail must never be handed over
/// twice just because the first try met a connection that was already gone.
pub(super) const CHECK_IDLE_CONNECTION_AFTER: Duration = Duration::from_secs(10);

/// How long one mail's SMTP exchange may take (MAIL FROM to the reply after the final `.`).
/// A silently dropped connection (a NAT that forgot it) otherwise blocks the lane, and with
/// it the desk's loop, until TCP gives up.
pub(super) const SEND_TIMEOUT: Duration = Duration::from_secs(120);

/// An implicit-TLS (port 465) session over the desk's own no-delay socket, handed to lettre
/// as an already open stream; lettre's own connector would leave Nagle's algorithm on.
#[derive(Debug)]
pub(super) struct ImplicitTls(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Why a session could not be opened.
pub enum Refusal {
    /// The server refused this access token: worth one more try with a refreshed one.
    Token {
        rejected: SecretString,
        why: String,
    },
    /// No token to log in with: a grant that needs a login, or a provider out of reach.
    NoToken(AuthError),
    Other(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Token { why, .. } | Refusal::Other(why) => f.write_str(why),
            Refusal::NoToken(err) => write!(f, "{err}"),
        }
    }
}

impl From<String> for Refusal {
    fn from(text: String) -> Refusal {
        Refusal::Other(text)
    }
}

/// Parallel SMTP connections. Mail to the same recipients always takes the same lane, so
/// each recipient still gets its mail in the order it was queued.
pub const SMTP_LANES: usize = 4;

/// The public roots plus `smtp.ca_file`'s certificates.
pub(super) fn tls_parameters(smtp: &SmtpConfig) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(smtp.host.clone());
    if let Some(trusted) = &smtp.ca_file {
        let certificate = Certificate::from_pem(&trusted.pem).map_err(|err| err.to_string())?;
        builder = builder.add_root_certificate(certificate);
    }
    builder.build_rustls().map_err(|err| err.to_string())
}

/// How long connecting, TLS, the greeting, EHLO and AUTH may take together: a server that
/// never greets (`tls = "none"` or `"starttls"` against an implicit-TLS port) fails the
/// attempt, and the mail is retried later, instead of holding its lane for minutes.
pub(super) const SESSION_SETUP_TIMEOUT: Duration = Duration::from_secs(60);

impl SmtpSender {
    pub(super) async fn connect(&self) -> Result<AsyncSmtpConnection, Refusal> {
        let smtp = &self.config;
        let session = async {
            match self.connect_without_deadline(None).await {
                Err(Refusal::Token { rejected, why }) => {
                    tracing::info!(error = why, "the SMTP server refused the access token: refreshing it once");
                    match self.connect_without_deadline(Some(&rejected)).await {
                        Err(Refusal::Token { why, .. }) => Err(Refusal::Other(why)),
                        other => other,
                    }
                }
                other => other,
            }
        };
        tokio::time::timeout(SESSION_SETUP_TIMEOUT, session).await.unwrap_or_else(|_| {
            Err(Refusal::Other(format!(
                "the SMTP server {}:{} did not finish greeting, TLS and login within {} s (is smtp.tls right for this port?)",
                smtp.host,
                smtp.port,
                SESSION_SETUP_TIMEOUT.as_secs()
            )))
        })
    }

    /// One session; `rejected` is the token the server refused on the try before, if any.
    async fn connect_without_deadline(&self, rejected: Option<&SecretString>) -> Result<AsyncSmtpConnection, Refusal> {
        let smtp = &self.config;
        let timeout = Duration::from_secs(30);
        let text = |err: lettre::transport::smtp::Error| {
            let text = err.to_string();
            if text.contains("certificate") {
                format!("{text} (a server with a private or self-signed certificate needs smtp.ca_file)")
            } else {
                text
            }
        };
        let tcp = tokio::time::timeout(timeout, tokio::net::TcpStream::connect((smtp.host.as_str(), smtp.port)))
            .await
            .map_err(|_| "timed out connecting".to_string())?
            .map_err(|err| err.to_string())?;
        tcp.set_nodelay(true).ok();
        let stream: Box<dyn AsyncTokioStream> = match smtp.tls {
            TlsMode::Tls => {
                let peer = TlsPeer {
                    host: &smtp.host,
                    trusted: smtp.ca_file.as_ref(),
                    server: "SMTP",
                    ca_file_key: "smtp.ca_file",
                };
                let handshake = tokio::time::timeout(timeout, tls::handshake(&peer, tcp))
                    .await
                    .map_err(|_| "timed out in the TLS handshake".to_string())?;
                Box::new(ImplicitTls(handshake.map_err(|err| format!("{err:#}"))?))
            }
            TlsMode::None | TlsMode::StartTls => Box::new(tcp),
        };
        let mut connection = AsyncSmtpConnection::connect_with_transport(stream, &self.hello).await.map_err(text)?;
        if smtp.tls == TlsMode::StartTls {
            connection.starttls(tls_parameters(smtp)?, &self.hello).await.map_err(text)?;
        }
        match &smtp.login {
            None => {}
            Some((username, MailLogin::Password(password))) => {
                let credentials = Credentials::new(username.clone(), password.expose_secret().to_string());
                connection.auth(&[Mechanism::Plain, Mechanism::Login], &credentials).await.map_err(text)?;
            }
            Some((username, MailLogin::OAuth2)) => {
                let tokens = self
                    .tokens
                    .as_ref()
                    .ok_or_else(|| "smtp.auth = \"oauth2\" needs the [oauth2] grant".to_string())?;
                let now = chrono::Utc::now();
                let token = match rejected {
                    Some(rejected) => tokens.bearer_after_rejection(rejected, now).await,
                    None => tokens.bearer(now).await,
                };
                let token = token.map_err(Refusal::NoToken)?;
                // lettre sends the XOAUTH2 string inline on the AUTH line.
                let credentials = Credentials::new(username.clone(), token.expose_secret().to_string());
                if let Err(err) = connection.auth(&[Mechanism::Xoauth2], &credentials).await {
                    let why = format!("SMTP XOAUTH2 login as {username} refused: {err}");
                    // A 5xx, or the server's error challenge (which lettre cannot answer); a
                    // cut connection is not a refusal of the token.
                    return Err(match err.is_permanent() || err.is_client() {
                        true => Refusal::Token { rejected: token, why },
                        false => Refusal::Other(why),
                    });
                }
            }
        }
        Ok(connection)
    }

    /// Hands one mail to the server over the lane's kept connection (checked first when it
    /// sat idle, opened anew when it is gone). A failure during the exchange is never retried
    /// at once: the server may have taken the mail before the connection broke, so the row
    /// waits for its retry time like any transient failure.
    pub(super) async fn send(&self, lane: usize, envelope: &Envelope, raw: &[u8]) -> Result<(), SendError> {
        let mut slot = self.connections[lane % self.connections.len()].lock().await;
        let usable = match slot.as_mut() {
            Some(kept) if !kept.connection.has_broken() => {
                kept.last_used.elapsed() < CHECK_IDLE_CONNECTION_AFTER
                    || tokio::time::timeout(Duration::from_secs(30), kept.connection.test_connected())
                        .await
                        .unwrap_or(false)
            }
            _ => false,
        };
        if !usable {
            *slot = None;
            let connection = self.connect().await.map_err(|refusal| match refusal {
                Refusal::NoToken(err) => SendError::NoToken(err),
                other => SendError::Transient(anyhow::anyhow!("cannot connect: {other}")),
            })?;
            *slot = Some(KeptConnection { connection, last_used: std::time::Instant::now() });
        }
        let kept = slot.as_mut().expect("connected above");
        let outcome = tokio::time::timeout(SEND_TIMEOUT, kept.connection.send(envelope, raw)).await;
        match outcome {
            Ok(Ok(_)) => {
                kept.last_used = std::time::Instant::now();
                Ok(())
            }
            // After any error the session state is unknown: start afresh next time.
            Ok(Err(err)) => {
                *slot = None;
                Err(if err.is_permanent() {
                    SendError::Permanent(err.into())
                } else {
                    SendError::Transient(err.into())
                })
            }
            Err(_) => {
                *slot = None;
                Err(SendError::Transient(anyhow::anyhow!(
                    "no answer from the SMTP server within {} s",
                    SEND_TIMEOUT.as_secs()
                )))
            }
        }
    }
}
