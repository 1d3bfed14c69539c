//! Guests, in the same parts as `src/guests`: their lifecycle, issuing, their account, their
//! invitation links, and channel-wide actions.

mod account;
mod channel;
mod enrolment;
mod issue;
mod lifecycle;
