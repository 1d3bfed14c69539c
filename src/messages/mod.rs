//! Messages posted in a channel by its clerks and guests.

/// The condition that the channel named by the placeholder still takes changes (D8).
macro_rules! active_channel {
    ($p:literal) => {
        concat!(
            "exists (select 1 from channel ac where ac.channel_id = ",
            $p,
            " and ac.status = 'active')"
        )
    };
}

pub mod ack;
pub mod ack_store;
pub mod cache;
pub mod export;
pub mod notify;
pub mod pages;
pub mod store;

use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};
use crate::clock::{JST_OFFSET, Timestamp};
use crate::error::Result;
use crate::mynumber;
pub use ack::{acknowledge, open_requests, remind};

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
    /// The file's name ends in an extension Windows runs (F2).
    FileName,
    /// The channel's files would take more than its quota (F1).
    Quota,
    /// The message can no longer be corrected or withdrawn (after 15 minutes, or not yours).
    TooLate,
    /// The channel has ended: it takes no change from anyone (D8).
    Ended,
    /// A reminder for this message went out less than `hours` hours ago (D9).
    RemindedRecently { hours: i64 },
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
    post_asking(state, source, author, author_id, channel_id, body, None).await
}

/// What a clerk asks of a message's readers when posting it: to acknowledge it (確認依頼),
/// optionally by the end of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckRequest {
    pub due: Option<Timestamp>,
}

/// Posts a message, with a request to acknowledge it if `ack` is given; the request is audited
/// with the post.
pub async fn post_asking(
    state: &AppState,
    source: &Source,
    author: Actor,
    author_id: &str,
    channel_id: &str,
    body: &Body,
    ack: Option<AckRequest>,
) -> Result<std::result::Result<String, Refused>> {
    if let Some(refused) =
        guard_my_number(state, source, &author, channel_id, "message", &body.0).await?
    {
        return Ok(Err(refused));
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let id = store::insert(&mut tx, channel_id, author_id, &body.0, now).await?;
    let mut ev = Event::new(author, "message.post", Outcome::Success)
        .target(&id)
        .in_channel(channel_id.to_string());
    if let Some(ack) = ack {
        ack_store::request_ack(&mut tx, &id, ack.due).await?;
        ev = ev.detail(match ack.due {
            Some(due) => format!(
                "acknowledgement requested by {}",
                crate::clock::last_day(due)
            ),
            None => "acknowledgement requested".to_string(),
        });
    }
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
    /// The channel's page for this reader; its files and messages are below it.
    pub base: String,
    pub channel_id: String,
    /// The messages as every reader shares them.
    pub shared: std::sync::Arc<Vec<store::Message>>,
    /// What this reader sees beside each of them, in the same order.
    pub shown: Vec<Shown>,
    /// Each message drawn, in the same order (filled by the page that shows them).
    pub drawn: Vec<std::sync::Arc<str>>,
    /// The id of the message this page is older than, if it is not the newest page.
    pub before: Option<String>,
    /// The id to ask for the page before this one, if there are older messages.
    pub older: Option<String>,
    /// Whether this page is older than the newest one.
    pub is_older: bool,
}

/// What one reader sees of a message besides its drawing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Shown {
    /// Whether the message starts a new day (JST) on its page.
    pub new_day: bool,
    /// Whether "new since your last visit" starts at it.
    pub is_new: bool,
    /// Whether the reader has acknowledged it.
    pub acked_by_me: bool,
}

impl Page {
    /// The `i`th message as drawn.
    pub fn drawn(&self, i: &usize) -> &str {
        self.drawn.get(*i).map_or("", |h| h)
    }
    /// What the reader sees beside the `i`th message.
    pub fn shown(&self, i: &usize) -> Shown {
        self.shown.get(*i).copied().unwrap_or_default()
    }
}

/// What a view knows of a reader in a channel, read before the messages: the channel's version
/// (which says whether a kept copy of its conversation is current) and the reader's read mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub version: i64,
    pub mark: Option<i64>,
}

/// The newest messages of a channel, or with `before` (a message id) the page just older.
/// Opening the newest page marks what the reader has now seen (既読), through the write path's
/// batches; the page itself still shows where "new since your last visit" starts. `seen` is
/// read here when the request has not read it with the login.
pub async fn page(
    state: &AppState,
    reader_id: &str,
    channel_id: &str,
    before: Option<&str>,
    seen: Option<Seen>,
) -> Result<Page> {
    let before = before.filter(|b| !b.is_empty() && b.len() <= 64);
    let seen = match seen {
        Some(seen) => seen,
        None => store::seen(&state.db, channel_id, reader_id)
            .await?
            .ok_or(crate::error::Error::NotFound)?,
    };
    let (shared, more) = state
        .conversations
        .recent(&state.db, channel_id, seen.version, SHOWN, before)
        .await?;
    let mut day = None;
    let mut unseen_marked = false;
    let shown = shared
        .iter()
        .map(|m| {
            let this = (m.created_at + JST_OFFSET).div_euclid(86_400);
            let new_day = day != Some(this);
            day = Some(this);
            // Where "new since your last visit" starts: only for a reader who has been here
            // before.
            let is_new = !unseen_marked
                && m.author_id != reader_id
                && seen.mark.is_some_and(|mark| m.seq > mark);
            unseen_marked |= is_new;
            Shown {
                new_day,
                is_new,
                acked_by_me: m.acked_by(reader_id),
            }
        })
        .collect();
    let mark = seen.mark.unwrap_or(0);
    if before.is_none()
        && let Some(newest) = shared.last().map(|m| m.seq).filter(|n| *n > mark)
    {
        let now = state.now();
        state
            .audit
            .run(store::mark_read(channel_id, reader_id, newest, now))
            .await?;
    }
    let older = if more {
        shared.first().map(|m| m.message_id.clone())
    } else {
        None
    };
    Ok(Page {
        me: reader_id.to_string(),
        city: state.config.municipality.clone(),
        base: String::new(),
        channel_id: channel_id.to_string(),
        shared,
        shown,
        drawn: vec![],
        before: before.map(str::to_string),
        older,
        is_older: before.is_some(),
    })
}

/// How long after posting its author may correct or withdraw a message.
pub const CHANGE_WINDOW_SECS: i64 = 15 * 60;

/// One message with everyone it is for: who has read it and when, who has acknowledged it.
pub struct Detail {
    pub message: store::Message,
    pub members: Vec<store::Member>,
}

impl Detail {
    pub fn read(&self) -> impl Iterator<Item = &store::Member> {
        self.members.iter().filter(|m| m.read_at.is_some())
    }
    pub fn unread(&self) -> impl Iterator<Item = &store::Member> {
        self.members.iter().filter(|m| m.read_at.is_none())
    }
    pub fn acked(&self) -> impl Iterator<Item = &store::Member> {
        self.members.iter().filter(|m| m.acked_at.is_some())
    }
    pub fn not_acked(&self) -> impl Iterator<Item = &store::Member> {
        self.members.iter().filter(|m| m.acked_at.is_none())
    }
}

/// A message of this channel and its read and acknowledgement lists; `None` if the channel has
/// no such message.
pub async fn detail(
    state: &AppState,
    reader_id: &str,
    channel_id: &str,
    message_id: &str,
) -> Result<Option<Detail>> {
    let Some(message) = store::one(&state.db, channel_id, message_id, reader_id).await? else {
        return Ok(None);
    };
    let members = store::members(&state.db, channel_id, message_id, &message.author_id).await?;
    Ok(Some(Detail { message, members }))
}

/// Corrects (`Some` text) or withdraws (`None`) one's own message within 15 minutes of posting
/// it; the change is shown and audited. A corrected text passes the My Number guard again.
pub async fn change(
    state: &AppState,
    source: &Source,
    author: Actor,
    author_id: &str,
    channel_id: &str,
    message_id: &str,
    body: Option<&Body>,
) -> Result<std::result::Result<(), Refused>> {
    if let Some(b) = body
        && let Some(refused) =
            guard_my_number(state, source, &author, channel_id, "message", &b.0).await?
    {
        return Ok(Err(refused));
    }
    let action = if body.is_some() {
        "message.edit"
    } else {
        "message.withdraw"
    };
    // Only through the message's own channel (D8): another channel's URL finds nothing.
    if store::one(&state.db, channel_id, message_id, author_id)
        .await?
        .is_none()
    {
        return Err(crate::error::Error::NotFound);
    }
    if !store::channel_active(&state.db, channel_id).await? {
        let refused =
            ack::refuse_ended(state, source, author, action, channel_id, message_id).await?;
        return Ok(Err(refused));
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let changed = store::change(
        &mut tx,
        channel_id,
        message_id,
        author_id,
        body.map(|b| b.0.as_str()),
        now,
        now - CHANGE_WINDOW_SECS,
    )
    .await?;
    if !changed {
        return Ok(Err(Refused::TooLate));
    }
    // A withdrawn message's file is gone with it (F5); the record keeps what it was.
    let taken = match body {
        Some(_) => None,
        None => store::take_file(&mut tx, channel_id, message_id).await?,
    };
    let mut ev = Event::new(author, action, Outcome::Success)
        .target(message_id)
        .in_channel(channel_id.to_string());
    if let Some(f) = &taken {
        ev = ev.detail(format!(
            "file {} removed: {} · {} bytes · sha256 {}",
            f.file_id, f.name, f.size, f.sha256
        ));
    }
    audit::record(&mut tx, now, source, &ev).await?;
    tx.commit().await?;
    if let Some(f) = taken {
        let path = crate::files::channel_file(&state.config.data_dir, &f.file_id);
        if let Err(e) = tokio::fs::remove_file(&path).await {
            tracing::warn!(error = %e, file = %f.file_id, "removing a withdrawn file's bytes");
        }
    }
    Ok(Ok(()))
}

/// Unread counts of a department's active channels for a clerk.
pub async fn unread_counts(
    state: &AppState,
    reader_id: &str,
    department_id: Option<&str>,
) -> Result<Vec<store::Unread>> {
    Ok(store::unread_counts(&state.db, reader_id, department_id).await?)
}

/// Longest search term accepted.
pub const SEARCH_MAX: usize = 100;

/// Searches a channel's messages and file names (NFKC, any case); the caller has already passed
/// the channel's guard (D1). An empty or over-long term finds nothing.
pub async fn search(state: &AppState, channel_id: &str, term: &str) -> Result<Vec<store::Found>> {
    use unicode_normalization::UnicodeNormalization;
    let term: String = term.nfkc().collect::<String>().trim().to_string();
    if term.is_empty() || term.chars().count() > SEARCH_MAX {
        return Ok(vec![]);
    }
    Ok(store::search(&state.db, channel_id, &term, SHOWN).await?)
}

/// A message's read and acknowledgement lists as CSV for a clerk (E7); the export is recorded.
pub async fn export_people(
    state: &AppState,
    source: &Source,
    clerk: Actor,
    channel_id: &str,
    message_id: &str,
    header: [String; 4],
    time: impl Fn(i64) -> String,
) -> Result<Option<Vec<u8>>> {
    let Some(d) = detail(state, "", channel_id, message_id).await? else {
        return Ok(None);
    };
    let csv = export::people_csv(&d, header, time)?;
    let ev = Event::new(clerk, "message.export", Outcome::Success)
        .target(message_id)
        .detail(format!("people: {}", d.members.len()))
        .in_channel(channel_id.to_string());
    state.audit.record(state.now(), source, &ev).await?;
    Ok(Some(csv))
}
