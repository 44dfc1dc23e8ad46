//! TLS for both mail edges (IMAP in, SMTP out): one rustls client configuration (the public
//! web roots plus the certificates of a configured `ca_file`) and one handshake whose error
//! names the config key that fixes an untrusted certificate.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::config::TrustedCertificates;

/// A client that trusts the public roots and, when configured, the certificates in `ca_file`.
pub fn connector(trusted: Option<&TrustedCertificates>) -> tokio_rustls::TlsConnector {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(trusted) = trusted {
        roots.add_parsable_certificates(trusted.certificates());
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Which server a handshake is for, and the key that names its CA file, for the error text.
pub struct TlsPeer<'a> {
    pub host: &'a str,
    pub trusted: Option<&'a TrustedCertificates>,
    /// "IMAP" or "SMTP".
    pub server: &'static str,
    /// "imap.ca_file" or "smtp.ca_file".
    pub ca_file_key: &'static str,
}

/// Runs the TLS handshake over an open TCP connection and checks the server's certificate.
pub async fn handshake(peer: &TlsPeer<'_>, tcp: TcpStream) -> anyhow::Result<TlsStream<TcpStream>> {
    let host = peer.host;
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string())
        .with_context(|| format!("{host} is not a valid TLS server name"))?;
    let server = peer.server;
    match connector(peer.trusted).connect(name, tcp).await {
        Ok(stream) => Ok(stream),
        Err(err) if err.to_string().contains("certificate") => Err(anyhow::anyhow!(
            "TLS handshake with the {server} server failed: {err} (a server with a private or self-signed certificate needs {})",
            peer.ca_file_key
        )),
        Err(err) => Err(anyhow::Error::new(err).context(format!("TLS handshake with the {server} server failed"))),
    }
}
