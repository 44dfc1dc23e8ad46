//! `Desk`: what every stage needs, opened once at start and passed explicitly: the validated
//! config, the database, the templates, and the two HMAC signers (reply addresses, and the
//! Message-IDs of mail to the agent). Their key is generated once per database.

use anyhow::Context;

use crate::agent::authenticity::AgentMessageIds;
use crate::config::Config;
use crate::outbound::compose::Templates;
use crate::storage::{self, Db};
use crate::tickets::reply_address::ReplyAddressSigner;

pub struct Desk {
    pub config: Config,
    pub db: Db,
    pub templates: Templates,
    pub reply_addresses: ReplyAddressSigner,
    pub agent_message_ids: AgentMessageIds,
}

impl Desk {
    pub async fn open(config: Config) -> anyhow::Result<Desk> {
        let db =
            storage::open(&config.database_url, config.database_busy_timeout, config.marks_mail_irreversibly()).await?;
        let templates = Templates::load(config.templates_dir.as_deref())?;
        // The signing key is made once per database, so it needs no config and survives restarts.
        let key = storage::setting_or_create(&db, "reply_address_key", || {
            format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
        })
        .await
        .context("cannot read the reply-address key")?;
        let reply_addresses = ReplyAddressSigner::new(key.as_bytes(), config.support_address());
        let agent_message_ids = AgentMessageIds::new(key.as_bytes());
        Ok(Desk { config, db, templates, reply_addresses, agent_message_ids })
    }
}
