//! Fixtures shared by the unit tests and the integration tests (`tests/common`).

use std::collections::HashMap;
use std::path::Path;

use crate::config::Config;

/// The agent and three clients, one per tier: the desk most tests run.
pub const SAMPLE_PEOPLE: &str = r#"
[agent]
name = "Travis"
addresses = ["travis@example.test"]
timezone = "America/New_York"
[[clients]]
name = "Acme"
tier = "growth"
domains = ["acme.test"]
contacts = ["ops@partner.test"]
[[clients]]
name = "Globex"
tier = "enterprise"
domains = ["globex.test"]
timezone = "Europe/Berlin"
[[clients]]
name = "Initech"
tier = "starter"
domains = ["initech.test"]
"#;

/// `SAMPLE_PEOPLE` with an in-memory database and folders that are never touched.
pub fn sample_config() -> Config {
    let toml = format!(
        "[database]\nurl = \"sqlite::memory:\"\n[maildir]\npath = \"/nonexistent/maildir\"\n\
         [outbox_dir]\npath = \"/nonexistent/outbox\"\nfrom = \"Support <support@example.test>\"\n{SAMPLE_PEOPLE}"
    );
    Config::from_toml(&toml, &HashMap::new(), Path::new("/")).expect("the sample config is valid")
}
