//! Outbound: every mail the desk sends. `compose` renders templates into complete messages,
//! `outbox` stores them in the same transaction as the change that caused them, and `sender`
//! delivers them over SMTP (or into a folder) with retries; `failures` tells the agent
//! about mail that could not be delivered.

pub mod compose;
pub mod failures;
pub mod outbox;
pub mod sender;
#[cfg(test)]
mod templates_test;
