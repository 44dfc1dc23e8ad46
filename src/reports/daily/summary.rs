//! What the daily summary says: each section gathered from its owner module and turned into
//! the typed data of `templates/daily_summary.*`.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::first_raised_on;
use crate::config::{ClientConfig, Config};
use crate::desk::Desk;
use crate::domain::{EmailAddress, Severity};
use crate::hours::bank::{hours_text, period_containing, period_named, Statement};
use crate::hours::entries::{emergency_requests_since, entries_before};
use crate::hours::ledger::period_of;
use crate::outbound::outbox::{self, FailedMail};
use crate::reports::metrics::{next_renewal, Metrics};
use crate::reports::signals::{signals_for, ClientFacts, Signal};
use crate::sla::ClockState;
use crate::storage::{time_from_db, Conn};
use crate::tickets::identify::identify_sender;
use crate::tickets::store::{self, StatusFilter, TicketSummary};
use crate::triage::FEATURE_REQUEST_RULE;

/// The summary's content as template data, and its subject.
pub struct Summary {
    pub data: SummaryData,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The signals it raises (client, kind), recorded when it is sent.
    pub raised: Vec<(String, &'static str)>,
}

/// The data of `templates/daily_summary.*`.
#[derive(Debug, Serialize)]
pub struct SummaryData {
    pub agent_name: String,
    pub date: String,
    pub date_short: String,
    pub new_count: usize,
    pub new_tickets: Vec<NewTicketLine>,
    pub open_count: usize,
    pub breached_count: usize,
    pub at_risk_count: usize,
    pub open: Vec<OpenTicketLine>,
    pub waiting: Vec<WaitingLine>,
    pub attention: Vec<AttentionLine>,
    pub held_count: usize,
    pub held_to_check: Vec<HeldLine>,
    pub automated_on_tickets: Vec<AutomatedLine>,
    pub failed: Vec<FailedMail>,
    pub hours: Vec<HoursLine>,
    pub signals: Vec<SignalLine>,
    pub metrics_period: String,
    pub metrics: Vec<MetricLine>,
}

#[derive(Debug, Serialize)]
pub struct NewTicketLine {
    pub id: i64,
    pub client: String,
    pub severity: Severity,
    pub subject: String,
    pub requester: String,
}

#[derive(Debug, Serialize)]
pub struct OpenTicketLine {
    pub id: i64,
    pub client: String,
    pub severity: Severity,
    pub subject: String,
    /// `BREACHED`, `AT RISK`, `ok` or `no SLA`.
    pub state: &'static str,
    pub color: &'static str,
    /// `first response`, `resolution`, or empty when nothing is due.
    pub due_label: &'static str,
    pub due: String,
}

#[derive(Debug, Serialize)]
pub struct WaitingLine {
    pub id: i64,
    pub client: Option<String>,
    pub subject: String,
    pub since: String,
}

/// A NEEDS YOU line; alike lines (several forgeries on one ticket) are one, with a count.
#[derive(Debug, Serialize)]
pub struct AttentionLine {
    pub id: Option<i64>,
    pub what: String,
    pub subject: String,
    #[serde(skip)]
    base: String,
    #[serde(skip)]
    count: usize,
}

#[cfg(test)]
impl AttentionLine {
    /// A line as the summary shows it, for template tests.
    pub(crate) fn sample(id: Option<i64>, what: &str, subject: &str) -> AttentionLine {
        AttentionLine { id, what: what.into(), subject: subject.into(), base: what.into(), count: 1 }
    }
}

#[derive(Debug, Serialize)]
pub struct HeldLine {
    pub id: i64,
    pub sender: String,
    pub client: Option<String>,
    pub subject: String,
    pub why: String,
}

#[derive(Debug, Serialize)]
pub struct AutomatedLine {
    pub ticket: i64,
    pub sender: String,
    pub subject: String,
    pub why: String,
}

#[derive(Debug, Serialize)]
pub struct HoursLine {
    pub client: String,
    pub tier: String,
    pub used: String,
    pub available: String,
    pub percent: i64,
    pub remaining: String,
    pub overage: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SignalLine {
    #[serde(flatten)]
    pub signal: Signal,
    /// The date of the summary that first carried the draft, when this one only reminds.
    pub reminder_since: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MetricLine {
    pub name: &'static str,
    pub value: Option<String>,
    pub target: &'static str,
    pub flag: &'static str,
}

/// The summary for `date` (the agent's local date), covering what happened since `since`.
pub async fn build_summary(
    desk: &Desk,
    date: NaiveDate,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<Summary> {
    let config = &desk.config;
    // Only open tickets and the new ones are read: the summary's cost does not grow with the
    // number of closed tickets in the history.
    let tickets: Vec<TicketSummary> = store::list_tickets(&desk.db, StatusFilter::Open)
        .await?
        .into_iter()
        .map(|t| t.with_sla_state(now, &config.sla))
        .collect::<anyhow::Result<_>>()?;
    let new_tickets = new_ticket_lines(desk, since).await?;
    let sorted = nearest_due_first(&tickets);
    let open = open_lines(config, &sorted);
    let (held_count, held_to_check) = held_lines(desk, since).await?;
    let clients = client_sections(desk, date, now).await?;
    let month = period_named(&date.format("%Y-%m").to_string(), 1).expect("a month name is a period");
    let metrics = super::metrics_for(desk, month, now, Some(clients.bank_totals)).await?;
    let data = SummaryData {
        agent_name: config.agent.name.clone(),
        date: date.format("%A, %B %-d, %Y").to_string(),
        date_short: date.format("%a %b %-d").to_string(),
        new_count: new_tickets.len(),
        new_tickets,
        open_count: open.len(),
        breached_count: tickets.iter().filter(|t| t.sla == Some(ClockState::Breached)).count(),
        at_risk_count: tickets.iter().filter(|t| t.sla == Some(ClockState::AtRisk)).count(),
        open,
        waiting: waiting_lines(config, &sorted),
        attention: attention_lines(desk, &tickets, since).await?,
        held_count,
        held_to_check,
        automated_on_tickets: automated_lines(desk, since).await?,
        failed: outbox::recent_failures(&desk.db, 20).await?,
        hours: clients.hours,
        signals: clients.signals,
        metrics_period: metrics.period.clone(),
        metrics: metric_lines(&metrics),
    };
    let subject = desk.templates.render_line("daily_summary.subject", &data)?;
    let text = desk.templates.render("daily_summary.txt", &data)?;
    let html = desk.templates.render("daily_summary.html", &data)?;
    Ok(Summary { data, subject, text, html, raised: clients.raised })
}

fn local_label(config: &Config, at: &str) -> String {
    time_from_db(at)
        .map(|time| time.with_timezone(&config.agent.timezone).format("%a %b %-d %-I:%M %p").to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// Text from outside on one line: nothing from a held mail may start a line of the summary
/// (where a `#take` would count if the agent's mail client did not mark the quote).
fn on_one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn new_ticket_lines(desk: &Desk, since: DateTime<Utc>) -> anyhow::Result<Vec<NewTicketLine>> {
    Ok(store::tickets_opened_since(&desk.db, since)
        .await?
        .into_iter()
        .map(|t| NewTicketLine {
            id: t.id,
            client: t.client.unwrap_or_else(|| "(unknown sender)".into()),
            severity: t.severity,
            subject: t.subject,
            requester: t.requester,
        })
        .collect())
}

/// The next clock due on an open ticket, with its label.
fn next_due(ticket: &TicketSummary) -> Option<(&str, &'static str)> {
    match (&ticket.first_response_at, &ticket.first_response_due, &ticket.resolution_due) {
        (None, Some(due), _) => Some((due, "first response")),
        (_, _, Some(due)) => Some((due, "resolution")),
        _ => None,
    }
}

/// Breached first, then at risk, then the rest; within each, nearest due first and tickets
/// with nothing due last.
fn nearest_due_first(tickets: &[TicketSummary]) -> Vec<&TicketSummary> {
    let rank = |state: Option<ClockState>| match state {
        Some(ClockState::Breached) => 0,
        Some(ClockState::AtRisk) => 1,
        _ => 2,
    };
    let mut open: Vec<&TicketSummary> = tickets.iter().collect();
    // Cached: the key allocates its due time once per ticket, not once per comparison.
    open.sort_by_cached_key(|t| (rank(t.sla), next_due(t).is_none(), next_due(t).map(|(due, _)| due.to_string())));
    open
}

fn open_lines(config: &Config, sorted: &[&TicketSummary]) -> Vec<OpenTicketLine> {
    sorted
        .iter()
        .map(|t| {
            let (state, color) = match t.sla {
                Some(ClockState::Breached) => ("BREACHED", "#c00"),
                Some(ClockState::AtRisk) => ("AT RISK", "#c60"),
                Some(_) => ("ok", "#383"),
                None => ("no SLA", "#383"),
            };
            let (due, due_label) = match next_due(t) {
                Some((due, label)) => (local_label(config, due), label),
                None => ("-".to_string(), ""),
            };
            OpenTicketLine {
                id: t.id,
                client: t.client.clone().unwrap_or_else(|| "(unknown)".into()),
                severity: t.severity,
                subject: t.subject.clone(),
                state,
                color,
                due_label,
                due,
            }
        })
        .collect()
}

fn waiting_lines(config: &Config, sorted: &[&TicketSummary]) -> Vec<WaitingLine> {
    sorted
        .iter()
        .filter_map(|t| {
            let since = t.waiting_since.as_ref()?;
            Some(WaitingLine {
                id: t.id,
                client: t.client.clone(),
                subject: t.subject.clone(),
                since: local_label(config, since),
            })
        })
        .collect()
}

async fn attention_lines(
    desk: &Desk,
    tickets: &[TicketSummary],
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<AttentionLine>> {
    let mut attention = Vec::new();
    for t in tickets {
        if let Some(why) = &t.attention {
            let what = format!("{why} ({})", t.requester);
            attention.push(AttentionLine {
                id: Some(t.id),
                what,
                subject: t.subject.clone(),
                base: String::new(),
                count: 1,
            });
        }
    }
    for mail in store::unverified_agent_mail_since(&desk.db, since).await? {
        let what = format!("unauthenticated mail in your name from {}", mail.sender);
        push_or_count(&mut attention, mail.ticket, what, mail.subject);
    }
    Ok(attention)
}

/// Adds a NEEDS YOU line, or counts it on the same line already there: several forgeries
/// alike read "... (3 mails)".
fn push_or_count(attention: &mut Vec<AttentionLine>, ticket: Option<i64>, what: String, subject: String) {
    let same = |line: &&mut AttentionLine| line.id == ticket && line.subject == subject && line.base == what;
    match attention.iter_mut().find(same) {
        Some(line) => {
            line.count += 1;
            line.what = format!("{what} ({} mails)", line.count);
        }
        None => attention.push(AttentionLine { id: ticket, what: what.clone(), subject, base: what, count: 1 }),
    }
}

/// Mail held without a ticket since `since` (bounces, auto-replies, the desk's failures; not
/// the agent's own): how many, and among it what may be a person's: mail from a client's
/// address that the screening took for automated, and mail the desk failed on.
async fn held_lines(desk: &Desk, since: DateTime<Utc>) -> anyhow::Result<(usize, Vec<HeldLine>)> {
    let held = store::held_since(&desk.db, since).await?;
    let mut to_check = Vec::new();
    for mail in &held {
        let client = identify_sender(&desk.config, EmailAddress::parse(&mail.sender).as_ref()).client();
        let why = match (&mail.automated_reason, &mail.parse_problem) {
            (Some(automated), _) if client.is_some() => format!("held as automated ({automated})"),
            (None, Some(problem)) if mail.desk_failed => problem.clone(),
            _ => continue,
        };
        to_check.push(HeldLine {
            id: mail.id,
            sender: mail.sender.clone(),
            client: client.map(|c| c.name.clone()),
            subject: on_one_line(&mail.subject),
            why: on_one_line(&why),
        });
    }
    Ok((held.len(), to_check))
}

async fn automated_lines(desk: &Desk, since: DateTime<Utc>) -> anyhow::Result<Vec<AutomatedLine>> {
    Ok(store::automated_on_tickets_since(&desk.db, since)
        .await?
        .into_iter()
        .map(|(ticket, sender, subject, why)| AutomatedLine {
            ticket,
            sender: on_one_line(&sender),
            subject: on_one_line(&subject),
            why: on_one_line(&why),
        })
        .collect())
}

/// The per-client sections: hours, signals (and which are raised), and the bank totals the
/// metrics use.
struct ClientSections {
    hours: Vec<HoursLine>,
    signals: Vec<SignalLine>,
    raised: Vec<(String, &'static str)>,
    /// (included minutes used, minutes available), over every client.
    bank_totals: (i64, i64),
}

async fn client_sections(desk: &Desk, date: NaiveDate, now: DateTime<Utc>) -> anyhow::Result<ClientSections> {
    let config = &desk.config;
    let mut sections =
        ClientSections { hours: Vec::new(), signals: Vec::new(), raised: Vec::new(), bank_totals: (0, 0) };
    let mut conn = desk.db.acquire().await?;
    for client in &config.clients {
        let (statement, facts) = client_facts(&mut conn, config, client, date, now).await?;
        sections.bank_totals.0 += statement.included_used_minutes;
        sections.bank_totals.1 += statement.available_minutes;
        sections.hours.push(hours_line(client, &statement));
        for signal in signals_for(&facts, &config.agent.name) {
            // The draft once, in the first summary that raises the signal; then a reminder.
            let first_raised = first_raised_on(&mut conn, &signal.client, signal.kind).await?;
            let reminder_since =
                first_raised.filter(|first| first.as_str() < date.format("%Y-%m-%d").to_string().as_str());
            sections.raised.push((signal.client.clone(), signal.kind));
            sections.signals.push(SignalLine { signal, reminder_since });
        }
    }
    Ok(sections)
}

/// The client's statement for the period holding `date`, and the facts its signals read.
/// Its entries are read once for the four periods it needs.
async fn client_facts(
    conn: &mut Conn,
    config: &Config,
    client: &ClientConfig,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> anyhow::Result<(Statement, ClientFacts)> {
    let period = period_containing(date, client.period_anchor_day);
    let entries = entries_before(conn, &client.name, period.end).await?;
    let statement = period_of(&entries, config, client, period).statement;
    let mut maxed = Vec::new();
    let mut previous = period;
    for _ in 0..3 {
        previous = previous.previous(client.period_anchor_day);
        let past = period_of(&entries, config, client, previous).statement;
        maxed.push(past.available_minutes > 0 && past.included_used_minutes >= past.available_minutes);
    }
    let contract = client.contract.as_ref();
    let facts = ClientFacts {
        client: client.name.clone(),
        tier: client.tier,
        maxed_recent_periods: maxed,
        emergencies_last_90_days: emergency_requests_since(conn, &client.name, date - Duration::days(90)).await?,
        feature_requests: store::subjects_by_rule_since(
            conn,
            &client.name,
            FEATURE_REQUEST_RULE,
            now - Duration::days(30),
        )
        .await?,
        annual_renewal: contract.filter(|c| c.annual && c.cancelled_on.is_none()).map(|c| next_renewal(c, date)),
        monthly_contract_end: contract
            .filter(|c| !c.annual)
            .and_then(|c| c.cancelled_on.map(|_| next_renewal(c, date))),
        today: date,
        contact_name: client.contact_name.clone(),
    };
    Ok((statement, facts))
}

fn hours_line(client: &ClientConfig, s: &Statement) -> HoursLine {
    HoursLine {
        client: client.name.clone(),
        tier: client.tier.as_str().to_uppercase(),
        used: hours_text(s.used_minutes()),
        available: hours_text(s.available_minutes),
        percent: if s.available_minutes > 0 { s.used_minutes() * 100 / s.available_minutes } else { 0 },
        remaining: hours_text(s.remaining_minutes),
        overage: (s.overage_minutes > 0).then(|| hours_text(s.overage_minutes)),
    }
}

fn metric_lines(metrics: &Metrics) -> Vec<MetricLine> {
    metrics
        .metrics
        .iter()
        .map(|m| {
            // Month to date, the banks are still filling: too little used is no verdict yet
            // (every month would start BELOW TARGET); too much already is.
            let met = match (m.name, m.value) {
                ("hour bank utilisation (%)", Some(value)) if value <= 80.0 => None,
                _ => m.met,
            };
            let flag = match (met, m.value) {
                (Some(true), _) => "OK",
                (Some(false), Some(value)) if m.target == "60-80%" && value > 80.0 => "ABOVE TARGET",
                (Some(false), _) => "BELOW TARGET",
                (None, _) => "",
            };
            MetricLine { name: m.name, value: m.value.map(|v| format!("{v}")), target: m.target, flag }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgeries_alike_are_one_needs_you_line_with_their_count() {
        let mut attention = Vec::new();
        let what = || "unauthenticated mail in your name from travis@example.test".to_string();
        for _ in 0..3 {
            push_or_count(&mut attention, Some(1), what(), "Re: HubSpot".into());
        }
        push_or_count(&mut attention, Some(2), what(), "Re: HubSpot".into());
        let lines: Vec<&str> = attention.iter().map(|line| line.what.as_str()).collect();
        assert_eq!(
            lines,
            vec!["unauthenticated mail in your name from travis@example.test (3 mails)", what().as_str()],
            "another ticket is another line"
        );
    }
}
