//! The new part of a mail: what its author wrote this time, without the quoted history below
//! (or interleaved `>` lines) and without the signature. Triage reads only this part, and the
//! agent's tags are read only from it, so nothing in an older, quoted mail can act again.
//!
//! Pure and line-based. Each line is one of: blank, quoted (`>`, or supercite `Name>`), a
//! signature start (`-- `, a separator line, "Sent from my iPhone" and its translations, after
//! which nothing is new, not even unquoted history), the start of quoted history ("On ...
//! wrote:" in many languages and line wrappings, or "wrote" without the colon where a paragraph
//! ends; a date, a time and `Name <address>:` without any verb; "-----Original Message-----", a
//! forwarded-message marker, an Outlook `From:/Sent:/To:/Subject:` block), or text.
//!
//! A cut too late lets quoted history act (an old `#time` in it would run again); a cut too
//! early loses the client's words. Each rule asks for several signs at once (a date and a
//! time and an address closing the line; "sent from" and "my" or a device), so that a sentence
//! with a time and a colon stays text.
//!
//! - `new_part`: cut at the signature; drop every `>` line; at the first history start that
//!   follows some text, stop, unless the history is an inline reply (quotes interleaved with
//!   new text, or a long answer below the quote), in which case only the marker goes. A history
//!   start before any text (a bare forward, a bottom-posted reply) is skipped and what follows
//!   it is the new part. Tested against discourse/email_reply_trimmer's corpus
//!   and crisp-oss/email-reply-parser's (`tests/integration/quote_corpus.rs`); unlike those projects, `>`
//!   lines never stay.
//! - `without_quotes`: the same without the signature cut (mailgun/talon's `extract_from_plain`).
//! - `new_part_of_html`: drops the quoted blocks of an HTML-only mail at the HTML level first
//!   (`blockquote`, Gmail, Outlook, Thunderbird, Hotmail...), converts to text, then `new_part`.

use std::sync::LazyLock;

use mail_parser::decoders::html::html_to_text;
use regex::Regex;

/// How far (in lines) an attribution line such as "On ..., X <x@y> wrote:" may be wrapped.
const MAX_ATTRIBUTION_LINES: usize = 6;
/// Longest attribution text considered, so that a paragraph is never taken for one.
const MAX_ATTRIBUTION_CHARS: usize = 400;
/// Most lines a reply header block has (fields and wrapped values); also bounds the work.
const MAX_HEADER_BLOCK_LINES: usize = 16;
/// Below a quote that follows a history marker, this many lines of new text make it an inline
/// (bottom-posted) reply rather than a signature or a footer.
const INLINE_ANSWER_LINES: usize = 7;

/// The verbs of "X wrote:" in the languages seen in the field.
const WROTE: &str = concat!(
    r"(?:\b(?:wrote|writes|schrieb|schreef|geschreven|écrit|escribió|escribio|escreveu|scritto|scrisse|skrev|skriver",
    r"|napisała|napisał|napisal|написала|написал|написав|пише|kirjoitti|yazdı|napsala|napsal|írta|έγραψε)\b|写道|寫道)",
);

/// The verb somewhere in the attribution.
static ATTRIBUTION_VERB: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!("(?i){WROTE}")).expect("valid regex"));

/// The verb ends the attribution: "wrote:", "napisał(a):", "a écrit :", "wrote ----".
static ATTRIBUTION_VERB_AT_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?i){WROTE}\s*(?:\(a\))?\s*(?:[:：]|-{{2,}})\s*$")).expect("valid regex"));

/// The attribution ends with a colon (or the dashes of "---- On ... wrote ----").
static ENDS_LIKE_ATTRIBUTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:[:：]|-{2,})\s*$").expect("valid regex"));

/// A date, a time or an address: every real attribution carries one.
static DATE_OR_ADDRESS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d{1,2}[:.]\d{2}|(?:19|20)\d{2}|@").expect("valid regex"));

/// A line that opens with a date: "26.06.2014, 14:41", "2013/7/20", "23 mar 2017",
/// "20 окт. 2016", "Thu, 26 Jun 2014", "понедельник, 6 октября", and the Nordic weekday
/// with a dotted day: "tir. 18. apr. 2017", "pe 20. lokakuuta 2017".
const DATE_START: &str = r"(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}\s+\p{L}+\.?\s+\d{2,4}|\p{L}+,\s*\d{1,2}\.?\s+\p{L}|\p{L}{2,9}\.?\s+\d{1,2}\.\s+\p{L})";

/// How an attribution opens: "On Mon, 1 Feb", "Am 03.02.2016", "Le 4 janv.", "23 mar 2017",
/// "понедельник, 6 октября", "在 2016年", "---- On Tue, 22 Dec".
static ATTRIBUTION_OPENER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)^[-*\s]*(?:(?:on|at|am|le|el|il|op|em|den|dnia|w\s+dniu|в|у|在)\s+(?:[^\s\d]+\s+){{0,3}}\d|{DATE_START})"
    ))
    .expect("valid regex")
});

static DATE_FIRST: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!("^{DATE_START}")).expect("valid regex"));

/// "Some One <some.one@example.com> wrote:": the name and address open the attribution.
static ANGLE_ADDRESS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"<[^<>\s]+@[^<>\s]+>").expect("valid regex"));

/// Gmail's ISO-dated attribution without a verb: "2016-03-03 17:21 GMT+01:00 Some One".
static ISO_DATE_FIRST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b").expect("valid regex"));

/// After an ISO date: a GMT offset, or the sender's address closing the line (a log line with
/// an address inside, "2026-01-05 10:00:01 mail to <jane@acme.test> bounced", is text).
static GMT_OR_ADDRESS_AT_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"GMT[+-]\d|<[^<>\s]+@[^<>\s]+>\s*[:：]?\s*$").expect("valid regex"));

/// A time of day as a word of its own: "14:41", "18.30", "3:32 PM", "08:14:43", "11:00\u{202f}AM"
/// (never the "30.09" of a date "30.09.2017").
static TIME_OF_DAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[\s,(])\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?:\s?[ap]\.?\s?m\.?)?(?:[\s,)]|$)")
        .expect("valid regex")
});

/// A line that opens with a time, then a comma: "11:00 AM, November 17, 2021, ...".
static TIME_FIRST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\d{1,2}[:.]\d{2}(?:\s?[ap]\.?\s?m\.?)?\s*,").expect("valid regex"));

static YEAR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(?:19|20)\d{2}\b").expect("valid regex"));

/// The end of an address wrapped onto a line of its own: "<jane@acme.test>:", "jane@acme.test>:".
static ADDRESS_TAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^<?[^<>\s]*@[^<>\s]+>\s*[:：]\s*$").expect("valid regex"));

/// The verb closes the line without a colon, right after the sender's address (or quoted
/// name): "... Jane Roe <jane@acme.test> wrote", "... jane@acme.test wrote".
static ADDRESS_THEN_VERB_ENDS_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r#"(?i)(?:@[^\s<>"]+>?|")\s*{WROTE}\s*(?:\(a\))?\s*$"#)).expect("valid regex")
});

/// Ends with an address and a colon: `... "Alexander L" <abc@example.com>:`.
static ENDS_WITH_ADDRESS_COLON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"@[^<>\s]*>\s*[:：]\s*$").expect("valid regex"));

/// A wrapped line of a sentence, which a wrapped attribution's middle lines never are.
static SENTENCE_END: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[.!?]\s*$").expect("valid regex"));

/// "-----Original Message-----", "---------- Forwarded message ---------", "Begin forwarded
/// message:" and their translations.
static ORIGINAL_MESSAGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        ^[\s*_]*-{2,}\s*(?:
            original\s+message | forwarded\s+message | reply\s+message
          | mensaje\s+original | mensaje\s+reenviado | message\s+d'origine | message\s+original
          | message\s+transféré | ursprüngliche\s+nachricht | weitergeleitete\s+nachricht
          | originalnachricht | oorspronkelijk\s+bericht | doorgestuurd\s+bericht
          | messaggio\s+originale | messaggio\s+inoltrato | mensagem\s+original
          | mensagem\s+encaminhada | oprindelig\s+meddelelse | oprindelig\s+besked | videresendt\s+meddelelse
          | ursprungligt\s+meddelande | originalmeddelande | vidarebefordrat\s+meddelande
          | opprinnelig\s+melding | videresendt\s+melding | alkuperäinen\s+viesti | välitetty\s+viesti
          | wiadomość\s+oryginalna | oryginalna\s+wiadomość | przekazana\s+wiadomość
          | исходное\s+сообщение | пересланное\s+сообщение | пересылаемое\s+сообщение
          | оригінальне\s+повідомлення | переслане\s+повідомлення | původní\s+zpráva
          | přeposlaná\s+zpráva | eredeti\s+üzenet | továbbított\s+üzenet
        )\s*-{2,}[\s*_]*$
      | ^\s*(?:
            begin\s+forwarded\s+message | anfang\s+der\s+weitergeleiteten\s+nachricht
          | début\s+du\s+message\s+réexpédié | inicio\s+del\s+mensaje\s+reenviado
          | inizio\s+messaggio\s+inoltrato | forwarded\s+message
        )\s*:\s*$",
    )
    .expect("valid regex")
});

/// One field of a reply header block (Outlook, Apple Mail forwards, webmails), by kind.
static HEADER_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*[*_]{0,2}\s*(?:
            (?P<from>from|von|de|da|van|från|fra|od|от|від|expéditeur|remitente|mittente|lähettäjä|feladó|发件人|寄件者|差出人)
          | (?P<sent>sent|date|datum|dato|gesendet|envoyé|enviado|enviada|fecha|data|inviato|verzonden|skickat|sendt
              |wysłano|wysłane|отправлено|дата|надіслано|发送时间|日期|送信日時|lähetetty|päivämäärä|odesláno|elküldve)
          | (?P<to>to|an|à|a|para|aan|till|til|do|кому|收件人|宛先|vastaanottaja|komu|címzett)
          | (?P<cc>cc|bcc|kopie|копия|抄送|kopio)
          | (?P<subject>subject|betreff|objet|asunto|oggetto|assunto|onderwerp|ämne|emne|temat|тема|主题|主題|件名
              |aihe|předmět|tárgy)
          | (?P<reply>reply-to|risposta|antwort\s+an|responder\s+a|répondre\s+à)
        )\s*[*_]{0,2}\s*[:：]",
    )
    .expect("valid regex")
});

/// Phone and mailer footers: "Sent from my iPhone", "Envoyé depuis mon iPhone", "Von meinem
/// Mobilgerät gesendet", "Get Outlook for iOS", "<<sent by galaxy>>", "從我的 iPhone 傳送"...
/// In other languages than English, "sent from" must be followed by "my" or a device or
/// mailer ("Gesendet von Outlook für Android", "Enviado do meu iPhone", "Inviato da iPhone",
/// "Verzonden vanaf mijn iPhone"), so that a sentence such as "Enviado desde la oficina
/// central." stays text.
static FOOTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*[(<\[]*\s*(?:
            sent\s+(?:from|with|via|using|by)\s+(?:my|a|an|mobile|\[?mail|mailbox|windows|yahoo|outlook|gmail|aol
              |airmail|samsung|android|iphone|ipad|blackberry|proton|protonmail|zoho|spark|bluemail|newton|typeapp
              |edison|galaxy|huawei|xiaomi|nokia|sparrow|superhuman|fastmail|tutanota)\b.{0,100}
          | (?:envoyé|envoye|enviado|enviada|inviato|inviata|verzonden|verstuurd|sendt|skickat|gesendet|lähetetty
              |wysłane|wysłano|odesláno|отправлено|надіслано)\s+
              (?:de|du|depuis|à\s+partir\s+de|a\s+partir\s+de|desde|do|da|dal|dall'|met|vanaf|via|von|vom|mit(?:\s+der)?
                |über|fra|från|med|z|ze|с|з|из)\s+
              (?:(?:my|mon|ma|mi|meu|minha|mio|mia|il\s+mio|mijn|min|mitt|meinem|meiner|moim|mojego|mého|моего|мого)\s+.{1,60}
                |\[?(?:iphone|ipad|ipod|android|outlook|samsung|galaxy|huawei|xiaomi|redmi|honor|oneplus|pixel|nokia
                  |motorola|xperia|blackberry|windows|yahoo|gmail|aol|mail|mobil\w*|handy|smartphone|tablet\w*
                  |proton\w*|spark|bluemail|k-9|fairemail|airmail|typeapp|edison|web\.de|gmx|t-online|libero|orange
                  |мобильной|мобільної)\b.{0,60})
          | (?:get|download|télécharger|telecharger|obtenir|obtener|descargar|scarica|ottieni|obter(?:\s+o)?|baixe(?:\s+o)?
              |holen\s+sie\s+sich|hämta|hent|pobierz)\s+\[?outlook\s+(?:for|pour|para|per|für|voor|för|til|dla)\b.{0,100}
          | outlook\s+(?:für|voor)\s+(?:android|ios)\s+(?:herunterladen|downloaden)\b.{0,100}
          | from\s+my\s+(?:iphone|ipad|ipod|android|mobile|phone|cell|smartphone|tablet|blackberry|samsung|galaxy
              |windows)\b.{0,30}
          | \w+\s+from\s+mobile
          | von\s+meinem\s+.{1,60}\s+gesendet\.?
          | diese\s+nachricht\s+wurde\s+von\s+meinem\s+.{1,80}\s+gesendet\.?
          | (?:從|从)我的.{0,30}(?:傳送|发送|寄出)
          | 发自我的.{0,30}
        )\s*[)>\]]*\s*$",
    )
    .expect("valid regex")
});

/// The kind of reply header field ("from", "sent", "to", "cc", "subject", "reply") on `line`.
fn header_field(line: &str) -> Option<&'static str> {
    let captures = HEADER_FIELD.captures(line)?;
    ["from", "sent", "to", "cc", "subject", "reply"].into_iter().find(|kind| captures.name(kind).is_some())
}

/// Supercite quoting: "Richard> text", "C>".
static SUPERCITE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*[A-Za-z][A-Za-z0-9_-]{0,19}>(?:\s|>|$)").expect("valid regex"));

/// The new part of `text` (a plain-text mail body): quoted history and signature removed.
pub fn new_part(text: &str) -> String {
    extract(text, Mode::NewPart)
}

/// `text` without its quoted history; the signature stays ("Hello\n\nSent from my iPhone").
pub fn without_quotes(text: &str) -> String {
    extract(text, Mode::WithoutQuotes)
}

/// The new part of an HTML-only mail: quoted blocks removed from the HTML, the rest turned
/// into text, then `new_part`. Never panics.
pub fn new_part_of_html(html: &str) -> String {
    let mut html = html.to_string();
    if let Some(found) = HTML_HISTORY_START.find(&html) {
        html.truncate(found.start());
    }
    let html = replace_quoted_elements(&html);
    let text = html_to_text(&break_lines_at_blocks(&html));
    let new = new_part(&text);
    let mut lines: Vec<&str> = Vec::new();
    for line in new.lines().map(str::trim) {
        if line.trim().is_empty() && lines.last().is_none_or(|last| last.trim().is_empty()) {
            continue;
        }
        lines.push(line);
    }
    lines.join("\n").trim().to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Quotes and signature go (email_reply_trimmer).
    NewPart,
    /// Only quotes go (talon's `extract_from_plain`).
    WithoutQuotes,
}

/// What the walk needs to know about one line.
struct Lines<'a> {
    lines: Vec<&'a str>,
    /// Quoted line (`>` or supercite).
    quoted: Vec<bool>,
    /// Number of lines of the history start (marker or header block) that begins here.
    history: Vec<Option<usize>>,
}

fn extract(text: &str, mode: Mode) -> String {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let all: Vec<&str> = normalized.split('\n').collect();
    let code = fenced_code(&all);
    let end = match mode {
        Mode::NewPart => (0..all.len())
            .find(|&index| !code[index] && !is_quote(all[index]) && is_signature_start(all[index]))
            .unwrap_or(all.len()),
        Mode::WithoutQuotes => all.len(),
    };
    let lines = classify(&all[..end], &code[..end], mode);

    let mut kept: Vec<&str> = Vec::new();
    // Anything (text or a quote) above a history start: only a bare marker at the very top
    // (a forward without comment, a bottom-posted reply) is skipped to read what follows.
    let mut has_content = false;
    let mut index = 0;
    while index < lines.lines.len() {
        let line = lines.lines[index];
        if lines.quoted[index] {
            has_content = true;
            index += 1;
            continue;
        }
        if let Some(span) = lines.history[index] {
            if has_content && !is_inline_reply(&lines, index + span) {
                break;
            }
            index += span;
            continue;
        }
        has_content |= !line.trim().is_empty();
        kept.push(line);
        index += 1;
    }
    while kept.last().is_some_and(|line| line.trim().is_empty()) {
        kept.pop();
    }
    let first = kept.iter().position(|line| !line.trim().is_empty()).unwrap_or(kept.len());
    kept[first..].join("\n").trim_end().to_string()
}

fn classify<'a>(lines: &[&'a str], code: &[bool], mode: Mode) -> Lines<'a> {
    let quoted: Vec<bool> = lines.iter().zip(code).map(|(line, &code)| !code && is_quote(line)).collect();
    let fields: Vec<Option<&str>> = lines.iter().map(|line| header_field(line)).collect();
    let mut history: Vec<Option<usize>> = Vec::with_capacity(lines.len());
    for index in 0..lines.len() {
        let found = if code[index] || quoted[index] || lines[index].trim().is_empty() {
            None
        } else {
            history_start(lines, code, &fields, index)
        };
        history.push(found);
    }
    if mode == Mode::WithoutQuotes {
        // A separator line ("________", " -----") right above a history start, or above a
        // bare "From:" field, starts the history.
        for index in (0..lines.len()).rev() {
            if history[index].is_some() || code[index] || quoted[index] || !is_delimiter(lines[index]) {
                continue;
            }
            let Some(next) = (index + 1..lines.len().min(index + 4)).find(|&next| !lines[next].trim().is_empty())
            else {
                continue;
            };
            let from_field = fields[next] == Some("from");
            history[index] = match history[next] {
                Some(span) => Some(next + span - index),
                None if from_field && !code[next] => Some(next + 1 - index),
                None => None,
            };
        }
    }
    Lines { lines: lines.to_vec(), quoted, history }
}

/// The number of lines of the marker or header block that starts at `index`, if one does.
fn history_start(lines: &[&str], code: &[bool], fields: &[Option<&str>], index: usize) -> Option<usize> {
    let line = lines[index].trim();
    if ORIGINAL_MESSAGE.is_match(line) {
        return Some(1);
    }
    attribution_at(lines, code, index)
        .or_else(|| dated_address_attribution_at(lines, code, index))
        .or_else(|| header_block_at(lines, code, fields, index))
}

/// "On ... wrote:" and its relatives, possibly wrapped over a few lines.
fn attribution_at(lines: &[&str], code: &[bool], index: usize) -> Option<usize> {
    let first = lines[index].trim();
    let dated = ATTRIBUTION_OPENER.is_match(first);
    let opener = dated || ANGLE_ADDRESS.is_match(first);
    let iso = ISO_DATE_FIRST.is_match(first);
    if !opener && !iso {
        return None;
    }
    // Opened by a name and address only: wrapped over two lines at most.
    let max_lines = if dated || iso { MAX_ATTRIBUTION_LINES } else { 2 };
    let mut joined = String::new();
    for span in 1..=max_lines.min(lines.len() - index) {
        let last = index + span - 1;
        let line = lines[last].trim();
        if span > 1 {
            if code[last] {
                return None;
            }
            // A quoted or sentence-ending line can only close the attribution (the "> wrote:"
            // and ">:" of clients that wrap inside the address), never sit in its middle.
            let previous = lines[last - 1].trim();
            if span > 2 && (previous.starts_with('>') || SENTENCE_END.is_match(previous)) {
                return None;
            }
            if line.starts_with('>') && line.chars().count() > 20 {
                return None;
            }
            joined.push(' ');
        }
        joined.push_str(line);
        if joined.chars().count() > MAX_ATTRIBUTION_CHARS {
            return None;
        }
        if joined.matches('<').count() > joined.matches('>').count() {
            continue;
        }
        if is_attribution(&joined, opener, iso) {
            return Some(span);
        }
        // "On ... Jane Roe <jane@acme.test> wrote", without the colon: only with the address
        // (or a quoted name) right before the verb, and where a paragraph ends (a blank or
        // quoted line, or the end, follows), so that "At 10:30, the job failed and wrote" and
        // a wrapped sentence "On 5 May, Jane <jane@acme.test> wrote / that ..." stay text.
        if dated && is_attribution_without_colon(&joined) && ends_paragraph(lines, index + span) {
            return Some(span);
        }
    }
    None
}

fn is_attribution_without_colon(joined: &str) -> bool {
    DATE_OR_ADDRESS.is_match(joined)
        && joined.contains([',', '@', '"', '<'])
        && ADDRESS_THEN_VERB_ENDS_LINE.is_match(joined)
}

/// Whether the line at `index` starts no new text: blank, quoted, or past the end.
fn ends_paragraph(lines: &[&str], index: usize) -> bool {
    lines.get(index).is_none_or(|line| line.trim().is_empty() || is_quote(line))
}

/// The attribution of clients that write no verb, only when and who: a date and a time (either
/// first), then the sender's name and address, then a colon:
/// `30.09.2017, 18.30, "John - Doe" <john@doe.test>:` (Yandex and Mail.ru style),
/// `11:00 AM, November 17, 2021, "John - Acme" <john@acme.test>:`, possibly wrapped once at the
/// address (`"John - Doe"` / `<john@doe.test>:`, or `... <` / `john@doe.test>:`). A line
/// that ends in anything but `<address>:` is text, whatever times and colons it holds.
fn dated_address_attribution_at(lines: &[&str], code: &[bool], index: usize) -> Option<usize> {
    let first = lines[index].trim();
    let date_first = DATE_FIRST.is_match(first);
    if !date_first && !TIME_FIRST.is_match(first) {
        return None;
    }
    let is_one = |joined: &str| {
        joined.chars().count() <= MAX_ATTRIBUTION_CHARS
            && TIME_OF_DAY.is_match(joined)
            && (date_first || YEAR.is_match(joined))
            && ENDS_WITH_ADDRESS_COLON.is_match(joined)
    };
    if is_one(first) {
        return Some(1);
    }
    let second = lines.get(index + 1).filter(|_| !code[index + 1])?.trim();
    let wrapped_at_address = first.ends_with('<') || second.starts_with('<') || ADDRESS_TAIL.is_match(second);
    (wrapped_at_address && is_one(&format!("{first} {second}"))).then_some(2)
}

fn is_attribution(joined: &str, opener: bool, iso: bool) -> bool {
    if iso && GMT_OR_ADDRESS_AT_END.is_match(joined) {
        return true;
    }
    // A date or an address, and the comma, quote or bracket around the sender's name: a
    // sentence such as "At 10:30 the app crashed and it wrote:" is not an attribution.
    if !opener || !DATE_OR_ADDRESS.is_match(joined) || !joined.contains([',', '@', '"', '<']) {
        return false;
    }
    if ATTRIBUTION_VERB_AT_END.is_match(joined) {
        return true;
    }
    // "Am 03.02.2016 3:35 nachm. schrieb Max <max@example.com>:"
    ATTRIBUTION_VERB.is_match(joined) && ENDS_LIKE_ATTRIBUTION.is_match(joined) && joined.contains('@')
}

/// A block of reply header fields with a sender and at least one more kind of field. Lines
/// that continue a field (a wrapped subject) may sit between two fields.
fn header_block_at(lines: &[&str], code: &[bool], fields: &[Option<&str>], index: usize) -> Option<usize> {
    fields[index]?;
    let mut kinds: Vec<&str> = Vec::new();
    let mut field_lines = 0;
    let mut from_has_address = false;
    let mut end = index;
    while end < lines.len().min(index + MAX_HEADER_BLOCK_LINES) && !code[end] {
        let line = lines[end];
        if let Some(kind) = fields[end] {
            if kind == "from" {
                from_has_address |= line.contains('@') || line.to_ascii_lowercase().contains("mailto");
            }
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
            field_lines += 1;
            end += 1;
            continue;
        }
        let continues = end > index
            && !line.trim().is_empty()
            && !is_quote(line)
            && fields.get(end + 1).is_some_and(Option::is_some);
        if !continues {
            break;
        }
        end += 1;
    }
    let valid = kinds.contains(&"from") && kinds.len() >= 2 && (field_lines >= 3 || from_has_address);
    valid.then_some(end - index)
}

/// A history marker followed by new text below or between its quotes is an inline reply: only
/// the marker goes. Anything else (unquoted history, quotes then a short signature) is history.
fn is_inline_reply(lines: &Lines<'_>, from: usize) -> bool {
    let mut seen_quote = false;
    let mut text_since_quote = 0;
    let mut blank_after_quote = false;
    let mut separated_text = false;
    for index in from..lines.lines.len() {
        if lines.history[index].is_some() {
            break;
        }
        let blank = lines.lines[index].trim().is_empty();
        if lines.quoted[index] {
            if seen_quote && separated_text {
                return true;
            }
            seen_quote = true;
            text_since_quote = 0;
            blank_after_quote = false;
            separated_text = false;
        } else if blank {
            blank_after_quote |= seen_quote && text_since_quote == 0;
        } else if seen_quote {
            text_since_quote += 1;
            separated_text |= blank_after_quote;
        }
    }
    seen_quote && text_since_quote >= INLINE_ANSWER_LINES
}

fn is_quote(line: &str) -> bool {
    line.trim_start().starts_with('>') || SUPERCITE.is_match(line)
}

/// Where the signature starts (`new_part` only): `-- `, a separator line, a phone footer.
fn is_signature_start(line: &str) -> bool {
    is_delimiter(line) || FOOTER.is_match(line)
}

/// A line made only of separator characters: "--", "________", "=====", "ᐧ", "—".
fn is_delimiter(line: &str) -> bool {
    let trimmed = line.trim();
    let separator = |c: char| "-_=~*+#ᐧ—–•·".contains(c);
    let count = trimmed.chars().count();
    count > 0 && trimmed.chars().all(separator) && (count >= 2 || trimmed.chars().all(|c| "ᐧ—–".contains(c)))
}

/// Lines inside a closed ``` fence (the fence lines included). An unclosed fence counts for
/// nothing, so that it cannot shield quoted history.
fn fenced_code(lines: &[&str]) -> Vec<bool> {
    let mut code = vec![false; lines.len()];
    let mut open: Option<usize> = None;
    for (index, line) in lines.iter().enumerate() {
        if !line.trim_start().starts_with("```") {
            continue;
        }
        match open.take() {
            Some(start) => code[start..=index].iter_mut().for_each(|inside| *inside = true),
            None => open = Some(index),
        }
    }
    code
}

/// Where quoted history starts in an HTML reply; everything from there on is dropped.
/// Outlook's reply header (`#divRplyFwdMsg`, `#appendonsend`, the `border-top:solid #B5C4DF`
/// or `#E1E1E1` div), Hotmail's `hr#stopSpelling`, Thunderbird's `moz-cite-prefix`, Yahoo's
/// `yahoo_quoted`, Outlook for Mac's `OLK_SRC_BODY_SECTION`, Windows Mail's grey rule.
static HTML_HISTORY_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?ix)
        <[a-z][^>]*\bid\s*=\s*["']?(?:x_)?(?:divRplyFwdMsg|appendonsend|stopSpelling|OLK_SRC_BODY_SECTION)\b
      | <[a-z][^>]*\bclass\s*=\s*["']?[^"'>]*\b(?:moz-cite-prefix|yahoo_quoted)\b
      | <div[^>]*border-top\s*:\s*solid\s+\#(?:B5C4DF|E1E1E1)
      | <div[^>]*border-top-color\s*:\s*rgb\(\s*229\s*,\s*229\s*,\s*229\s*\)
    "#,
    )
    .expect("valid regex")
});

/// A quoted element that is removed whole (new text may follow it): any `blockquote`, and
/// Gmail's `div.gmail_quote`.
static QUOTED_ELEMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)<blockquote\b[^>]*>|<div\b[^>]*\bclass\s*=\s*["']?[^"'>]*\bgmail_quote\b[^>]*>"#)
        .expect("valid regex")
});

static BLOCKQUOTE_OR_DIV_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)<(/?)(blockquote|div)\b[^>]*>").expect("valid regex"));

/// A run of block-level tags, which ends a line of text (the converter only breaks lines at
/// `br` and `/p`): one line break per run, so `</div><div>` is not an empty line.
static BLOCK_TAGS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)(?:\s*</?(?:div|p|tr|li|ul|ol|table|tbody|h[1-6]|hr|pre|center|address|dl|dd|dt|section|article
            |header|footer)\b[^>]*>)+",
    )
    .expect("valid regex")
});

/// Ends each run of block tags with a line break, unless the run already has a `</p>`.
fn break_lines_at_blocks(html: &str) -> String {
    BLOCK_TAGS
        .replace_all(html, |run: &regex::Captures<'_>| {
            let run = &run[0];
            if run.to_ascii_lowercase().contains("</p") {
                run.to_string()
            } else {
                format!("<br>{run}")
            }
        })
        .into_owned()
}

/// Replaces each quoted element by a `>` line, so that the text walk sees a quote there.
fn replace_quoted_elements(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(found) = QUOTED_ELEMENT.find(rest) {
        out.push_str(&rest[..found.start()]);
        out.push_str("<br>&gt;<br>");
        let name = if found.as_str().get(1..11).is_some_and(|tag| tag.eq_ignore_ascii_case("blockquote")) {
            "blockquote"
        } else {
            "div"
        };
        let after = &rest[found.end()..];
        let mut depth = 1usize;
        let mut close = after.len();
        for tag in BLOCKQUOTE_OR_DIV_TAG.captures_iter(after) {
            if !tag[2].eq_ignore_ascii_case(name) {
                continue;
            }
            if tag[1].is_empty() {
                depth += 1;
            } else {
                depth -= 1;
                if depth == 0 {
                    close = tag.get(0).map_or(after.len(), |whole| whole.end());
                    break;
                }
            }
        }
        rest = &after[close..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &str) {
        assert_eq!(new_part(text), expected, "input:\n{text}");
    }

    #[test]
    fn gmail_style_quotes_are_cut() {
        check(
            "Thanks, fixed!\n\nOn Mon, Nov 30, 2026 at 9:00 AM Jane <jane@acme.test> wrote:\n> It is down\n",
            "Thanks, fixed!",
        );
        check("Thanks\n\nOn Mon, Nov 30, 2026 at 9:00 AM Jane Roe <jane@acme.test>\nwrote:\n> down\n", "Thanks");
    }

    #[test]
    fn outlook_headers_and_original_message_are_cut() {
        check("Done.\n\n-----Original Message-----\nFrom: Jane\nSent: Monday\nurgent", "Done.");
        check(
            "Done.\n\nFrom: Jane Roe <jane@acme.test>\nSent: Monday, November 30, 2026 9:00 AM\nTo: support\n\nurgent",
            "Done.",
        );
        check("From: the logs I see a 401\nThat is all.", "From: the logs I see a 401\nThat is all.");
    }

    #[test]
    fn interleaved_quotes_and_signatures_go() {
        check("> old line\nmy answer\n> another old\nsecond answer\n-- \nJane\nCEO", "my answer\nsecond answer");
        check("Fine now\n\nSent from my iPhone", "Fine now");
    }

    #[test]
    fn tags_in_history_never_reach_the_new_part() {
        let histories = [
            "Done.\n\nOn Mon, Nov 30, 2026 at 9:00 AM Jane <jane@acme.test> wrote:\n> #time 5h\n",
            "Done.\n\nOn Mon, Nov 30, 2026 at 9:00 AM Jane <jane@acme.test> wrote:\n\n#time 5h\nJane",
            "Done.\n\n-----Original Message-----\nFrom: Jane\nSent: Monday\n\n#time 5h",
            "Done.\n\nFrom: Jane Roe <jane@acme.test>\nSent: Monday\nTo: support\nSubject: x\n\n#time 5h",
            "Done.\n________________________________\nFrom: Jane\nSent: Monday\n#time 5h",
            "Done.\n\n*From:* Jane\n*Sent:* Monday\n*To:* support\n\n#time 5h",
            "> #time 5h\nDone.",
            "Done.\n\n> #time 5h\n\nOn 1 Jan 2026, Jane <j@acme.test> wrote:\n#time 5h",
            "Done.\n\nAm 03.02.2026 15:35 schrieb Jane <jane@acme.test>:\n\n#time 5h",
            "Done.\n\nLe 4 janv. 2026 19:03, \"Jane\"\n<jane@acme.test>\na écrit :\n\n#time 5h",
            "Done.\n\n2026-01-05 15:36 GMT+02:00 Jane <\njane@acme.test>:\n\n#time 5h",
            "Done.\n\n---------- Forwarded message ---------\nFrom: Jane <jane@acme.test>\nDate: today\n\n#time 5h",
            "Done.\nVon: Jane [mailto:jane@acme.test]\nGesendet: Montag\nAn: Support\nBetreff: x\n\n#time 5h",
            "Done.\n\nRichard> #time 5h",
        ];
        for text in histories {
            assert_eq!(new_part(text), "Done.", "input:\n{text}");
            assert_eq!(without_quotes(text), "Done.", "input:\n{text}");
        }
        let html = [
            "<div>Done.</div><blockquote type=\"cite\">#time 5h</blockquote>",
            "<div>Done.</div><div class=\"gmail_quote\">On Mon, 1 Jan 2026, Jane &lt;j@acme.test&gt; wrote:<br>\
             <blockquote class=\"gmail_quote\"><div>#time 5h</div><blockquote>old</blockquote></blockquote></div>",
            "<p>Done.</p><div id=\"divRplyFwdMsg\"><b>From:</b> x<br>#time 5h</div>",
            "<p>Done.</p><div style=\"border:none;border-top:solid #E1E1E1 1.0pt\"><p>From: x</p></div><p>#time 5h</p>",
            "Done.<br><div class=\"moz-cite-prefix\">On 1/1/2026 Jane wrote:</div><blockquote>#time 5h",
            "Done.<hr id=\"stopSpelling\">#time 5h",
        ];
        for text in html {
            assert_eq!(new_part_of_html(text), "Done.", "input:\n{text}");
        }
    }

    #[test]
    fn reply_headers_without_a_verb_are_history() {
        // The client's words stay whole (a cut too early loses them) and the history with its
        // tag goes (a cut too late lets the tag run).
        for header in [
            "30.09.2017, 18.30, \"John - Doe\" <john@doe.test>:",
            "26.06.2014, 14:41, \"Alexander L\" <abc@example.com>:",
            "11:00 AM, November 17, 2021, \"John - Acme\" <john@mail.acme.test>:",
            "3:32 PM, 17 November 2021, Jane Roe <jane@acme.test>:",
            "30.09.2017, 18.30, \"John - Doe\"\n<john@doe.test>:",
            "11:00 AM, November 17, 2021, \"John - Acme\" <\njohn@mail.acme.test>:",
            "11:00\u{202f}AM, November 17, 2021, \"John - Acme\"\njohn@mail.acme.test>:",
            "Wednesday, 17 November 2021, 3:32 PM +0300 from jane@acme.test <jane@acme.test>:",
        ] {
            check(
                &format!("Fixed, thanks.\nSee you at 10:30.\n\n{header}\n\n#time 5h\nJane"),
                "Fixed, thanks.\nSee you at 10:30.",
            );
            check(&format!("Fixed, thanks.\n{header}\n> #time 5h"), "Fixed, thanks.");
        }
    }

    #[test]
    fn wrote_without_a_colon_ends_the_new_part_where_a_paragraph_ends() {
        check("Done.\n\nOn Mon, Nov 30, 2026 at 10:00 AM Jane Roe <jane@acme.test> wrote\n\n#time 5h", "Done.");
        check("Done.\n\nOn Mon, Nov 30, 2026 at 10:00 AM Jane Roe <jane@acme.test> wrote\n> #time 5h", "Done.");
        check("Done.\n\nOn Wed, 14 Nov 2018 08:14:43 -0200 John Doe <john@doe.test> wrote", "Done.");
        check("Done.\n\nOn 5 May 2026, at 10:00, \"Jane Roe\" wrote\n\n#time 5h", "Done.");
        check("Done.\n\nOn Mon, Nov 30, 2026 at 10:00 AM Jane Roe <jane@acme.test>\nwrote\n\n#time 5h", "Done.");
        // A sentence wrapped after "wrote" goes on below: it is the client's text.
        for text in [
            "On 5 May, our CFO wrote\nthat the invoice was wrong.",
            "On Monday at 10:00, Jane <jane@acme.test> wrote\nthat the export fails.",
            "At 10:30, the backup script failed and wrote\n\nERROR: disk full",
            "On 5 May, our CFO wrote\n\nthat the invoice was wrong.",
        ] {
            check(text, text);
        }
    }

    #[test]
    fn a_mobile_signature_in_any_language_ends_the_new_part_and_the_history_below_it() {
        for footer in [
            "Sent from my iPhone",
            "Gesendet von Outlook für Android<https://aka.ms/AAb9ysg>",
            "Gesendet von meinem iPhone",
            "Gesendet mit der WEB.DE Mail App",
            "Von meinem iPhone gesendet",
            "Envoyé de mon iPhone",
            "Envoyé à partir de Outlook pour iOS<https://aka.ms/o0ukef>",
            "Enviado desde mi iPhone",
            "Enviado do meu iPhone",
            "Inviato da iPhone",
            "Inviato dal mio Samsung Galaxy",
            "Verzonden vanaf mijn iPhone",
            "Verstuurd vanaf mijn iPad",
            "Skickat från min iPhone",
            "Sendt fra min iPhone",
            "Wysłane z iPhone'a",
            "Отправлено с iPhone",
            "Get Outlook for Android",
            "Get Outlook for iOS<https://aka.ms/o0ukef>",
            "Télécharger Outlook pour Android",
            "Obtener Outlook para iOS",
        ] {
            // Unquoted history below the signature, as Outlook mobile writes it.
            let text = format!(
                "It works again.\n\n{footer}\n________________________________\nFrom: Support\n#time 5h\n\nHi there!"
            );
            check(&text, "It works again.");
            check(&format!("It works again.\n{footer}\nHi there! #time 5h"), "It works again.");
        }
    }

    #[test]
    fn sentences_with_a_time_a_date_or_sent_from_stay_text() {
        for text in [
            "11:00 AM, November 17, 2021, is when the outage began:\nthe queue stopped.",
            "30.09.2017, 18.30: the backup failed with this error:\ndisk full",
            "18.30, 30.09.2017, the nightly job logged:\nok",
            "15.01.2024 14:30 we called Jane and she said:\nwait",
            "15.01.2024 14:30 we mailed <jane@acme.test> and\nshe answered at 15:00.",
            "11:00 AM, November 17, 2021, Jane Roe <jane@acme.test> called us.",
            "2026-01-05 10:00:01 mail to <jane@acme.test> bounced\nplease check",
            "Meeting at 10:30, 5 May 2026, room 4:\nbring the logs",
            "Enviado desde la oficina central.\nGracias",
            "Gesendet von unserem Server am Montag.\nDanke",
            "Inviato da Mario ieri sera.\nGrazie",
            "The notification was sent from my iPhone app to all users.",
        ] {
            check(text, text);
        }
    }

    #[test]
    fn ordinary_lines_that_look_like_history_stay() {
        for text in [
            "From: the logs I see a 401\nTo: be honest, no idea why.",
            "On this day\n\nI wrote something\n\nwhich was very interesting.",
            "At 10:30 the app crashed and it wrote:\nsegfault",
            "On 5 May we had an outage.\nSee what Bob wrote:\nit broke",
            "2026-01-05 the server crashed\nagain",
            "I mailed support@acme.test and\nthen\nthis is what they wrote:\nnothing",
            "This is not a ---------- delimiter.\n- A\n- B",
            "Sent the logs from my laptop yesterday.\nThanks",
        ] {
            check(text, text);
        }
    }

    #[test]
    fn a_bare_marker_at_the_top_is_skipped() {
        check("On Mon, 1 Jan 2026, Jane <j@acme.test> wrote:\n> old\n\nMy answer below.", "My answer below.");
        check(
            "---------- Forwarded message ---------\nFrom: Jane <j@acme.test>\nDate: today\nSubject: a\n\nBody",
            "Body",
        );
    }

    #[test]
    fn inline_answers_below_quotes_stay() {
        let text = "Hi\n\nOn Mon, 1 Jan 2026, Jane <j@acme.test> wrote:\n> question one?\n\nanswer one\n\n> two?\n\n\
                    answer two";
        assert_eq!(new_part(text), "Hi\n\n\nanswer one\n\n\nanswer two");
    }

    #[test]
    fn phone_and_mailer_footers_end_the_new_part() {
        for footer in [
            "Envoyé depuis mon iPhone",
            "Von meinem Mobilgerät gesendet",
            "Diese Nachricht wurde von meinem Android-Mobiltelefon mit K-9 Mail gesendet.",
            "Someone from mobile",
            "From My Iphone 6",
            "Sent via mobile",
            "Sent with Airmail",
            "Sent from Windows Mail",
            "Sent from Mailbox for iPad",
            "Sent from Yahoo Mail on Android",
            "Sent from my TI-85",
            "Sent from my HTC M8 Android phone.  Please excuse typoze",
            "Sent from my Windows 8 PC <http://windows.microsoft.com/consumer-preview>",
            "<<sent by galaxy>>",
            "(sent from a phone)",
            "從我的 iPhone 傳送",
            "Sent from [mail](https://go.microsoft.com/fwlink/?LinkId=550986) for windows 10",
            "Verzonden met BlackBerry Work",
            "Get Outlook for iOShttps://aka.ms/o0ukef",
            "Get [Outlook for Android](https://aka.ms/ghei36)",
            "Sendt fra min iPad",
            "Sent from Outlook Mobile<https://foo.bar>",
        ] {
            check(&format!("Fixed.\n\n{footer}\nmore"), "Fixed.");
        }
        assert_eq!(without_quotes("Hello\n\nSent from my iPhone"), "Hello\n\nSent from my iPhone");
        assert_eq!(without_quotes("Hello\n-- \nJane\nCEO"), "Hello\n-- \nJane\nCEO");
    }

    #[test]
    fn fenced_code_is_kept_as_written() {
        check("Run:\n```\n-- \n> not a quote\n####\n```\nDone", "Run:\n```\n-- \n> not a quote\n####\n```\nDone");
        // An unclosed fence shields nothing.
        check("See ```\n> #time 5h\n-- \nJane", "See ```");
    }

    #[test]
    fn line_endings_and_blank_edges_are_normalised() {
        check("\r\n\r\nEmail with\r\nwindows\r\n\r\n", "Email with\nwindows");
        check("old Mac\rline endings", "old Mac\nline endings");
        check("", "");
        assert_eq!(new_part_of_html(""), "");
        assert_eq!(new_part_of_html("<blockquote><div><blockquote>"), "");
    }
}
