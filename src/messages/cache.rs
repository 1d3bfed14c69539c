//! The channels' recent conversations, kept in memory between views.
//!
//! A page of a conversation is the same for every reader but for their read mark and whether
//! they acknowledged, so one copy per channel and page serves them all. A copy is used only
//! while the channel's version is the one the request read from the database. The database
//! raises that version with every change a conversation shows (migration 0013), whichever
//! instance made it, so a post, a 既読, an acknowledgement or a correction shows on the very
//! next view everywhere; the database stays the truth.
//!
//! Beside each kept page, the page's messages as drawn for readers other than their authors,
//! once per language and channel page (a guest's or a clerk's). A drawing belongs to the very
//! rows it was drawn from, so it is never shown with other rows.

use std::sync::{Arc, OnceLock};

use super::store::{self, Message};
use crate::db::Db;
use crate::kept::{Drawings as KeptDrawings, Versioned};

/// About how much memory the kept pages may take, in bytes.
const BUDGET: u64 = 32 * 1024 * 1024;
/// About how many pages fit (the cache's sizing hint).
const PAGES: usize = 2048;
/// About how much memory the drawings may take, in bytes, and how many fit.
const DRAWN_BUDGET: u64 = 32 * 1024 * 1024;
const DRAWINGS: usize = 2048;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    channel_id: String,
    before: Option<String>,
}

/// Which drawing of a kept page: its language and channel page.
#[derive(Clone, PartialEq, Eq, Hash)]
struct DrawnKey {
    page: Key,
    variant: String,
}

/// A page's messages drawn for a language and channel page: as every reader but the author
/// sees them, and, drawn when the author first views them, as the author sees them.
#[derive(Clone)]
pub struct Drawings {
    pub others: Arc<Vec<Arc<str>>>,
    pub authors: Arc<Vec<OnceLock<Arc<str>>>>,
}

pub struct Conversations {
    /// A page's rows and whether older ones exist, under the channel's version.
    pages: Versioned<Key, i64, (Arc<Vec<Message>>, bool)>,
    drawn: KeptDrawings<DrawnKey, Vec<Message>, Drawings>,
}

impl Default for Conversations {
    fn default() -> Self {
        Self {
            pages: Versioned::new(PAGES, BUDGET),
            drawn: KeptDrawings::new(DRAWINGS, DRAWN_BUDGET),
        }
    }
}

impl Conversations {
    /// Up to `limit` messages of a channel as every reader sees them (see [`store::recent`]),
    /// from the kept copy when the channel is still at `version`, else from the database.
    pub async fn recent(
        &self,
        db: &Db,
        channel_id: &str,
        version: i64,
        limit: i64,
        before: Option<&str>,
    ) -> Result<(Arc<Vec<Message>>, bool), sqlx::Error> {
        let key = Key {
            channel_id: channel_id.to_string(),
            before: before.map(str::to_string),
        };
        if let Some(kept) = self.pages.get(&key, &version) {
            return Ok(kept);
        }
        // Read after the version, so the rows are at least as new as the version they are
        // kept under; a copy kept by a request that read a newer version stays.
        let (rows, more) = store::recent(db, channel_id, limit, before).await?;
        let rows = Arc::new(rows);
        let bytes = rows.iter().map(size).sum::<u64>() + 64;
        self.pages.keep(key, version, (rows.clone(), more), bytes);
        Ok((rows, more))
    }

    /// The drawing of `rows` (a page of `channel_id` from [`Self::recent`]) in `variant` (a
    /// language and channel page): the kept one if it was drawn from these very rows, else
    /// `draw`'s, kept for the next reader.
    pub fn drawn<E>(
        &self,
        channel_id: &str,
        before: Option<&str>,
        variant: &str,
        rows: &Arc<Vec<Message>>,
        draw: impl FnOnce() -> Result<Vec<String>, E>,
    ) -> Result<Drawings, E> {
        let key = DrawnKey {
            page: Key {
                channel_id: channel_id.to_string(),
                before: before.map(str::to_string),
            },
            variant: variant.to_string(),
        };
        self.drawn.get_or_draw(key, rows, || {
            let others: Vec<Arc<str>> = draw()?.into_iter().map(Arc::from).collect();
            // The rows count too: a drawing keeps them alive after their page may have gone.
            // The authors' drawings come later; they are about as large as the others'.
            let html: u64 = others.iter().map(|h| h.len() as u64 + 16).sum();
            let bytes = 2 * html + rows.iter().map(size).sum::<u64>() + 64;
            let drawings = Drawings {
                authors: Arc::new(others.iter().map(|_| OnceLock::new()).collect()),
                others: Arc::new(others),
            };
            Ok((drawings, bytes))
        })
    }
}

/// About how many bytes a kept message takes.
fn size(m: &Message) -> u64 {
    let texts = [
        Some(&m.message_id),
        Some(&m.author_id),
        Some(&m.author_name),
        Some(&m.author_kind),
        m.organisation.as_ref(),
        m.department_name.as_ref(),
        Some(&m.body),
        m.file_id.as_ref(),
        m.file_name.as_ref(),
        m.ackers.as_ref(),
    ];
    let text: usize = texts.iter().flatten().map(|s| s.len()).sum();
    (std::mem::size_of::<Message>() + text) as u64
}
