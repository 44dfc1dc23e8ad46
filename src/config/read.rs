//! Reading one section of the TOML into its serde struct without stopping at the first
//! mistake: a key whose value is wrong (or unknown, or blank) is reported with its full key,
//! taken out, and the section read again, so that `check` shows every problem at once and
//! the keys that were right still take part in the checks across sections.
//!
//! This module knows nothing of the sections themselves; it turns serde's errors into the
//! config's problems ("section.key: message").

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::Value;

pub(super) type Table = toml::map::Map<String, Value>;

/// Whether a `password_env` that is not set is a problem of the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Secrets {
    Required,
    Optional,
}

/// The state of one load: where relative paths start, the environment for `password_env`,
/// and what was found so far.
pub(super) struct Reader<'a> {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
    pub missing_secrets: Vec<String>,
    pub env: &'a HashMap<String, String>,
    pub base_dir: &'a Path,
    pub secrets: Secrets,
}

/// One step of a key path inside a section.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// What was taken out of a section before it read: the keys (so that a required key taken
/// out for its wrong value is not also reported as missing) and, per list, how many items
/// (so that later problems in the list still name the item's place in the file).
#[derive(Default)]
struct Repairs {
    removed: HashSet<String>,
    removed_items: HashMap<String, usize>,
}

/// A section is read again at most this often (each time with one key fewer).
const MAX_REPAIRS: usize = 500;

impl Reader<'_> {
    pub fn problem(&mut self, key: &str, message: impl Display) {
        self.problems.push(format!("{key}: {message}"));
    }

    /// A path from the config, relative to the config file's folder unless absolute.
    pub fn path(&self, raw: &str) -> PathBuf {
        let path = PathBuf::from(raw);
        if path.is_absolute() {
            path
        } else {
            self.base_dir.join(path)
        }
    }

    /// The value of section `name`; none when absent or (a problem) when not a table.
    pub fn section<'t>(&mut self, root: &'t Table, name: &str) -> Option<&'t Value> {
        match root.get(name) {
            None => None,
            Some(value) if value.is_table() => Some(value),
            Some(_) => {
                self.problem(name, "must be a [section]");
                None
            }
        }
    }

    /// Section `name` as `T`: its defaults when absent, or when it is not a table (reported).
    pub fn section_or_default<T: DeserializeOwned + Default>(&mut self, root: &Table, name: &str) -> T {
        match self.section(root, name) {
            Some(value) => self.read(name, value).unwrap_or_default(),
            None => T::default(),
        }
    }

    /// Reads `value`, found at `key`, as `T`, reporting every key that is wrong. None when
    /// the value cannot be read even without them (a required key is missing or wrong).
    pub fn read<T: DeserializeOwned>(&mut self, key: &str, value: &Value) -> Option<T> {
        let mut value = value.clone();
        let mut repairs = Repairs::default();
        self.remove_blank_strings(key, &mut value, &mut repairs);
        for _ in 0..MAX_REPAIRS {
            let err = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
                Ok(read) => return Some(read),
                Err(err) => err,
            };
            let steps: Vec<Step> = err.path().iter().filter_map(step).collect();
            if steps.len() != err.path().iter().count() {
                self.problem(key, first_line(&err.inner().to_string()));
                return None;
            }
            let at = repairs.original_key(key, &steps);
            let message = first_line(&err.inner().to_string());
            if let Some(field) = message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
                let missing = format!("{at}.{field}");
                if !repairs.removed.contains(&missing) {
                    self.problem(&missing, "is required");
                }
            } else if let Some(rest) = message.strip_prefix("unknown field `") {
                self.problem(&at, format!("unknown key (known: {})", known_fields(rest)));
            } else {
                self.problem(&at, message);
            }
            // What is left is read again without the wrong key (or the table lacking one).
            if steps.is_empty() || !remove(&mut value, &steps) {
                return None;
            }
            repairs.note(key, &steps, at);
        }
        self.problem(key, "too many problems to read this section");
        None
    }

    /// A string value must not be blank (strings inside lists are checked by their reader).
    fn remove_blank_strings(&mut self, key: &str, value: &mut Value, repairs: &mut Repairs) {
        match value {
            Value::Table(table) => {
                let blank: Vec<String> = table
                    .iter()
                    .filter(|(_, value)| value.as_str().is_some_and(|text| text.trim().is_empty()))
                    .map(|(name, _)| name.clone())
                    .collect();
                for name in blank {
                    table.remove(&name);
                    let at = format!("{key}.{name}");
                    self.problem(&at, "must not be empty");
                    repairs.removed.insert(at);
                }
                for (name, inner) in table.iter_mut() {
                    self.remove_blank_strings(&format!("{key}.{name}"), inner, repairs);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate().filter(|(_, item)| item.is_table()) {
                    self.remove_blank_strings(&format!("{key}[{index}]"), item, repairs);
                }
            }
            _ => {}
        }
    }
}

impl Repairs {
    /// The key as the file spells it: list positions counted with the items taken out.
    fn original_key(&self, key: &str, steps: &[Step]) -> String {
        let mut at = key.to_string();
        for step in steps {
            match step {
                Step::Key(name) => at = format!("{at}.{name}"),
                Step::Index(index) => {
                    // Items come out in order, so every item taken out stood before this one.
                    let before = self.removed_items.get(&at).copied().unwrap_or(0);
                    at = format!("{at}[{}]", index + before);
                }
            }
        }
        at
    }

    fn note(&mut self, key: &str, steps: &[Step], at: String) {
        if let Some(Step::Index(_)) = steps.last() {
            let list = self.original_key(key, &steps[..steps.len() - 1]);
            *self.removed_items.entry(list).or_default() += 1;
        }
        self.removed.insert(at);
    }
}

fn step(segment: &serde_path_to_error::Segment) -> Option<Step> {
    match segment {
        serde_path_to_error::Segment::Map { key } => Some(Step::Key(key.clone())),
        serde_path_to_error::Segment::Seq { index } => Some(Step::Index(*index)),
        _ => None,
    }
}

/// Takes the value at `steps` out of `value`; false when there is none.
fn remove(value: &mut Value, steps: &[Step]) -> bool {
    let Some((last, parents)) = steps.split_last() else { return false };
    let mut node = value;
    for step in parents {
        let next = match (step, node) {
            (Step::Key(name), Value::Table(table)) => table.get_mut(name),
            (Step::Index(index), Value::Array(items)) => items.get_mut(*index),
            _ => None,
        };
        match next {
            Some(next) => node = next,
            None => return false,
        }
    }
    match (last, node) {
        (Step::Key(name), Value::Table(table)) => table.remove(name).is_some(),
        (Step::Index(index), Value::Array(items)) if *index < items.len() => {
            items.remove(*index);
            true
        }
        _ => false,
    }
}

/// toml adds "in `key`" lines to its messages; the problem names its key itself.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().trim().to_string()
}

/// serde's "x`, expected one of `a`, `b`" as "a, b".
fn known_fields(rest: &str) -> String {
    let expected = rest.split_once(", expected ").map(|(_, expected)| expected).unwrap_or("");
    expected.trim_start_matches("one of ").replace(" or ", ", ").replace('`', "")
}
