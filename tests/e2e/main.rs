//! End-to-end tests: the real `helpdesk` binary against a real Dovecot and Postfix on
//! 127.0.0.1 (see `lab`) and a real SQLite database. One test binary, one lab per test.

mod agent;
mod attacks;
mod conversation;
mod desk;
mod faults;
mod hours;
mod injection;
mod lab;
mod loops;
mod oauth2;
mod oauth2_lab;
mod pipeline;
mod proxy;
mod reports;
mod restart;
mod setup;
mod several_desks;
mod sla;
mod summary;
mod tls;
mod token_server;
