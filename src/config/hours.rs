//! `[hours]`: hour banks per tier and the money rates (SOP "Hour Bank Management",
//! "Rollover Policy", "Billable"), over the SOP's figures.
//!
//! The bank arithmetic is `crate::hours::bank`'s; this only reads the figures.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::fields;
use super::read::{Reader, Table};
use crate::domain::Tier;
use crate::hours::bank::{BankRules, Rates};

/// Hour banks (SOP "Hour Bank Management", "Rollover Policy", "Billable").
#[derive(Debug, Clone, PartialEq)]
pub struct HoursConfig {
    pub tiers: BTreeMap<Tier, BankRules>,
    pub rates: Rates,
}

impl Default for HoursConfig {
    fn default() -> HoursConfig {
        HoursConfig {
            tiers: [Tier::Starter, Tier::Growth, Tier::Enterprise]
                .into_iter()
                .map(|t| (t, BankRules::for_tier(t)))
                .collect(),
            rates: Rates::default(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct HoursSection {
    #[serde(deserialize_with = "fields::some_int::<_, _, 0, 100_000_000>")]
    overage_rate_cents: Option<i64>,
    #[serde(deserialize_with = "fields::some_int::<_, _, 0, 100_000_000>")]
    emergency_rate_cents: Option<i64>,
    #[serde(deserialize_with = "fields::some_int::<_, _, 0, 100_000_000>")]
    billable_rate_cents: Option<i64>,
    /// `[hours.tiers.TIER]`.
    tiers: BTreeMap<String, TierHours>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierHours {
    #[serde(default, deserialize_with = "fields::some_int::<_, _, 0, 10_000>")]
    included_hours: Option<i64>,
    #[serde(default, deserialize_with = "fields::some_int::<_, _, 0, 10_000>")]
    rollover_max_hours: Option<i64>,
    #[serde(default, deserialize_with = "fields::some_int::<_, _, 0, 10_000>")]
    bank_cap_hours: Option<i64>,
}

/// `[hours]` over the SOP's figures.
pub(super) fn read(reader: &mut Reader, root: &Table) -> HoursConfig {
    let section: HoursSection = reader.section_or_default(root, "hours");
    let mut config = HoursConfig::default();
    let rates = &mut config.rates;
    rates.overage_cents_per_hour = section.overage_rate_cents.unwrap_or(rates.overage_cents_per_hour);
    rates.emergency_cents_per_hour = section.emergency_rate_cents.unwrap_or(rates.emergency_cents_per_hour);
    rates.billable_cents_per_hour = section.billable_rate_cents.unwrap_or(rates.billable_cents_per_hour);
    for (name, given) in section.tiers {
        let Ok(tier) = name.parse::<Tier>() else {
            let message = "expected [hours.tiers.starter|growth|enterprise] with hour keys";
            reader.problem(&format!("hours.tiers.{name}"), message);
            continue;
        };
        let rules = config.tiers.get_mut(&tier).expect("every tier has defaults");
        let minutes = |hours: Option<i64>, current: i64| hours.map(|hours| hours * 60).unwrap_or(current);
        rules.included_minutes = minutes(given.included_hours, rules.included_minutes);
        rules.rollover_max_minutes = minutes(given.rollover_max_hours, rules.rollover_max_minutes);
        rules.bank_cap_minutes = minutes(given.bank_cap_hours, rules.bank_cap_minutes);
    }
    config
}
