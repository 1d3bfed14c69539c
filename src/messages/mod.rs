//! Messages posted in a channel.

pub mod store;
