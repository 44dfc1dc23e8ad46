//! The integration tests that need no mail server, in one test binary (the crate is linked
//! once, not once a file): the real intake on a SQLite file, the command line on a Maildir,
//! the public corpora and the property tests. `cargo test --test integration daily_summary`
//! runs one module. The end-to-end tests against Dovecot and Postfix are `tests/e2e/`.

mod common;

mod cli;
mod daily_summary;
mod hostile_input;
mod injection;
mod loop_protection;
mod migrate;
mod postgres_schema;
mod properties;
mod quote_corpus;
mod threading_corpus;
