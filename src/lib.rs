//! Madoguchi (窓口): time-limited, two-factor guest accounts scoped to one project channel,
//! with a tamper-evident audit trail. `web::server::Application` is what `main` and the tests start.
//!
//! # Layers
//! Dependencies run one way, from the edge inwards:
//! - **Edge**: `main` (the command line), `router` (every route), `web/` (the server, HTTP
//!   plumbing — shared layers, errors, CSRF, request context, guards — and the mail layout; it
//!   imports no feature's pages or store) and each feature's `pages`, which parse a request, call
//!   one operation and render. Only the edge uses the HTTP framework, the template engine or
//!   sessions.
//! - **Operations**: each feature's `mod.rs` and named files (`accounts`, `enrolment`, `clerks`,
//!   `channels`, `messages`, `guests`) are the only code that opens a write transaction, writes
//!   an audit record and decides which mail goes out. They never import `web` or `pages`;
//!   features use each other only through operations or stores.
//! - **Below**: each feature's `store` (its SQL), `db`, `audit`, `auth`, and what everything
//!   shares — `app` (state), `config`, `clock` (time and JST days), `i18n`, `links`, `text`,
//!   `vocab`, `error`, `files`.
//!
//! `tests/api/layers.rs` checks these rules against the source.

pub mod accounts;
pub mod app;
pub mod attachments;
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
pub mod kept;
pub mod links;
pub mod mail;
pub mod messages;
pub mod mynumber;
pub mod router;
pub mod text;
pub mod vocab;
pub mod web;
