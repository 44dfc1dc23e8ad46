//! The command line: parses arguments, sets up logging, loads the config, and calls into the
//! library. Command output goes to stdout; logs go to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use crate::clock::Clock;
use crate::config::Config;
use crate::desk::Desk;
use crate::domain::TicketId;
use crate::outbound::outbox::OutboxKind;
use crate::sla::ClockState;
use crate::text::{multi_line, one_line};
use crate::tickets::store::{self, StatusFilter, TicketSummary};

/// An email-native helpdesk: clients mail support@, the agent answers from any mail client.
#[derive(Debug, Parser)]
#[command(name = "helpdesk", version)]
pub struct Cli {
    /// The config file (TOML). Every key can be overridden by HELPDESK_SECTION__KEY.
    #[arg(long, short, global = true, env = "HELPDESK_CONFIG", default_value = "helpdesk.toml")]
    pub config: PathBuf,
    /// Run as if it were this moment (RFC 3339, e.g. 2026-12-01T15:00:00Z): SLA states,
    /// alerts and retries are judged at this time. For replays and audits.
    #[arg(long, global = true, value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a demo Maildir of client mail, run the whole pipeline on it with SQLite and the
    /// file transport, and print the tickets. Needs no server.
    Demo {
        /// Where the demo's database, Maildir, outgoing mail and config are written.
        #[arg(long, default_value = "demo-output")]
        dir: PathBuf,
    },
    /// Watch the support mailbox and handle mail as it arrives (never exits on its own).
    Run {
        /// Process everything waiting, send everything queued, and exit.
        #[arg(long)]
        once: bool,
    },
    /// List tickets.
    Tickets {
        #[arg(long, value_enum, default_value_t = StatusArg::Open)]
        status: StatusArg,
        /// Only this client's tickets.
        #[arg(long)]
        client: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Commands about one ticket.
    Ticket {
        #[command(subcommand)]
        command: TicketCommand,
    },
    /// Mail kept without a ticket: automated mail (bounces, out-of-office, no-reply senders),
    /// agent mail about no ticket, and mail the desk failed on. Lists the last 30 days;
    /// `held show N` prints one, `held open N` takes it in as a person's mail.
    Held {
        #[command(subcommand)]
        command: Option<HeldCommand>,
        /// List what arrived in the last this many days.
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Validate the config and report every problem at once (and what looks like a mistake).
    Check {
        /// Also log in to the IMAP server (selecting the mailbox) and the SMTP server (EHLO and
        /// AUTH, no mail sent), and report each result.
        #[arg(long)]
        connect: bool,
    },
    /// The hour-tracking sheet and period statement per client (SOP "Hour Bank Management").
    Hours {
        /// Only this client.
        #[arg(long)]
        client: Option<String>,
        /// The billing period, named by the month it starts in (default: the current one).
        #[arg(long)]
        period: Option<String>,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Write the sheet as CSV (for a spreadsheet or an invoice).
        #[arg(long)]
        csv: bool,
    },
    /// Log time that belongs to no ticket, e.g. `helpdesk time add Acme 30m "Monthly health check"`.
    Time {
        #[command(subcommand)]
        command: TimeCommand,
    },
    /// Reports: `report daily [--date D] [--send]` prints the agent's daily summary or sends it.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// The SOP's success metrics for a month (default: this month so far).
    Metrics {
        /// YYYY-MM
        #[arg(long)]
        period: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Clients with their tier and this period's hours.
    Clients {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The daily summary for a date (default: the one due now).
    Daily {
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        /// Send it to the agent (once per date) instead of printing it.
        #[arg(long)]
        send: bool,
        /// Print the HTML version instead of the text.
        #[arg(long)]
        html: bool,
    },
    /// A client's weekly report (ENTERPRISE, GROWTH check-in).
    Weekly(ClientReportArgs),
    /// A client's monthly report (GROWTH, ENTERPRISE).
    Monthly(ClientReportArgs),
    /// A client's quarterly report (STARTER).
    Quarterly(ClientReportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ClientReportArgs {
    #[arg(long)]
    pub client: String,
    /// 2026-W48, 2026-11 or 2026-Q4 (default: the last complete one).
    #[arg(long)]
    pub period: Option<String>,
    /// Prepare it (once per client, kind and period) and send the draft to the agent, or to the
    /// client when the client is set to auto-send.
    #[arg(long)]
    pub send: bool,
    /// Print the HTML version instead of the text.
    #[arg(long)]
    pub html: bool,
}

#[derive(Debug, Subcommand)]
pub enum TimeCommand {
    /// Add a time entry for a client (rounded up to 15 minutes, like every entry).
    Add {
        client: String,
        /// 45m, 1h, 1h30m, 1.5h
        duration: String,
        task: String,
        /// Billable work, not included support.
        #[arg(long)]
        billable: bool,
        /// The work date (YYYY-MM-DD, default today in the agent's timezone).
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
    },
    /// List time entries with their ids (a client's billing period, or a calendar month).
    List {
        #[arg(long)]
        client: Option<String>,
        /// YYYY-MM (default: the current period)
        #[arg(long)]
        period: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a mistaken entry (an hour-bank email already sent stays sent).
    Remove { id: i64 },
    /// Correct an entry's time, task or kind.
    Edit {
        id: i64,
        /// The corrected duration: 45m, 1h, 1h30m, 1.5h.
        #[arg(long)]
        minutes: Option<String>,
        #[arg(long)]
        task: Option<String>,
        #[arg(long, conflicts_with = "included")]
        billable: bool,
        #[arg(long)]
        included: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum HeldCommand {
    /// Print one held mail: what the desk read, and why it was held.
    Show {
        id: i64,
        /// Print the original mail, byte for byte (to save it as .eml or hand it on).
        #[arg(long)]
        raw: bool,
    },
    /// The screening was wrong: take the mail in as a person's mail. It gets a ticket (or
    /// joins one) and an acknowledgement, as if it had just arrived. Mail the desk failed on
    /// is processed again.
    Open { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum TicketCommand {
    /// Show a ticket with its messages.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Close a ticket. The client gets the SOP's resolved email unless --silent.
    Close {
        id: i64,
        #[arg(long)]
        silent: bool,
    },
    /// Reopen a closed ticket (its clocks run on from their due times).
    Reopen { id: i64 },
    /// Give a ticket to a client: its SLA clocks follow the client's tier from the ticket's
    /// start.
    Move {
        id: i64,
        #[arg(long)]
        client: String,
    },
    /// Merge ticket ID into ticket INTO: messages, time and participants move; the client is
    /// told nothing; later mail to ID lands on INTO.
    Merge {
        id: i64,
        #[arg(long)]
        into: i64,
    },
    /// Save attachment NUMBER (1 is the first) of message MESSAGE of ticket TICKET to a file,
    /// e.g. `helpdesk ticket attachment 4 17 1 --out screenshot.png`.
    Attachment {
        ticket: i64,
        message: i64,
        number: usize,
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Open,
    Closed,
    All,
}

fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|err| format!("{text:?} is not an RFC 3339 time such as 2026-12-01T15:00:00Z: {err}"))
}

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
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("helpdesk=info,warn"));
    // Colours only on a terminal: a log file or journal gets plain `key=value` lines.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour).init();
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let clock = cli.now.map(Clock::Fixed).unwrap_or(Clock::System);
    match cli.command {
        Command::Demo { dir } => {
            crate::demo::run_demo(&dir).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { connect } => check(&cli.config, connect).await,
        Command::Run { once } => {
            let desk = open_desk(&cli.config).await?;
            desk.config.require_secrets()?;
            for warning in &desk.config.warnings {
                tracing::warn!(%warning, "the config has something that looks like a mistake");
            }
            let shutdown = crate::service::shutdown_signal();
            let report = crate::service::run(&desk, once, clock, shutdown).await?;
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
        Command::Tickets { status, client, json } => {
            let desk = open_desk(&cli.config).await?;
            let filter = match status {
                StatusArg::Open => StatusFilter::Open,
                StatusArg::Closed => StatusFilter::Closed,
                StatusArg::All => StatusFilter::All,
            };
            let now = clock.now();
            let tickets: Vec<TicketSummary> = store::list_tickets(&desk.db, filter)
                .await?
                .into_iter()
                .filter(|ticket| {
                    client
                        .as_deref()
                        .is_none_or(|name| ticket.client.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(name)))
                })
                .map(|ticket| ticket.with_sla_state(now, &desk.config.sla))
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&tickets)?);
            } else {
                println!("{}", tickets_table(&desk.config, &tickets));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Hours { client, period, json, csv } => {
            let desk = open_desk(&cli.config).await?;
            crate::hours::report::print_hours(&desk, client.as_deref(), period.as_deref(), json, csv, clock.now()).await
        }
        Command::Report { command: ReportCommand::Daily { date, send, html } } => {
            let desk = open_desk(&cli.config).await?;
            let now = clock.now();
            let date = date.unwrap_or_else(|| crate::reports::daily::due_summary_date(&desk.config, now));
            if send {
                let queued = crate::reports::daily::send_summary(&desk, date, now).await?;
                let transport = crate::outbound::sender::Transport::from_config(&desk.config)?;
                crate::outbound::sender::send_step(&desk.db, &transport, now).await?;
                println!(
                    "{}",
                    if queued {
                        format!("Summary for {date} sent.")
                    } else {
                        format!("The summary for {date} was already sent.")
                    }
                );
            } else {
                let since = now - chrono::Duration::days(1);
                let summary = crate::reports::daily::build_summary(&desk, date, since, now).await?;
                if html {
                    println!("{}", multi_line(&summary.html));
                } else {
                    println!("Subject: {}\n", one_line(&summary.subject));
                    println!("{}", multi_line(&summary.text));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { command: ReportCommand::Weekly(args) } => {
            client_report(&cli.config, "weekly", args, clock).await
        }
        Command::Report { command: ReportCommand::Monthly(args) } => {
            client_report(&cli.config, "monthly", args, clock).await
        }
        Command::Report { command: ReportCommand::Quarterly(args) } => {
            client_report(&cli.config, "quarterly", args, clock).await
        }
        Command::Metrics { period, json } => {
            let desk = open_desk(&cli.config).await?;
            let now = clock.now();
            let name =
                period.unwrap_or_else(|| now.with_timezone(&desk.config.agent.timezone).format("%Y-%m").to_string());
            let Some(month) = crate::hours::bank::period_named(&name, 1) else {
                anyhow::bail!("{name:?} is not a month like 2026-11");
            };
            let metrics = crate::reports::daily::metrics_for(&desk, month, now, None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&metrics)?);
            } else {
                let mut table = Table::new();
                table.load_preset(UTF8_FULL_CONDENSED);
                table.set_header(["Metric", "Value", "Target", "", "Counted"]);
                for m in &metrics.metrics {
                    table.add_row([
                        m.name.to_string(),
                        m.value.map(|v| format!("{v}")).unwrap_or_else(|| "-".into()),
                        m.target.to_string(),
                        match m.met {
                            Some(true) => "met",
                            Some(false) => "BELOW",
                            None => "",
                        }
                        .to_string(),
                        m.counted_text.clone(),
                    ]);
                }
                println!("Success metrics for {}\n{table}", metrics.period);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Clients { json } => {
            let desk = open_desk(&cli.config).await?;
            crate::hours::report::print_clients(&desk, json, clock.now()).await
        }
        Command::Time { command: TimeCommand::Add { client, duration, task, billable, date } } => {
            let desk = open_desk(&cli.config).await?;
            crate::hours::report::add_time(&desk, &client, &duration, &task, billable, date, clock.now()).await
        }
        Command::Time { command: TimeCommand::List { client, period, json } } => {
            let desk = open_desk(&cli.config).await?;
            crate::hours::report::list_time(&desk, client.as_deref(), period.as_deref(), json, clock.now()).await
        }
        Command::Time { command: TimeCommand::Remove { id } } => {
            let desk = open_desk(&cli.config).await?;
            crate::hours::report::remove_time(&desk, id, clock.now()).await
        }
        Command::Time { command: TimeCommand::Edit { id, minutes, task, billable, included } } => {
            let desk = open_desk(&cli.config).await?;
            let kind = match (billable, included) {
                (true, _) => Some(crate::hours::EntryKind::Billable),
                (_, true) => Some(crate::hours::EntryKind::Included),
                _ => None,
            };
            crate::hours::report::edit_time(&desk, id, minutes.as_deref(), task.as_deref(), kind, clock.now()).await
        }
        Command::Held { command: None, days, json } => {
            let desk = open_desk(&cli.config).await?;
            let since = clock.now() - chrono::Duration::days(days.clamp(0, 36_500));
            let held = store::held_messages(&desk.db, since).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&held)?);
            } else if held.is_empty() {
                println!("No mail held aside in the last {days} days.");
            } else {
                println!("{}", held_table(&desk.config, &held));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Held { command: Some(HeldCommand::Show { id, raw }), .. } => {
            let desk = open_desk(&cli.config).await?;
            let Some(stored) = store::stored_message(&desk.db, id).await? else {
                eprintln!("error: there is no message {id}");
                return Ok(ExitCode::from(1));
            };
            if raw {
                use std::io::Write;
                std::io::stdout().write_all(&stored.raw)?;
                return Ok(ExitCode::SUCCESS);
            }
            let message = &stored.summary;
            println!("Message {} from {} at {}", message.id, one_line(&message.sender), one_line(&message.arrived_at));
            println!("Subject:   {}", one_line(&message.subject));
            match stored.ticket {
                Some(ticket) => println!("On ticket: #{}", ticket.0),
                None => println!("Held:      {}", one_line(&held_reason(message))),
            }
            if let Some(problem) = &message.parse_problem {
                println!("Problem:   {}", one_line(problem));
            }
            println!("Size:      {} bytes (helpdesk held show {id} --raw prints the original)", stored.raw.len());
            println!("\n{}", multi_line(message.body_text.trim_end()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Held { command: Some(HeldCommand::Open { id }), .. } => {
            let desk = open_desk(&cli.config).await?;
            match crate::intake::take_in_held_mail(&desk, id, clock.now()).await {
                Ok(crate::intake::IntakeOutcome::NewTicket { ticket, acknowledged }) => println!(
                    "Message {id} opened ticket #{}; {}",
                    ticket.0,
                    if acknowledged {
                        "its acknowledgement is queued and goes out on the desk's next pass (or `helpdesk run --once`)."
                    } else {
                        "no acknowledgement was queued (see the log for why)."
                    }
                ),
                Ok(crate::intake::IntakeOutcome::AddedToTicket { ticket }) => {
                    println!("Message {id} joined ticket #{}.", ticket.0)
                }
                Ok(other) => println!("Message {id} taken in: {other:?}"),
                Err(err) if crate::storage::database_problem(&err).is_none() => {
                    eprintln!("error: {err:#}");
                    return Ok(ExitCode::from(1));
                }
                Err(err) => return Err(err),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ticket {
            command:
                command @ (TicketCommand::Close { .. }
                | TicketCommand::Reopen { .. }
                | TicketCommand::Move { .. }
                | TicketCommand::Merge { .. }),
        } => {
            let desk = open_desk(&cli.config).await?;
            ticket_action(&desk, command, clock.now()).await
        }
        Command::Ticket { command: TicketCommand::Attachment { ticket, message, number, out } } => {
            let desk = open_desk(&cli.config).await?;
            save_attachment(&desk, TicketId(ticket), message, number, &out).await
        }
        Command::Ticket { command: TicketCommand::Show { id, json } } => {
            let desk = open_desk(&cli.config).await?;
            let Some((ticket, messages)) = store::ticket_with_messages(&desk.db, TicketId(id)).await? else {
                eprintln!("error: there is no ticket #{id}");
                return Ok(ExitCode::from(1));
            };
            let ticket = ticket.with_sla_state(clock.now(), &desk.config.sla);
            if json {
                let mut value = serde_json::to_value(&ticket)?;
                value["message_list"] = serde_json::to_value(&messages)?;
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print_ticket(&desk, &ticket, &messages).await?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn client_report(
    config_path: &std::path::Path,
    kind: &str,
    args: ClientReportArgs,
    clock: Clock,
) -> anyhow::Result<ExitCode> {
    use crate::reports::client::{last_complete_period, parse_period, prepare_report, preview, ReportKind};
    let desk = open_desk(config_path).await?;
    let now = clock.now();
    let kind = ReportKind::parse(kind).expect("the subcommand names a kind");
    let Some(client) = desk.config.client_named(&args.client) else {
        anyhow::bail!("no client named {:?} in the config", args.client);
    };
    // The SOP gives each tier its reports: another kind is refused when it would go to the
    // client, and printed with a warning when only previewed.
    if !ReportKind::for_tier(client.tier).contains(&kind) {
        let tier_kinds: Vec<&str> = ReportKind::for_tier(client.tier).iter().map(|kind| kind.as_str()).collect();
        let reason = format!(
            "{} is a {} client: its reports are {}, not {}",
            client.name,
            client.tier.as_str().to_ascii_uppercase(),
            tier_kinds.join(" and "),
            kind.as_str()
        );
        if args.send {
            anyhow::bail!("{reason}; nothing sent");
        }
        eprintln!("warning: {reason} (a preview only)");
    }
    let period = match &args.period {
        Some(text) => {
            parse_period(kind, text).with_context(|| format!("{text:?} is not a {} period", kind.as_str()))?
        }
        None => last_complete_period(kind, now.with_timezone(&desk.config.agent.timezone).date_naive()),
    };
    if args.send {
        let prepared = prepare_report(&desk, client, kind, &period, now).await?;
        let transport = crate::outbound::sender::Transport::from_config(&desk.config)?;
        crate::outbound::sender::send_step(&desk.db, &transport, now).await?;
        match prepared {
            Some(id) => println!("Report {id} ({} {} {}) prepared and sent.", client.name, kind.as_str(), period.name),
            None => {
                println!("The {} report of {} for {} was already prepared.", kind.as_str(), client.name, period.name)
            }
        }
    } else {
        let report = preview(&desk, client, kind, &period, now).await?;
        // The HTML is a document of its own (to open in a browser): nothing before it.
        if args.html {
            println!("{}", multi_line(&report.html));
        } else {
            println!("Subject: {}\n", one_line(&report.subject));
            println!("{}", multi_line(&report.text));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A time from the database as the agent reads it (his timezone, with the zone's name).
fn agent_time(config: &Config, stored: &str) -> String {
    match crate::storage::time_from_db(stored) {
        Ok(time) => config.agent_local_time(time),
        Err(_) => one_line(stored),
    }
}

/// `ticket show` as text: the ticket, its clocks, time, participants, and each message with
/// what it was (the client's, the agent's reply or internal note, automated) and its files;
/// interleaved with the mail the desk sent the client.
async fn print_ticket(desk: &Desk, ticket: &TicketSummary, messages: &[store::MessageSummary]) -> anyhow::Result<()> {
    let config = &desk.config;
    let time = |stored: &str| agent_time(config, stored);
    println!("Ticket #{} [{}] {}", ticket.id, ticket.status.as_str(), one_line(&ticket.subject));
    println!("Client:    {}", one_line(ticket.client.as_deref().unwrap_or("(unknown sender)")));
    println!("Requester: {}", one_line(&ticket.requester));
    let mut tx = desk.db.begin().await?;
    let participants = store::participants(&mut tx, TicketId(ticket.id)).await?;
    let sent_to_client = crate::outbound::outbox::client_mail_of_ticket(&mut tx, TicketId(ticket.id)).await?;
    tx.rollback().await?;
    if !participants.is_empty() {
        println!("Cc:        {}", one_line(&crate::agent::notify::address_list(&participants)));
    }
    println!("Severity:  {} ({})", ticket.severity.as_str(), one_line(&ticket.severity_reason));
    println!("Opened:    {}", time(&ticket.opened_at));
    if let (Some(response), Some(resolution)) = (&ticket.first_response_due, &ticket.resolution_due) {
        let answered = ticket.first_response_at.as_deref().map(|at| format!(" (answered {})", time(at)));
        println!("Response due:   {}{}", time(response), answered.unwrap_or_default());
        let resolved = ticket.resolved_at.as_deref().map(|at| format!(" (resolved {})", time(at)));
        println!("Resolution due: {}{}", time(resolution), resolved.unwrap_or_default());
        println!("SLA:       {}", ticket.sla.map_or("-", ClockState::as_str));
    }
    if let Some(since) = &ticket.waiting_since {
        println!("Waiting:   on the client since {}", time(since));
    }
    println!("Time:      {} logged", crate::hours::bank::hours_text(ticket.minutes_logged));
    match (ticket.merged_into, ticket.related_ticket) {
        (Some(into), _) => println!("Merged:    into #{into} (its mail lands there; no SLA here)"),
        (None, Some(related)) => println!("Follows:   #{related}"),
        (None, None) => {}
    }
    if let Some(attention) = &ticket.attention {
        println!("Needs you: {}", one_line(attention));
    }
    let mut sent = sent_to_client.iter().peekable();
    for message in messages {
        while let Some(mail) = sent.next_if(|mail| mail.created_at.as_str() < message.arrived_at.as_str()) {
            print_sent_to_client(config, mail);
        }
        print_message(config, ticket, message);
    }
    for mail in sent {
        print_sent_to_client(config, mail);
    }
    Ok(())
}

fn print_message(config: &Config, ticket: &TicketSummary, message: &store::MessageSummary) {
    let what = match message.author_kind.as_str() {
        "agent" if is_internal_note(&message.body_text, &ticket.subject, &message.subject) => "agent, internal note",
        "agent" => "agent",
        "client" | "unknown" => "from the client's side",
        other => other,
    };
    println!(
        "\n--- {} ({}) at {}\n    {}",
        one_line(&message.sender),
        what,
        agent_time(config, &message.arrived_at),
        one_line(&message.thread_reason)
    );
    println!("Subject: {}", one_line(&message.subject));
    if let Some(reason) = &message.automated_reason {
        println!("Automated: {}", one_line(reason));
    }
    if let Some(problem) = &message.parse_problem {
        println!("Problem: {}", one_line(problem));
    }
    let files = message.attachments.as_array().map(Vec::as_slice).unwrap_or_default();
    for (index, file) in files.iter().enumerate() {
        println!(
            "Attachment {}: {} ({}, {} bytes): helpdesk ticket attachment {} {} {}",
            index + 1,
            one_line(file["name"].as_str().unwrap_or("(unnamed)")),
            one_line(file["content_type"].as_str().unwrap_or("")),
            file["size"].as_u64().unwrap_or(0),
            ticket.id,
            message.id,
            index + 1
        );
    }
    println!("\n{}", multi_line(message.body_text.trim_end()));
}

/// Whether an agent's stored mail was a `#note` (its new part carries the tag).
fn is_internal_note(body: &str, ticket_subject: &str, subject: &str) -> bool {
    let new_part = crate::inbound::quotes::new_part(body);
    crate::agent::tags::read_tags(subject, ticket_subject, &new_part).note
}

fn print_sent_to_client(config: &Config, mail: &crate::outbound::outbox::SentMail) {
    println!(
        "\n=== sent to {} ({}) at {}, {}: {}",
        one_line(&mail.recipients),
        mail.kind.as_str(),
        agent_time(config, &mail.created_at),
        one_line(&mail.status),
        one_line(&mail.subject)
    );
}

/// `ticket close | reopen | move | merge`, in one transaction.
async fn ticket_action(
    desk: &Desk,
    command: TicketCommand,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<ExitCode> {
    use crate::tickets::actions;
    let mut tx = crate::storage::begin_write(&desk.db).await?;
    let done = match command {
        TicketCommand::Close { id, silent } => {
            actions::close(&mut tx, TicketId(id), now).await?;
            if silent {
                format!("Closed ticket #{id}; the client was sent nothing.")
            } else {
                let status = store::ticket_record(&mut tx, TicketId(id)).await?.context("the ticket is gone")?;
                let sent = crate::agent::reply::send_resolved_email(desk, &mut tx, &status, now).await?;
                let told =
                    if sent { "the client gets the resolved email" } else { "no resolved email could be written" };
                format!("Closed ticket #{id}; {told}.")
            }
        }
        TicketCommand::Reopen { id } => {
            actions::reopen(&mut tx, TicketId(id), now).await?;
            format!("Reopened ticket #{id}.")
        }
        TicketCommand::Move { id, client } => {
            let Some(client) = desk.config.client_named(&client) else {
                anyhow::bail!("no client named {client:?} in the config");
            };
            actions::move_to_client(&mut tx, &desk.config, TicketId(id), client).await?;
            let mails = crate::outbound::outbox::client_mail_of_ticket(&mut tx, TicketId(id)).await?;
            let offer = if mails.iter().any(|mail| mail.kind == OutboxKind::Acknowledgement) {
                ""
            } else {
                " The requester got no acknowledgement: answer the ticket's notification and your reply reaches them."
            };
            format!(
                "Ticket #{id} now belongs to {} ({}); its SLA clocks follow that tier.{offer}",
                client.name,
                client.tier.as_str().to_uppercase()
            )
        }
        TicketCommand::Merge { id, into } => {
            actions::merge(&mut tx, TicketId(id), TicketId(into), now).await?;
            format!("Merged ticket #{id} into #{into}; the client was told nothing.")
        }
        TicketCommand::Show { .. } | TicketCommand::Attachment { .. } => unreachable!("not an action"),
    };
    tx.commit().await?;
    println!("{}", one_line(&done));
    Ok(ExitCode::SUCCESS)
}

/// `helpdesk ticket attachment`: the file as the client sent it, read from the stored mail.
async fn save_attachment(
    desk: &Desk,
    ticket: TicketId,
    message: i64,
    number: usize,
    out: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let stored = store::stored_message(&desk.db, message).await?;
    let Some(stored) = stored.filter(|stored| stored.ticket == Some(ticket)) else {
        anyhow::bail!("ticket #{} has no message {message} (helpdesk ticket show {} lists them)", ticket.0, ticket.0);
    };
    let mail = crate::inbound::parse::parse_mail(&stored.raw, desk.config.intake.max_message_bytes);
    let count = mail.attachments.len();
    let Some(attachment) = number.checked_sub(1).and_then(|index| mail.attachments.get(index)) else {
        anyhow::bail!("message {message} has {count} attachment(s); there is no number {number}");
    };
    std::fs::write(out, &attachment.contents).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "Saved {} to {}",
        crate::agent::notify::describe_attachments([attachment]),
        one_line(&out.display().to_string())
    );
    Ok(ExitCode::SUCCESS)
}

/// The desk for a command: its config without mailbox secrets (each command that connects
/// asks for them with `Config::require_secrets`, as `run` and `--send` do).
/// `helpdesk check [--connect]`: every config problem and warning by key; with `--connect`,
/// a login to each mail server too. Exit 2 when the config is wrong, 1 when a server refused.
async fn check(config_path: &std::path::Path, connect: bool) -> anyhow::Result<ExitCode> {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(err) => {
            println!("{}: {err:#}", config_path.display());
            return Ok(ExitCode::from(2));
        }
    };
    println!(
        "{}: OK ({} client(s), source {}, delivery {})",
        config_path.display(),
        config.clients.len(),
        match &config.source {
            crate::config::SourceConfig::Imap(imap) => format!("imap {}:{}", imap.host, imap.port),
            crate::config::SourceConfig::Maildir { path } => format!("maildir {}", path.display()),
        },
        match &config.delivery {
            crate::config::DeliveryConfig::Smtp(smtp) => format!("smtp {}:{}", smtp.host, smtp.port),
            crate::config::DeliveryConfig::OutboxDir { path } => format!("folder {}", path.display()),
        }
    );
    for warning in &config.warnings {
        println!("warning: {warning}");
    }
    if !connect {
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    match &config.source {
        crate::config::SourceConfig::Imap(imap) => match crate::inbound::imap::connect(imap).await {
            Ok(mut connection) => {
                let _ = connection.session.logout().await;
                println!(
                    "IMAP {}:{}: logged in as {}, selected {} (UIDVALIDITY {})",
                    imap.host, imap.port, imap.username, imap.mailbox, connection.uid_validity
                );
            }
            Err(err) => {
                failed = true;
                println!("IMAP {}:{}: FAILED: {err:#}", imap.host, imap.port);
            }
        },
        crate::config::SourceConfig::Maildir { path } => println!("maildir {}: nothing to connect to", path.display()),
    }
    let checked = match crate::outbound::sender::Transport::from_config(&config) {
        Ok(transport) => transport.check_connection().await,
        Err(err) => Err(err),
    };
    match checked {
        Ok(line) => println!("{line}"),
        Err(err) => {
            failed = true;
            println!("SMTP: FAILED: {err:#}");
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

async fn open_desk(config_path: &std::path::Path) -> anyhow::Result<Desk> {
    let config = Config::load_offline(config_path).with_context(|| format!("config {}", config_path.display()))?;
    Desk::open(config).await
}

/// The ticket list, its times in the agent's timezone (named in the header).
pub fn tickets_table(config: &Config, tickets: &[TicketSummary]) -> Table {
    let zone = config.agent.timezone.name();
    let short_time = |stored: &str| local_short_time(config, stored);
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "#".to_string(),
        "Client".into(),
        "Requester".into(),
        "Subject".into(),
        "Status".into(),
        "Sev".into(),
        format!("Opened ({zone})"),
        "Msgs".into(),
        "Response due".into(),
        "Resolution due".into(),
        "SLA".into(),
    ]);
    for ticket in tickets {
        let subject: String = one_line(&ticket.subject).chars().take(48).collect();
        table.add_row([
            ticket.id.to_string(),
            one_line(ticket.client.as_deref().unwrap_or("(unknown)")),
            one_line(&ticket.requester),
            subject,
            ticket.status.to_string(),
            ticket.severity.to_string(),
            short_time(&ticket.opened_at),
            ticket.messages.to_string(),
            ticket.first_response_due.as_deref().map(short_time).unwrap_or_else(|| "-".into()),
            ticket.resolution_due.as_deref().map(short_time).unwrap_or_else(|| "-".into()),
            ticket.sla.map_or("-", ClockState::as_str).to_string(),
        ]);
    }
    table
}

/// "2026-12-01 09:30" in the agent's timezone.
fn local_short_time(config: &Config, stored: &str) -> String {
    match crate::storage::time_from_db(stored) {
        Ok(time) => time.with_timezone(&config.agent.timezone).format("%Y-%m-%d %H:%M").to_string(),
        Err(_) => one_line(stored),
    }
}

pub fn held_table(config: &Config, messages: &[store::MessageSummary]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    let arrived = format!("Arrived ({})", config.agent.timezone.name());
    table.set_header(["Msg", arrived.as_str(), "From", "Subject", "Held because"]);
    for message in messages {
        table.add_row([
            message.id.to_string(),
            local_short_time(config, &message.arrived_at),
            one_line(&message.sender).chars().take(40).collect(),
            one_line(&message.subject).chars().take(48).collect(),
            one_line(&held_reason(message)).chars().take(60).collect::<String>(),
        ]);
    }
    table
}

/// The first thing to know about why a mail has no ticket.
fn held_reason(message: &store::MessageSummary) -> String {
    match (&message.automated_reason, &message.parse_problem) {
        (Some(automated), _) => format!("automated: {automated}"),
        (None, Some(problem)) if message.desk_failed_on() => problem.clone(),
        _ => message.thread_reason.clone(),
    }
}
