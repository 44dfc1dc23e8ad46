//! `Desk`: what every stage needs, opened once at start and passed explicitly: the validated
//! config, the database, the templates, and the two HMAC signers (reply addresses, and the
//! Message-IDs of mail to the agent). Their key is generated once per database.

use anyhow::Context;

use crate::agent::authenticity::AgentMessageIds;
use crate::config::Config;
use crate::domain::TicketId;
use crate::oauth2::TokenSource;
use crate::outbound::compose::{Draft, Templates};
use crate::outbound::outbox::OutboxKind;
use crate::storage::{self, Db};
use crate::tickets::reply_address::ReplyAddressSigner;

pub struct Desk {
    pub config: Config,
    pub db: Db,
    pub templates: Templates,
    pub reply_addresses: ReplyAddressSigner,
    pub agent_message_ids: AgentMessageIds,
    /// The OAuth2 access tokens, when an edge logs in with `auth = "oauth2"`.
    pub tokens: Option<TokenSource>,
}

impl Desk {
    pub async fn open(config: Config) -> anyhow::Result<Desk> {
        let db =
            storage::open(config.database_url.expose(), config.database_busy_timeout, config.marks_mail_irreversibly())
                .await?;
        let templates = Templates::load(config.templates_dir.as_deref())?;
        // The signing key is made once per database, so it needs no config and survives restarts.
        let key = storage::setting_or_create(&db, "reply_address_key", || {
            format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
        })
        .await
        .context("cannot read the reply-address key")?;
        let reply_addresses = ReplyAddressSigner::new(key.as_bytes(), config.support_address());
        let agent_message_ids = AgentMessageIds::new(key.as_bytes());
        let tokens = match &config.oauth2 {
            Some(oauth2) => Some(TokenSource::new(db.clone(), oauth2)?),
            None => None,
        };
        Ok(Desk { config, db, templates, reply_addresses, agent_message_ids, tokens })
    }

    /// A mail from the desk to the agent. About a ticket, it carries the ticket's signed reply
    /// address and a Message-ID signed for the agent, so that his answer is authenticated and
    /// threads onto the ticket.
    /// `notice_to_agent` threaded under the desk's earlier mail to him about the ticket (its
    /// first and latest), so his mail client files alerts, feedback and follow-ups with it.
    pub async fn threaded_notice_to_agent(
        &self,
        tx: &mut crate::storage::Tx<'_>,
        kind: OutboxKind,
        ticket: TicketId,
        subject: String,
        body: String,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Draft> {
        let agent = self.config.agent.addresses[0].as_str();
        let references = crate::outbound::outbox::first_and_last_to_about(tx, ticket, agent).await?;
        Ok(Draft {
            in_reply_to: references.last().cloned(),
            references,
            ..self.notice_to_agent(kind, Some(ticket), subject, body, now)
        })
    }

    /// `now` is when its signed Message-ID is issued (its age is read from it).
    pub fn notice_to_agent(
        &self,
        kind: OutboxKind,
        ticket: Option<TicketId>,
        subject: String,
        body: String,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Draft {
        let config = &self.config;
        let agent = &config.agent.addresses[0];
        Draft {
            ticket,
            to: vec![config.agent_mailbox()],
            subject,
            body,
            reply_to: ticket.map(|ticket| self.reply_addresses.address_for(ticket)),
            auto_submitted: Some("auto-generated"),
            message_id: ticket.map(|ticket| {
                self.agent_message_ids.signed_message_id(ticket, agent, config.support_address().domain(), now)
            }),
            ..Draft::new(kind)
        }
    }
}
