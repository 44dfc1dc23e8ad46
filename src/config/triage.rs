//! `[triage]`: the agent's own severity rules, tried before the built-in ones (or instead of
//! them), and the severity of mail no rule matches, per tier.
//!
//! Matching is `crate::triage`'s; this only reads the rules.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

use super::fields;
use super::read::{Reader, Table};
use super::sla::tiers;
use crate::domain::Severity;
use crate::triage::{TriageConfig, TriageRule};

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct TriageSection {
    /// Drop the built-in rules (default false).
    replace_default_rules: bool,
    /// `[[triage.rules]]`, tried in order before the built-in ones.
    rules: Vec<RuleSection>,
    /// `{ starter = "P2" }`: the severity of mail no rule matches.
    #[serde(deserialize_with = "fields::map")]
    unmatched: BTreeMap<String, Severity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSection {
    name: String,
    /// A regular expression, matched in any case.
    #[serde(deserialize_with = "fields::parsed")]
    pattern: Regex,
    #[serde(deserialize_with = "fields::parsed")]
    severity: Severity,
}

/// `[triage]` over the built-in rules.
pub(super) fn read(reader: &mut Reader, root: &Table) -> TriageConfig {
    let section: TriageSection = reader.section_or_default(root, "triage");
    let mut config = TriageConfig::default();
    if section.replace_default_rules {
        config.rules.clear();
    }
    // Configured rules are tried before the built-in ones.
    let mut rules: Vec<TriageRule> = section
        .rules
        .into_iter()
        .map(|rule| TriageRule { name: rule.name, pattern: rule.pattern, severity: rule.severity })
        .collect();
    rules.append(&mut config.rules);
    config.rules = rules;
    for (tier, _, severity) in tiers(reader, "triage.unmatched", section.unmatched) {
        config.unmatched.insert(tier, severity);
    }
    config
}
