//! Credentials: passwords, TOTP, one-time link tokens and the lockout policy.

pub mod password;
pub mod policy;
pub mod token;
pub mod totp;
