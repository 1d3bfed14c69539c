//! The one integration-test binary: the real server on a real port, a real database (SQLite by
//! default, PostgreSQL when `MADOGUCHI_TEST_DATABASE_URL` is set), real mail and a real browser.

mod audit;
mod bench;
mod browser;
mod cli;
mod console;
mod conversation;
mod file_types;
mod files;
mod first_use;
mod guessing;
mod guests;
mod hardening;
mod helpers;
mod instances;
mod layers;
mod mail;
mod pages;
mod reads;
mod routes;
mod schema;
mod sessions;
mod setup;
mod sheet;
mod signin;
mod slow_clients;
mod write_path;
