//! Enrolment: invitation links, and setting a password and an authenticator through one.

pub mod pages;
pub mod store;
