//! The life of the signed Message-IDs that authenticate the agent's replies (the
//! `burned_agent_ids` table). A signed id proves a mail is the agent's only while no one else
//! has it:
//!
//! - **Burned**: an id the desk sees in a mail addressed to anyone but the agent and the desk
//!   (his reply with a client in Cc gives the client his copy of the id), or in a mail from
//!   anyone else, proves nothing from then on. The mail that carried it is processed first
//!   (it reaches support@ before any forgery made from it can), then the id is burned in the
//!   same transaction.
//! - **Expired**: an id older than `agent.signed_id_max_age_days` (30) proves nothing; ids
//!   are aged by their outbox row, else by the time they carry under the signature.
//!
//! A reply refused for either reason gets the agent a feedback mail saying so; that mail
//! carries a fresh id he can answer.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};

use super::authenticity::AgentMessageIds;
use crate::config::Config;
use crate::domain::{EmailAddress, MessageId};
use crate::inbound::parse::InboundMail;
use crate::outbound::outbox;
use crate::storage::{time_from_db, time_to_db, Tx};

/// Why a signed id in a mail proves nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Expired { max_age_days: i64 },
    Burned { since: DateTime<Utc> },
}

impl Refusal {
    /// What the agent is told.
    pub fn explain(&self, agent_timezone: chrono_tz::Tz) -> String {
        match self {
            Refusal::Expired { max_age_days } => format!(
                "it answers a mail the desk sent you more than {max_age_days} days ago (agent.signed_id_max_age_days), which no longer proves a mail is yours"
            ),
            Refusal::Burned { since } => format!(
                "the desk's mail it answers was also seen in a mail to someone else ({}), so it no longer proves a mail is yours",
                since.with_timezone(&agent_timezone).format("%a %b %-d, %-I:%M %p %Z")
            ),
        }
    }
}

/// The signed-looking ids a mail refers to that prove nothing, each with the reason.
pub async fn refused_ids(
    tx: &mut Tx<'_>,
    config: &Config,
    mail: &InboundMail,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<(MessageId, Refusal)>> {
    let max_age_days = config.agent.signed_id_max_age_days;
    let mut refused = Vec::new();
    for id in mail.referenced_ids().into_iter().filter(AgentMessageIds::looks_signed).take(20) {
        let burned: Option<String> = sqlx::query_scalar("SELECT burned_at FROM burned_agent_ids WHERE message_id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await
            .context("refused ids")?;
        if let Some(burned) = burned {
            refused.push((id, Refusal::Burned { since: time_from_db(&burned)? }));
            continue;
        }
        // The outbox row was written on the desk's clock (`--now` included); the time in the
        // id serves when the row is gone.
        let issued = match outbox::queued_at(tx, &id).await? {
            Some(queued) => Some(queued),
            None => AgentMessageIds::issued_at(&id),
        };
        if issued.is_none_or(|issued| now - issued > Duration::days(max_age_days)) {
            refused.push((id, Refusal::Expired { max_age_days }));
        }
    }
    Ok(refused)
}

/// Whether `address` is one of the desk's own (support@, and its `+tag` reply addresses).
fn is_desk_address(config: &Config, address: &EmailAddress) -> bool {
    let support = config.support_address();
    let local = address.local_part().split('+').next().unwrap_or_default();
    address.domain().eq_ignore_ascii_case(support.domain()) && local.eq_ignore_ascii_case(support.local_part())
}

/// Burns the signed ids of a mail that someone besides the agent and the desk has: the mail
/// is from someone else, or addressed to someone else too. Returns how many were burned.
pub async fn burn_if_leaked(
    tx: &mut Tx<'_>,
    config: &Config,
    mail: &InboundMail,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let from_agent = mail.from.as_ref().is_some_and(|from| config.is_agent(from));
    let outsider =
        mail.recipients.iter().find(|address| !config.is_agent(address) && !is_desk_address(config, address));
    if from_agent && outsider.is_none() {
        return Ok(0);
    }
    let seen_in = match (outsider, &mail.from) {
        (Some(outsider), _) => format!("a mail also addressed to {outsider}"),
        (None, Some(from)) => format!("a mail from {from}"),
        (None, None) => "a mail without a sender".to_string(),
    };
    let mut burned = 0;
    for id in mail.referenced_ids().into_iter().filter(AgentMessageIds::looks_signed).take(100) {
        let result = sqlx::query(
            "INSERT INTO burned_agent_ids (message_id, burned_at, seen_in) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(id.as_str())
        .bind(time_to_db(now))
        .bind(&seen_in)
        .execute(&mut **tx)
        .await
        .context("burn if leaked")?;
        burned += result.rows_affected() as usize;
    }
    if burned > 0 {
        tracing::warn!(burned, %seen_in, "signed ids of the desk's mail to the agent seen outside; they authenticate nothing from now on");
    }
    Ok(burned)
}
