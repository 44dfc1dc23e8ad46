//! The command line: `main` parses the arguments (`args`) and sets up logging; `run` hands
//! each command to one function in the file of its group. All the printing lives here, in
//! tables, JSON or CSV (`format`); the library returns data. Command output goes to stdout;
//! logs go to stderr. The clock is read here (or fixed by `--now`) and passed on.

mod args;
mod auth;
mod check;
mod format;
mod held;
mod hours;
mod migrate;
mod reports;
mod status;
mod tickets;
mod time;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

pub use args::{Cli, ClientReportArgs, Command, HeldCommand, ReportCommand, StatusArg, TicketCommand, TimeCommand};
pub use tickets::tickets_table;

use crate::clock::Clock;
use crate::config::Config;
use crate::desk::Desk;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("helpdesk=info,warn"))
        // async-imap traces every line it sends, the LOGIN password and the XOAUTH2 token
        // among them: never below info, whatever RUST_LOG says.
        .add_directive("async_imap=info".parse().expect("a valid directive"));
    // Colours only on a terminal: a log file or journal gets plain `key=value` lines.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour).init();
}

/// One command, one call. Every command but `demo`, `check` and `migrate` works on the desk of
/// the config file, opened first (so a broken config is reported before anything else).
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let clock = cli.now.map(Clock::Fixed).unwrap_or(Clock::System);
    let desk = || open_desk(&cli.config);
    match cli.command {
        Command::Demo { dir } => demo(&dir).await,
        Command::Check { connect } => check::check(&cli.config, connect).await,
        Command::Run { once } => run_desk(&desk().await?, once, clock).await,
        Command::Tickets { status, client, json } => {
            tickets::list(&desk().await?, status, client.as_deref(), json, clock.now()).await
        }
        Command::Ticket { command } => tickets::ticket(&desk().await?, command, clock.now()).await,
        Command::Held { command, days, json } => held::held(&desk().await?, command, days, json, clock.now()).await,
        Command::Hours { client, period, json, csv } => {
            hours::hours(&desk().await?, client.as_deref(), period.as_deref(), json, csv, clock.now()).await
        }
        Command::Clients { json } => hours::clients(&desk().await?, json, clock.now()).await,
        Command::Time { command } => time::time(&desk().await?, command, clock.now()).await,
        Command::Report { command } => reports::report(&desk().await?, command, clock.now()).await,
        Command::Metrics { period, json } => reports::metrics(&desk().await?, period, json, clock.now()).await,
        Command::Auth { command } => auth::auth(&desk().await?, command, clock.now()).await,
        Command::Status { json } => status::status(&desk().await?, json, clock.now()).await,
        Command::Migrate { from, to } => migrate::migrate(&from, &to).await,
    }
}

/// `helpdesk demo`: the bundled mail through the whole pipeline, needing no server.
async fn demo(dir: &Path) -> anyhow::Result<ExitCode> {
    crate::demo::run_demo(dir).await?;
    Ok(ExitCode::SUCCESS)
}

/// `helpdesk run [--once]`: the service loop, with the mailbox secrets it needs.
async fn run_desk(desk: &Desk, once: bool, clock: Clock) -> anyhow::Result<ExitCode> {
    desk.config.require_secrets()?;
    for warning in &desk.config.warnings {
        tracing::warn!(%warning, "the config has something that looks like a mistake");
    }
    let shutdown = crate::service::shutdown_signal();
    let report = crate::service::run(desk, once, clock, shutdown).await?;
    tracing::info!(
        mails = report.mails,
        alerts = report.alerts,
        sent = report.sent,
        retry_later = report.retry_later,
        failed = report.failed,
        "finished"
    );
    Ok(ExitCode::SUCCESS)
}

/// The desk for a command: its config without mailbox secrets (each command that connects
/// asks for them with `Config::require_secrets`, as `run` and `--send` do).
async fn open_desk(config_path: &Path) -> anyhow::Result<Desk> {
    let config = Config::load_offline(config_path).with_context(|| format!("config {}", config_path.display()))?;
    Desk::open(config).await
}
