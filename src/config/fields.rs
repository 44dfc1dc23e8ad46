//! How a key's value is read, for the `deserialize_with` of the section structs: integers
//! within bounds, and text parsed into a domain type (an address, a time zone, a tier ...),
//! each failing with the message `check` shows after the key.
//!
//! Only reading values lives here; rules across keys are the sections' and `validate`'s.

use chrono::{NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use toml::Value;

use crate::domain::{EmailAddress, Severity, Tier};
use crate::sla::Span;

/// An integer from MIN to MAX, in the field's own type.
pub(super) fn int<'de, D, T, const MIN: i64, const MAX: i64>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    match Value::deserialize(deserializer)? {
        Value::Integer(number) if (MIN..=MAX).contains(&number) => {
            T::try_from(number).map_err(|_| D::Error::custom(format!("{number} does not fit")))
        }
        other => Err(D::Error::custom(format!("expected an integer from {MIN} to {MAX}, found {other}"))),
    }
}

/// An optional integer from MIN to MAX (with `#[serde(default)]`).
pub(super) fn some_int<'de, D, T, const MIN: i64, const MAX: i64>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    int::<D, T, MIN, MAX>(deserializer).map(Some)
}

/// Text that reads as a value of the config, or the reason it does not.
pub(super) trait Parse: Sized {
    fn parse(raw: &str) -> Result<Self, String>;
}

/// A `Parse` value as serde reads it (the items of a list keep their place in the path).
struct Parsed<T>(T);

impl<'de, T: Parse> Deserialize<'de> for Parsed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Parsed<T>, D::Error> {
        let raw = String::deserialize(deserializer)?;
        T::parse(&raw).map(Parsed).map_err(D::Error::custom)
    }
}

pub(super) fn parsed<'de, D: Deserializer<'de>, T: Parse>(deserializer: D) -> Result<T, D::Error> {
    Parsed::deserialize(deserializer).map(|parsed| parsed.0)
}

/// An optional `Parse` value (with `#[serde(default)]`).
pub(super) fn some<'de, D: Deserializer<'de>, T: Parse>(deserializer: D) -> Result<Option<T>, D::Error> {
    parsed(deserializer).map(Some)
}

/// A list of `Parse` values; a wrong item is named by its place (`key[2]`).
pub(super) fn list<'de, D: Deserializer<'de>, T: Parse>(deserializer: D) -> Result<Vec<T>, D::Error> {
    let items: Vec<Parsed<T>> = Vec::deserialize(deserializer)?;
    Ok(items.into_iter().map(|parsed| parsed.0).collect())
}

/// A time of day written `HH:MM`; `example` shows one in the message.
pub(super) fn time_like<'de, D: Deserializer<'de>>(deserializer: D, example: &str) -> Result<NaiveTime, D::Error> {
    let raw = String::deserialize(deserializer)?;
    NaiveTime::parse_from_str(&raw, "%H:%M")
        .map_err(|_| D::Error::custom(format!("{raw:?} is not a time like {example}")))
}

/// A date written `YYYY-MM-DD`; `example` shows one in the message.
pub(super) fn date_like<'de, D: Deserializer<'de>>(deserializer: D, example: &str) -> Result<NaiveDate, D::Error> {
    let raw = String::deserialize(deserializer)?;
    NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
        .map_err(|_| D::Error::custom(format!("{raw:?} is not a date like {example}")))
}

impl Parse for EmailAddress {
    fn parse(raw: &str) -> Result<EmailAddress, String> {
        EmailAddress::parse(raw).ok_or_else(|| format!("{raw:?} is not a mail address"))
    }
}

impl Parse for Tz {
    fn parse(raw: &str) -> Result<Tz, String> {
        raw.parse().map_err(|_| format!("{raw:?} is not an IANA time zone such as America/New_York"))
    }
}

impl Parse for Weekday {
    fn parse(raw: &str) -> Result<Weekday, String> {
        raw.parse().map_err(|_| format!("{raw:?} is not a weekday (mon..sun)"))
    }
}

impl Parse for Tier {
    fn parse(raw: &str) -> Result<Tier, String> {
        raw.parse()
    }
}

impl Parse for Severity {
    fn parse(raw: &str) -> Result<Severity, String> {
        raw.parse()
    }
}

impl Parse for Span {
    fn parse(raw: &str) -> Result<Span, String> {
        Span::parse(raw)
    }
}

/// Holidays, the one list of dates.
impl Parse for NaiveDate {
    fn parse(raw: &str) -> Result<NaiveDate, String> {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| format!("{raw:?} is not a date like 2026-12-25"))
    }
}

/// Triage patterns: case-blind regular expressions.
impl Parse for regex::Regex {
    fn parse(raw: &str) -> Result<regex::Regex, String> {
        regex::RegexBuilder::new(raw).case_insensitive(true).build().map_err(|err| format!("not a valid regex: {err}"))
    }
}

/// A table of `Parse` values under names of the user's (tiers, for example).
pub(super) fn map<'de, D: Deserializer<'de>, T: Parse>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<String, T>, D::Error> {
    let items: std::collections::BTreeMap<String, Parsed<T>> = Deserialize::deserialize(deserializer)?;
    Ok(items.into_iter().map(|(name, parsed)| (name, parsed.0)).collect())
}
