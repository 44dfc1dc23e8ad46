//! A private mail lab on 127.0.0.1: Dovecot (IMAP with IDLE, LMTP) and Postfix (SMTP,
//! delivering to Dovecot over LMTP), from the Debian packages, configured and started in a
//! temporary directory, stopped on drop. Any address at the lab's domains is a mailbox with
//! the password `secret`. Needs root (Dovecot switches to `nobody`, Postfix to `postfix`).
//! `start_with_tls` adds TLS, `start_with_oauth2` SASL XOAUTH2 and OAUTHBEARER with bearer
//! tokens that Dovecot checks itself (see `LabOAuth2`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use async_imap::Session;
use base64::Engine as _;
use futures::TryStreamExt;
use hmac::{Hmac, KeyInit, Mac};
use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sha2::Sha256;
use tokio::net::TcpStream;

pub const LAB_DOMAINS: &[&str] = &["example.test", "acme.test", "globex.test", "initech.test", "stranger.test"];
pub const PASSWORD: &str = "secret";
/// Postfix refuses mail to this address with a permanent error (550).
pub const REJECTED_RECIPIENT: &str = "rejected@initech.test";

pub struct MailLab {
    pub dir: PathBuf,
    pub smtp_port: u16,
    pub imap_port: u16,
    /// Set by `start_with_tls`.
    pub tls: Option<LabTls>,
    /// Set by `start_with_oauth2`.
    pub oauth2: Option<LabOAuth2>,
    _temp: tempfile::TempDir,
}

/// A lab started with `start_with_tls`: Dovecot offers STARTTLS on `imap_port` and implicit TLS
/// on `imaps_port`, Postfix STARTTLS on `smtp_port` and implicit TLS on `smtps_port`, all with
/// a certificate for 127.0.0.1 signed by the lab's own CA.
pub struct LabTls {
    pub imaps_port: u16,
    pub smtps_port: u16,
    /// The lab CA's certificate (PEM): what the desk must trust.
    pub ca_file: PathBuf,
    /// Another CA's certificate, which did not sign the servers' certificate.
    pub other_ca_file: PathBuf,
}

/// A lab started with `start_with_oauth2`: besides passwords (PLAIN, LOGIN), Dovecot takes SASL
/// XOAUTH2 and OAUTHBEARER on IMAP with bearer tokens that are HS256 JWTs signed with `key`,
/// which it validates itself (no introspection endpoint), and Postfix offers SMTP AUTH (PLAIN
/// LOGIN XOAUTH2 OAUTHBEARER) through Dovecot's auth service. Mail from 127.0.0.1 is still
/// taken without AUTH.
pub struct LabOAuth2 {
    /// The HS256 key Dovecot checks tokens with: 32 random bytes, new for each lab.
    pub key: Vec<u8>,
}

impl LabOAuth2 {
    /// An access token for `user` that Dovecot takes from now until `lifetime` has passed.
    pub fn token(&self, user: &str, lifetime: Duration) -> String {
        let now = SystemTime::now();
        access_token(&self.key, user, now, now + lifetime)
    }

    /// An access token for `user`, rightly signed, that expired a minute ago.
    pub fn expired_token(&self, user: &str) -> String {
        let now = SystemTime::now();
        access_token(&self.key, user, now - Duration::from_secs(120), now - Duration::from_secs(60))
    }
}

/// An access token as the lab's Dovecot validates it: an HS256 JWT signed with `key`, valid
/// from `issued_at` until `expires_at`, whose `email` claim (Dovecot's `username_attribute`)
/// must equal the user logging in. Dovecot refuses a token without `sub`; `iat` and `nbf` are
/// optional, but one issued in the future is refused.
pub fn access_token(key: &[u8], user: &str, issued_at: SystemTime, expires_at: SystemTime) -> String {
    let claims = serde_json::json!({
        "sub": user,
        "email": user,
        "iat": unix_seconds(issued_at),
        "exp": unix_seconds(expires_at),
    });
    signed_jwt(key, &claims)
}

/// `claims` as a JWT (RFC 7519) signed with HMAC-SHA256 and `key`: base64url (no padding) of
/// the header, of the claims, and of the MAC of the two joined by a dot. Without `kid` and
/// `azp` claims, Dovecot looks the key up as `default/HS256/default` in its key dict.
pub fn signed_jwt(key: &[u8], claims: &serde_json::Value) -> String {
    let base64url = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = base64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let signed = format!("{header}.{}", base64url(claims.to_string().as_bytes()));
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(signed.as_bytes());
    format!("{signed}.{}", base64url(&mac.finalize().into_bytes()))
}

/// Seconds since 1970, as JWT times are (0 for a time before).
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map(|since| since.as_secs()).unwrap_or(0)
}

/// Makes the lab's HS256 key and Dovecot's oauth2 passdb settings under `dir`: the key,
/// base64-encoded, in the file `keys/default/HS256/default` of the key dict, readable by the
/// auth process (group `dovecot`), and `oauth2.conf.ext`.
fn make_oauth2_key(dir: &Path) -> LabOAuth2 {
    let mut key = vec![0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut key).unwrap();
    let key_dir = dir.join("keys/default/HS256");
    std::fs::create_dir_all(&key_dir).unwrap();
    write(&key_dir.join("default"), &base64::engine::general_purpose::STANDARD.encode(&key));
    let keys = dir.join("keys");
    for (program, args) in [("chgrp", ["-R", "dovecot"]), ("chmod", ["-R", "u=rwX,g=rX,o="])] {
        assert!(Command::new(program).args(args).arg(&keys).status().unwrap().success(), "{program} {args:?}");
    }
    write(
        &dir.join("oauth2.conf.ext"),
        &format!(
            "introspection_mode = local\nlocal_validation_key_dict = fs:posix:prefix={}/\n\
             username_attribute = email\n",
            keys.display()
        ),
    );
    LabOAuth2 { key }
}

/// Makes a CA and a server certificate for 127.0.0.1 and localhost under `dir` with the
/// openssl command: `ca.pem`, `server.pem` (the chain), `server.key`, and `other-ca.pem`.
fn make_certificates(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed (apt-get install openssl)");
        assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    for (name, subject) in [("ca", "/CN=Helpdesk Lab CA"), ("other-ca", "/CN=Some Other CA")] {
        let (key, cert) = (format!("{name}.key"), format!("{name}.pem"));
        let mut args = vec!["req", "-x509", "-days", "2", "-subj", subject, "-keyout", &key, "-out", &cert];
        args.extend(ec);
        args.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
        openssl(&args);
    }
    let mut args = vec!["req", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"];
    args.extend(ec);
    openssl(&args);
    write(
        &dir.join("server.ext"),
        "subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = CA:FALSE\n\
         keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n",
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]);
    let chain = std::fs::read_to_string(dir.join("server.crt")).unwrap()
        + &std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    write(&dir.join("server.pem"), &chain);
    for file in ["server.key", "server.pem"] {
        assert!(Command::new("chmod").arg("644").arg(dir.join(file)).status().unwrap().success());
    }
}

/// What a lab has besides plain IMAP, LMTP and SMTP.
#[derive(Clone, Copy, Default)]
struct LabFeatures {
    tls: bool,
    oauth2: bool,
}

/// The parts of the servers' configuration that `start_with_oauth2` changes.
struct LabAuthSettings {
    /// Dovecot's `auth_mechanisms`.
    mechanisms: &'static str,
    /// Restricts the password passdb to the password mechanisms (a line, or nothing).
    password_mechanisms: &'static str,
    /// The passdb that validates bearer tokens.
    oauth2_passdb: String,
    /// More Dovecot settings: auth logging, the auth socket Postfix asks, no auth penalty.
    auth_extras: &'static str,
    /// Postfix's SMTP AUTH through Dovecot.
    postfix_sasl: String,
}

impl LabAuthSettings {
    fn new(dir: &Path, oauth2: bool) -> LabAuthSettings {
        let d = dir.display();
        if !oauth2 {
            return LabAuthSettings {
                mechanisms: "plain login",
                password_mechanisms: "",
                oauth2_passdb: String::new(),
                auth_extras: "",
                postfix_sasl: String::new(),
            };
        }
        LabAuthSettings {
            mechanisms: "plain login xoauth2 oauthbearer",
            password_mechanisms: "\n  mechanisms = plain login",
            oauth2_passdb: format!(
                "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {d}/oauth2.conf.ext\n}}\n"
            ),
            // Without the anvil-auth-penalty socket the auth process keeps no penalty per
            // client IP: else each refused token delays the next login from 127.0.0.1 by 2,
            // 4, 8 then 15 s, a valid one included (auth_failure_delay is another delay).
            // auth_verbose logs why a token was refused ("Token has expired").
            auth_extras: "auth_verbose = yes
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
",
            postfix_sasl: format!(
                "smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = {d}/run/auth-postfix\n"
            ),
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
}

impl MailLab {
    pub fn start() -> MailLab {
        MailLab::start_lab(LabFeatures::default())
    }

    /// A lab whose servers also speak TLS (see `LabTls`).
    pub fn start_with_tls() -> MailLab {
        MailLab::start_lab(LabFeatures { tls: true, ..LabFeatures::default() })
    }

    /// A lab whose servers also take OAuth2 bearer tokens (see `LabOAuth2`).
    pub fn start_with_oauth2() -> MailLab {
        MailLab::start_lab(LabFeatures { oauth2: true, ..LabFeatures::default() })
    }

    fn start_lab(features: LabFeatures) -> MailLab {
        // Short and outside /root: unix socket paths are limited to 107 bytes, and the
        // dovecot, postfix and nobody users must be able to traverse it.
        let temp = tempfile::Builder::new().prefix("hdlab.").tempdir_in("/tmp").unwrap();
        let dir = temp.path().to_path_buf();
        let smtp_port = free_port();
        let imap_port = free_port();
        let d = dir.display();
        for sub in ["run", "state", "log", "mail", "pf/conf", "pf/queue", "pf/data"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let chmod = |path: &Path, mode: &str| {
            assert!(Command::new("chmod").arg(mode).arg(path).status().unwrap().success());
        };
        chmod(&dir, "755");
        chmod(&dir.join("mail"), "777");
        assert!(Command::new("chown").arg("postfix").arg(dir.join("pf/data")).status().unwrap().success());
        let tls = features.tls.then(|| {
            make_certificates(&dir.join("tls"));
            LabTls {
                imaps_port: free_port(),
                smtps_port: free_port(),
                ca_file: dir.join("tls/ca.pem"),
                other_ca_file: dir.join("tls/other-ca.pem"),
            }
        });
        let dovecot_ssl = match &tls {
            None => "ssl = no".to_string(),
            Some(_) => format!("ssl = yes\nssl_cert = <{d}/tls/server.pem\nssl_key = <{d}/tls/server.key"),
        };
        let imaps_listener = match &tls {
            None => "port = 0".to_string(),
            Some(tls) => format!("address = 127.0.0.1\n    port = {}", tls.imaps_port),
        };
        let postfix_tls = match &tls {
            None => String::new(),
            Some(_) => format!(
                "smtpd_tls_cert_file = {d}/tls/server.pem\nsmtpd_tls_key_file = {d}/tls/server.key\n\
                 smtpd_tls_security_level = may\nsmtpd_tls_loglevel = 1\n"
            ),
        };
        let smtps_listener = match &tls {
            None => String::new(),
            Some(tls) => format!("127.0.0.1:{} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes\n", tls.smtps_port),
        };
        let oauth2 = features.oauth2.then(|| make_oauth2_key(&dir));
        let auth = LabAuthSettings::new(&dir, oauth2.is_some());
        let LabAuthSettings { mechanisms, password_mechanisms, oauth2_passdb, auth_extras, postfix_sasl } = auth;

        write(
            &dir.join("dovecot.conf"),
            &format!(
                r#"base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log/dovecot.log
listen = 127.0.0.1
protocols = imap lmtp
{dovecot_ssl}
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
mail_location = maildir:{d}/mail/%d/%n/Maildir
first_valid_uid = 1
mail_max_userip_connections = 1000
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
passdb {{
  driver = static
  args = password={PASSWORD}{password_mechanisms}
}}
{oauth2_passdb}userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/mail/%d/%n allow_all_users=yes
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    {imaps_listener}
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
{auth_extras}"#
            ),
        );
        write(
            &dir.join("pf/conf/main.cf"),
            &format!(
                r#"compatibility_level = 3.6
queue_directory = {d}/pf/queue
data_directory = {d}/pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = lab.test
mydomain = lab.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = check_recipient_access texthash:{d}/pf/conf/rejected_recipients, permit_mynetworks, reject
virtual_mailbox_domains = {domains}
virtual_mailbox_maps = static:ok
virtual_transport = lmtp:unix:{d}/run/lmtp
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
maillog_file = {d}/log/postfix.log
maillog_file_prefixes = {d}/log
alias_maps =
alias_database =
biff = no
smtputf8_enable = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
message_size_limit = 52428800
{postfix_tls}{postfix_sasl}"#,
                domains = LAB_DOMAINS.join(", ")
            ),
        );
        write(
            &dir.join("pf/conf/master.cf"),
            &format!(
                "127.0.0.1:{smtp_port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
tlsmgr    unix  - - n 1000? 1 tlsmgr
{smtps_listener}"
            ),
        );
        write(&dir.join("pf/conf/rejected_recipients"), &format!("{REJECTED_RECIPIENT} 550 5.1.1 no such user here\n"));
        // Postfix pauses ~300 ms per config file changed in the last second: backdate them.
        for file in ["pf/conf/main.cf", "pf/conf/master.cf", "pf/conf/rejected_recipients", "dovecot.conf"] {
            assert!(Command::new("touch")
                .args(["-d", "2 minutes ago"])
                .arg(dir.join(file))
                .status()
                .unwrap()
                .success());
        }
        let lab = MailLab { dir, smtp_port, imap_port, tls, oauth2, _temp: temp };
        lab.start_dovecot();
        lab.start_postfix();
        lab.wait_until_listening(lab.imap_port);
        lab.wait_until_listening(lab.smtp_port);
        if let Some(tls) = &lab.tls {
            lab.wait_until_listening(tls.imaps_port);
            lab.wait_until_listening(tls.smtps_port);
        }
        lab
    }

    /// The whole of one server log under the lab's `log/` ("dovecot.log", "postfix.log"), empty
    /// while not written yet. Both servers write through a log process: a line may appear a
    /// few milliseconds after what it tells of.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join("log").join(name)).unwrap_or_default()
    }

    fn log_file(&self, name: &str) -> std::fs::File {
        std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("log").join(name)).unwrap()
    }

    pub fn start_dovecot(&self) {
        let status = Command::new("dovecot")
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(self.log_file("dovecot.out"))
            .stderr(self.log_file("dovecot.out"))
            .status()
            .expect("dovecot is installed (apt-get install dovecot-imapd dovecot-lmtpd)");
        assert!(status.success(), "dovecot failed to start: {}", self.logs());
    }

    pub fn start_postfix(&self) {
        let status = Command::new("postfix")
            .arg("-c")
            .arg(self.dir.join("pf/conf"))
            .arg("start")
            .stdin(Stdio::null())
            .stdout(self.log_file("postfix.out"))
            .stderr(self.log_file("postfix.out"))
            .status()
            .expect("postfix is installed (apt-get install postfix)");
        assert!(status.success(), "postfix failed to start: {}", self.logs());
    }

    /// Stops Dovecot (IMAP and LMTP) and waits until it is gone, open IMAP sessions included
    /// (as a server restart or crash would end them).
    pub fn stop_dovecot(&self) {
        let Some(master) = server_master(&self.dir.join("run/master.pid"), "dovecot") else { return };
        let children = Command::new("pgrep").args(["-P", &master.pid]).output().map(|o| o.stdout).unwrap_or_default();
        let children: Vec<LabProcess> =
            String::from_utf8_lossy(&children).split_whitespace().filter_map(LabProcess::find).collect();
        master.stop();
        for child in children {
            child.stop();
        }
    }

    /// Stops Postfix (the SMTP port closes; queued mail stays queued) and waits until it is gone.
    pub fn stop_postfix(&self) {
        stop_postfix_master(&self.dir);
    }

    /// Starts Postfix again after `stop_postfix` and waits for its SMTP port.
    pub fn restart_postfix(&self) {
        self.start_postfix();
        self.wait_until_listening(self.smtp_port);
    }

    /// Starts Dovecot again after `stop_dovecot` and waits for its IMAP port.
    pub fn restart_dovecot(&self) {
        self.start_dovecot();
        self.wait_until_listening(self.imap_port);
    }

    fn wait_until_listening(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "port {port} never opened: {}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The servers' logs, last lines first in mind: a failure is usually at the end, and CI
    /// shows only part of a long message.
    pub fn logs(&self) -> String {
        const TAIL_LINES: usize = 60;
        let mut text = self.queue_listing();
        for name in ["postfix.log", "postfix.out", "dovecot.log", "dovecot.out"] {
            if let Ok(content) = std::fs::read_to_string(self.dir.join("log").join(name)) {
                let lines: Vec<&str> = content.lines().collect();
                let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
                text.push_str(&format!("\n== last {TAIL_LINES} lines of {name} ==\n{tail}"));
            }
        }
        text
    }

    /// What Postfix still holds, as `mailq` prints it (queue ID, size, reason, recipients).
    fn queue_listing(&self) -> String {
        let output = Command::new("postqueue").arg("-c").arg(self.dir.join("pf/conf")).arg("-p").output();
        match output {
            Ok(output) => format!("\n== postqueue -p ==\n{}", String::from_utf8_lossy(&output.stdout)),
            Err(error) => format!("\n== postqueue -p failed: {error} =="),
        }
    }

    /// Sends a mail through Postfix as a client would; the envelope comes from From/To.
    pub async fn send(&self, from: &str, to: &str, eml: &str) {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(self.smtp_port)
            .hello_name(lettre::transport::smtp::extension::ClientId::Domain("client.test".into()))
            .build();
        let envelope = Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
        transport
            .send_raw(&envelope, eml.replace("\r\n", "\n").replace('\n', "\r\n").as_bytes())
            .await
            .expect("Postfix accepts the mail");
    }

    pub async fn imap(&self, user: &str) -> Session<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", self.imap_port)).await.unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap();
        let mut session = client.login(user, PASSWORD).await.map_err(|(err, _)| err).unwrap();
        session.select("INBOX").await.unwrap();
        session
    }

    /// Every mail in `user`'s INBOX, read over IMAP, oldest first.
    pub async fn mails_received_by(&self, user: &str) -> Vec<Vec<u8>> {
        let mut session = self.imap(user).await;
        let fetched: Vec<_> = session
            .uid_fetch("1:*", "BODY.PEEK[]")
            .await
            .unwrap()
            .try_collect()
            .await
            .expect("the IMAP fetch succeeds");
        let mut mails: Vec<(u32, Vec<u8>)> =
            fetched.iter().filter_map(|f| Some((f.uid?, f.body()?.to_vec()))).collect();
        mails.sort();
        session.logout().await.ok();
        mails.into_iter().map(|(_, body)| body).collect()
    }

    /// Waits until `user` has at least `count` mails (Postfix delivers in milliseconds; the
    /// generous limit only bounds a failing test).
    pub async fn wait_for_mails(&self, user: &str, count: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mails = self.mails_received_by(user).await;
            if mails.len() >= count || Instant::now() > deadline {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the first mail in `user`'s INBOX whose Subject starts with `prefix`. Postfix
    /// delivers mail queued in one run in any order, so a test that wants one of several mails
    /// picks it by subject, never by position.
    pub async fn wait_for_mail_with_subject(&self, user: &str, prefix: &str) -> Vec<u8> {
        let subject = |mail: &[u8]| {
            let parsed = mail_parser::MessageParser::default().parse_headers(mail);
            parsed.and_then(|m| m.subject().map(str::to_string)).unwrap_or_default()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mails = self.mails_received_by(user).await;
            if let Some(position) = mails.iter().position(|mail| subject(mail).starts_with(prefix)) {
                return mails.into_iter().nth(position).unwrap();
            }
            if Instant::now() > deadline {
                let subjects: Vec<String> = mails.iter().map(|mail| subject(mail)).collect();
                panic!("no mail to {user} with a subject starting {prefix:?}, only {subjects:?}: {}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until Postfix's queue is empty: everything accepted has been delivered (or
    /// bounced), so counting a mailbox afterwards misses no late copy.
    pub async fn wait_for_empty_queue(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let queued = || -> usize {
            ["maildrop", "incoming", "active", "deferred", "hold"]
                .iter()
                .map(|queue| count_files(&self.dir.join("pf/queue").join(queue)))
                .sum()
        };
        while queued() > 0 {
            assert!(Instant::now() < deadline, "Postfix's queue never emptied: {}", self.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the support mailbox holds `count` mails, so a test starts from a known state.
    pub async fn wait_for_support_mail(&self, count: usize) {
        let mails = self.wait_for_mails("support@example.test", count).await;
        assert!(mails.len() >= count, "only {} of {count} mails reached support@: {}", mails.len(), self.logs());
    }

    /// Puts a mail straight into a mailbox with IMAP APPEND (for corpus mail that an MTA
    /// would rewrite or refuse).
    pub async fn append(&self, user: &str, raw: &[u8]) -> bool {
        let mut session = self.imap(user).await;
        let ok = session.append("INBOX", None, None, raw).await.is_ok();
        session.logout().await.ok();
        ok
    }

    /// Puts a mail (LF or CRLF line ends) into `user`'s INBOX with IMAP APPEND and the arrival
    /// time `arrived` (its INTERNALDATE, which the desk takes as the mail's arrival), so that a
    /// test can run on a fixed calendar with `--now`. An APPEND that fails fails the test. The
    /// time must be in the past: Dovecot gives a mail dated in the future the real arrival time.
    pub async fn append_arrived_at(&self, user: &str, eml: &str, arrived: chrono::DateTime<chrono::Utc>) {
        assert!(arrived < chrono::Utc::now(), "Dovecot would not keep the arrival time {arrived}: it is in the future");
        let raw = eml.replace("\r\n", "\n").replace('\n', "\r\n");
        let internal_date = arrived.format("\"%d-%b-%Y %H:%M:%S +0000\"").to_string();
        let mut session = self.imap(user).await;
        session
            .append("INBOX", None, Some(&internal_date), raw.as_bytes())
            .await
            .unwrap_or_else(|err| panic!("APPEND to {user} at {internal_date}: {err}"));
        session.logout().await.ok();
    }
}

/// Files under `dir`, at any depth (Postfix hashes queue files into subfolders).
fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => count_files(&entry.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}

/// The master process named in a server's pid file, if that pid is still the server's
/// (`program` is its /proc/PID/comm): a pid file left by a killed server may name a pid the
/// kernel has given to another process since.
fn server_master(pid_file: &Path, program: &str) -> Option<LabProcess> {
    let pid = std::fs::read_to_string(pid_file).ok()?.trim().to_string();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if comm.trim() != program {
        return None;
    }
    LabProcess::find(&pid)
}

fn stop_postfix_master(dir: &Path) {
    if let Some(master) = server_master(&dir.join("pf/queue/pid/master.pid"), "master") {
        master.stop();
    }
}

/// One process of a lab server, named by its pid and its start time, so that a pid the kernel
/// has since given to another process is never signalled.
struct LabProcess {
    pid: String,
    start_time: String,
}

impl LabProcess {
    fn find(pid: &str) -> Option<LabProcess> {
        let (_, start_time) = Self::state_and_start_time(pid)?;
        Some(LabProcess { pid: pid.to_string(), start_time })
    }

    /// The state letter and start time (fields 3 and 22 of /proc/PID/stat; the command name
    /// before them may hold spaces, so they are counted from its closing parenthesis).
    fn state_and_start_time(pid: &str) -> Option<(String, String)> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        Some((fields.first()?.to_string(), fields.get(19)?.to_string()))
    }

    /// Still this process and not a zombie (nobody may reap an orphan in a container, and a
    /// zombie holds no socket).
    fn running(&self) -> bool {
        Self::state_and_start_time(&self.pid).is_some_and(|(state, start)| state != "Z" && start == self.start_time)
    }

    fn signal(&self, signal: &str) {
        if self.running() {
            let _ = Command::new("kill").args([signal, &self.pid]).stderr(Stdio::null()).status();
        }
    }

    /// SIGTERM, then SIGKILL if the process is still there after 10 s; returns once it is gone,
    /// so no process of a stopped server still holds a listening socket.
    fn stop(&self) {
        for signal in ["-TERM", "-KILL"] {
            self.signal(signal);
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.running() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for MailLab {
    fn drop(&mut self) {
        stop_postfix_master(&self.dir);
        self.stop_dovecot();
    }
}
