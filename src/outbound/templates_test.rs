//! Every file in `templates/` renders, in strict mode, with samples of its typed data (the
//! `*Data` structs beside the code that fills them), both built in and from a user's
//! `[templates] dir`. A key a template reads that its data does not have fails here, not when
//! a mail is written (where it would leave the mail unprocessable). A template file without a
//! sample fails too: adding a template means adding its sample to `samples`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::compose::Templates;
use super::failures::FailureNotice;
use super::outbox::{FailedMail, OutboxKind};
use crate::agent::notify::{AgentFollowUpData, AgentIgnoredData};
use crate::agent::reply::{AgentFeedbackData, AgentReplyData};
use crate::domain::Severity;
use crate::hours::bank_emails::{EstimateQuote, HoursAlertData, UpgradeOffer};
use crate::intake::{
    AcknowledgementData, FloodNoticeData, HeldTakenInData, NewTicketNoticeData, ProactiveOpenedData, UnprocessableData,
};
use crate::reports::client::{ClientReportData, IncidentLine, SeverityCounts};
use crate::reports::daily::summary::{
    AttentionLine, AutomatedLine, HeldLine, HoursLine, MetricLine, NewTicketLine, OpenTicketLine, SignalLine,
    WaitingLine,
};
use crate::reports::daily::SummaryData;
use crate::reports::signals::Signal;
use crate::sla_notices::SlaAlertData;

fn value(data: impl Serialize) -> Value {
    serde_json::to_value(data).expect("template data serializes")
}

/// Sample data for the templates `STEM.*`: one value per case worth rendering (each side of
/// the templates' `{{#if}}`s); empty for a stem with no sample.
pub(super) fn samples(stem: &str) -> Vec<Value> {
    match stem {
        "acknowledgement" => [Some("today at 2:00 PM EST"), None]
            .into_iter()
            .map(|looking_at| {
                value(AcknowledgementData {
                    ticket: 42,
                    subject: "Checkout is down",
                    issue: "Checkout is down",
                    first_name: "Jane".into(),
                    update_due: "Tuesday, December 1 at 3:00 PM EST".into(),
                    looking_at: looking_at.map(str::to_string),
                    question: "When did it start?",
                    severity: "P1",
                    agent_name: "Travis",
                    client: Some("Acme"),
                })
            })
            .collect(),
        "flood_notice" => vec![value(FloodNoticeData {
            requester: "bot@acme.test".into(),
            count: 12,
            ticket: 42,
            subject: "Alert",
            limit: 10,
            ack_limit: 5,
        })],
        "agent_new_ticket" => vec![
            value(NewTicketNoticeData {
                hours_used_up: Some("10".into()),
                cc: "ops@acme.test".into(),
                ticket: 42,
                subject: "Checkout is down",
                client: Some("Acme"),
                tier: Some("GROWTH".into()),
                requester: "jane@acme.test",
                severity: "P1",
                severity_reason: "rule \"outage\"",
                first_response_due: Some("Tue Dec 1, 10:00 AM EST".into()),
                resolution_due: Some("Tue Dec 1, 5:00 PM EST".into()),
                attention: Some("the sender is not verified"),
                acknowledged: true,
                attached: "screenshot.png (12 KB)".into(),
                not_attached: vec!["big.zip (30 MB): helpdesk attachment 42 7 1".into()],
                body: "> It is down.".into(),
                problem: Some("the body is over the size limit"),
            }),
            value(NewTicketNoticeData {
                hours_used_up: None,
                cc: String::new(),
                ticket: 43,
                subject: "Hello",
                client: None,
                tier: None,
                requester: "someone@elsewhere.test",
                severity: "P3",
                severity_reason: "unknown sender",
                first_response_due: None,
                resolution_due: None,
                attention: None,
                acknowledged: false,
                attached: String::new(),
                not_attached: Vec::new(),
                body: "> Hi".into(),
                problem: None,
            }),
        ],
        "proactive_opened" => [true, false]
            .into_iter()
            .map(|proven| {
                value(ProactiveOpenedData {
                    ticket: 42,
                    client: "Acme",
                    severity: "P2",
                    subject: "Heads-up: maintenance",
                    requester: "jane@acme.test",
                    support: "support@example.test",
                    resolution_due: "Thu Dec 3, 5:00 PM EST".into(),
                    proven,
                })
            })
            .collect(),
        "unprocessable" => vec![value(UnprocessableData {
            arrived: "Tue Dec 1, 9:30 AM EST".into(),
            bytes: 2048,
            error: "database is locked",
            message: 17,
        })],
        "held_taken_in" => {
            let results = ["message 17: opened ticket #42".to_string(), "message 18: not held".to_string()];
            vec![value(HeldTakenInData { results: &results })]
        }
        "agent_feedback" => agent_feedback_samples(),
        "agent_follow_up" => agent_follow_up_samples(),
        "agent_ignored" => [true, false]
            .into_iter()
            .map(|about_no_ticket| {
                value(AgentIgnoredData {
                    sender: "travis@agency.test",
                    subject: "#time 1h",
                    about_no_ticket,
                    address_not_configured: !about_no_ticket,
                    support: "support@example.test",
                })
            })
            .collect(),
        "agent_reply" | "resolved" => [(Some("Turn on the daily backup."), "It works again."), (None, "")]
            .into_iter()
            .map(|(prevention, text)| {
                value(AgentReplyData {
                    ticket: 42,
                    subject: "Checkout is down",
                    issue: "Checkout is down",
                    first_name: "Jane".into(),
                    text: text.into(),
                    prevention: prevention.map(str::to_string),
                    agent_name: "Travis",
                })
            })
            .collect(),
        "client_report" => client_report_samples(),
        "daily_summary" => daily_summary_samples(),
        "delivery_failure" => [Some(42), None]
            .into_iter()
            .map(|ticket| {
                value(FailureNotice {
                    ticket,
                    kind: OutboxKind::AgentReply,
                    to: "jane@acme.test, ops@acme.test".into(),
                    subject: "Re: Checkout is down [#42]",
                    attempts: 5,
                    error: "550 5.1.1 no such user",
                })
            })
            .collect(),
        "hours_75" | "hours_100" => hours_samples(),
        "sla_alert" => [true, false]
            .into_iter()
            .map(|breached| {
                value(SlaAlertData {
                    ticket: 42,
                    breached,
                    clock: "first response",
                    client: "Acme",
                    tier: "growth",
                    subject: "Checkout is down",
                    severity: "P1",
                    opened: "Tue Dec 1, 9:00 AM EST".into(),
                    due: "Tue Dec 1, 10:00 AM EST".into(),
                    overdue: "15 min".into(),
                    left: "0 min".into(),
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn agent_feedback_samples() -> Vec<Value> {
    let errors = ["#tme 1h is not a tag".to_string()];
    let feedback = |unverified, partly_applied, sender, limit_reached| {
        value(AgentFeedbackData {
            ticket: 42,
            unverified,
            partly_applied,
            sender,
            subject: "Checkout is down",
            errors: &errors,
            limit_reached,
        })
    };
    vec![
        feedback(true, false, Some("travis@agency.test"), Some(5)),
        feedback(true, false, Some("travis@agency.test"), None),
        feedback(false, false, Some("travis@agency.test"), None),
        feedback(false, true, None, None),
    ]
}

fn agent_follow_up_samples() -> Vec<Value> {
    let follow_up = |client: Option<&'static str>, reopened, courtesy, stranger, score, first_response_sent| {
        value(AgentFollowUpData {
            ticket: 42,
            subject: "Checkout is down",
            client,
            tier: client.map(|_| "GROWTH".into()),
            severity: "P1",
            sender: "jane@acme.test",
            reopened,
            courtesy,
            stranger,
            score,
            cc: "ops@acme.test".into(),
            first_response_due: client.map(|_| "Tue Dec 1, 10:00 AM EST".into()),
            first_response_sent,
            resolution_due: client.map(|_| "Tue Dec 1, 5:00 PM EST (passed)".into()),
            attached: "log.txt (2 KB)".into(),
            not_attached: vec!["big.zip (30 MB): helpdesk attachment 42 9 1".into()],
            body: "> Still broken.".into(),
        })
    };
    vec![
        follow_up(Some("Acme"), false, false, false, None, false),
        follow_up(Some("Acme"), true, false, false, None, true),
        follow_up(Some("Acme"), false, true, false, Some(9), true),
        follow_up(None, false, false, true, None, false),
    ]
}

fn hours_samples() -> Vec<Value> {
    let hours = |estimate: Option<EstimateQuote>, upgrade: Option<UpgradeOffer>| {
        value(HoursAlertData {
            client: "Acme",
            first_name: "Jane".into(),
            used_hours: "8".into(),
            available_hours: "10".into(),
            remaining_hours: "2".into(),
            overage_rate: "$150".into(),
            month: "November".into(),
            refresh_date: "December 1".into(),
            request: "\"CSV export\"".into(),
            estimate,
            upgrade,
            agent_name: "Travis",
        })
    };
    vec![
        hours(
            Some(EstimateQuote { hours: "2".into(), unit: "hours", total: "$300".into() }),
            Some(UpgradeOffer { tier: "ENTERPRISE".into(), price: "$2,500".into(), hours: "20".into() }),
        ),
        hours(None, None),
    ]
}

fn client_report_samples() -> Vec<Value> {
    let report =
        |kind: &'static str, health_check, weekly_call, incidents: Vec<IncidentLine<'static>>, observations| {
            value(ClientReportData {
                title: "Acme - Weekly Health Report",
                kind,
                health_check,
                weekly_call,
                client: "Acme",
                first_name: "Jane".into(),
                period_label: "Nov 23 to Nov 29, 2026".into(),
                opened_total: 3,
                opened: SeverityCounts::from([0, 1, 2, 0]),
                resolved_total: 2,
                resolved: SeverityCounts::from([0, 1, 1, 0]),
                first_response: "100% (3 of 3)".into(),
                resolution: "no tickets to measure".into(),
                incidents,
                hours_used: "7.5h".into(),
                hours_available: "10h".into(),
                hours_left: "2.5h".into(),
                billing_period: "2026-11-01 to 2026-11-30",
                observations,
                agent_name: "Travis",
                chart_unit: if kind == "weekly" { "day" } else { "week" },
            })
        };
    let incident =
        IncidentLine { id: 42, severity: "P1", subject: "Checkout is down", outcome: "resolved Nov 24".into() };
    vec![
        report("weekly", true, false, Vec::new(), None),
        report("weekly", false, true, vec![incident], Some("Next: upgrade the plugins.")),
        report("monthly", false, false, Vec::new(), None),
    ]
}

fn daily_summary_samples() -> Vec<Value> {
    let full = SummaryData {
        agent_name: "Travis".into(),
        date: "Tuesday, December 1, 2026".into(),
        date_short: "Dec 1".into(),
        new_count: 1,
        new_tickets: vec![NewTicketLine {
            id: 42,
            client: "Acme".into(),
            severity: Severity::P1,
            subject: "Checkout is down".into(),
            requester: "jane@acme.test".into(),
        }],
        open_count: 1,
        breached_count: 1,
        at_risk_count: 0,
        open: vec![OpenTicketLine {
            id: 42,
            client: "Acme".into(),
            severity: Severity::P1,
            subject: "Checkout is down".into(),
            state: "BREACHED",
            color: "#c0392b",
            due_label: "resolution",
            due: "Tue Dec 1, 5:00 PM EST".into(),
        }],
        waiting: vec![WaitingLine {
            id: 41,
            client: Some("Globex".into()),
            subject: "Invoice question".into(),
            since: "Nov 28".into(),
        }],
        attention: vec![
            AttentionLine::sample(Some(42), "mail in your name was not authenticated", "Checkout is down"),
            // Held mail in his name is on no ticket: the line says so instead of a bare "#".
            AttentionLine::sample(None, "unauthenticated mail in your name from travis@example.test", "[#3] Site down"),
        ],
        held_count: 1,
        held_to_check: vec![HeldLine {
            id: 17,
            sender: "jane@acme.test".into(),
            client: Some("Acme".into()),
            subject: "Out of office".into(),
            why: "looked like an auto-reply".into(),
        }],
        automated_on_tickets: vec![AutomatedLine {
            ticket: 42,
            sender: "noreply@acme.test".into(),
            subject: "Auto: received".into(),
            why: "Auto-Submitted: auto-replied".into(),
        }],
        failed: vec![FailedMail {
            ticket: Some(42),
            kind: OutboxKind::AgentReply,
            recipients: "jane@acme.test".into(),
            last_error: Some("550 no such user".into()),
        }],
        hours: vec![HoursLine {
            client: "Acme".into(),
            tier: "GROWTH".into(),
            used: "11h".into(),
            available: "10h".into(),
            percent: 110,
            remaining: "0h".into(),
            overage: Some("1h ($150)".into()),
        }],
        signals: ["2026-11-30", ""]
            .into_iter()
            .map(|since| SignalLine {
                signal: Signal {
                    client: "Acme".into(),
                    kind: "upsell",
                    action: "offer ENTERPRISE".into(),
                    script: "Hi Jane, ...".into(),
                },
                reminder_since: Some(since.to_string()).filter(|since| !since.is_empty()),
            })
            .collect(),
        metrics_period: "December 2026".into(),
        metrics: vec![
            MetricLine { name: "First response", value: Some("95%".into()), target: "90%", flag: "" },
            MetricLine { name: "Satisfaction", value: None, target: "9", flag: "below target" },
        ],
    };
    let empty = SummaryData {
        new_count: 0,
        new_tickets: Vec::new(),
        open_count: 0,
        breached_count: 0,
        open: Vec::new(),
        waiting: Vec::new(),
        attention: Vec::new(),
        held_count: 0,
        held_to_check: Vec::new(),
        automated_on_tickets: Vec::new(),
        failed: Vec::new(),
        hours: Vec::new(),
        signals: Vec::new(),
        metrics: Vec::new(),
        agent_name: full.agent_name.clone(),
        date: full.date.clone(),
        date_short: full.date_short.clone(),
        at_risk_count: 0,
        metrics_period: full.metrics_period.clone(),
    };
    vec![value(&full), value(&empty)]
}

fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

/// The templates in `templates/`, by name ("acknowledgement.subject"), read at test time.
fn template_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(templates_dir())
        .expect("templates/ is readable")
        .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .filter_map(|file| file.strip_suffix(".hbs").map(str::to_string))
        .collect();
    names.sort();
    assert!(names.len() >= 30, "templates/ holds {} templates", names.len());
    names
}

/// Renders every template with each of its samples, as the desk does (subjects on one line):
/// (name, sample index) to the text. Panics listing every template without a sample and every
/// render that failed.
fn render_all(templates: &Templates) -> BTreeMap<(String, usize), String> {
    let mut rendered = BTreeMap::new();
    let mut problems = Vec::new();
    for name in template_names() {
        let stem = name.split('.').next().expect("a name");
        let samples = samples(stem);
        if samples.is_empty() {
            problems.push(format!("{name}: no sample data (add one to `samples` in {})", file!()));
        }
        for (index, data) in samples.iter().enumerate() {
            let text = if name.ends_with(".subject") {
                templates.render_line(&name, data)
            } else {
                templates.render(&name, data)
            };
            match text {
                Ok(text) => {
                    rendered.insert((name.clone(), index), text);
                }
                Err(err) => problems.push(format!("{name} sample {index}: {err:#}")),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    rendered
}

#[test]
fn every_template_renders_with_samples_of_its_data_in_strict_mode() {
    let templates = Templates::load(None).unwrap();
    let rendered = render_all(&templates);
    // Strict: a key the data lacks is an error, not an empty string.
    let err = templates.render("sla_alert.txt", &serde_json::json!({"ticket": 42})).unwrap_err();
    assert!(format!("{err:#}").contains("sla_alert.txt"), "{err:#}");
    // The samples reach both sides of the branches.
    let feedback = &rendered[&("agent_feedback.txt".to_string(), 0)];
    assert!(feedback.contains("NOT") || feedback.contains("could not be proven"), "{feedback}");
    assert!(feedback.contains("5th such mail"), "{feedback}");
    assert!(rendered[&("hours_100.txt".to_string(), 0)].contains("estimated 2 hours = $300"));
    assert!(rendered[&("resolved.txt".to_string(), 0)].contains("P.S. - Turn on the daily backup."));
    let summary = &rendered[&("daily_summary.txt".to_string(), 0)];
    assert!(summary.contains("  #42 mail in your name was not authenticated"), "{summary}");
    assert!(summary.contains("  no ticket, unauthenticated mail in your name from travis@example.test"), "{summary}");
}

#[test]
fn a_users_override_directory_takes_the_place_of_the_built_in_templates_and_renders() {
    let dir = tempfile::tempdir().unwrap();
    for name in template_names() {
        let file = format!("{name}.hbs");
        std::fs::copy(templates_dir().join(&file), dir.path().join(&file)).unwrap();
    }
    let changed = dir.path().join("sla_alert.txt.hbs");
    let original = std::fs::read_to_string(&changed).unwrap();
    std::fs::write(&changed, format!("{original}\nCustom footer for {{{{client}}}} (#{{{{ticket}}}})\n")).unwrap();

    let built_in = render_all(&Templates::load(None).unwrap());
    let overridden = render_all(&Templates::load(Some(dir.path())).unwrap());
    assert_eq!(built_in.keys().collect::<Vec<_>>(), overridden.keys().collect::<Vec<_>>());
    for (key, text) in &built_in {
        if key.0 == "sla_alert.txt" {
            let custom = &overridden[key];
            assert!(custom.starts_with(text.as_str()), "{custom}");
            assert!(custom.ends_with("Custom footer for Acme (#42)\n"), "{custom}");
        } else {
            assert_eq!(&overridden[key], text, "{key:?}: a copy of the built-in template renders the same");
        }
    }

    // A mistyped key in a user's template fails at render time, as the desk would.
    std::fs::write(dir.path().join("agent_reply.subject.hbs"), "Re: {{subjet}} [#{{ticket}}]").unwrap();
    let templates = Templates::load(Some(dir.path())).unwrap();
    let err = templates.render_line("agent_reply.subject", &samples("agent_reply")[0]).unwrap_err();
    assert!(format!("{err:#}").contains("subjet"), "{err:#}");
}
