//! Madoguchi (窓口): time-limited, two-factor guest accounts scoped to one project channel,
//! with a tamper-evident audit trail. `Application` is what `main` and the tests start.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod channels;
pub mod clerks;
pub mod clock;
pub mod config;
pub mod db;
pub mod enrolment;
pub mod error;
pub mod files;
pub mod guests;
pub mod i18n;
pub mod links;
pub mod mail;
pub mod messages;
pub mod server;
pub mod text;
pub mod vocab;
pub mod web;

pub use server::{Application, Overrides, open_state, shutdown_signal};
