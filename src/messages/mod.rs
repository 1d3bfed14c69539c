//! Messages posted in a channel by its clerks and guests.

pub mod store;

use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};
use crate::clock::JST_OFFSET;
use crate::error::Result;
use crate::mynumber;

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

/// Why a message was not posted, to be explained to its author; their text is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The text holds a probable individual number (I1); only its masked form is kept.
    MyNumber { masked: String },
    /// No file was chosen, or it was empty.
    NoFile,
    /// The file is larger than one message may carry (F1).
    FileTooLarge { max_mb: u64 },
    /// The file is not of a type a channel accepts (F2).
    FileType,
    /// The channel's files would take more than its quota (F1).
    Quota,
}

/// Refuses a text that holds a probable individual number, recording the attempt with the
/// number masked (I1). `what` names the field in the record: `message`, `file name`, `file`.
pub async fn guard_my_number(
    state: &AppState,
    source: &Source,
    author: &Actor,
    channel_id: &str,
    what: &str,
    text: &str,
) -> Result<Option<Refused>> {
    let Some(found) = mynumber::find(text) else {
        return Ok(None);
    };
    let ev = Event::new(author.clone(), "message.post", Outcome::Denied)
        .detail(format!(
            "probable individual number in the {what}: {}",
            found.masked
        ))
        .in_channel(channel_id.to_string());
    state.audit.record(state.now(), source, &ev).await?;
    Ok(Some(Refused::MyNumber {
        masked: found.masked,
    }))
}

/// Posts a message in a channel, recorded (the text stays out of the audit trail). A text with
/// a probable individual number is refused and the attempt recorded (I1).
pub async fn post(
    state: &AppState,
    source: &Source,
    author: Actor,
    author_id: &str,
    channel_id: &str,
    body: &Body,
) -> Result<std::result::Result<String, Refused>> {
    if let Some(refused) =
        guard_my_number(state, source, &author, channel_id, "message", &body.0).await?
    {
        return Ok(Err(refused));
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let id = store::insert(&mut tx, channel_id, author_id, &body.0, now).await?;
    let ev = Event::new(author, "message.post", Outcome::Success)
        .target(&id)
        .in_channel(channel_id.to_string());
    audit::record(&mut tx, now, source, &ev).await?;
    tx.commit().await?;
    Ok(Ok(id))
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
    /// The account reading the page; their own messages are set apart.
    pub me: String,
    /// The municipality clerks speak for, if configured.
    pub city: Option<String>,
    /// Where this reader downloads the channel's files (`<base>/<file id>`).
    pub file_base: String,
    pub messages: Vec<store::Message>,
    /// The id to ask for the page before this one, if there are older messages.
    pub older: Option<String>,
    /// Whether this page is older than the newest one.
    pub is_older: bool,
}

/// The newest messages of a channel, or with `before` (a message id) the page just older.
pub async fn page(
    state: &AppState,
    reader_id: &str,
    channel_id: &str,
    before: Option<&str>,
) -> Result<Page> {
    let before = before.filter(|b| !b.is_empty() && b.len() <= 64);
    let (mut messages, more) = store::recent(&state.db, channel_id, SHOWN, before).await?;
    let mut day = None;
    for m in &mut messages {
        let this = (m.created_at + JST_OFFSET).div_euclid(86_400);
        m.new_day = day != Some(this);
        day = Some(this);
    }
    let older = if more {
        messages.first().map(|m| m.message_id.clone())
    } else {
        None
    };
    Ok(Page {
        me: reader_id.to_string(),
        city: state.config.municipality.clone(),
        file_base: String::new(),
        messages,
        older,
        is_older: before.is_some(),
    })
}
