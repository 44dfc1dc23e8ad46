//! The hour-bank emails: when logged time carries a client past 75% or 100% of its bank for
//! the period, the SOP's "Support Hours Update" or "Support Hours Depleted" email goes to the
//! client (its `report_to`, else the requester at hand) with the agent in copy, at most once
//! per period and threshold (`bank_alerts`), in the transaction that logged the time.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::bank::{dollars, hours_text, period_containing, thresholds_crossed, BankRules};
use super::ledger::{bank_alert_recorded, client_period, record_bank_alert, ClientPeriod};
use crate::config::ClientConfig;
use crate::desk::Desk;
use crate::domain::{EmailAddress, TicketId};
use crate::outbound::compose::{build_mail, first_name, Draft};
use crate::outbound::outbox;
use crate::outbound::outbox::OutboxKind;
use crate::storage::Tx;

/// What the time was for, and who asked.
pub struct BankAlertContext<'a> {
    pub ticket: Option<TicketId>,
    pub request: &'a str,
    pub requester: Option<(EmailAddress, Option<String>)>,
    /// The agent's estimate for the request (`#estimate`), quoted at the overage rate.
    pub estimate_minutes: Option<u32>,
    /// The request was resolved by the reply that used the hours up: the depleted email then
    /// speaks of further requests this period (and goes out after the resolved email).
    pub request_resolved: bool,
}

/// The data of `templates/hours_75.*` and `templates/hours_100.*`: hours as "7.5" (no "h"),
/// money as "$150" (no ".00").
#[derive(Debug, Serialize)]
pub(crate) struct HoursAlertData<'a> {
    pub(crate) client: &'a str,
    pub(crate) first_name: String,
    pub(crate) used_hours: String,
    pub(crate) available_hours: String,
    pub(crate) remaining_hours: String,
    /// Per hour over the bank.
    pub(crate) overage_rate: String,
    /// The period's month ("November").
    pub(crate) month: String,
    /// When the hours refresh ("December 1").
    pub(crate) refresh_date: String,
    /// The request quoted, or "further requests this period".
    pub(crate) request: String,
    /// The agent's `#estimate`, quoted at the overage rate.
    pub(crate) estimate: Option<EstimateQuote>,
    /// The next tier up, if there is one.
    pub(crate) upgrade: Option<UpgradeOffer>,
    pub(crate) agent_name: &'a str,
}

/// `estimate` in `HoursAlertData`.
#[derive(Debug, Serialize)]
pub(crate) struct EstimateQuote {
    pub(crate) hours: String,
    /// "hour" or "hours".
    pub(crate) unit: &'static str,
    pub(crate) total: String,
}

/// `upgrade` in `HoursAlertData`.
#[derive(Debug, Serialize)]
pub(crate) struct UpgradeOffer {
    /// In capitals, as the SOP writes tiers.
    pub(crate) tier: String,
    pub(crate) price: String,
    pub(crate) hours: String,
}

/// Whether `client` has used up its hours for the period of `date`, with the bank when so.
/// Hours are used up only after time logged crossed 100%, which recorded the 100% email: the
/// record is looked up first, and the bank computed (to confirm it, say after a larger bank
/// was configured) only then. Every new ticket's notification asks this.
pub async fn hours_used_up(
    tx: &mut Tx<'_>,
    desk: &Desk,
    client: &ClientConfig,
    date: chrono::NaiveDate,
) -> anyhow::Result<Option<ClientPeriod>> {
    let period = period_containing(date, client.period_anchor_day);
    if !bank_alert_recorded(&mut *tx, &client.name, &period, 100).await? {
        return Ok(None);
    }
    let (bank, used_up) = bank_used_up(tx, desk, client, date).await?;
    Ok(used_up.then_some(bank))
}

/// The period's bank of `client` on `work_date`, and whether it is used up.
pub async fn bank_used_up(
    tx: &mut Tx<'_>,
    desk: &Desk,
    client: &ClientConfig,
    work_date: chrono::NaiveDate,
) -> anyhow::Result<(ClientPeriod, bool)> {
    let period = period_containing(work_date, client.period_anchor_day);
    let bank = client_period(&mut *tx, &desk.config, client, period).await?;
    let statement = &bank.statement;
    let used_up = statement.available_minutes > 0 && statement.used_minutes() >= statement.available_minutes;
    Ok((bank, used_up))
}

/// `#estimate`: the SOP's "Support Hours Depleted" email for a new request, sent before the
/// work (SOP "100% Used (before doing additional work)"), with the agent's estimate priced at
/// the overage rate. Refused (with the reason, for the agent) while hours are left.
pub async fn offer_options_for_request(
    desk: &Desk,
    tx: &mut Tx<'_>,
    client: &ClientConfig,
    context: BankAlertContext<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<(), String>> {
    let today = now.with_timezone(&desk.config.agent.timezone).date_naive();
    let (bank, used_up) = bank_used_up(tx, desk, client, today).await?;
    if !used_up {
        let statement = &bank.statement;
        return Ok(Err(format!(
            "{} has used {} of {} hours this period: the \"Support Hours Depleted\" email was not sent",
            client.name,
            hours_text(statement.used_minutes()).trim_end_matches('h'),
            hours_text(statement.available_minutes).trim_end_matches('h'),
        )));
    }
    queue_bank_alert(desk, tx, client, &bank, 100, &context, now).await
}

/// Compares the bank before the new entries (`before`) with now, and queues the email of the
/// highest threshold crossed (one entry past both lines sends only the depleted email).
pub async fn after_time_logged(
    desk: &Desk,
    tx: &mut Tx<'_>,
    client: &ClientConfig,
    before: &ClientPeriod,
    context: BankAlertContext<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let period = period_containing(before.period_start, client.period_anchor_day);
    let after = client_period(&mut *tx, &desk.config, client, period).await?;
    let used = |bank: &ClientPeriod| bank.statement.used_minutes();
    let crossed = thresholds_crossed(after.statement.available_minutes, used(before), used(&after));
    let Some(percent) = crossed.last().copied() else { return Ok(()) };
    let mut first_time = false;
    for recorded in &crossed {
        first_time |= record_bank_alert(&mut *tx, &client.name, &period, *recorded, now).await? && *recorded == percent;
    }
    // The same reply's `#estimate` sends the depleted email itself, with the estimate: one
    // mail, not two.
    let estimate_follows = percent >= 100 && context.estimate_minutes.is_some();
    if first_time && !estimate_follows {
        if let Err(reason) = queue_bank_alert(desk, tx, client, &after, percent, &context, now).await? {
            tracing::warn!(client = %client.name, percent, %reason, "hour-bank email not sent");
        }
    }
    Ok(())
}

/// The SOP's "Support Hours Update" (75%) or "Support Hours Depleted" (100%) email, to the
/// client's report address (or the requester), with the agent in copy. `Err` says why it
/// could not be addressed (no address, or one lettre cannot write in a header).
async fn queue_bank_alert(
    desk: &Desk,
    tx: &mut Tx<'_>,
    client: &ClientConfig,
    bank: &ClientPeriod,
    percent: u8,
    context: &BankAlertContext<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<(), String>> {
    let config = &desk.config;
    let (to, name) = match (&client.report_to, &context.requester) {
        (Some(address), _) => (address.clone(), client.contact_name.clone()),
        (None, Some((address, name))) => (address.clone(), name.clone()),
        (None, None) => return Ok(Err(format!("{} has no report_to address", client.name))),
    };
    let Ok(to) = to.as_str().parse::<lettre::Address>() else {
        return Ok(Err(format!("the address {to} cannot be written in a mail header")));
    };
    let statement = &bank.statement;
    let upgrade = client.tier.next().map(|next| {
        let included = config.hours.tiers.get(&next).cloned().unwrap_or_else(|| BankRules::for_tier(next));
        let hours = hours_text(included.included_minutes).trim_end_matches('h').to_string();
        UpgradeOffer {
            tier: next.as_str().to_uppercase(),
            price: dollars(next.monthly_price_cents()).trim_end_matches(".00").to_string(),
            hours,
        }
    });
    let hours = |minutes: i64| hours_text(minutes).trim_end_matches('h').to_string();
    let money = |cents: i64| dollars(cents).trim_end_matches(".00").to_string();
    let data = HoursAlertData {
        client: &client.name,
        first_name: first_name(name.as_deref()),
        used_hours: hours(statement.used_minutes()),
        available_hours: hours(statement.available_minutes),
        remaining_hours: hours(statement.remaining_minutes),
        overage_rate: money(config.hours.rates.overage_cents_per_hour),
        month: bank.period_start.format("%B").to_string(),
        refresh_date: bank.period_end.format("%B %-d").to_string(),
        request: if context.request_resolved {
            "further requests this period".to_string()
        } else {
            format!("\"{}\"", context.request)
        },
        estimate: context.estimate_minutes.map(|minutes| EstimateQuote {
            hours: hours(i64::from(minutes)),
            unit: if minutes == 60 { "hour" } else { "hours" },
            total: money(config.hours.rates.overage_cents_per_hour * i64::from(minutes) / 60),
        }),
        upgrade,
        agent_name: &config.agent.name,
    };
    let template = if percent >= 100 { "hours_100" } else { "hours_75" };
    let draft = Draft {
        kind: if percent >= 100 { OutboxKind::HoursDepleted } else { OutboxKind::HoursUpdate },
        ticket: context.ticket,
        to: vec![lettre::message::Mailbox::new(name, to)],
        cc: vec![config.agent_mailbox()],
        subject: desk.templates.render_line(&format!("{template}.subject"), &data)?,
        body: desk.templates.render(&format!("{template}.txt"), &data)?,
        in_reply_to: None,
        references: Vec::new(),
        reply_to: context.ticket.map(|ticket| desk.reply_addresses.address_for(ticket)),
        auto_submitted: Some("auto-generated"),
        message_id: None,
        html: None,
        images: Vec::new(),
        attachments: Vec::new(),
    };
    outbox::enqueue(tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
    tracing::info!(client = %client.name, percent, "hour-bank email queued");
    Ok(Ok(()))
}
