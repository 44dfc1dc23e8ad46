//! Upsell and renewal signals (SOP "Renewal & Upsell Triggers"), each with the SOP's script
//! prepared as a draft the agent can forward. Pure: the caller gathers the facts.

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::Tier;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Signal {
    pub client: String,
    pub kind: &'static str,
    pub action: String,
    pub script: String,
}

/// Facts about one client, gathered by the caller.
#[derive(Debug, Clone)]
pub struct ClientFacts {
    pub client: String,
    pub tier: Tier,
    /// Whether all hours were used, for the last complete periods, newest first.
    pub maxed_recent_periods: Vec<bool>,
    /// Emergency time entries in the last 90 days.
    pub emergencies_last_90_days: i64,
    /// Subjects of feature-request tickets in the last 30 days.
    pub feature_requests: Vec<String>,
    pub annual_renewal: Option<NaiveDate>,
    pub monthly_contract_end: Option<NaiveDate>,
    pub today: NaiveDate,
}

fn next_tier(tier: Tier) -> Option<(&'static str, &'static str)> {
    match tier {
        Tier::Starter => Some(("GROWTH", "5 more hours a month, priority support and bi-weekly optimization calls")),
        Tier::Growth => Some(("ENTERPRISE", "10 more hours a month, weekly check-ins and 24/7 emergency support")),
        Tier::Enterprise => None,
    }
}

pub fn signals_for(facts: &ClientFacts, agent_name: &str) -> Vec<Signal> {
    let mut signals = Vec::new();
    let name = &facts.client;
    if facts.maxed_recent_periods.len() >= 3 && facts.maxed_recent_periods.iter().take(3).all(|maxed| *maxed) {
        if let Some((tier, benefits)) = next_tier(facts.tier) {
            signals.push(Signal {
                client: name.clone(),
                kind: "hours_maxed",
                action: format!("Suggest {tier}: all hours used in each of the last 3 periods"),
                script: format!("I noticed you've been maxing out your monthly hours for the last 3 months. Want to explore upgrading to {tier}? You'd get {benefits}.\n\n- {agent_name}"),
            });
        }
    }
    if facts.tier != Tier::Enterprise && facts.emergencies_last_90_days >= 2 {
        signals.push(Signal {
            client: name.clone(),
            kind: "emergency_repeats",
            action: format!("Suggest ENTERPRISE: {} emergency (after-hours) entries in 90 days", facts.emergencies_last_90_days),
            script: format!("Since you've needed after-hours support {} times in the last 3 months, it might make sense to move to ENTERPRISE tier. That includes 24/7 emergency support vs. paying $300/hour each time.\n\n- {agent_name}", facts.emergencies_last_90_days),
        });
    }
    if let Some(first) = facts.feature_requests.first() {
        signals.push(Signal {
            client: name.clone(),
            kind: "feature_requests",
            action: format!("Propose a Phase 2 project: {} feature request(s) in 30 days, e.g. \"{first}\"", facts.feature_requests.len()),
            script: format!("That's a great idea! Would be roughly [X weeks] to build. Want me to put together a proposal for Phase 2?\n\n- {agent_name}"),
        });
    }
    if let Some(date) = facts.annual_renewal {
        let days = (date - facts.today).num_days();
        if (0..=60).contains(&days) {
            signals.push(Signal {
                client: name.clone(),
                kind: "annual_renewal",
                action: format!("Annual renewal on {date} ({days} days): schedule the strategy call, review the year's ROI, present renewal options"),
                script: renewal_script(name, facts.tier, date, agent_name),
            });
        }
    }
    if let Some(date) = facts.monthly_contract_end {
        let days = (date - facts.today).num_days();
        if (0..=30).contains(&days) {
            signals.push(Signal {
                client: name.clone(),
                kind: "contract_end",
                action: format!(
                    "Contract ends on {date} ({days} days): check in on satisfaction and confirm intent to continue"
                ),
                script: renewal_script(name, facts.tier, date, agent_name),
            });
        }
    }
    signals
}

fn renewal_script(client: &str, tier: Tier, date: NaiveDate, agent_name: &str) -> String {
    let price = match tier {
        Tier::Starter => "$500",
        Tier::Growth => "$1,200",
        Tier::Enterprise => "$2,500",
    };
    let upgrade = next_tier(tier)
        .map(|(next, benefits)| format!("2. **Upgrade to {next}:** (get {benefits})\n"))
        .unwrap_or_default();
    format!(
        "Subject: {client} - Renewal Coming Up\n\nHey [Name],\n\nYour {} plan renews on {} - just wanted to give you a heads up!\n\nOptions for renewal:\n1. **Continue as-is:** {price}/month\n{upgrade}3. **Annual prepay:** (save 15%)\n\nLet me know which works best, and I'll send over the updated agreement.\n\nThanks for being an awesome client!\n\n- {agent_name}\n\nP.S. - If there's anything we should improve, I'm all ears.",
        tier.as_str().to_uppercase(),
        date.format("%B %-d, %Y"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> ClientFacts {
        ClientFacts {
            client: "Acme".into(),
            tier: Tier::Growth,
            maxed_recent_periods: vec![true, true, true],
            emergencies_last_90_days: 2,
            feature_requests: vec!["Feature request: CSV export".into()],
            annual_renewal: NaiveDate::from_ymd_opt(2027, 1, 15),
            monthly_contract_end: None,
            today: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        }
    }

    #[test]
    fn every_signal_fires_on_its_facts() {
        let kinds: Vec<&str> = signals_for(&facts(), "Travis").iter().map(|s| s.kind).collect();
        assert_eq!(kinds, vec!["hours_maxed", "emergency_repeats", "feature_requests", "annual_renewal"]);
        let script = &signals_for(&facts(), "Travis")[0].script;
        assert!(
            script.contains("maxing out your monthly hours for the last 3 months") && script.contains("ENTERPRISE")
        );
    }

    #[test]
    fn quiet_clients_have_no_signals() {
        let quiet = ClientFacts {
            maxed_recent_periods: vec![true, true, false],
            emergencies_last_90_days: 1,
            feature_requests: vec![],
            annual_renewal: NaiveDate::from_ymd_opt(2027, 6, 1),
            ..facts()
        };
        assert!(signals_for(&quiet, "Travis").is_empty());
        let enterprise =
            ClientFacts { tier: Tier::Enterprise, feature_requests: vec![], annual_renewal: None, ..facts() };
        assert!(signals_for(&enterprise, "Travis").is_empty(), "no tier above, emergencies included");
    }
}
