//! The sample desk: Travis and three clients, one per tier (Acme on growth with a partner
//! contact, Globex on enterprise in Berlin, Initech on starter). It is the one definition the
//! unit tests, the integration tests, the end-to-end harness, the benches and the demo run;
//! each says what it needs different through a small knob (where mail comes from and goes, the
//! database, the agent's domain, one client's details, extra sections) instead of a copy.
//! It only writes config text: nothing here is part of what the desk does.

use std::collections::HashMap;
use std::path::Path;

use crate::config::Config;

/// Where the sample desk reads its mail.
#[derive(Clone, Debug)]
pub enum Source {
    /// `[maildir] path = ...`
    Maildir(String),
    /// `[imap]` with these keys (one `key = value` a line).
    Imap(String),
}

/// Where the sample desk sends its mail (`from` is the desk's `from` knob).
#[derive(Clone, Debug)]
pub enum Delivery {
    /// `[outbox_dir] path = ...`: mail written as files.
    OutboxDir(String),
    /// `[smtp]` with these keys (one `key = value` a line).
    Smtp(String),
}

/// One `[[clients]]` entry of the sample desk.
#[derive(Clone, Debug)]
pub struct SampleClient {
    pub name: String,
    pub tier: String,
    pub domains: Vec<String>,
    pub contacts: Vec<String>,
    pub timezone: Option<String>,
    /// `report_to` and `contact_name`: who gets the client's reports and hour-bank mail.
    pub report_to: Option<(String, String)>,
    /// `contract_start` and `contract_term`.
    pub contract: Option<(String, String)>,
}

impl SampleClient {
    fn new(name: &str, tier: &str, domain: &str) -> SampleClient {
        SampleClient {
            name: name.into(),
            tier: tier.into(),
            domains: vec![domain.into()],
            contacts: Vec::new(),
            timezone: None,
            report_to: None,
            contract: None,
        }
    }

    fn toml(&self) -> String {
        let mut text =
            format!("[[clients]]\nname = {:?}\ntier = {:?}\ndomains = {}\n", self.name, self.tier, list(&self.domains));
        if !self.contacts.is_empty() {
            text += &format!("contacts = {}\n", list(&self.contacts));
        }
        if let Some(timezone) = &self.timezone {
            text += &format!("timezone = {timezone:?}\n");
        }
        if let Some((address, name)) = &self.report_to {
            text += &format!("report_to = {address:?}\ncontact_name = {name:?}\n");
        }
        if let Some((start, term)) = &self.contract {
            text += &format!("contract_start = {start:?}\ncontract_term = {term:?}\n");
        }
        text
    }
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|item| format!("{item:?}")).collect::<Vec<_>>().join(", "))
}

/// The environment variable that picks the backend tests run on: `postgres`, or SQLite when
/// unset (`sqlite`). `scripts/test` runs the suite once with each.
pub const TEST_BACKEND_VAR: &str = "HELPDESK_TEST_DATABASE";

/// The PostgreSQL server tests use: `HELPDESK_TEST_POSTGRES`, or the local one.
pub fn test_postgres_server() -> String {
    std::env::var("HELPDESK_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// Whether this run's tests use PostgreSQL (see [`TEST_BACKEND_VAR`]).
pub fn testing_on_postgres() -> bool {
    match std::env::var(TEST_BACKEND_VAR).as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("{TEST_BACKEND_VAR}={other:?}: use sqlite or postgres"),
    }
}

/// The database URL for one test: `sqlite_url` on SQLite, and on PostgreSQL a database of
/// its own that no other test has used (the desk creates it on start; `scripts/test` drops
/// every `helpdesk_t_*` database before and after a run).
pub fn test_database_url(sqlite_url: &str) -> String {
    if !testing_on_postgres() {
        return sqlite_url.to_string();
    }
    fresh_postgres_database_url()
}

/// A PostgreSQL database no other test has used, whatever the backend under test: for the
/// tests of what only PostgreSQL offers (several desks on one database, a server that goes
/// away).
pub fn fresh_postgres_database_url() -> String {
    let name = format!("helpdesk_t_{}", uuid::Uuid::new_v4().simple());
    format!("{}/{name}", test_postgres_server().trim_end_matches('/'))
}

/// The sample desk as config text. `SampleDesk::new()` is the desk of the unit tests (an
/// in-memory database, folders that are never touched); the knobs change one thing each.
#[derive(Clone, Debug)]
pub struct SampleDesk {
    database_url: Option<String>,
    source: Source,
    delivery: Delivery,
    from: String,
    agent_address: String,
    clients: Vec<SampleClient>,
    sections: String,
}

impl Default for SampleDesk {
    fn default() -> SampleDesk {
        SampleDesk::new()
    }
}

impl SampleDesk {
    pub fn new() -> SampleDesk {
        let mut acme = SampleClient::new("Acme", "growth", "acme.test");
        acme.contacts = vec!["ops@partner.test".into()];
        let mut globex = SampleClient::new("Globex", "enterprise", "globex.test");
        globex.timezone = Some("Europe/Berlin".into());
        SampleDesk {
            database_url: Some(test_database_url("sqlite::memory:")),
            source: Source::Maildir("/nonexistent/maildir".into()),
            delivery: Delivery::OutboxDir("/nonexistent/outbox".into()),
            from: "Support <support@example.test>".into(),
            agent_address: "travis@example.test".into(),
            clients: vec![acme, globex, SampleClient::new("Initech", "starter", "initech.test")],
            sections: String::new(),
        }
    }

    /// `[database] url`; `None` leaves the section out, for a caller that adds its own.
    pub fn database(mut self, url: Option<&str>) -> SampleDesk {
        self.database_url = url.map(str::to_string);
        self
    }

    pub fn source(mut self, source: Source) -> SampleDesk {
        self.source = source;
        self
    }

    pub fn delivery(mut self, delivery: Delivery) -> SampleDesk {
        self.delivery = delivery;
        self
    }

    /// A Maildir source and an outbox folder at these paths (relative to the config's dir).
    pub fn folders(self, maildir: &str, outbox: &str) -> SampleDesk {
        self.source(Source::Maildir(maildir.into())).delivery(Delivery::OutboxDir(outbox.into()))
    }

    /// The desk's own `from` (`Support <support@example.test>` unless changed).
    pub fn from(mut self, from: &str) -> SampleDesk {
        self.from = from.into();
        self
    }

    /// The agent's one address (`travis@example.test` unless changed).
    pub fn agent_address(mut self, address: &str) -> SampleDesk {
        self.agent_address = address.into();
        self
    }

    /// Changes the client `name` (which must be one of the sample's).
    pub fn client(mut self, name: &str, change: impl FnOnce(&mut SampleClient)) -> SampleDesk {
        let client = self.clients.iter_mut().find(|client| client.name == name);
        change(client.unwrap_or_else(|| panic!("the sample desk has no client {name}")));
        self
    }

    /// Keeps only the clients named, in the sample's order.
    pub fn only_clients(mut self, names: &[&str]) -> SampleDesk {
        self.clients.retain(|client| names.contains(&client.name.as_str()));
        self
    }

    /// Appends config text (whole sections) after the clients.
    pub fn section(mut self, toml: &str) -> SampleDesk {
        self.sections.push_str(toml);
        self
    }

    /// The config text: one section a paragraph, in the order of `examples/helpdesk.toml`.
    pub fn toml(&self) -> String {
        let mut sections = Vec::new();
        if let Some(url) = &self.database_url {
            sections.push(format!("[database]\nurl = {url:?}\n"));
        }
        sections.push(match &self.source {
            Source::Maildir(path) => format!("[maildir]\npath = {path:?}\n"),
            Source::Imap(keys) => format!("[imap]\n{}\n", keys.trim_end()),
        });
        sections.push(match &self.delivery {
            Delivery::OutboxDir(path) => format!("[outbox_dir]\npath = {path:?}\nfrom = {:?}\n", self.from),
            Delivery::Smtp(keys) => format!("[smtp]\n{}\nfrom = {:?}\n", keys.trim_end(), self.from),
        });
        sections.push(format!(
            "[agent]\nname = \"Travis\"\naddresses = [{:?}]\ntimezone = \"America/New_York\"\n",
            self.agent_address
        ));
        sections.extend(self.clients.iter().map(SampleClient::toml));
        if !self.sections.is_empty() {
            sections.push(self.sections.clone());
        }
        sections.join("\n")
    }

    /// The config, paths read relative to `dir`.
    pub fn config(&self, dir: &Path) -> Config {
        Config::from_toml(&self.toml(), &HashMap::new(), dir).expect("the sample config is valid")
    }
}

/// The sample desk with an in-memory database and folders that are never touched.
pub fn sample_config() -> Config {
    SampleDesk::new().config(Path::new("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Tier;

    #[test]
    fn the_sample_desk_is_travis_and_three_clients_one_per_tier() {
        let config = sample_config();
        let clients: Vec<(&str, Tier)> =
            config.clients.iter().map(|client| (client.name.as_str(), client.tier)).collect();
        assert_eq!(clients, [("Acme", Tier::Growth), ("Globex", Tier::Enterprise), ("Initech", Tier::Starter)]);
        assert_eq!(config.agent.name, "Travis");
        assert_eq!(config.database_url.expose().starts_with("sqlite::memory:"), !testing_on_postgres());
    }

    #[test]
    fn knobs_change_only_what_they_name() {
        let toml = SampleDesk::new()
            .database(None)
            .folders("maildir", "outbox")
            .only_clients(&["Initech"])
            .client("Initech", |initech| initech.report_to = Some(("peter@initech.test".into(), "Peter".into())))
            .toml();
        assert!(!toml.contains("[database]") && toml.contains("path = \"maildir\""), "{toml}");
        assert!(!toml.contains("Acme") && toml.contains("report_to = \"peter@initech.test\""), "{toml}");
    }
}
