//! Accounts: sign-in, sessions (logins) and credentials.

pub mod limit;
pub mod logins;
pub mod pages;
pub mod store;
pub mod throttle;
