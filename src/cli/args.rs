//! The command line's grammar: every command, flag and argument, as clap derives. A
//! subcommand's doc comment is its `--help`; what each command does is in the file of its group.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};

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
pub enum AuthCommand {
    /// Sign in: prints the address to open in a browser (authorization code with PKCE), then
    /// waits for the browser's redirect to http://127.0.0.1:PORT/ or for the address it ended
    /// on pasted here. Stores the grant in the database.
    Login {
        /// Use the device flow instead: prints a code to enter at the provider's page (not for
        /// Gmail, whose scopes Google refuses on this flow).
        #[arg(long)]
        device: bool,
    },
    /// The stored grant: provider, account, scopes, token expiry, last refresh and error, and
    /// its state (ok, needs_login, error). Exits 0 only when ok.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Forget the stored grant (it is not revoked at the provider).
    Logout,
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
    /// Sign the desk in to a mailbox that logs in with OAuth2 (Gmail / Google Workspace,
    /// Microsoft 365: `auth = "oauth2"` and `[oauth2]`), and look after the stored grant.
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Which desk holds the mailbox and since when, and every desk's last heartbeat (several
    /// desks on one database).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Copy the desk's whole history (tickets, messages with their raw mail, time, outbox,
    /// cursors, signing key, report and summary records) into an empty database, e.g.
    /// `helpdesk migrate --from sqlite://helpdesk.db --to postgres://helpdesk@db/helpdesk`.
    /// Ids are kept, so reply addresses and Message-IDs signed before the move still verify.
    /// Refuses a target that has any data; checks every table's count before committing.
    /// Stop the desk first. Needs no config file.
    Migrate {
        /// The desk's database now: sqlite://PATH (relative to the current directory) or
        /// postgres://...
        #[arg(long)]
        from: String,
        /// The empty database to copy into (created if missing): postgres://... or sqlite://PATH.
        #[arg(long)]
        to: String,
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
