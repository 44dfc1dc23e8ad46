//! Per-mail cost on hostile mail: each case is a mail built to make some per-mail text work
//! (triage, quote stripping, tag reading, HTML to text, threading, parsing) slow, recorded
//! through the real intake (`record_mail`) into a fresh SQLite database, at three sizes. The
//! cost must grow linearly with the size: the figure to read is the time per MB, which should
//! stay flat from the small to the large size.
//!
//! `cargo bench --bench hostile` (no servers needed). `BENCH_HOSTILE_SIZES` sets the sizes in
//! KB (default `100,1000,10000`). Under `cargo test` it runs once with tiny sizes.

use std::time::Instant;

use chrono::Utc;

use helpdesk::desk::Desk;
use helpdesk::inbound::RawMail;
use helpdesk::intake::{record_mail, IntakeOutcome};

/// One hostile case: a name and a builder from a target size in bytes to a whole mail.
struct Case {
    name: &'static str,
    build: fn(usize) -> Vec<u8>,
}

fn repeat_to(unit: &str, size: usize) -> String {
    unit.repeat(size / unit.len().max(1) + 1)
}

fn mail(headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Jane <jane@acme.test>\r\nTo: support@example.test\r\nMessage-ID: <{}@acme.test>\r\n{headers}\r\n{body}\r\n",
        uuid::Uuid::new_v4()
    )
    .into_bytes()
}

const CASES: &[Case] = &[
    // Negated triage matches with no sentence end: each used to scan back to the start.
    Case { name: "negations, no sentence end", build: |size| mail("Subject: hi\r\n", &repeat_to("not slow ", size)) },
    Case { name: "one long line of words", build: |size| mail("Subject: hi\r\n", &repeat_to("word ", size)) },
    Case {
        name: "nested quotes",
        build: |size| {
            let mut body = String::from("Top text\r\n");
            let mut depth = 1;
            while body.len() < size {
                body.push_str(&">".repeat(depth % 200));
                body.push_str(" quoted line of text\r\n");
                depth += 1;
            }
            mail("Subject: Re: hi\r\n", &body)
        },
    },
    Case {
        name: "quote and text alternating",
        build: |size| mail("Subject: Re: hi\r\n", &repeat_to("> quoted\r\nanswer\r\n\r\n", size)),
    },
    Case {
        name: "attribution-like lines",
        build: |size| {
            mail("Subject: Re: hi\r\n", &repeat_to("On Mon, Jan 5, 2026 at 10:00 AM Jane <jane@acme.test>\r\n", size))
        },
    },
    Case {
        name: "header-field-like lines",
        build: |size| mail("Subject: Re: hi\r\n", &repeat_to("From: jane@acme.test\r\nSent: Monday\r\n", size)),
    },
    Case {
        name: "tag-like lines",
        build: |size| mail("Subject: Re: hi\r\n", &repeat_to("#time 1h #billable #p1 RESOLVED\r\n", size)),
    },
    Case {
        name: "nested HTML blockquotes",
        build: |size| {
            let depth = size / 40;
            let html = format!(
                "<html><body>{}hi{}</body></html>",
                "<blockquote><div>".repeat(depth),
                "</div></blockquote>".repeat(depth)
            );
            mail("Subject: hi\r\nContent-Type: text/html; charset=utf-8\r\n", &html)
        },
    },
    Case {
        name: "HTML tags without text",
        build: |size| {
            mail(
                "Subject: hi\r\nContent-Type: text/html; charset=utf-8\r\n",
                &repeat_to("<p><span><b></b></span></p>", size),
            )
        },
    },
    Case {
        name: "long subject of negations",
        build: |size| {
            let subject = repeat_to(" not urgent", size.min(900_000));
            mail(&format!("Subject:{}\r\n", subject.replace(" not", "\r\n not")), "body")
        },
    },
    Case {
        name: "huge References header",
        build: |size| {
            let ids: String = (0..size / 40).map(|n| format!(" <{n}.reference@acme.test>\r\n")).collect();
            mail(&format!("Subject: Re: hi\r\nReferences:{ids}"), "body")
        },
    },
];

fn sizes() -> Vec<usize> {
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let default = if smoke { "10,40" } else { "100,1000,10000" };
    let text = std::env::var("BENCH_HOSTILE_SIZES").unwrap_or_else(|_| default.into());
    text.split(',').filter_map(|kb| kb.trim().parse::<usize>().ok()).map(|kb| kb * 1000).collect()
}

#[tokio::main]
async fn main() {
    let sizes = sizes();
    println!("hostile: per-mail cost through record_mail, sizes {sizes:?} bytes");
    for case in CASES {
        let mut figures = Vec::new();
        for &size in &sizes {
            let desk = Desk::open(helpdesk::testing::sample_config()).await.expect("the sample desk opens");
            let raw = RawMail::new((case.build)(size), Utc::now());
            let bytes = raw.bytes.len();
            let started = Instant::now();
            let outcome = record_mail(&desk, &raw, Utc::now()).await.expect("recorded");
            let seconds = started.elapsed().as_secs_f64();
            assert!(!matches!(outcome, IntakeOutcome::Duplicate), "{}: a fresh desk has no duplicate", case.name);
            figures.push((bytes, seconds));
        }
        let per_mb: Vec<String> =
            figures.iter().map(|(bytes, seconds)| format!("{:.3} s/MB", seconds / (*bytes as f64 / 1e6))).collect();
        let times: Vec<String> =
            figures.iter().map(|(bytes, seconds)| format!("{} KB {:.3} s", bytes / 1000, seconds)).collect();
        println!("hostile: {:<28} {}  ({})", case.name, times.join(", "), per_mb.join(", "));
    }
}
