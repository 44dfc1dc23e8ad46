//! The config's own checks: loading, overrides, secrets, and every problem at once.

use super::*;
use crate::domain::Tier;
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::path::Path;

const VALID: &str = r#"
[database]
url = "sqlite://helpdesk.db"
[imap]
host = "127.0.0.1"
port = 1143
username = "support@example.test"
password_env = "TEST_IMAP_PASSWORD"
[smtp]
host = "127.0.0.1"
port = 2525
from = "Support <support@example.test>"
[agent]
name = "Travis"
addresses = ["travis@example.test"]
timezone = "America/New_York"
[[clients]]
name = "Acme"
tier = "growth"
domains = ["acme.test"]
contacts = ["ops@partner.test"]
"#;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn commands_that_do_not_connect_load_without_the_mailbox_secret() {
    let required = Config::from_toml(VALID, &env(&[]), Path::new("/"));
    assert!(required.unwrap_err().problems[0].contains("TEST_IMAP_PASSWORD"));
    let offline = Config::from_toml_with(VALID, &env(&[]), Path::new("/"), Secrets::Optional).unwrap();
    let refused = offline.require_secrets().unwrap_err().to_string();
    assert!(refused.contains("imap.password_env") && refused.contains("TEST_IMAP_PASSWORD"), "{refused}");
    let with_secret =
        Config::from_toml_with(VALID, &env(&[("TEST_IMAP_PASSWORD", "s")]), Path::new("/"), Secrets::Optional);
    assert!(with_secret.unwrap().require_secrets().is_ok());
}

#[test]
fn a_valid_config_loads_with_secrets_redacted() {
    let config = Config::from_toml(VALID, &env(&[("TEST_IMAP_PASSWORD", "hunter2")]), Path::new("/etc/desk")).unwrap();
    let SourceConfig::Imap(imap) = &config.source else { panic!("imap expected") };
    let MailLogin::Password(password) = &imap.login else { panic!("a password login expected") };
    assert_eq!(password.expose_secret(), "hunter2");
    assert_eq!(config.database_url.expose(), "sqlite:///etc/desk/helpdesk.db");
    assert!(!format!("{config:?}").contains("hunter2"));
    assert_eq!(config.clients[0].tier, Tier::Growth);
}

#[test]
fn a_postgres_url_takes_its_password_from_password_env_and_never_shows_it() {
    let text = VALID.replace(
        "url = \"sqlite://helpdesk.db\"",
        "url = \"postgres://desk@db.internal:5432/helpdesk?sslmode=require\"\npassword_env = \"TEST_DB_PASSWORD\"",
    );
    let vars = env(&[("TEST_IMAP_PASSWORD", "s"), ("TEST_DB_PASSWORD", "p@ss/word")]);
    let config = Config::from_toml(&text, &vars, Path::new("/etc/desk")).unwrap();
    let url = url::Url::parse(config.database_url.expose()).unwrap();
    assert_eq!(url.password(), Some("p%40ss%2Fword"));
    assert_eq!(url.query(), Some("sslmode=require"));
    for shown in [format!("{config:?}"), config.database_url.to_string()] {
        assert!(!shown.contains("p%40ss") && !shown.contains("p@ss"), "{shown}");
        assert!(shown.contains("desk:***@db.internal"), "{shown}");
    }
    let without_variable = Config::from_toml(&text, &env(&[("TEST_IMAP_PASSWORD", "s")]), Path::new("/")).unwrap_err();
    assert!(without_variable.problems.iter().any(|p| p.contains("TEST_DB_PASSWORD")), "{without_variable:?}");
}

#[test]
fn a_database_url_of_another_kind_or_without_a_database_is_refused_without_its_password() {
    let vars = env(&[("TEST_IMAP_PASSWORD", "s")]);
    for (url, expected) in [
        ("mysql://root:secret@localhost/desk", "sqlite:// or postgres://"),
        ("postgres://u:secret@host:5432", "names no database"),
    ] {
        let text = VALID.replace("url = \"sqlite://helpdesk.db\"", &format!("url = {url:?}"));
        let problems = Config::from_toml(&text, &vars, Path::new("/")).unwrap_err().problems.join("\n");
        assert!(problems.contains(expected), "{problems}");
        assert!(!problems.contains("secret"), "{problems}");
    }
}

#[test]
fn environment_overrides_section_keys() {
    let config = Config::from_toml(
        VALID,
        &env(&[("TEST_IMAP_PASSWORD", "x"), ("HELPDESK_IMAP__PORT", "2143"), ("HELPDESK_AGENT__NAME", "Sam")]),
        Path::new("."),
    )
    .unwrap();
    let SourceConfig::Imap(imap) = &config.source else { panic!("imap expected") };
    assert_eq!(imap.port, 2143);
    assert_eq!(config.agent.name, "Sam");
}

#[test]
fn ca_file_is_read_and_checked_at_load() {
    let data = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"));
    let with = |imap_tls: &str, ca_file: &str| {
        let text = VALID.replace("port = 1143", &format!("port = 1143\ntls = \"{imap_tls}\"\nca_file = \"{ca_file}\""));
        Config::from_toml(&text, &env(&[("TEST_IMAP_PASSWORD", "x")]), data)
    };
    let config = with("tls", "tls/ca.pem").unwrap();
    let SourceConfig::Imap(imap) = &config.source else { panic!("imap") };
    let trusted = imap.ca_file.as_ref().unwrap();
    assert_eq!(trusted.path, data.join("tls/ca.pem"), "relative to the config file");
    assert_eq!(trusted.certificates().len(), 1);

    let problems = |result: Result<Config, ConfigErrors>| result.unwrap_err().to_string();
    let missing = problems(with("tls", "tls/missing.pem"));
    assert!(missing.contains("imap.ca_file: cannot read") && missing.contains("missing.pem"), "{missing}");
    let not_pem = problems(with("starttls", "sla/matrix.txt"));
    assert!(not_pem.contains("imap.ca_file") && not_pem.contains("no PEM certificate"), "{not_pem}");
    let plain = problems(with("none", "tls/ca.pem"));
    assert!(plain.contains("imap.ca_file: is used only with imap.tls"), "{plain}");
}

#[test]
fn the_example_config_loads_with_every_section() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/helpdesk.toml")).unwrap();
    for section in
        ["[imap]", "[smtp]", "[agent]", "[business_hours]", "[triage]", "[sla]", "[hours]", "[summary]", "[intake]"]
    {
        assert!(text.lines().any(|line| line.starts_with(section)), "{section} is not in the example");
    }
    let example = Config::from_toml(&text, &env(&[("HELPDESK_IMAP_PASSWORD", "x")]), Path::new("."));
    assert!(example.is_ok(), "examples/helpdesk.toml must load: {}", example.unwrap_err());
}

#[test]
fn every_problem_is_reported_with_its_key() {
    let broken = VALID
        .replace("port = 1143", "port = \"abc\"")
        .replace("tier = \"growth\"", "tier = \"platinum\"")
        .replace("America/New_York", "Mars/Olympus")
        + "\n[surprise]\nx = 1\n";
    let errors = Config::from_toml(&broken, &env(&[]), Path::new(".")).unwrap_err();
    let text = errors.to_string();
    for key in ["imap.port", "clients[0].tier", "agent.timezone", "imap.password_env", "surprise"] {
        assert!(text.contains(key), "{key} missing from:\n{text}");
    }
    assert_eq!(errors.problems.len(), 5, "{text}");
}

#[test]
fn every_flood_limit_is_at_least_one() {
    let keys = [
        "acknowledgements_per_sender_per_hour",
        "acknowledgements_per_domain_per_hour",
        "agent_notifications_per_sender_per_hour",
        "agent_notifications_per_domain_per_hour",
    ];
    let zeros: String = keys.iter().map(|key| format!("{key} = 0\n")).collect();
    let text = format!("{VALID}\n[intake]\n{zeros}");
    let errors = Config::from_toml(&text, &env(&[("TEST_IMAP_PASSWORD", "x")]), Path::new(".")).unwrap_err();
    let shown = errors.to_string();
    for key in keys {
        assert!(shown.contains(&format!("intake.{key}: expected an integer from 1")), "{key} missing from:\n{shown}");
    }
    assert_eq!(errors.problems.len(), 4, "{shown}");

    let ones: String = keys.iter().map(|key| format!("{key} = 1\n")).collect();
    let config =
        Config::from_toml(&format!("{VALID}\n[intake]\n{ones}"), &env(&[("TEST_IMAP_PASSWORD", "x")]), Path::new("."))
            .unwrap();
    assert_eq!(config.intake.acknowledgements_per_domain_per_hour, 1);
    assert_eq!(config.intake.agent_notifications_per_domain_per_hour, 1);
}

/// Every commented-out key of the example, switched on (but for the other source, the other
/// delivery, and files the test does not have): the reference documents only keys that read.
#[test]
fn every_key_the_example_documents_reads() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/helpdesk.toml")).unwrap();
    let key = regex::Regex::new(r"^# ?(\[\[?[a-z0-9_.]+\]\]?|[A-Za-z0-9_]+ = )").unwrap();
    let mut skipped_section = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        let uncommented = line.trim_start_matches('#').trim_start();
        if uncommented.starts_with('[') && (line.starts_with('[') || key.is_match(line)) {
            skipped_section =
                ["[maildir]", "[outbox_dir]", "[templates]"].contains(&uncommented.split_whitespace().next().unwrap());
        }
        let wanted = key.is_match(line) && !skipped_section && !uncommented.starts_with("ca_file");
        lines.push(if wanted { uncommented.to_string() } else { line.to_string() });
    }
    let all_keys = lines.join("\n");
    assert!(all_keys.contains("\npause_while_waiting = false"), "{all_keys}");
    let secrets = env(&[
        ("HELPDESK_IMAP_PASSWORD", "x"),
        ("HELPDESK_SMTP_PASSWORD", "y"),
        ("HELPDESK_OAUTH2_CLIENT_SECRET", "z"),
        KEY,
    ]);
    let config = Config::from_toml(&all_keys, &secrets, Path::new("."));
    let config = config.unwrap_or_else(|err| panic!("{err}\n{all_keys}"));
    assert_eq!(config.clients[0].period_anchor_day, 15);
    assert!(config.clients[0].contract.as_ref().is_some_and(|contract| contract.annual));
    assert_eq!(config.business_hours.holidays.len(), 2);
    assert_eq!(config.triage.rules[0].name, "payments down");
    assert_eq!(config.oauth2.as_ref().map(|oauth2| oauth2.redirect_port), Some(8765));
}

#[test]
fn unknown_blank_and_missing_keys_are_named_at_every_depth() {
    let broken = VALID.replace("name = \"Travis\"", "name = \"  \"\nshoe_size = 9")
        + "[[clients]]\ntier = \"starter\"\ndomains = [\"globex.test\"]\nmeeting = { every_days = 7, fist = \"x\" }\n"
        + "[sla.response.growth]\nP5 = \"2 hours\"\nP1 = \"soon\"\n[sla.response.gold]\nP0 = \"1 hour\"\n"
        + "[[triage.rules]]\nname = \"a\"\npattern = \"(\"\nseverity = \"P1\"\n[[triage.rules]]\nname = \"b\"\n";
    let errors = Config::from_toml(&broken, &env(&[("TEST_IMAP_PASSWORD", "x")]), Path::new(".")).unwrap_err();
    let text = errors.to_string();
    for expected in [
        "agent.name: must not be empty",
        "agent.shoe_size: unknown key (known: name, addresses, timezone,",
        "clients[1].name: is required",
        "clients[1].meeting.fist: unknown key (known: every_days, first, monthly_day, time)",
        "sla.response.growth.P5: unknown key (known: P0, P1, P2, P3, P0_after_hours, non_working_day)",
        "sla.response.growth.P1: \"soon\": expected \"N hours\"",
        "sla.response.gold: unknown tier \"gold\"",
        "triage.rules[0].pattern: not a valid regex",
        "triage.rules[1].pattern: is required",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
    assert!(!text.contains("agent.name: is required"), "a blank name is one problem:\n{text}");
    // A table that lacks a required key is reported for the first one only.
    assert_eq!(errors.problems.len(), 9, "{text}");
}

#[test]
fn a_wrong_item_of_a_list_keeps_its_place() {
    let broken = VALID.replace(
        "contacts = [\"ops@partner.test\"]",
        "contacts = [\"ops@partner.test\", \"nobody\", \"x@y.test\", \"neither\"]",
    );
    let errors = Config::from_toml(&broken, &env(&[("TEST_IMAP_PASSWORD", "x")]), Path::new(".")).unwrap_err();
    let text = errors.to_string();
    assert!(text.contains("clients[0].contacts[1]: \"nobody\" is not a mail address"), "{text}");
    assert!(text.contains("clients[0].contacts[3]: \"neither\" is not a mail address"), "{text}");
    assert_eq!(errors.problems.len(), 2, "{text}");
}

#[test]
fn an_override_is_checked_like_the_key_it_replaces() {
    let overrides = env(&[("TEST_IMAP_PASSWORD", "x"), ("HELPDESK_INTAKE__MAX_SECONDS_PER_MAIL", "0")]);
    let text = Config::from_toml(VALID, &overrides, Path::new(".")).unwrap_err().to_string();
    assert!(text.contains("intake.max_seconds_per_mail: expected an integer from 1 to 3600, found 0"), "{text}");
    let overrides = env(&[("TEST_IMAP_PASSWORD", "x"), ("HELPDESK_SLA__PAUSE_WHILE_WAITING", "true")]);
    assert!(Config::from_toml(VALID, &overrides, Path::new(".")).unwrap().sla.pause_while_waiting);
}

/// VALID with IMAP on OAuth2 and `oauth2` as its `[oauth2]` section.
fn with_oauth2(oauth2: &str) -> String {
    let text = VALID.replace("password_env = \"TEST_IMAP_PASSWORD\"", "auth = \"oauth2\"");
    assert!(text.contains("auth = \"oauth2\""), "VALID has an imap password_env");
    format!("{text}\n[oauth2]\n{oauth2}\n")
}

const KEY: (&str, &str) = ("HELPDESK_OAUTH2_KEY", "0123456789abcdef0123456789abcdef");

#[test]
fn oauth2_fills_the_providers_endpoints_and_scopes_and_keeps_its_secrets_out_of_debug() {
    let text = with_oauth2(
        "provider = \"microsoft\"\nclient_id = \"app-1\"\nclient_secret_env = \"SECRET\"\ntenant = \"agency.test\"",
    );
    let config = Config::from_toml(&text, &env(&[KEY, ("SECRET", "s3cr3t-value")]), Path::new("/")).unwrap();
    let SourceConfig::Imap(imap) = &config.source else { panic!("imap expected") };
    assert!(matches!(imap.login, MailLogin::OAuth2));
    let oauth2 = config.oauth2.as_ref().unwrap();
    assert_eq!(oauth2.token_url.as_str(), "https://login.microsoftonline.com/agency.test/oauth2/v2.0/token");
    assert!(oauth2.scopes.iter().any(|scope| scope == "offline_access"), "{:?}", oauth2.scopes);
    assert_eq!(oauth2.redirect_uri(), "http://127.0.0.1:8765/");
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cr3t-value") && !debug.contains(KEY.1), "{debug}");
}

#[test]
fn oauth2_mistakes_are_each_named_by_key() {
    let generic = with_oauth2("provider = \"generic\"\nclient_id = \"app\"\nauth_url = \"http://login.example.test/a\"\ntenant = \"x\"\nscopes = []");
    let problems =
        Config::from_toml(&generic, &env(&[("HELPDESK_OAUTH2_KEY", "short")]), Path::new("/")).unwrap_err().problems;
    let text = problems.join("\n");
    for expected in [
        "oauth2.auth_url: \"http://login.example.test/a\" must be https",
        "oauth2.token_url: is required with provider = \"generic\"",
        "oauth2.tenant: is for provider = \"microsoft\" only",
        "oauth2.scopes: give at least one scope",
        "oauth2.token_key: is 5 characters",
    ] {
        assert!(text.contains(expected), "{expected} missing in:\n{text}");
    }
    let missing = VALID.replace("password_env = \"TEST_IMAP_PASSWORD\"", "auth = \"oauth2\"");
    let problems = Config::from_toml(&missing, &env(&[KEY]), Path::new("/")).unwrap_err().problems.join("\n");
    assert!(problems.contains("imap.auth: \"oauth2\" needs an [oauth2] section"), "{problems}");
    let both = VALID.replace("password_env = \"TEST_IMAP_PASSWORD\"", "auth = \"oauth2\"\npassword = \"x\"");
    let problems = Config::from_toml(&both, &env(&[KEY]), Path::new("/")).unwrap_err().problems.join("\n");
    assert!(problems.contains("imap.password: auth = \"oauth2\" logs in with the [oauth2] grant"), "{problems}");
}

#[test]
fn the_token_key_is_required_to_connect_but_not_to_read_tickets() {
    let text = with_oauth2("provider = \"google\"\nclient_id = \"app\"");
    let problems = Config::from_toml(&text, &env(&[]), Path::new("/")).unwrap_err().problems.join("\n");
    assert!(
        problems.contains("oauth2.token_key_env: environment variable HELPDESK_OAUTH2_KEY is not set"),
        "{problems}"
    );
    let offline = Config::from_toml_with(&text, &env(&[]), Path::new("/"), Secrets::Optional).unwrap();
    assert!(offline.require_secrets().unwrap_err().to_string().contains("HELPDESK_OAUTH2_KEY"));
}
