//! Whether a client's mail to a closed ticket is only a courtesy: thanks and/or a score
//! ("Thanks!", "10/10 - thanks!", "Great, thank you 9", "Merci beaucoup !"). Such a mail
//! reopens nothing; anything with substance does. Pure.
//!
//! The rule is conservative: every word of the new part must be a thanks word, a score, a
//! word of praise or filler from the tables below, or the sender's own name or a sign-off
//! ("Cheers, Bill"); at least one thanks word or score must be there; no question mark; at
//! most 300 characters. One word outside the tables ("still", "again?", "broken", "but")
//! makes it substance, so a reply that says anything else reopens the ticket.

use std::sync::LazyLock;

use regex::Regex;

/// A courtesy reply: thanks, with the score it gave if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Courtesy {
    pub score: Option<u8>,
}

/// Words that say thank you, in the languages the desk's clients write.
const THANKS: &[&str] = &[
    "thanks",
    "thank",
    "thx",
    "thnx",
    "tx",
    "ty",
    "tyvm",
    "cheers",
    "merci",
    "danke",
    "dankeschön",
    "dankeschoen",
    "gracias",
    "grazie",
    "obrigado",
    "obrigada",
    "bedankt",
    "dank",
    "tack",
    "takk",
    "tak",
    "kiitos",
    "dziękuję",
    "dzięki",
    "děkuji",
    "köszönöm",
    "teşekkürler",
    "спасибо",
    "дякую",
    "ありがとう",
    "ありがとうございます",
    "谢谢",
    "감사합니다",
    "appreciated",
    "appreciate",
];

/// Praise and filler that may stand around the thanks.
const FILLER: &[&str] = &[
    "you",
    "u",
    "so",
    "very",
    "much",
    "a",
    "lot",
    "lots",
    "many",
    "again",
    "for",
    "the",
    "your",
    "all",
    "and",
    "help",
    "quick",
    "fast",
    "fix",
    "support",
    "work",
    "it",
    "that",
    "this",
    "did",
    "trick",
    "is",
    "was",
    "works",
    "working",
    "now",
    "great",
    "awesome",
    "perfect",
    "excellent",
    "fantastic",
    "amazing",
    "brilliant",
    "wonderful",
    "nice",
    "super",
    "cool",
    "ok",
    "okay",
    "good",
    "job",
    "well",
    "done",
    "sorted",
    "solved",
    "fixed",
    "i",
    "we",
    "really",
    "truly",
    "much",
    "wow",
    "yay",
    "hi",
    "hey",
    "hello",
    "out",
    "of",
    "score",
    "rating",
    "rate",
    "give",
    "thumbs",
    "up",
    "best",
    "regards",
    "kind",
    "warm",
    "many",
    "as",
    "always",
    "looks",
    "look",
    "fine",
    "everything",
    "beaucoup",
    "bien",
    "parfait",
    "génial",
    "vielen",
    "herzlichen",
    "lieben",
    "schön",
    "toll",
    "prima",
    "perfekt",
    "muchas",
    "mil",
    "perfecto",
    "genial",
    "mille",
    "muito",
    "tusen",
    "hartelijk",
    "mange",
    "tausend",
    "super",
    "top",
    "bonne",
    "journée",
    "alles",
    "gut",
    "perfectly",
    "smoothly",
    "beautifully",
    "gruß",
    "grüße",
    "saludos",
    "cordialement",
];

/// Emoji and symbols that may stand around the thanks.
const SYMBOLS: &[&str] = &["👍", "🙏", "🎉", "😀", "😊", "🙂", "❤", "❤️", "💯", "✅", ":)", ":-)", "<3"];

/// The courtesy of `new_part`. `names` are the sender's and the agent's display names: their
/// words may greet or sign it off ("Thanks Travis", "Cheers, Bill").
pub fn closing_courtesy(new_part: &str, names: &[&str]) -> Option<Courtesy> {
    static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[\p{L}\p{M}']+|\d+").expect("valid regex"));
    static SCORE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(?:^|[^\w/.])(\d{1,2})\s*(?:/\s*10|out\s+of\s+10)?(?:$|[^\w/.])").expect("valid regex")
    });
    let name_words: Vec<String> =
        names.iter().flat_map(|name| WORD.find_iter(name).map(|word| word.as_str().to_lowercase())).collect();
    let text = without_signature_block(new_part.trim(), &name_words).trim();
    if text.is_empty() || text.chars().count() > 300 || text.contains('?') {
        return None;
    }
    let mut thanked = false;
    for word in WORD.find_iter(text).map(|word| word.as_str().to_lowercase()) {
        let word = word.trim_matches('\'');
        if THANKS.contains(&word) {
            thanked = true;
        } else if !(FILLER.contains(&word) || name_words.iter().any(|name| name == word) || is_number(word)) {
            return None;
        }
    }
    if !only_known_symbols(text) {
        return None;
    }
    let scores: Vec<u8> = SCORE.captures_iter(text).filter_map(|captures| captures[1].parse::<u8>().ok()).collect();
    if scores.iter().any(|score| *score > 10) || scores.len() > 1 {
        return None;
    }
    let score = scores.first().copied();
    (thanked || score.is_some()).then_some(Courtesy { score })
}

/// `text` without a closing signature block: from a line that begins with a word of the
/// sender's name ("Peter Gibbons", "- Peter") or is "--", to the end, when that block is at
/// most six lines and none of them says something (a question mark, or a word such as
/// "still", "not", "broken", "but"). Outlook and company signatures ("Peter Gibbons / Initech |
/// TPS Reports | +1 555 0199") are not marked with "-- ".
fn without_signature_block<'t>(text: &'t str, name_words: &[String]) -> &'t str {
    static SAYS_SOMETHING: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\?|\b(still|not|no|broken|fail\w*|error\w*|issue\w*|problem\w*|again|but|however|aber|noch|nicht|mais|toujours|pas|pero|sigue|todavía)\b")
            .expect("valid regex")
    });
    let starts_block = |line: &str| {
        let trimmed = line.trim();
        let named = trimmed.trim_start_matches(['-', '–', '—', ' ']);
        let first = named.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("").to_lowercase();
        trimmed == "--" || (!first.is_empty() && name_words.contains(&first))
    };
    let mut offset = 0;
    for (index, line) in text.lines().enumerate() {
        if index > 0 && starts_block(line) {
            let block = &text[offset..];
            let block_lines: Vec<&str> = block.lines().collect();
            if block_lines.len() <= 6 && !block_lines.iter().any(|line| SAYS_SOMETHING.is_match(line)) {
                return &text[..offset];
            }
            return text;
        }
        offset += line.len() + 1;
    }
    text
}

fn is_number(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_ascii_digit())
}

/// Whether everything but words, digits, spaces and plain punctuation is a known emoji.
fn only_known_symbols(text: &str) -> bool {
    let mut rest = text.to_string();
    for symbol in SYMBOLS {
        rest = rest.replace(symbol, " ");
    }
    rest.chars().all(|c| {
        c.is_alphanumeric()
            || c.is_whitespace()
            || matches!(
                c,
                '!' | '¡' | '.' | ',' | '-' | '–' | '—' | '/' | ':' | ';' | '\'' | '’' | '(' | ')' | '*' | '~'
            )
            || ('\u{0300}'..='\u{036f}').contains(&c)
            || c == '\u{fe0f}'
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real closing replies (from support inboxes and reply corpora, names changed): each is
    /// only thanks and/or a score.
    const COURTESIES: &[(&str, Option<u8>)] = &[
        ("Thanks!", None),
        ("Thank you!", None),
        ("thx", None),
        ("Thanks! 9", Some(9)),
        ("10/10 - thanks!", Some(10)),
        ("Great, thank you 9", Some(9)),
        ("9", Some(9)),
        ("8 out of 10", Some(8)),
        ("Thanks so much, works perfectly now!", None),
        ("Awesome, thanks a lot Travis 👍", None),
        ("Perfect, thank you!\n\nBill", None),
        ("Thanks again for the quick fix.\n\nCheers,\nBill Smith", None),
        ("Merci beaucoup !", None),
        ("Vielen Dank!", None),
        ("Danke schön, alles gut", None),
        ("¡Muchas gracias!", None),
        ("Grazie mille", None),
        ("Muito obrigado!", None),
        ("Hartelijk dank", None),
        ("Tusen takk!", None),
        ("Спасибо!", None),
        ("ありがとうございます", None),
        ("Much appreciated 🙏", None),
        ("Thanks, 10", Some(10)),
        ("Thanks! 10/10\n\nPeter Gibbons\nInitech | TPS Reports Division | +1 555 0199", Some(10)),
        ("Thank you!\n--\nBill Smith | Acme Corp\nwww.acme.test", None),
    ];

    /// Replies that say something more: each must reopen.
    const SUBSTANCE: &[&str] = &[
        "Thanks, but it is still broken",
        "Thanks! It happened again this morning",
        "Thank you. Can you also look at the invoices?",
        "Thanks?",
        "Not fixed, sorry",
        "Thanks - the sync failed again at 3am",
        "Thanks, one more thing: the export is empty",
        "Danke, aber es geht immer noch nicht",
        "Merci, mais ça ne marche toujours pas",
        "Gracias, pero sigue fallando",
        "Thanks 12345 orders are missing",
        "Thanks! 9 but the report is late",
        "Great",
        "",
        "Thanks Travis, still broken",
        "Thanks\nBill\nIt is still broken on mobile",
        "Thanks!\n\nPeter Gibbons\nPS: the export failed again",
    ];

    #[test]
    fn courtesies_in_several_languages_are_recognised_with_their_score() {
        for (reply, score) in COURTESIES {
            assert_eq!(
                closing_courtesy(reply, &["Bill Smith", "Peter Gibbons", "Travis"]),
                Some(Courtesy { score: *score }),
                "{reply:?}"
            );
        }
    }

    #[test]
    fn any_substance_reopens() {
        for reply in SUBSTANCE {
            assert_eq!(closing_courtesy(reply, &["Bill Smith", "Peter Gibbons", "Travis"]), None, "{reply:?}");
        }
    }

    #[test]
    fn a_capitalised_line_is_a_sign_off_only_when_it_is_the_senders_name() {
        assert_eq!(closing_courtesy("Thanks\nStill Broken", &["Bill Smith"]), None);
        assert!(closing_courtesy("Thanks\nBill", &["Bill Smith"]).is_some());
        assert_eq!(closing_courtesy("Thanks\nBill", &[]), None, "no name known: 'Bill' is an unknown word");
    }
}
