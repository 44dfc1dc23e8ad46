//! The agent's side: he works from any mail client, so his replies carry the commands.
//! `tags` reads the tags in the new part of a reply, `authenticity` decides whether a mail in
//! his name really is his, and `reply` applies an authenticated reply to its ticket.

pub mod authenticity;
pub mod reply;
pub mod tags;
