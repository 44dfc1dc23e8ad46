//! OAuth2 mailboxes (Gmail / Google Workspace, Microsoft 365, any OAuth2 server): signing in
//! (`login`), the stored grant (`grant`, tokens sealed by `seal`), the token endpoint
//! (`endpoint`), when to refresh (`timing`), the SASL strings (`sasl`), and the edges' source
//! of access tokens (`TokenSource`). The IMAP and SMTP edges call `TokenSource` at login.

pub mod endpoint;
pub mod grant;
pub mod login;
pub mod sasl;
pub mod seal;
pub mod status;
pub mod timing;
mod tokens;

pub use tokens::{AuthError, TokenSource};
