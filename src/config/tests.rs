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
    assert_eq!(imap.password.expose_secret(), "hunter2");
    assert_eq!(config.database_url, "sqlite:///etc/desk/helpdesk.db");
    assert!(!format!("{config:?}").contains("hunter2"));
    assert_eq!(config.clients[0].tier, Tier::Growth);
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
