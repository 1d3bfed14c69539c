//! The guest pages: the guest's own channel and account, and the clerks' guest pages.

pub mod account;
pub mod guest;
pub mod list;
pub mod sheet;
pub mod staff;
