//! The tables of tickets and their mail: all their SQL lives here, in one file per table
//! (`tickets`, `messages`, `participants`) plus `views`, the typed reads across them.
//! Writes take the caller's transaction so a ticket change, its messages and its outbox rows
//! commit together.

mod messages;
mod participants;
mod tickets;
mod views;

pub use messages::*;
pub use participants::*;
pub use tickets::*;
pub use views::*;
