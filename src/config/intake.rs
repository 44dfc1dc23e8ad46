//! `[intake]`: what the desk does with the mail it takes in: acknowledgements, the agent's
//! notifications and their flood limits, size and time limits on reading one mail.

use serde::Deserialize;

use super::fields;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeConfig {
    /// Acknowledge mail from senders that belong to no client (default false).
    pub acknowledge_unknown_senders: bool,
    /// Send the agent a notification for each new ticket (default true).
    pub notify_agent: bool,
    /// At most this many acknowledgements to one mailbox per hour (default 5). A mailbox is an
    /// address without its `+detail`, in any case (`EmailAddress::mailbox_key`).
    #[serde(deserialize_with = "fields::int::<_, _, 1, 10_000>")]
    pub acknowledgements_per_sender_per_hour: u32,
    /// At most this many acknowledgements to one domain per hour (default 20): a loop that
    /// answers from `a1@`, `a2@` ... of one domain.
    #[serde(deserialize_with = "fields::int::<_, _, 1, 10_000>")]
    pub acknowledgements_per_domain_per_hour: u32,
    /// New tickets from one mailbox announced to the agent one by one per hour (default 20);
    /// past it, one notice says the rest are not announced (a broken script, a mail loop).
    #[serde(deserialize_with = "fields::int::<_, _, 1, 10_000>")]
    pub agent_notifications_per_sender_per_hour: u32,
    /// The same for all the mailboxes of one domain (default 50).
    #[serde(deserialize_with = "fields::int::<_, _, 1, 10_000>")]
    pub agent_notifications_per_domain_per_hour: u32,
    /// Mails larger than this are kept but only their headers are parsed (default 25 MB).
    #[serde(deserialize_with = "fields::int::<_, _, 1024, { 1 << 40 }>")]
    pub max_message_bytes: usize,
    /// A client's attachments travel with the agent's notification up to this many bytes in
    /// all (default 10 MB); the rest are named, and `helpdesk ticket attachment` saves one.
    #[serde(deserialize_with = "fields::int::<_, _, 0, { 1 << 40 }>")]
    pub forward_attachments_max_bytes: usize,
    /// Reading one mail (parsing, quote stripping) may take this long (default 30 s); past it
    /// the mail is kept aside raw with its problem, the agent is told, and intake goes on.
    #[serde(deserialize_with = "fields::int::<_, _, 1, 3600>")]
    pub max_seconds_per_mail: u64,
    /// Hold client mail that carries no passing DMARC (or aligned SPF) result from a trusted
    /// `Authentication-Results` header (`agent.trusted_authserv_ids`) (default false).
    pub require_sender_authentication: bool,
}

impl Default for IntakeConfig {
    fn default() -> IntakeConfig {
        IntakeConfig {
            acknowledge_unknown_senders: false,
            notify_agent: true,
            acknowledgements_per_sender_per_hour: 5,
            acknowledgements_per_domain_per_hour: 20,
            agent_notifications_per_sender_per_hour: 20,
            agent_notifications_per_domain_per_hour: 50,
            max_message_bytes: 25 * 1024 * 1024,
            forward_attachments_max_bytes: 10 * 1024 * 1024,
            max_seconds_per_mail: 30,
            require_sender_authentication: false,
        }
    }
}
