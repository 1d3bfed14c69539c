//! The guest pages: the guest's own channel and account, and the clerks' guest pages.

pub mod guest;
pub mod staff;
