//! `[sla]`: the response and resolution targets per tier and severity over the built-in
//! ones (SOP "Response Times"), when the agent is warned, the reopen window, and the meeting
//! schedules that "next meeting" targets wait for (also a client's own `meeting`).
//!
//! The targets themselves and their arithmetic are `crate::sla`'s; this only reads them.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, NaiveTime};
use serde::{Deserialize, Deserializer};
use toml::Value;

use super::fields;
use super::read::{Reader, Table};
use crate::domain::Tier;
use crate::sla::{MeetingSchedule, SlaConfig, Span};

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct SlaSection {
    /// Warn when this fraction of a target is left (default 0.25).
    #[serde(deserialize_with = "fraction")]
    warn_when_left: Option<f64>,
    /// Default 14.
    #[serde(deserialize_with = "fields::some_int::<_, _, 0, 3650>")]
    reopen_window_days: Option<i64>,
    /// Stop both clocks while the ticket waits on the client (`#waiting`) (default false).
    pause_while_waiting: Option<bool>,
    /// `[sla.response.TIER]`.
    response: BTreeMap<String, ResponseTargets>,
    /// `[sla.resolution.TIER]`.
    resolution: BTreeMap<String, ResolutionTargets>,
    /// `[sla.meetings.TIER]`.
    meetings: BTreeMap<String, MeetingSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseTargets {
    #[serde(default, rename = "P0", deserialize_with = "fields::some")]
    p0: Option<Span>,
    #[serde(default, rename = "P1", deserialize_with = "fields::some")]
    p1: Option<Span>,
    #[serde(default, rename = "P2", deserialize_with = "fields::some")]
    p2: Option<Span>,
    #[serde(default, rename = "P3", deserialize_with = "fields::some")]
    p3: Option<Span>,
    /// P0 response when the mail arrives outside business hours.
    #[serde(default, rename = "P0_after_hours", deserialize_with = "fields::some")]
    p0_after_hours: Option<Span>,
    /// Non-P0 response when the mail arrives on a non-working day.
    #[serde(default, deserialize_with = "fields::some")]
    non_working_day: Option<Span>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolutionTargets {
    #[serde(default, rename = "P0", deserialize_with = "fields::some")]
    p0: Option<Span>,
    #[serde(default, rename = "P1", deserialize_with = "fields::some")]
    p1: Option<Span>,
    #[serde(default, rename = "P2", deserialize_with = "fields::some")]
    p2: Option<Span>,
    #[serde(default, rename = "P3", deserialize_with = "fields::some")]
    p3: Option<Span>,
}

fn fraction<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Float(fraction) if (0.0..1.0).contains(&fraction) => Ok(Some(fraction)),
        other => Err(serde::de::Error::custom(format!("expected a fraction such as 0.25, found {other}"))),
    }
}

/// A meeting schedule as written: every N days from a first one, or a day of each month.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MeetingSection {
    #[serde(default, deserialize_with = "fields::some_int::<_, _, 1, 366>")]
    every_days: Option<i64>,
    /// With `every_days`: the first meeting, local time "2026-01-06 10:00".
    #[serde(default)]
    first: Option<String>,
    #[serde(default, deserialize_with = "fields::some_int::<_, _, 1, 31>")]
    monthly_day: Option<u32>,
    /// With `monthly_day`: the local time (default 10:00).
    #[serde(default)]
    time: Option<String>,
}

impl MeetingSection {
    pub(super) fn schedule(self, reader: &mut Reader, key: &str) -> Option<MeetingSchedule> {
        match (self.every_days, self.monthly_day) {
            (Some(days), None) => {
                let Some(raw) = self.first else {
                    reader.problem(&format!("{key}.first"), "is required");
                    return None;
                };
                let first = NaiveDateTime::parse_from_str(&raw, "%Y-%m-%d %H:%M").map_err(|_| {
                    let message = format!("{raw:?} is not a local time like \"2026-01-06 10:00\"");
                    reader.problem(&format!("{key}.first"), message)
                });
                Some(MeetingSchedule::EveryDays { days, first: first.ok()? })
            }
            (None, Some(day)) => {
                let raw = self.time.unwrap_or_else(|| "10:00".into());
                let time = NaiveTime::parse_from_str(&raw, "%H:%M")
                    .map_err(|_| reader.problem(&format!("{key}.time"), format!("{raw:?} is not a time like 10:00")));
                Some(MeetingSchedule::Monthly { day, time: time.ok()? })
            }
            _ => {
                reader.problem(key, "give either every_days (with first) or monthly_day (with time)");
                None
            }
        }
    }
}

/// `[sla]` over the built-in targets.
pub(super) fn read(reader: &mut Reader, root: &Table) -> SlaConfig {
    let section: SlaSection = reader.section_or_default(root, "sla");
    let mut config = SlaConfig::default();
    if let Some(fraction) = section.warn_when_left {
        config.warn_when_left = fraction;
    }
    if let Some(days) = section.reopen_window_days {
        config.reopen_window_days = days;
    }
    config.pause_while_waiting = section.pause_while_waiting.unwrap_or(config.pause_while_waiting);
    for (tier, _, targets) in tiers(reader, "sla.response", section.response) {
        let entry = config.tiers.get_mut(&tier).expect("every tier has defaults");
        overlay(&mut entry.response, [targets.p0, targets.p1, targets.p2, targets.p3]);
        entry.p0_response_after_hours = targets.p0_after_hours.or(entry.p0_response_after_hours);
        entry.response_on_non_working_day = targets.non_working_day.or(entry.response_on_non_working_day);
    }
    for (tier, _, targets) in tiers(reader, "sla.resolution", section.resolution) {
        let entry = config.tiers.get_mut(&tier).expect("every tier has defaults");
        overlay(&mut entry.resolution, [targets.p0, targets.p1, targets.p2, targets.p3]);
    }
    for (tier, key, meeting) in tiers(reader, "sla.meetings", section.meetings) {
        if let Some(schedule) = meeting.schedule(reader, &key) {
            config.meetings.insert(tier, schedule);
        }
    }
    config
}

/// The targets given (P0..P3) over the ones in force.
fn overlay(spans: &mut [Span; 4], given: [Option<Span>; 4]) {
    for (slot, given) in spans.iter_mut().zip(given) {
        if let Some(span) = given {
            *slot = span;
        }
    }
}

/// The entries of a table keyed by tier, each with its key; an unknown tier is a problem.
pub(super) fn tiers<T>(reader: &mut Reader, key: &str, entries: BTreeMap<String, T>) -> Vec<(Tier, String, T)> {
    let mut read = Vec::new();
    for (name, entry) in entries {
        let at = format!("{key}.{name}");
        match name.parse::<Tier>() {
            Ok(tier) => read.push((tier, at, entry)),
            Err(err) => reader.problem(&at, err),
        }
    }
    read
}
