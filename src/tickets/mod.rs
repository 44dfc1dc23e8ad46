//! Tickets: who a mail is from (`identify`), which ticket it belongs to (`threading`,
//! `reply_address`), whether a reply to a closed one is only thanks (`courtesy`), and the
//! tables that hold tickets and their messages (`store`); `actions` closes, reopens, moves
//! and merges tickets for the agent; `kinds` are the stored kinds (status, author, origin).

pub mod actions;
pub mod courtesy;
pub mod identify;
pub mod kinds;
pub mod reply_address;
pub mod store;
pub mod threading;
