//! What every command's output shares: tables in one style, pretty JSON, CSV fields, stored
//! times shown in the agent's timezone, text from outside clipped to one line, and a client
//! looked up by the name the agent typed.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Row, Table};

use crate::config::{ClientConfig, Config};
use crate::text::one_line;

/// An empty table with this header, in the style of every table the CLI prints.
pub fn table(header: impl Into<Row>) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(header);
    table
}

/// `value` as pretty JSON on stdout (the `--json` of every command).
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Text from outside on one line (`crate::text::one_line`), cut to `max` characters for a
/// table cell.
pub fn clipped(text: &str, max: usize) -> String {
    one_line(text).chars().take(max).collect()
}

/// One CSV field, quoted when it holds a comma, a quote or a line break.
pub fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// A time from the database as the agent reads it (his timezone, with the zone's name).
pub fn agent_time(config: &Config, stored: &str) -> String {
    match crate::storage::time_from_db(stored) {
        Ok(time) => config.agent_local_time(time),
        Err(_) => one_line(stored),
    }
}

/// "2026-12-01 09:30" in the agent's timezone.
pub fn local_short_time(config: &Config, stored: &str) -> String {
    match crate::storage::time_from_db(stored) {
        Ok(time) => time.with_timezone(&config.agent.timezone).format("%Y-%m-%d %H:%M").to_string(),
        Err(_) => one_line(stored),
    }
}

/// The client the agent named (case-blind), or the error every command gives for a name that
/// is not in the config.
pub fn client_named<'c>(config: &'c Config, name: &str) -> anyhow::Result<&'c ClientConfig> {
    config.client_named(name).ok_or_else(|| anyhow::anyhow!("no client named {name:?} in the config"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        for (field, written) in [
            ("plain", "plain"),
            ("a, b", "\"a, b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("", ""),
        ] {
            assert_eq!(csv_field(field), written, "{field:?}");
        }
    }
}
