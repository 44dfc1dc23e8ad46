//! Upsell and renewal signals (SOP "Renewal & Upsell Triggers"), each with the SOP's script
//! prepared as a draft the agent can forward. Pure: the caller gathers the facts.

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::Tier;
use crate::hours::bank::dollars;

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
    /// Requests (tickets) with emergency time in the last 90 days.
    pub emergencies_last_90_days: i64,
    /// Subjects of feature-request tickets in the last 30 days.
    pub feature_requests: Vec<String>,
    pub annual_renewal: Option<NaiveDate>,
    pub monthly_contract_end: Option<NaiveDate>,
    pub today: NaiveDate,
    /// The client's `contact_name`: the [Name] of the SOP's scripts.
    pub contact_name: Option<String>,
}

/// The tier above, in capitals as the SOP writes it, and what an upgrade to it brings.
fn next_tier(tier: Tier) -> Option<(Tier, String, &'static str)> {
    let next = tier.next()?;
    let benefits = match next {
        Tier::Growth => "5 more hours a month, priority support and bi-weekly optimization calls",
        _ => "10 more hours a month, weekly check-ins and 24/7 emergency support",
    };
    Some((next, next.as_str().to_uppercase(), benefits))
}

pub fn signals_for(facts: &ClientFacts, agent_name: &str) -> Vec<Signal> {
    let mut signals = Vec::new();
    let name = &facts.client;
    if facts.maxed_recent_periods.len() >= 3 && facts.maxed_recent_periods.iter().take(3).all(|maxed| *maxed) {
        if let Some((_, tier, benefits)) = next_tier(facts.tier) {
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
            action: format!("Suggest ENTERPRISE: {} emergency (after-hours) requests in 90 days", facts.emergencies_last_90_days),
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
                script: renewal_script(name, &greeting(facts), facts.tier, date, agent_name),
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
                script: contract_end_script(name, &greeting(facts), facts.tier, date, agent_name),
            });
        }
    }
    signals
}

/// "Hey Peter" from the client's `contact_name`, else the SOP's "Hey [Name]" for the agent to
/// fill in.
fn greeting(facts: &ClientFacts) -> String {
    match facts.contact_name.as_deref().map(str::trim).filter(|name| !name.is_empty()) {
        Some(name) => format!("Hey {}", crate::outbound::compose::first_name(Some(name))),
        None => "Hey [Name]".to_string(),
    }
}

/// "$1,200" for a whole-dollar price.
fn whole_dollars(cents: i64) -> String {
    dollars(cents).trim_end_matches(".00").to_string()
}

/// The SOP's "Renewal Email Template", with the prices filled in and the recap left for the
/// agent to fill (`[Metric]` lines, as in the SOP).
fn renewal_script(client: &str, greeting: &str, tier: Tier, date: NaiveDate, agent_name: &str) -> String {
    let price = tier.monthly_price_cents();
    let mut options = vec![format!("**Continue as-is:** {}/month", whole_dollars(price))];
    if let Some((next, name, benefits)) = next_tier(tier) {
        let next_price = whole_dollars(next.monthly_price_cents());
        options.push(format!("**Upgrade to {name}:** {next_price}/month (get {benefits})"));
    }
    // Twelve months at 15% off.
    options.push(format!("**Annual prepay:** {} (save 15%)", whole_dollars(price * 12 * 85 / 100)));
    let options: Vec<String> = options.iter().enumerate().map(|(i, option)| format!("{}. {option}", i + 1)).collect();
    format!(
        "Subject: {client} - Renewal Coming Up\n\n{greeting},\n\nYour {} plan renews on {} - just wanted to give you a heads up!\n\nQuick recap of the last [period]:\n- ✅ [Metric]: [Performance]\n- ✅ [Metric]: [Performance]\n- ✅ [Time/cost saved]: [Amount]\n\nOptions for renewal:\n{}\n\nLet me know which works best, and I'll send over the updated agreement.\n\nThanks for being an awesome client!\n\n- {agent_name}\n\nP.S. - If there's anything we should improve, I'm all ears.",
        tier.as_str().to_uppercase(),
        date.format("%B %-d, %Y"),
        options.join("\n"),
    )
}

/// A check-in before a cancelled monthly contract ends (SOP: "Check in on satisfaction,
/// address any concerns, confirm intent to continue"); the SOP has no template for it, and the
/// renewal email would tell a leaving client that the plan renews.
fn contract_end_script(client: &str, greeting: &str, tier: Tier, date: NaiveDate, agent_name: &str) -> String {
    format!(
        "Subject: {client} - Checking in before {date_text}\n\n{greeting},\n\nYour {} support runs through {date_text}, and I wanted to check in before then.\n\nHow has support been working for you? If anything has fallen short, I'd like to hear it and put it right.\n\nIf you'd like to keep things running after {date_text}, just say so and I'll send over the agreement.\n\nThanks,\n\n- {agent_name}",
        tier.as_str().to_uppercase(),
        date_text = date.format("%B %-d, %Y"),
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
            contact_name: None,
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
    fn the_scripts_greet_the_contact_by_name_when_the_config_has_one() {
        let named = ClientFacts { contact_name: Some("Peter Gibbons".into()), ..facts() };
        let renewal = signals_for(&named, "Travis").into_iter().find(|s| s.kind == "annual_renewal").unwrap();
        assert!(renewal.script.contains("\n\nHey Peter,\n\n"), "{}", renewal.script);
        let unnamed = signals_for(&facts(), "Travis").into_iter().find(|s| s.kind == "annual_renewal").unwrap();
        assert!(unnamed.script.contains("\n\nHey [Name],\n\n"), "the SOP's blank to fill: {}", unnamed.script);
    }

    #[test]
    fn the_renewal_email_names_every_price_and_numbers_its_options() {
        let growth =
            renewal_script("Acme", "Hey [Name]", Tier::Growth, NaiveDate::from_ymd_opt(2027, 1, 15).unwrap(), "Travis");
        assert!(growth.contains("Your GROWTH plan renews on January 15, 2027"), "{growth}");
        assert!(growth.contains("Quick recap of the last [period]:"), "{growth}");
        assert!(growth.contains("1. **Continue as-is:** $1,200/month"), "{growth}");
        assert!(growth.contains("2. **Upgrade to ENTERPRISE:** $2,500/month (get "), "{growth}");
        assert!(growth.contains("3. **Annual prepay:** $12,240 (save 15%)"), "{growth}");
        let enterprise = renewal_script(
            "Globex",
            "Hey [Name]",
            Tier::Enterprise,
            NaiveDate::from_ymd_opt(2027, 1, 15).unwrap(),
            "T",
        );
        assert!(
            enterprise.contains("1. **Continue as-is:** $2,500/month\n2. **Annual prepay:** $25,500"),
            "{enterprise}"
        );
        assert!(!enterprise.contains("Upgrade"), "{enterprise}");
    }

    #[test]
    fn a_leaving_client_is_asked_how_support_went_not_told_the_plan_renews() {
        let facts = ClientFacts {
            maxed_recent_periods: vec![],
            emergencies_last_90_days: 0,
            feature_requests: vec![],
            annual_renewal: None,
            monthly_contract_end: NaiveDate::from_ymd_opt(2026, 12, 20),
            ..facts()
        };
        let signals = signals_for(&facts, "Travis");
        assert_eq!(signals.iter().map(|s| s.kind).collect::<Vec<_>>(), ["contract_end"]);
        assert!(signals[0].script.contains("runs through December 20, 2026"), "{}", signals[0].script);
        assert!(!signals[0].script.contains("renews"), "{}", signals[0].script);
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
