//! The channels' recent conversations, kept in memory between views.
//!
//! A page of a conversation is the same for every reader but for their read mark and whether
//! they acknowledged, so one copy per channel and page serves them all. A copy is used only
//! while the channel's version is the one the request read from the database. The database
//! raises that version with every change a conversation shows (migration 0013), whichever
//! instance made it, so a post, a 既読, an acknowledgement or a correction shows on the very
//! next view everywhere; the database stays the truth.

use std::sync::Arc;

use quick_cache::{Weighter, sync::Cache};

use super::store::{self, Message};
use crate::db::Db;

/// About how much memory the kept pages may take, in bytes.
const BUDGET: u64 = 32 * 1024 * 1024;
/// About how many pages fit (the cache's sizing hint).
const PAGES: usize = 2048;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    channel_id: String,
    before: Option<String>,
}

#[derive(Clone)]
struct Kept {
    version: i64,
    rows: Arc<Vec<Message>>,
    more: bool,
    bytes: u64,
}

#[derive(Clone)]
struct Bytes;

impl Weighter<Key, Kept> for Bytes {
    fn weight(&self, _key: &Key, kept: &Kept) -> u64 {
        kept.bytes
    }
}

pub struct Conversations(Cache<Key, Kept, Bytes>);

impl Default for Conversations {
    fn default() -> Self {
        Self(Cache::with_weighter(PAGES, BUDGET, Bytes))
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
    ) -> Result<(Vec<Message>, bool), sqlx::Error> {
        let key = Key {
            channel_id: channel_id.to_string(),
            before: before.map(str::to_string),
        };
        let kept = self.0.get(&key);
        if let Some(kept) = &kept
            && kept.version == version
        {
            return Ok(((*kept.rows).clone(), kept.more));
        }
        // Read after the version, so the rows are at least as new as the version they are
        // kept under; a copy kept by a request that read a newer version stays.
        let (rows, more) = store::recent(db, channel_id, limit, before).await?;
        if kept.is_none_or(|k| k.version < version) {
            let bytes = rows.iter().map(size).sum::<u64>() + 64;
            let rows = Arc::new(rows.clone());
            self.0.insert(
                key,
                Kept {
                    version,
                    rows,
                    more,
                    bytes,
                },
            );
        }
        Ok((rows, more))
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
