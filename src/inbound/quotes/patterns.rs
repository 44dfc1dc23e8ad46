//! The signs of quoted history, signatures and attributions, as regular expressions and limits.

use std::sync::LazyLock;

use regex::Regex;

/// How far (in lines) an attribution line such as "On ..., X <x@y> wrote:" may be wrapped.
pub(super) const MAX_ATTRIBUTION_LINES: usize = 6;
/// Longest attribution text considered, so that a paragraph is never taken for one.
pub(super) const MAX_ATTRIBUTION_CHARS: usize = 400;
/// Most lines a reply header block has (fields and wrapped values); also bounds the work.
pub(super) const MAX_HEADER_BLOCK_LINES: usize = 16;
/// Below a quote that follows a history marker, this many lines of new text make it an inline
/// (bottom-posted) reply rather than a signature or a footer.
pub(super) const INLINE_ANSWER_LINES: usize = 7;

/// The verbs of "X wrote:" in the languages seen in the field.
pub(super) const WROTE: &str = concat!(
    r"(?:\b(?:wrote|writes|schrieb|schreef|geschreven|écrit|escribió|escribio|escreveu|scritto|scrisse|skrev|skriver",
    r"|napisała|napisał|napisal|написала|написал|написав|пише|kirjoitti|yazdı|napsala|napsal|írta|έγραψε)\b|写道|寫道)",
);

/// The verb somewhere in the attribution.
pub(super) static ATTRIBUTION_VERB: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("(?i){WROTE}")).expect("valid regex"));

/// The verb ends the attribution: "wrote:", "napisał(a):", "a écrit :", "wrote ----".
pub(super) static ATTRIBUTION_VERB_AT_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?i){WROTE}\s*(?:\(a\))?\s*(?:[:：]|-{{2,}})\s*$")).expect("valid regex"));

/// The attribution ends with a colon (or the dashes of "---- On ... wrote ----").
pub(super) static ENDS_LIKE_ATTRIBUTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:[:：]|-{2,})\s*$").expect("valid regex"));

/// A date, a time or an address: every real attribution carries one.
pub(super) static DATE_OR_ADDRESS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d{1,2}[:.]\d{2}|(?:19|20)\d{2}|@").expect("valid regex"));

/// A line that opens with a date: "26.06.2014, 14:41", "2013/7/20", "23 mar 2017",
/// "20 окт. 2016", "Thu, 26 Jun 2014", "понедельник, 6 октября", and the Nordic weekday
/// with a dotted day: "tir. 18. apr. 2017", "pe 20. lokakuuta 2017".
pub(super) const DATE_START: &str = r"(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}\s+\p{L}+\.?\s+\d{2,4}|\p{L}+,\s*\d{1,2}\.?\s+\p{L}|\p{L}{2,9}\.?\s+\d{1,2}\.\s+\p{L})";

/// How an attribution opens: "On Mon, 1 Feb", "Am 03.02.2016", "Le 4 janv.", "23 mar 2017",
/// "понедельник, 6 октября", "在 2016年", "---- On Tue, 22 Dec".
pub(super) static ATTRIBUTION_OPENER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)^[-*\s]*(?:(?:on|at|am|le|el|il|op|em|den|dnia|w\s+dniu|в|у|在)\s+(?:[^\s\d]+\s+){{0,3}}\d|{DATE_START})"
    ))
    .expect("valid regex")
});

pub(super) static DATE_FIRST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("^{DATE_START}")).expect("valid regex"));

/// "Some One <some.one@example.com> wrote:": the name and address open the attribution.
pub(super) static ANGLE_ADDRESS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<[^<>\s]+@[^<>\s]+>").expect("valid regex"));

/// Gmail's ISO-dated attribution without a verb: "2016-03-03 17:21 GMT+01:00 Some One".
pub(super) static ISO_DATE_FIRST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b").expect("valid regex"));

/// After an ISO date: a GMT offset, or the sender's address closing the line (a log line with
/// an address inside, "2026-01-05 10:00:01 mail to <jane@acme.test> bounced", is text).
pub(super) static GMT_OR_ADDRESS_AT_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"GMT[+-]\d|<[^<>\s]+@[^<>\s]+>\s*[:：]?\s*$").expect("valid regex"));

/// A time of day as a word of its own: "14:41", "18.30", "3:32 PM", "08:14:43", "11:00\u{202f}AM"
/// (never the "30.09" of a date "30.09.2017").
pub(super) static TIME_OF_DAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[\s,(])\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?:\s?[ap]\.?\s?m\.?)?(?:[\s,)]|$)")
        .expect("valid regex")
});

/// A line that opens with a time, then a comma: "11:00 AM, November 17, 2021, ...".
pub(super) static TIME_FIRST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\d{1,2}[:.]\d{2}(?:\s?[ap]\.?\s?m\.?)?\s*,").expect("valid regex"));

pub(super) static YEAR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(?:19|20)\d{2}\b").expect("valid regex"));

/// The end of an address wrapped onto a line of its own: "<jane@acme.test>:", "jane@acme.test>:".
pub(super) static ADDRESS_TAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^<?[^<>\s]*@[^<>\s]+>\s*[:：]\s*$").expect("valid regex"));

/// The verb closes the line without a colon, right after the sender's address (or quoted
/// name): "... Jane Roe <jane@acme.test> wrote", "... jane@acme.test wrote".
pub(super) static ADDRESS_THEN_VERB_ENDS_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r#"(?i)(?:@[^\s<>"]+>?|")\s*{WROTE}\s*(?:\(a\))?\s*$"#)).expect("valid regex")
});

/// Ends with an address and a colon: `... "Alexander L" <abc@example.com>:`.
pub(super) static ENDS_WITH_ADDRESS_COLON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"@[^<>\s]*>\s*[:：]\s*$").expect("valid regex"));

/// A wrapped line of a sentence, which a wrapped attribution's middle lines never are.
pub(super) static SENTENCE_END: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[.!?]\s*$").expect("valid regex"));

/// "-----Original Message-----", "---------- Forwarded message ---------", "Begin forwarded
/// message:" and their translations.
pub(super) static ORIGINAL_MESSAGE: LazyLock<Regex> = LazyLock::new(|| {
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
pub(super) static HEADER_FIELD: LazyLock<Regex> = LazyLock::new(|| {
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
pub(super) static FOOTER: LazyLock<Regex> = LazyLock::new(|| {
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
pub(super) fn header_field(line: &str) -> Option<&'static str> {
    let captures = HEADER_FIELD.captures(line)?;
    ["from", "sent", "to", "cc", "subject", "reply"].into_iter().find(|kind| captures.name(kind).is_some())
}

/// Supercite quoting: "Richard> text", "C>".
pub(super) static SUPERCITE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*[A-Za-z][A-Za-z0-9_-]{0,19}>(?:\s|>|$)").expect("valid regex"));
