//! Project channels: create, edit, archive.

pub mod pages;
pub mod store;

crate::vocab::text_enum!(
    /// A channel is active until a clerk archives it.
    Status, "channel status" { Active = "active", Archived = "archived" }
);
