//! The SOP's success metrics (pure): first response and resolution within SLA, client
//! satisfaction, proactive vs reactive, hour-bank utilisation and renewal rate, each with
//! its target, over one period.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::Serialize;

use crate::config::Contract;

/// What the metrics need of one ticket opened in the period.
#[derive(Debug, Clone)]
pub struct TicketFacts {
    pub proactive: bool,
    pub first_response_due: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    /// Percent, or the average score for satisfaction; None when there is nothing to measure.
    pub value: Option<f64>,
    pub target: &'static str,
    pub met: Option<bool>,
    /// How many things were counted (tickets, scores, clients; minutes of bank for the hour
    /// bank, see `counted_text`).
    pub counted: i64,
    /// `counted` as a person reads it: "12 tickets", "35h of bank".
    pub counted_text: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metrics {
    pub period: String,
    pub metrics: Vec<Metric>,
}

/// Met, breached, or not decided yet, for one clock seen at `now`.
fn clock_outcome(due: Option<DateTime<Utc>>, stopped: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<bool> {
    let due = due?;
    match stopped {
        Some(at) => Some(at <= due),
        None if now > due => Some(false),
        None => None,
    }
}

fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

/// Renewal dates of a contract up to `until`: every month or year after the start.
pub fn renewal_dates(contract: &Contract, until: NaiveDate) -> Vec<NaiveDate> {
    let step = if contract.annual { 12 } else { 1 };
    (1..)
        .map(|n| contract.start.checked_add_months(Months::new(step * n)).unwrap_or(NaiveDate::MAX))
        .take_while(|date| *date <= until)
        .collect()
}

/// The next renewal date after `today`.
pub fn next_renewal(contract: &Contract, today: NaiveDate) -> NaiveDate {
    let step = if contract.annual { 12 } else { 1 };
    (1..)
        .map(|n| contract.start.checked_add_months(Months::new(step * n)).unwrap_or(NaiveDate::MAX))
        .find(|date| *date > today)
        .unwrap_or(NaiveDate::MAX)
}

pub struct MetricInputs<'a> {
    pub period: String,
    pub tickets: &'a [TicketFacts],
    pub scores: &'a [u8],
    pub bank_used_minutes: i64,
    pub bank_available_minutes: i64,
    pub contracts: &'a [Contract],
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub now: DateTime<Utc>,
}

/// (renewed, due) of every contract with a renewal date in the 12 months up to `period_end`.
fn renewals(contracts: &[Contract], period_end: NaiveDate) -> (i64, i64) {
    let year_before = period_end.with_year(period_end.year() - 1).unwrap_or(period_end);
    let (mut renewed, mut due) = (0, 0);
    for contract in contracts {
        for date in renewal_dates(contract, period_end).into_iter().filter(|d| *d > year_before) {
            due += 1;
            if contract.cancelled_on.is_none_or(|cancelled| cancelled > date) {
                renewed += 1;
            }
        }
    }
    (renewed, due)
}

pub fn compute_metrics(inputs: &MetricInputs<'_>) -> Metrics {
    let outcomes = |f: &dyn Fn(&TicketFacts) -> Option<bool>| -> (i64, i64) {
        let decided: Vec<bool> = inputs.tickets.iter().filter_map(f).collect();
        (decided.iter().filter(|met| **met).count() as i64, decided.len() as i64)
    };
    let client_tickets = |t: &TicketFacts| !t.proactive;
    let (response_met, response_counted) = outcomes(&|t| {
        client_tickets(t).then(|| clock_outcome(t.first_response_due, t.first_response_at, inputs.now)).flatten()
    });
    let (resolution_met, resolution_counted) =
        outcomes(&|t| clock_outcome(t.resolution_due, t.resolved_at, inputs.now));
    let response = percent(response_met, response_counted);
    let resolution = percent(resolution_met, resolution_counted);
    let satisfaction = (!inputs.scores.is_empty()).then(|| {
        (inputs.scores.iter().map(|s| *s as f64).sum::<f64>() / inputs.scores.len() as f64 * 10.0).round() / 10.0
    });
    let proactive_count = inputs.tickets.iter().filter(|t| t.proactive).count() as i64;
    let proactive = percent(proactive_count, inputs.tickets.len() as i64);
    let utilisation = percent(inputs.bank_used_minutes, inputs.bank_available_minutes);
    let (renewed, due) = renewals(inputs.contracts, inputs.period_end);
    let renewal = percent(renewed, due);
    Metrics {
        period: inputs.period.clone(),
        metrics: vec![
            Metric {
                name: "first response within SLA (%)",
                value: response,
                target: "95%+",
                met: response.map(|v| v >= 95.0),
                counted: response_counted,
                counted_text: format!("{} tickets", response_counted),
            },
            Metric {
                name: "resolution within SLA (%)",
                value: resolution,
                target: "90%+",
                met: resolution.map(|v| v >= 90.0),
                counted: resolution_counted,
                counted_text: format!("{} tickets", resolution_counted),
            },
            Metric {
                name: "client satisfaction (0-10)",
                value: satisfaction,
                target: "8+",
                met: satisfaction.map(|v| v >= 8.0),
                counted: inputs.scores.len() as i64,
                counted_text: format!("{} scores", inputs.scores.len()),
            },
            Metric {
                name: "proactive issues (%)",
                value: proactive,
                target: "70%",
                met: proactive.map(|v| v >= 70.0),
                counted: inputs.tickets.len() as i64,
                counted_text: format!("{} tickets", inputs.tickets.len()),
            },
            Metric {
                name: "hour bank utilisation (%)",
                value: utilisation,
                target: "60-80%",
                met: utilisation.map(|v| (60.0..=80.0).contains(&v)),
                counted: inputs.bank_available_minutes,
                counted_text: format!("{} of bank", crate::hours::bank::hours_text(inputs.bank_available_minutes)),
            },
            Metric {
                name: "renewal rate (%)",
                value: renewal,
                target: "90%+",
                met: renewal.map(|v| v >= 90.0),
                counted: due,
                counted_text: format!("{} clients", due),
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn every_metric_on_a_fixture_history() {
        let due = Some(at("2026-11-10T12:00:00Z"));
        let early = Some(at("2026-11-10T11:00:00Z"));
        let late = Some(at("2026-11-10T13:00:00Z"));
        let tickets = vec![
            TicketFacts {
                proactive: false,
                first_response_due: due,
                first_response_at: early,
                resolution_due: due,
                resolved_at: early,
            },
            TicketFacts {
                proactive: false,
                first_response_due: due,
                first_response_at: late,
                resolution_due: due,
                resolved_at: late,
            },
            TicketFacts {
                proactive: false,
                first_response_due: due,
                first_response_at: None,
                resolution_due: due,
                resolved_at: None,
            },
            TicketFacts {
                proactive: true,
                first_response_due: due,
                first_response_at: early,
                resolution_due: due,
                resolved_at: early,
            },
        ];
        let contracts = vec![
            Contract { start: date("2025-06-01"), annual: true, cancelled_on: None },
            Contract { start: date("2025-03-01"), annual: true, cancelled_on: Some(date("2026-02-01")) },
        ];
        let metrics = compute_metrics(&MetricInputs {
            period: "2026-11".into(),
            tickets: &tickets,
            scores: &[9, 7, 10],
            bank_used_minutes: 450,
            bank_available_minutes: 600,
            contracts: &contracts,
            period_start: date("2026-11-01"),
            period_end: date("2026-11-30"),
            now: at("2026-11-30T00:00:00Z"),
        });
        let values: Vec<Option<f64>> = metrics.metrics.iter().map(|m| m.value).collect();
        // Response: 1 met of 3 client tickets (the open one is past due); resolution: 2 of 4.
        assert_eq!(values, vec![Some(33.3), Some(50.0), Some(8.7), Some(25.0), Some(75.0), Some(50.0)]);
        let met: Vec<Option<bool>> = metrics.metrics.iter().map(|m| m.met).collect();
        assert_eq!(met, vec![Some(false), Some(false), Some(true), Some(false), Some(true), Some(false)]);
    }

    #[test]
    fn nothing_to_measure_is_none_not_zero() {
        let metrics = compute_metrics(&MetricInputs {
            period: "2026-11".into(),
            tickets: &[],
            scores: &[],
            bank_used_minutes: 0,
            bank_available_minutes: 0,
            contracts: &[],
            period_start: date("2026-11-01"),
            period_end: date("2026-11-30"),
            now: at("2026-11-30T00:00:00Z"),
        });
        assert!(metrics.metrics.iter().all(|m| m.value.is_none() && m.met.is_none()));
    }

    #[test]
    fn renewals() {
        let contract = Contract { start: date("2026-01-31"), annual: false, cancelled_on: None };
        assert_eq!(next_renewal(&contract, date("2026-02-10")), date("2026-02-28"));
        let annual = Contract { start: date("2025-12-15"), annual: true, cancelled_on: None };
        assert_eq!(next_renewal(&annual, date("2026-11-30")), date("2026-12-15"));
    }
}
