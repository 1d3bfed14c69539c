//! Project channels: create, edit, archive.

pub mod pages;
pub mod store;
