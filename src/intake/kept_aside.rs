//! Mail the desk could not process: stored raw with its problem, aside, and the agent told.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::IntakeOutcome;
use crate::desk::Desk;
use crate::inbound::attempts;
use crate::inbound::cursor::advance_cursor;
use crate::inbound::parse::{body_not_read_problem, hex_prefix};
use crate::inbound::RawMail;
use crate::outbound::compose::build_mail;
use crate::outbound::outbox::{self, OutboxKind};
use crate::storage::begin_write;
use crate::tickets::kinds::AuthorKind;
use crate::tickets::store::{self, NewMessage};

/// The data of `templates/unprocessable.*`.
#[derive(Serialize)]
pub(crate) struct UnprocessableData<'a> {
    pub arrived: String,
    pub bytes: usize,
    pub error: &'a str,
    /// The stored message's id (`helpdesk held show N`).
    pub message: i64,
}

/// Stores a mail the desk could not process, with nothing derived from its content, and
/// tells the agent (once: a second attempt finds the row).
pub(super) async fn keep_unprocessable(
    desk: &Desk,
    raw: &RawMail,
    error: &str,
    attempt: Option<&attempts::Attempt>,
    now: DateTime<Utc>,
) -> anyhow::Result<IntakeOutcome> {
    use sha2::{Digest, Sha256};
    let dedupe_key = format!("unprocessable:{}", hex_prefix(&Sha256::digest(&raw.bytes)));
    let reason = "kept aside: the desk failed while processing it".to_string();
    let mut problem = format!("{}{error}", store::UNPROCESSABLE_PROBLEM);
    // Only the headers were fetched: say so, so that taking it in later knows.
    if let Some(size) = raw.headers_only_of {
        problem = format!("{problem}; {}", body_not_read_problem(size, desk.config.intake.max_message_bytes));
    }
    let mut tx = begin_write(&desk.db).await?;
    if !store::is_already_recorded(&mut tx, &dedupe_key).await? {
        let message = NewMessage {
            ticket: None,
            dedupe_key: &dedupe_key,
            message_id: None,
            in_reply_to: None,
            references: &[],
            author_kind: AuthorKind::Unknown,
            sender: "(not read)",
            sender_name: None,
            subject: "",
            body_text: "",
            attachments_json: "[]",
            automated_reason: None,
            parse_problem: Some(&problem),
            desk_failed: true,
            thread_reason: &reason,
            arrived_at: raw.arrived_at,
            raw: &raw.bytes,
        };
        let message_row = store::insert_message(&mut tx, &message, now).await?;
        let config = &desk.config;
        let data = UnprocessableData {
            arrived: config.agent_local_time(raw.arrived_at),
            bytes: raw.bytes.len(),
            error,
            message: message_row,
        };
        let draft = desk.notice_to_agent(
            OutboxKind::Unprocessable,
            None,
            desk.templates.render_line("unprocessable.subject", &data)?,
            desk.templates.render("unprocessable.txt", &data)?,
            now,
        );
        outbox::enqueue(&mut tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
    }
    if let Some(cursor) = &raw.cursor {
        advance_cursor(&mut tx, cursor).await?;
    }
    if let Some(attempt) = attempt {
        attempts::finish(&mut tx, attempt).await?;
    }
    tx.commit().await?;
    Ok(IntakeOutcome::HeldAside { reason })
}
