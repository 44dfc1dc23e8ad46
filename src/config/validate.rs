//! The rules across sections and between clients, run once every section is read: each
//! broken rule is a problem at the key a person would change.

use std::collections::BTreeMap;

use super::agent::AgentConfig;
use super::clients::ClientConfig;
use super::intake::IntakeConfig;
use super::read::Reader;
use crate::domain::EmailAddress;

/// Authenticating senders needs the servers whose results are trusted.
pub(super) fn sender_authentication(reader: &mut Reader, intake: &IntakeConfig, agent: Option<&AgentConfig>) {
    if intake.require_sender_authentication && agent.is_some_and(|agent| agent.trusted_authserv_ids.is_empty()) {
        reader.problem(
            "intake.require_sender_authentication",
            "needs agent.trusted_authserv_ids: the servers whose Authentication-Results prove a sender",
        );
    }
}

/// A domain or contact belongs to one client, never the agent; names differ in more than case
/// (commands find clients by name in any case). Returns the clients in file order.
pub(super) fn clients(
    reader: &mut Reader,
    clients: Vec<(String, ClientConfig)>,
    agent: Option<&AgentConfig>,
) -> Vec<ClientConfig> {
    let mut owner_of_domain: BTreeMap<&str, &str> = BTreeMap::new();
    let mut owner_of_contact: BTreeMap<&EmailAddress, &str> = BTreeMap::new();
    for (index, (key, client)) in clients.iter().enumerate() {
        for (position, domain) in client.domains.iter().enumerate() {
            if let Some(other) = owner_of_domain.insert(domain, &client.name) {
                let message = format!("{domain} already belongs to client {other}");
                reader.problem(&format!("{key}.domains[{position}]"), message);
            }
        }
        for (position, contact) in client.contacts.iter().enumerate() {
            if agent.is_some_and(|agent| agent.addresses.contains(contact)) {
                reader.problem(&format!("{key}.contacts[{position}]"), format!("{contact} is the agent's own address"));
            }
            if let Some(other) = owner_of_contact.insert(contact, &client.name) {
                let message = format!("{contact} already belongs to client {other}");
                reader.problem(&format!("{key}.contacts[{position}]"), message);
            }
        }
        let earlier = clients[..index].iter().map(|(_, client)| client);
        if let Some(other) = earlier.clone().find(|other| other.name.eq_ignore_ascii_case(&client.name)) {
            let message = if other.name == client.name {
                format!("client {} is defined twice", client.name)
            } else {
                format!(
                    "client {} and client {} differ only in case (commands find clients by name in any case)",
                    client.name, other.name
                )
            };
            reader.problem(&format!("{key}.name"), message);
        }
    }
    clients.into_iter().map(|(_, client)| client).collect()
}
