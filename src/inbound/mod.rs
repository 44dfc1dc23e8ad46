//! Inbound: where mail enters the desk. `imap` and `maildir` are the two sources (the only
//! code that reads a mailbox); `parse` turns raw bytes into an `InboundMail`; `automated`
//! recognises machine-generated mail so that nothing ever answers it.

pub mod attempts;
pub mod automated;
pub mod cursor;
pub mod imap;
pub mod maildir;
pub mod parse;
pub mod quotes;

use chrono::{DateTime, Utc};

/// One message as a source hands it over: its bytes, when the server received it, and where
/// it sits in the source so the intake can advance the cursor in the same transaction.
#[derive(Debug, Clone)]
pub struct RawMail {
    pub bytes: Vec<u8>,
    /// The server's arrival time (IMAP INTERNALDATE, or the Maildir file's mtime).
    pub arrived_at: DateTime<Utc>,
    pub cursor: Option<SourceCursor>,
    /// Set when the source fetched only the headers of an oversized mail: its full size.
    pub headers_only_of: Option<usize>,
}

impl RawMail {
    /// A whole mail that is not tied to a mailbox position (Maildir files, tests, tools).
    pub fn new(bytes: Vec<u8>, arrived_at: DateTime<Utc>) -> RawMail {
        RawMail { bytes, arrived_at, cursor: None, headers_only_of: None }
    }
}

/// The position of a message in an IMAP mailbox, stored with the ticket change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCursor {
    pub source: String,
    pub uid_validity: u32,
    pub uid: u32,
}
