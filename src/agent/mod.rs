//! The agent's side: he works from any mail client, so his replies carry the commands.
//! `tags` reads the tags in the new part of a reply, `echo` removes from it what the desk sent
//! him, `authenticity` decides whether a mail in
//! his name really is his, and `reply` applies an authenticated reply to its ticket.
//! `notify` tells him of client mail on a ticket that already exists.

pub mod authenticity;
pub mod echo;
pub mod notify;
pub mod reply;
pub mod signed_ids;
pub mod tags;
