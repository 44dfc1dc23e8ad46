//! Fixtures shared by unit tests.

use std::collections::HashMap;
use std::path::Path;

use crate::config::Config;

pub const SAMPLE_CONFIG: &str = r#"
[database]
url = "sqlite::memory:"
[maildir]
path = "/nonexistent/maildir"
[outbox_dir]
path = "/nonexistent/outbox"
from = "Support <support@example.test>"
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

pub fn sample_config() -> Config {
    Config::from_toml(SAMPLE_CONFIG, &HashMap::new(), Path::new("/")).expect("the sample config is valid")
}
