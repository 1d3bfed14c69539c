//! Messages posted in a channel by its clerks and guests.

pub mod store;

use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};
use crate::error::Result;

/// How many messages a channel page shows at once; older ones are a link away.
pub const SHOWN: i64 = 50;
/// Longest message accepted.
pub const BODY_MAX: usize = 4000;

/// A message's text, checked: 1 to `BODY_MAX` characters, line breaks allowed.
#[derive(Debug, Clone)]
pub struct Body(String);

impl Body {
    pub fn parse(s: &str) -> std::result::Result<Self, &'static str> {
        crate::text::field(s, BODY_MAX, true).map(Self)
    }
}

/// Posts a message in a channel, recorded (the text stays out of the audit trail).
pub async fn post(
    state: &AppState,
    source: &Source,
    author: Actor,
    author_id: &str,
    channel_id: &str,
    body: &Body,
) -> Result<String> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let id = store::insert(&mut tx, channel_id, author_id, &body.0, now).await?;
    let ev = Event::new(author, "message.post", Outcome::Success)
        .target(&id)
        .in_channel(channel_id.to_string());
    audit::record(&mut tx, now, source, &ev).await?;
    tx.commit().await?;
    Ok(id)
}

/// Records a guest's refused attempt to post without the permission (D6).
pub async fn record_refused(
    state: &AppState,
    source: &Source,
    author: Actor,
    channel_id: &str,
) -> Result<()> {
    let mut ev = Event::new(author, "message.post", Outcome::Denied).detail("permission read");
    ev.channel_id = Some(channel_id.to_string());
    state.audit.record(state.now(), source, &ev).await?;
    Ok(())
}

/// One page of a channel's conversation, oldest first.
pub struct Page {
    pub messages: Vec<store::Message>,
    /// The id to ask for the page before this one, if there are older messages.
    pub older: Option<String>,
    /// Whether this page is older than the newest one.
    pub is_older: bool,
}

/// The newest messages of a channel, or with `before` (a message id) the page just older.
pub async fn page(state: &AppState, channel_id: &str, before: Option<&str>) -> Result<Page> {
    let before = before.filter(|b| !b.is_empty() && b.len() <= 64);
    let (messages, more) = store::recent(&state.db, channel_id, SHOWN, before).await?;
    let older = if more {
        messages.first().map(|m| m.message_id.clone())
    } else {
        None
    };
    Ok(Page {
        messages,
        older,
        is_older: before.is_some(),
    })
}
