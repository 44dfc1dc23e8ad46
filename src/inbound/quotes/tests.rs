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
    check("---------- Forwarded message ---------\nFrom: Jane <j@acme.test>\nDate: today\nSubject: a\n\nBody", "Body");
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
