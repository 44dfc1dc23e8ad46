//! Triage: the severity of a new ticket, from its subject and the new part of its body, by
//! configurable rules (a regular expression and a severity each), and from the sender's tier
//! when no rule matches. The most urgent matching rule wins. A match right after a negation
//! ("not urgent", "no outage") does not count, and quoted history is never read. Pure.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::domain::{Severity, Tier};

/// The built-in rule whose tickets the upsell signal counts as feature requests.
pub const FEATURE_REQUEST_RULE: &str = "feature request";

#[derive(Debug, Clone)]
pub struct TriageRule {
    pub name: String,
    pub pattern: Regex,
    pub severity: Severity,
}

#[derive(Debug, Clone)]
pub struct TriageConfig {
    pub rules: Vec<TriageRule>,
    /// The severity of mail that no rule matches, per tier (unknown senders use `growth`'s).
    pub unmatched: BTreeMap<Tier, Severity>,
}

/// Rules drawn from the SOP's severity definitions and examples.
pub const DEFAULT_RULES: &[(&str, Severity, &str)] = &[
    (
        "agent not responding",
        Severity::P0,
        r"(?i)\b(ai\s+)?(agent|bot|chat\s?bot|assistant)s?\s+(is\s+|are\s+|has\s+|have\s+)?(not|isn'?t|aren'?t|stopped|no\s+longer)\s+(responding|answering|replying|working|running)",
    ),
    (
        "all leads unprocessed",
        Severity::P0,
        // "all ... processed" is good news; only "none of ... processed" is the outage.
        r"(?i)\b(all\s+(the\s+|our\s+|my\s+)?(new\s+)?(leads|orders|requests|messages|emails|submissions)\b[^.\n]{0,40}\b(unprocessed|not\s+(being\s+)?processed|lost|stuck|failing|missing)|none\s+of\s+(the\s+|our\s+|my\s+)?(new\s+)?(leads|orders|requests|messages|emails|submissions)\b[^.\n]{0,40}\b(processed|arrived|arriving|synced|syncing|coming\s+through|going\s+through|getting\s+through))",
    ),
    (
        "completely failed",
        Severity::P0,
        r"(?i)\b(completely|totally|entirely)\s+(failed|failing|broken|down|dead|stopped)",
    ),
    (
        "system down",
        Severity::P0,
        r"(?i)\b(system|site|website|server|service|platform|app|everything|production|prod|integration|workflow|automation)s?\s+(is\s+|are\s+|went\s+|has\s+gone\s+|)down\b",
    ),
    // An emergency the client declares, not a question about emergency support or its rate.
    (
        "outage",
        Severity::P0,
        r"(?i)\boutage\b|\b(it'?s|it\s+is|this\s+is)\s+an?\s+(real\s+|urgent\s+|absolute\s+)?emergency\b|\bemergency\s*(!|:|\s[-–—]\s)|^\s*(urgent\s+)?emergency\s*([!:.]|$)",
    ),
    ("slow", Severity::P1, r"(?i)\b(slow|sluggish|lagging|timing\s+out|time-?outs?)\b"),
    (
        "some leads delayed",
        Severity::P1,
        r"(?i)\bsome\s+(of\s+the\s+|of\s+our\s+)?(leads|orders|requests|messages|emails|submissions)\b[^.\n]{0,40}\b(delayed|late|missing|stuck|not)\b",
    ),
    (
        "intermittent failures",
        Severity::P1,
        r"(?i)\b(intermittent(ly)?|sporadic(ally)?|flaky|(sometimes|occasionally)\s+(fails?|failing|errors?|breaks?))\b",
    ),
    ("degraded", Severity::P1, r"(?i)\b(degraded|urgent|asap)\b"),
    ("formatting error", Severity::P2, r"(?i)\b(formatting|format\s+(is\s+)?(wrong|off|broken)|misaligned|typo)\b"),
    (
        "delayed notification",
        Severity::P2,
        r"(?i)\b((delayed|late)\s+(notification|email|alert)s?|(notification|alert)s?\s+(are\s+|is\s+)?(delayed|late))\b",
    ),
    ("cosmetic bug", Severity::P2, r"(?i)\b(cosmetic|minor\s+(issue|bug|glitch)|display\s+(issue|bug))\b"),
    (
        FEATURE_REQUEST_RULE,
        Severity::P3,
        r"(?i)\b(feature\s+request|enhancement|nice[\s-]to[\s-]have|(would|it'?d)\s+be\s+(nice|great|cool|helpful)|would\s+it\s+be\s+possible|could\s+you\s+add|suggestion)\b",
    ),
    ("documentation", Severity::P3, r"(?i)\b(documentation|docs?\s+update|update\s+the\s+docs?)\b"),
];

impl Default for TriageConfig {
    fn default() -> TriageConfig {
        TriageConfig {
            rules: DEFAULT_RULES
                .iter()
                .map(|(name, severity, pattern)| TriageRule {
                    name: name.to_string(),
                    pattern: Regex::new(pattern).expect("the built-in rules compile"),
                    severity: *severity,
                })
                .collect(),
            unmatched: BTreeMap::from([
                (Tier::Starter, Severity::P2),
                (Tier::Growth, Severity::P2),
                (Tier::Enterprise, Severity::P1),
            ]),
        }
    }
}

/// A negation in the three words before a match cancels it.
static NEGATION_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(not|no|isn'?t|aren'?t|wasn'?t|weren'?t|never|without|nothing|hardly)\s+(\S+\s+){0,2}$")
        .expect("valid regex")
});

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triage {
    pub severity: Severity,
    pub reason: String,
    /// The name of the rule that decided, if one did.
    pub rule: Option<String>,
}

/// The acknowledgement's "Quick question to help troubleshoot: ..." (SOP: "[relevant
/// question]"), fitted to what the request is: a feature request is asked what success looks
/// like, a documentation request what is missing, a problem when it started.
pub fn acknowledgement_question(rule: Option<&str>) -> &'static str {
    match rule {
        Some(FEATURE_REQUEST_RULE) => "what would a good result look like for you, and is there a date you need it by?",
        Some("documentation") => "which part is missing or unclear, and who will be reading it?",
        Some("slow") => "when did it start being slow, and is it slow all the time or at certain hours?",
        _ => "when did this start, and has anything changed on your side since then?",
    }
}

/// Classifies a new ticket. `new_text` must already be the new part (see `inbound::quotes`).
pub fn classify(config: &TriageConfig, tier: Option<Tier>, subject: &str, new_text: &str) -> Triage {
    let mut best: Option<(&TriageRule, String)> = None;
    let texts = [("subject", prefix(subject, TRIAGE_SUBJECT_BYTES)), ("body", prefix(new_text, TRIAGE_BODY_BYTES))];
    for (place, text) in texts {
        for rule in &config.rules {
            if best.as_ref().is_some_and(|(found, _)| found.severity <= rule.severity) {
                continue;
            }
            if let Some(matched) = first_unnegated_match(&rule.pattern, text) {
                best = Some((rule, format!("rule \"{}\" matched {:?} in the {place}", rule.name, matched)));
            }
        }
    }
    match best {
        Some((rule, reason)) => Triage { severity: rule.severity, reason, rule: Some(rule.name.clone()) },
        None => {
            let tier_for_default = tier.unwrap_or(Tier::Growth);
            let severity = config.unmatched.get(&tier_for_default).copied().unwrap_or(Severity::P2);
            let who = tier.map(|tier| format!("{tier} client")).unwrap_or_else(|| "unknown sender".into());
            let article = if who.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
            Triage { severity, reason: format!("no rule matched: default for {article} {who}"), rule: None }
        }
    }
}

/// How much of the text before a match the negation check reads: three words and their
/// spaces fit many times over, and a bounded look-back keeps the check linear in the text
/// (it used to scan back to the sentence start from every match: quadratic on a long mail of
/// "not slow not slow ..." with no sentence end).
const NEGATION_LOOKBACK_BYTES: usize = 120;

fn first_unnegated_match<'t>(pattern: &Regex, text: &'t str) -> Option<&'t str> {
    pattern.find_iter(text).find_map(|found| {
        let mut window_start = found.start().saturating_sub(NEGATION_LOOKBACK_BYTES);
        while !text.is_char_boundary(window_start) {
            window_start += 1;
        }
        let window = &text[window_start..found.start()];
        let sentence_start = window.rfind(['\n', '.', '!', '?', ';']).map(|i| i + 1).unwrap_or(0);
        let before = &window[sentence_start..];
        (!NEGATION_BEFORE.is_match(before)).then_some(found.as_str())
    })
}

/// Triage reads at most this much of the subject and of the new part: what decides a
/// severity is said at the start, and the bound keeps every rule's cost fixed per mail.
pub const TRIAGE_SUBJECT_BYTES: usize = 1_000;
pub const TRIAGE_BODY_BYTES: usize = 64 * 1024;

/// The first `max` bytes of `text`, cut at a character boundary.
fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(tier: Option<Tier>, subject: &str, body: &str, expected: Severity) {
        let triage = classify(&TriageConfig::default(), tier, subject, body);
        assert_eq!(triage.severity, expected, "{subject:?} / {body:?}: {}", triage.reason);
    }

    #[test]
    fn the_sop_examples_land_on_their_severity() {
        let growth = Some(Tier::Growth);
        check(growth, "AI agent not responding", "", Severity::P0);
        check(growth, "Help", "All leads are going unprocessed since 9am", Severity::P0);
        check(growth, "Help", "None of our leads were processed overnight", Severity::P0);
        check(growth, "Orders", "All orders are stuck since noon", Severity::P0);
        check(growth, "EMERGENCY: forms broken", "", Severity::P0);
        check(growth, "Help", "This is an emergency, call me.", Severity::P0);
        check(growth, "Emergency", "The checkout flow broke.", Severity::P0);
        check(growth, "Emergency - checkout broken", "", Severity::P0);
        check(growth, "HubSpot integration completely failed", "", Severity::P0);
        check(growth, "The AI agent is slow today", "", Severity::P1);
        check(growth, "Leads", "Some leads are delayed by an hour", Severity::P1);
        check(growth, "CRM integration intermittently failing", "", Severity::P1);
        check(growth, "Formatting error in the weekly report", "", Severity::P2);
        check(growth, "Delayed notification emails", "", Severity::P2);
        check(growth, "Cosmetic bug on the dashboard", "", Severity::P2);
        check(growth, "Feature request: CSV export", "", Severity::P3);
        check(growth, "Idea", "It would be nice to have a dark mode", Severity::P3);
        check(growth, "Docs", "Could you do a documentation update for the new field?", Severity::P3);
    }

    #[test]
    fn the_most_urgent_rule_wins() {
        check(Some(Tier::Growth), "Feature request", "also the site is down", Severity::P0);
    }

    #[test]
    fn good_news_and_questions_about_emergency_support_are_not_p0() {
        check(Some(Tier::Growth), "Thanks", "Thanks, all our leads were processed.", Severity::P2);
        check(Some(Tier::Growth), "Check", "Please make sure all requests are processed by Friday.", Severity::P2);
        check(Some(Tier::Growth), "Question", "Is emergency support included in our plan?", Severity::P2);
        check(Some(Tier::Growth), "Pricing", "What is your emergency rate on weekends?", Severity::P2);
        check(Some(Tier::Growth), "Question", "What happens if we have an emergency on a weekend?", Severity::P2);
        check(Some(Tier::Growth), "Question", "Have you got an emergency number?", Severity::P2);
        check(Some(Tier::Growth), "Question", "Is emergency-support included?", Severity::P2);
        check(Some(Tier::Growth), "Emergency support pricing", "", Severity::P2);
    }

    #[test]
    fn negations_do_not_trigger() {
        check(Some(Tier::Growth), "Question", "This is not urgent, and there is no outage.", Severity::P2);
        check(Some(Tier::Growth), "Question", "Nothing is slow, just a question.", Severity::P2);
        check(Some(Tier::Growth), "Question", "Not urgent. But the site is down.", Severity::P0);
    }

    #[test]
    fn only_the_start_of_a_long_mail_is_read_and_a_long_sentence_is_no_slower() {
        let tail = "not slow ".repeat(20_000);
        check(Some(Tier::Growth), "Question", &format!("All fine here {tail}"), Severity::P2);
        let late = format!("{}the site is down", "word ".repeat(TRIAGE_BODY_BYTES / 5 + 10));
        check(Some(Tier::Growth), "Question", &late, Severity::P2);
        // A negation far before a match does not reach it; one right before it does.
        check(Some(Tier::Growth), "Question", &format!("not {} slow", "x".repeat(200)), Severity::P1);
        check(Some(Tier::Growth), "Question", &format!("{} not slow", "é".repeat(200)), Severity::P2);
    }

    #[test]
    fn the_tier_decides_when_nothing_matches() {
        check(Some(Tier::Starter), "Question about invoices", "", Severity::P2);
        check(Some(Tier::Enterprise), "Question about invoices", "", Severity::P1);
        check(None, "Question about invoices", "", Severity::P2);
    }
}
