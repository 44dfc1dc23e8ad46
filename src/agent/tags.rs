//! The tag grammar of the agent's replies. Pure. Tags are read only from the new part of a
//! reply (quoted history and signature already removed), case-insensitively:
//!
//! - `#time D [TASK]` logs time; D is `45m`, `1h`, `1h30m`, `1h 30m`, `1.5h` or `90m`. Text
//!   after the duration on the same line is the entry's task and is never relayed. Several
//!   `#time` tags log several entries.
//! - `#estimate D` sends the client the SOP's "Support Hours Depleted" email for this ticket
//!   (bill hourly, an estimated D at the overage rate; wait for the refresh; upgrade), when
//!   the client's hours for the period are used up. It logs no time.
//! - `#p0` .. `#p3` sets the severity.
//! - `#billable` marks this reply's time as billable work (not included support).
//! - `#waiting` marks the ticket as waiting on the client.
//! - `#note` makes the reply internal: stored, never sent to the client.
//! - `#close` closes the ticket without the resolved email; `#client NAME` gives it to a
//!   client (the rest of the line is the name); `#merge M` merges it into ticket M.
//! - `#cc ADDRESS` adds a participant (copied on the client's mail from then on, this reply
//!   included); `#uncc ADDRESS` removes one.
//! - `RESOLVED` on a line of its own, or as a word in capitals in the subject (the SOP's
//!   "[Issue] - RESOLVED"), closes the ticket and sends the resolved email.
//!
//! Tags may stand on their own lines or at the end of a sentence; lines left empty by
//! removing them are dropped. A line that starts with `#` and a word that is not a tag is
//! an error, as is a `#time` the desk cannot read: the whole reply then changes nothing.

use std::sync::LazyLock;

use regex::Regex;

use crate::domain::{EmailAddress, Severity};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentCommands {
    /// Each `#time` tag, as written (rounding happens when logging).
    pub time_entries: Vec<TimeTag>,
    /// Minutes of an `#estimate` tag: the work the depleted-hours email quotes.
    pub estimate: Option<u32>,
    pub severity: Option<Severity>,
    pub billable: bool,
    pub waiting: bool,
    pub note: bool,
    pub resolved: bool,
    /// `#close`: close without the resolved email.
    pub close: bool,
    /// `#client NAME`, as written.
    pub client: Option<String>,
    /// `#merge M`.
    pub merge_into: Option<i64>,
    /// Addresses of `#cc` and `#uncc` tags, in the order written.
    pub cc_added: Vec<EmailAddress>,
    pub cc_removed: Vec<EmailAddress>,
    /// The new part with the tags removed: what the client gets.
    pub text: String,
    /// What could not be read; when not empty, nothing is applied.
    pub errors: Vec<String>,
}

/// One `#time` tag: its minutes and the task written after the duration, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeTag {
    pub minutes: u32,
    pub task: Option<String>,
}

static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(^|\s)#(time|estimate|p[0-3]|billable|waiting|note|close)\b(\s+[0-9][0-9.,]*\s*(h|hrs?|hours?|m|mins?|minutes?)?(\s*[0-9]+\s*(m|mins?|minutes?))?\b)?")
        .expect("valid regex")
});

static CC_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(^|\s)#(cc|uncc)\b(?:[ \t]+<?([^\s<>,;]+)>?)?").expect("valid regex"));

/// `#client NAME` (the rest of the line) and `#merge M`, each on a line of its own.
static LINE_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\s*#(client|merge)\b[ \t]*(.*?)\s*$").expect("valid regex"));

static UNKNOWN_TAG_LINE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*#([A-Za-z][\w-]*)").expect("valid regex"));

static RESOLVED_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\s*resolved\s*[.!]?\s*$").expect("valid regex"));

/// The SOP's "[Issue] - RESOLVED": the capitalised word after a separator, at the end.
static RESOLVED_SUBJECT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(^|\s[-–—:|]\s*|:\s*)RESOLVED\s*[.!]?\s*$").expect("valid regex"));

static DURATION_WITHOUT_VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(^|\s)#(time|estimate)\b\s*(\S*)").expect("valid regex"));

/// Reads the tags of one reply. `ticket_subject` is the client's subject: a RESOLVED the
/// client wrote there ("Payments - RESOLVED", "still NOT RESOLVED") comes back in every reply's
/// subject and never counts; only one the agent added at the end does.
pub fn read_tags(subject: &str, ticket_subject: &str, new_part: &str) -> AgentCommands {
    let resolved = RESOLVED_SUBJECT.is_match(subject) && !RESOLVED_SUBJECT.is_match(ticket_subject);
    let mut commands = AgentCommands { resolved, ..Default::default() };
    let mut kept_lines: Vec<String> = Vec::new();
    for line in new_part.lines() {
        if RESOLVED_LINE.is_match(line) {
            commands.resolved = true;
            continue;
        }
        if let Some(captures) = LINE_TAG.captures(line) {
            read_line_tag(&captures[1], captures[2].trim(), &mut commands);
            continue;
        }
        let had_cc = read_cc_tags(line, &mut commands);
        let without_cc = CC_TAG.replace_all(line, "$1");
        let line: &str = &without_cc;
        let (had_tag, task_starts) = read_word_tags(line, &mut commands);
        // The task text goes with its tag: only what stands before the first task-carrying
        // `#time` on the line can be relayed.
        let relayable = &line[..task_starts.unwrap_or(line.len())];
        let remaining = TAG.replace_all(relayable, "$1").trim_end().to_string();
        if let Some(unknown) = UNKNOWN_TAG_LINE.captures(&remaining) {
            commands.errors.push(format!("#{}: not a tag this desk knows", &unknown[1]));
        }
        if (had_cc || had_tag) && remaining.trim().is_empty() {
            continue;
        }
        kept_lines.push(remaining);
    }
    if commands.note && commands.estimate.is_some() {
        commands.errors.push("#estimate sends the client a mail, so it cannot go with #note".into());
    }
    while kept_lines.last().is_some_and(|line| line.trim().is_empty()) {
        kept_lines.pop();
    }
    while kept_lines.first().is_some_and(|line| line.trim().is_empty()) {
        kept_lines.remove(0);
    }
    commands.text = kept_lines.join("\n");
    commands
}

/// A tag that takes its whole line: `#client NAME`, `#merge N`.
fn read_line_tag(name: &str, value: &str, commands: &mut AgentCommands) {
    match (name.to_ascii_lowercase().as_str(), value) {
        ("client", "") => commands.errors.push("#client: give a client's name".into()),
        ("client", name) => commands.client = Some(name.to_string()),
        (_, "") => commands.errors.push("#merge: give a ticket number".into()),
        (_, number) => match number.trim_start_matches('#').parse::<i64>() {
            Ok(target) => commands.merge_into = Some(target),
            Err(_) => commands.errors.push(format!("#merge {number}: not a ticket number")),
        },
    }
}

/// `#cc ADDRESS` and `#uncc ADDRESS` on the line; whether there was one.
fn read_cc_tags(line: &str, commands: &mut AgentCommands) -> bool {
    let mut had_tag = false;
    for captures in CC_TAG.captures_iter(line) {
        had_tag = true;
        let name = captures[2].to_ascii_lowercase();
        let written = captures.get(3).map_or("", |address| address.as_str());
        match EmailAddress::parse(written) {
            Some(address) if name == "cc" => commands.cc_added.push(address),
            Some(address) => commands.cc_removed.push(address),
            None => commands.errors.push(format!("#{name} {written}: not an email address")),
        }
    }
    had_tag
}

/// The word tags on the line (`#time`, `#estimate`, `#billable`, `#close`, `#waiting`,
/// `#note`, `#p0`..`#p3`): whether there was one, and where the first `#time` that carries a
/// task starts (`#time 45m Investigated HubSpot paging`: the words after the duration are
/// the task).
fn read_word_tags(line: &str, commands: &mut AgentCommands) -> (bool, Option<usize>) {
    let mut had_tag = false;
    let mut task_starts: Option<usize> = None;
    for captures in TAG.captures_iter(line) {
        had_tag = true;
        let name = captures[2].to_ascii_lowercase();
        match name.as_str() {
            "time" | "estimate" => {
                let Some(minutes) = read_duration(line, &captures, &name, commands) else { continue };
                if name == "estimate" {
                    commands.estimate = Some(minutes);
                    continue;
                }
                let end = captures.get(0).map_or(line.len(), |whole| whole.end());
                let task = task_after(&line[end..]);
                if task.is_some() && task_starts.is_none() {
                    task_starts = captures.get(0).map(|whole| whole.start());
                }
                commands.time_entries.push(TimeTag { minutes, task });
            }
            "billable" => commands.billable = true,
            "close" => commands.close = true,
            "waiting" => commands.waiting = true,
            "note" => commands.note = true,
            priority => commands.severity = priority.to_ascii_uppercase().parse().ok(),
        }
    }
    (had_tag, task_starts)
}

/// The duration of a `#time` or `#estimate` tag; an error (and `None`) when it does not read.
fn read_duration(line: &str, captures: &regex::Captures<'_>, name: &str, commands: &mut AgentCommands) -> Option<u32> {
    let minutes = match captures.get(3).map(|m| m.as_str().trim()) {
        Some(value) => parse_duration(value).ok_or_else(|| value.to_string()),
        None => Err(DURATION_WITHOUT_VALUE
            .captures_iter(line)
            .find(|c| c[2].eq_ignore_ascii_case(name))
            .map(|c| c[3].to_string())
            .unwrap_or_default()),
    };
    match minutes {
        Ok(minutes) => Some(minutes),
        Err(written) => {
            commands.errors.push(format!("#{name} {written}: not a duration like 45m, 1h30m or 1.5h"));
            None
        }
    }
}

/// The task written after a `#time` duration: up to the next tag, trimmed, at most 200
/// characters; `None` when nothing but spaces and punctuation follows.
fn task_after(rest: &str) -> Option<String> {
    let until_next_tag = TAG.find(rest).map_or(rest, |next| &rest[..next.start()]);
    let task = until_next_tag.trim().trim_start_matches(['-', ':', '–', '—']).trim();
    if task.chars().all(|c| c.is_ascii_punctuation() || c.is_whitespace()) {
        return None;
    }
    Some(task.chars().take(200).collect())
}

/// A salutation line on its own: "Hi Bill,", "Hello!", "Dear Ms Smith,", "Good morning team",
/// "Hallo Anna,", "Bonjour,". At most six words, so a sentence that starts with "Hey" is not one.
pub fn is_greeting(line: &str) -> bool {
    static GREETING: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^(hi|hello|hey|hiya|dear|greetings|good (morning|afternoon|evening|day)|morning|hallo|guten (morgen|tag)|liebe[rs]?|bonjour|salut|hola|buenos d[ií]as|ciao|buongiorno|hej|hoi|ol[aá])\b[^.?]*[,!:]?$")
            .expect("valid regex")
    });
    let line = line.trim();
    line.split_whitespace().count() <= 6 && GREETING.is_match(line)
}

/// The held messages a reply to the daily summary takes in: `#take 6`, `#take 6 9`,
/// `#take 6, 9` at the start of a line of the new part, in the order written, each once.
/// Only at the start of a line: the summary itself writes `"#take 6"` inside a sentence, and
/// quotes subjects (client text) inside sentences too, so its text counts for nothing even
/// where a mail client's quoting was not recognised.
pub fn read_take_tags(new_part: &str) -> Vec<i64> {
    static TAKE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?im)^[ \t]*#take((?:[ \t,]+\d+)+)").expect("valid regex"));
    let mut ids = Vec::new();
    for captures in TAKE.captures_iter(new_part) {
        for number in captures[1].split(|c: char| c.is_whitespace() || c == ',').filter(|part| !part.is_empty()) {
            if let Ok(id) = number.parse::<i64>() {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
    }
    ids
}

/// `45m`, `1h`, `1h30m`, `1h 30m`, `1.5h`, `90m`, `2 hours`: minutes, or None.
pub fn parse_duration(text: &str) -> Option<u32> {
    static DURATION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^(?:(\d+(?:[.,]\d+)?)\s*(?:h|hrs?|hours?))?\s*(?:(\d+)\s*(?:m|mins?|minutes?))?$")
            .expect("valid regex")
    });
    let captures = DURATION.captures(text.trim())?;
    if captures.get(1).is_none() && captures.get(2).is_none() {
        return None;
    }
    let hours: f64 = captures.get(1).map(|h| h.as_str().replace(',', ".").parse().ok()).unwrap_or(Some(0.0))?;
    let minutes: u32 = captures.get(2).map(|m| m.as_str().parse().ok()).unwrap_or(Some(0))?;
    // Bounded before adding: `#time 71582789h 59m` must not wrap around to 58 minutes.
    const DAY: u32 = 24 * 60;
    if !(0.0..=24.0).contains(&hours) || minutes > DAY {
        return None;
    }
    let total = (hours * 60.0).round() as u32 + minutes;
    (total > 0 && total <= DAY).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_tags_name_held_messages() {
        assert_eq!(read_take_tags("#take 6"), vec![6]);
        assert_eq!(read_take_tags("Thanks.\n#TAKE 6, 9 12\n  #take 9, 14\nand #take 15"), vec![6, 9, 12, 14]);
        assert_eq!(read_take_tags("#take 6\n\n2 of them are spam"), vec![6], "numbers end at the line's end");
        assert_eq!(read_take_tags("> message 3 from x \"Zap #take 9\": held as automated"), Vec::<i64>::new());
        assert_eq!(read_take_tags("mistake 6\nwe#take 7\n#take\n#takeover 8\n#take six"), Vec::<i64>::new());
        assert_eq!(read_take_tags("> a person's mail? answer this mail with \"#take 6\" (or ...)"), Vec::<i64>::new());
        assert_eq!(read_take_tags("answer with \u{201c}#take 6\u{201d}"), Vec::<i64>::new());
    }

    fn minutes(commands: &AgentCommands) -> Vec<u32> {
        commands.time_entries.iter().map(|entry| entry.minutes).collect()
    }

    #[test]
    fn the_words_after_a_time_duration_are_the_task_and_are_never_relayed() {
        let commands = read_tags("Re: x", "x", "Hi Bill,\n#time 45m Investigated HubSpot paging\nAll fixed.");
        assert_eq!(
            commands.time_entries,
            vec![TimeTag { minutes: 45, task: Some("Investigated HubSpot paging".into()) }]
        );
        assert_eq!(commands.text, "Hi Bill,\nAll fixed.");
        let two = read_tags("Re: x", "x", "Done. #time 1h - Rebuilt the sync #billable\n#time 30m: Call with Bill");
        assert_eq!(
            two.time_entries,
            vec![
                TimeTag { minutes: 60, task: Some("Rebuilt the sync".into()) },
                TimeTag { minutes: 30, task: Some("Call with Bill".into()) },
            ]
        );
        assert!(two.billable, "a tag after the task still counts");
        assert_eq!(two.text, "Done.", "text before the tag stays, the task goes");
        let bare = read_tags("Re: x", "x", "Fixed the webhook. #time 30m.");
        assert_eq!(bare.time_entries, vec![TimeTag { minutes: 30, task: None }]);
        assert_eq!(bare.text, "Fixed the webhook. .");
    }

    #[test]
    fn greetings_are_short_salutation_lines() {
        for line in
            ["Hi Bill,", "Hello!", "hey there", "Dear Ms Smith,", "Good morning team", "Hallo Anna,", "Bonjour,"]
        {
            assert!(is_greeting(line), "{line}");
        }
        for line in [
            "Hey, the sync is fixed.",
            "Hi Bill, I rebuilt the webhook and the leads flow again now",
            "Highlights:",
            "Thanks,",
        ] {
            assert!(!is_greeting(line), "{line}");
        }
    }

    #[test]
    fn ticket_action_tags() {
        let commands = read_tags("Re: x", "x", "#client Acme Corp\n#merge #12\nSpam, closing. #close");
        assert_eq!(
            (commands.client.as_deref(), commands.merge_into, commands.close),
            (Some("Acme Corp"), Some(12), true)
        );
        assert_eq!(commands.text, "Spam, closing.");
        assert_eq!(read_tags("Re: x", "x", "#merge twelve").errors, vec!["#merge twelve: not a ticket number"]);
        assert_eq!(read_tags("Re: x", "x", "#client").errors.len(), 1);
        assert!(read_tags("Re: x", "x", "Our #client list is long").client.is_none(), "only on a line of its own");
    }

    #[test]
    fn cc_tags_add_and_remove_participants() {
        let commands = read_tags("Re: x", "x", "#cc <Bob@Acme.test>\nLooping Bob in. #uncc old@acme.test\nThanks");
        let added: Vec<&str> = commands.cc_added.iter().map(EmailAddress::as_str).collect();
        let removed: Vec<&str> = commands.cc_removed.iter().map(EmailAddress::as_str).collect();
        assert_eq!((added, removed), (vec!["bob@acme.test"], vec!["old@acme.test"]));
        assert_eq!(commands.text, "Looping Bob in.\nThanks");
        assert!(commands.errors.is_empty(), "{:?}", commands.errors);
        assert_eq!(read_tags("Re: x", "x", "#cc bob").errors, vec!["#cc bob: not an email address"]);
        assert_eq!(read_tags("Re: x", "x", "#cc").errors.len(), 1);
    }

    #[test]
    fn durations() {
        for (text, minutes) in [
            ("45m", 45),
            ("1h", 60),
            ("1h30m", 90),
            ("1h 30m", 90),
            ("1.5h", 90),
            ("90m", 90),
            ("2 hours", 120),
            ("1,25h", 75),
        ] {
            assert_eq!(parse_duration(text), Some(minutes), "{text}");
        }
        for text in ["lots", "", "h", "0m", "25h", "71582789h 59m", "4294967295m", "99999999999999999999h"] {
            assert_eq!(parse_duration(text), None, "{text}");
        }
    }

    #[test]
    fn tags_are_read_and_removed() {
        let commands = read_tags(
            "Re: Leads stuck [#4]",
            "Leads stuck",
            "Fixed the webhook secret.\n#time 30m #billable\n\nAll good now. #p1\n",
        );
        assert_eq!(minutes(&commands), vec![30]);
        assert!(commands.billable);
        assert_eq!(commands.severity, Some(Severity::P1));
        assert_eq!(commands.text, "Fixed the webhook secret.\n\nAll good now.");
        assert!(commands.errors.is_empty());
    }

    #[test]
    fn resolved_on_its_own_line_or_in_capitals_in_the_subject() {
        assert!(read_tags("Re: x", "Leads stuck", "Done.\nRESOLVED\n").resolved);
        assert!(read_tags("Re: x", "Leads stuck", "resolved!").resolved);
        assert!(!read_tags("Re: x", "Leads stuck", "Is this resolved yet?").resolved);
        assert!(read_tags("Sync issue - RESOLVED", "Leads stuck", "Done.").resolved);
        assert!(read_tags("Re: [#4] Acme P1: Sync issue - RESOLVED", "Sync issue", "Done.").resolved);
        assert!(read_tags("Re: [#4] Acme P1: Payments: RESOLVED", "Payments", "Done.").resolved);
        // The desk's own resolved subject, quoted back after the client reopened the ticket.
        assert!(!read_tags("Re: [#4] Acme P1: Re: Payments - RESOLVED [#4]", "Payments", "Looking.").resolved);
        assert!(!read_tags("Re: is it resolved?", "Leads stuck", "Done.").resolved);
        // The client's own words come back in the reply's subject: they close nothing.
        assert!(
            !read_tags("Re: [#4] Acme P1: Payments still NOT RESOLVED", "Payments still NOT RESOLVED", "On it.")
                .resolved
        );
        assert!(!read_tags("Re: [#4] Acme P1: Login bug - RESOLVED", "Login bug - RESOLVED", "Thanks.").resolved);
        assert!(
            !read_tags("Re: [#4] Acme P1: RESOLVED tickets reopen", "RESOLVED tickets reopen", "Looking.").resolved
        );
    }

    #[test]
    fn estimate_reads_a_duration_and_logs_no_time() {
        let commands = read_tags("Re: x", "Leads stuck", "#estimate 2h");
        assert_eq!((commands.estimate, minutes(&commands), commands.text.as_str()), (Some(120), vec![], ""));
        let both = read_tags("Re: x", "Leads stuck", "Looked at it.\n#time 15m #estimate 1h30m");
        assert_eq!((both.estimate, minutes(&both)), (Some(90), vec![15]));
        assert_eq!(
            read_tags("", "Leads stuck", "#estimate soon").errors,
            vec!["#estimate soon: not a duration like 45m, 1h30m or 1.5h"]
        );
        assert_eq!(read_tags("", "Leads stuck", "#time 1h #estimate").errors.len(), 1);
    }

    #[test]
    fn unreadable_tags_are_errors() {
        assert_eq!(read_tags("", "Leads stuck", "#time lots").errors.len(), 1);
        assert_eq!(read_tags("", "Leads stuck", "#time").errors.len(), 1);
        assert_eq!(read_tags("", "Leads stuck", "#tiem 1h").errors.len(), 1);
        // Ticket numbers and hashtags in a sentence are not tags.
        let commands = read_tags("", "Leads stuck", "See ticket #42 and the #general channel.");
        assert!(commands.errors.is_empty(), "{:?}", commands.errors);
        assert_eq!(commands.text, "See ticket #42 and the #general channel.");
    }

    #[test]
    fn a_reply_of_only_tags_has_no_text() {
        let commands = read_tags("", "Leads stuck", "#time 1h\n#note\n");
        assert!(commands.text.is_empty());
        assert!(commands.note);
    }
}
