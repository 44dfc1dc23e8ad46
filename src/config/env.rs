//! `HELPDESK_SECTION__KEY` environment variables over the file's keys, applied to the TOML
//! before any section is read (so an override is checked like the key it replaces).

use std::collections::HashMap;

use toml::Value;

/// `HELPDESK_SECTION__KEY=value` sets `[section] key = value`. The value is read as a TOML
/// value when it parses as one (numbers, booleans, arrays), otherwise as a string.
pub(super) fn apply_env_overrides(root: &mut Value, env: &HashMap<String, String>, problems: &mut Vec<String>) {
    let mut overrides: Vec<(&String, &String)> =
        env.iter().filter(|(name, _)| name.starts_with("HELPDESK_") && name.contains("__")).collect();
    overrides.sort();
    for (name, raw_value) in overrides {
        let path: Vec<String> = name["HELPDESK_".len()..].split("__").map(|part| part.to_ascii_lowercase()).collect();
        if path.iter().any(|part| part.is_empty()) {
            problems.push(format!("{name}: an override is HELPDESK_SECTION__KEY"));
            continue;
        }
        let value = format!("v = {raw_value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut table| table.remove("v"))
            .unwrap_or_else(|| Value::String(raw_value.clone()));
        if let Err(section) = set_path(root, &path, value) {
            problems.push(format!("{name}: {section} is not a section"));
        }
    }
}

fn set_path(node: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some(table) = node.as_table_mut() else {
        return Err(path.first().cloned().unwrap_or_default());
    };
    match path {
        [] => Ok(()),
        [key] => {
            table.insert(key.clone(), value);
            Ok(())
        }
        [section, rest @ ..] => {
            let entry = table.entry(section.clone()).or_insert_with(|| Value::Table(Default::default()));
            if !entry.is_table() {
                return Err(section.clone());
            }
            set_path(entry, rest, value)
        }
    }
}
