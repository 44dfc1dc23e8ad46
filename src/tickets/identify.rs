//! Who sent a mail: the agent, one of the configured clients, or nobody the desk knows.
//! Contact addresses win over domains, so a partner listed by address is never taken for the
//! client that owns the partner's domain. Pure.

use crate::config::{ClientConfig, Config};
use crate::domain::EmailAddress;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender<'c> {
    Agent,
    Client(&'c ClientConfig),
    Unknown,
}

impl<'c> Sender<'c> {
    pub fn client(self) -> Option<&'c ClientConfig> {
        match self {
            Sender::Client(client) => Some(client),
            _ => None,
        }
    }
}

/// Identifies by, in order: the agent's addresses, a client's contact addresses, a client's
/// domains (the domain itself or any subdomain of it).
pub fn identify_sender<'c>(config: &'c Config, address: Option<&EmailAddress>) -> Sender<'c> {
    let Some(address) = address else { return Sender::Unknown };
    if config.is_agent(address) {
        return Sender::Agent;
    }
    if let Some(client) = config.clients.iter().find(|client| client.contacts.contains(address)) {
        return Sender::Client(client);
    }
    let domain = address.domain();
    config
        .clients
        .iter()
        .find(|client| {
            client.domains.iter().any(|owned| {
                domain == owned || domain.strip_suffix(owned.as_str()).is_some_and(|rest| rest.ends_with('.'))
            })
        })
        .map(Sender::Client)
        .unwrap_or(Sender::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_config;

    fn check(address: &str, expected: &str) {
        let config = sample_config();
        let sender = identify_sender(&config, EmailAddress::parse(address).as_ref());
        let got = match sender {
            Sender::Agent => "agent".to_string(),
            Sender::Client(client) => client.name.clone(),
            Sender::Unknown => "unknown".to_string(),
        };
        assert_eq!(got, expected, "{address}");
    }

    #[test]
    fn contacts_then_domains_then_unknown() {
        check("travis@example.test", "agent");
        check("Jane@ACME.test", "Acme");
        check("it@eu.acme.test", "Acme");
        check("someone@notacme.test", "unknown");
        check("ops@partner.test", "Acme");
        check("other@partner.test", "unknown");
        check("cto@globex.test", "Globex");
    }
}
