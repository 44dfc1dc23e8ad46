//! Loop protection against the sisimai corpus (BSD-2-Clause, see tests/data/sisimai/LICENSE):
//! every machine-generated mail in it must be recognised as automated, so the desk neither
//! acknowledges it nor opens a ticket for it; the two human mails in `not/` must not be.

use std::path::Path;

use helpdesk::inbound::automated::automated_reason;
use helpdesk::inbound::parse::parse_mail;

fn corpus_files(folder: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sisimai/maildir").join(folder);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn every_machine_generated_mail_in_the_corpus_is_recognised() {
    let mut missed = Vec::new();
    let mut total = 0;
    for folder in ["bsd", "dos", "mac", "err"] {
        for path in corpus_files(folder) {
            total += 1;
            let raw = std::fs::read(&path).unwrap();
            let mail = parse_mail(&raw, 25 << 20);
            if automated_reason(&mail).is_none() {
                missed.push(format!("{} (from {:?}, subject {:?})", path.display(), mail.from, mail.subject));
            }
        }
    }
    println!("sisimai corpus: {} of {total} machine-generated mails recognised", total - missed.len());
    assert_eq!(total, 826, "the whole corpus was read (docs/testing.md names 826)");
    assert!(missed.is_empty(), "{} not recognised:\n{}", missed.len(), missed.join("\n"));
}

#[test]
fn the_corpus_human_mails_are_not_machines_and_the_368_bug_is() {
    let files = corpus_files("not");
    let names: Vec<String> =
        files.iter().map(|path| path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(
        names,
        ["is-not-bounce-01.eml", "is-not-bounce-02.eml", "rb-issue-368-bug.eml"],
        "the two human mails and the #368 bug (docs/testing.md names two human mails)"
    );
    for path in files {
        let mail = parse_mail(&std::fs::read(&path).unwrap(), 25 << 20);
        let automated = automated_reason(&mail);
        let name = path.file_name().unwrap().to_string_lossy();
        if name.starts_with("is-not-bounce") {
            assert!(automated.is_none(), "{name} is human mail but was taken for {automated:?}");
        } else {
            assert!(automated.is_some(), "{name} is automated mail");
        }
    }
}
