//! Files sent in a channel (SECURITY F1–F4, D6, I1). A file arrives streamed into a private
//! temporary file under the data directory, already cut off at the size limit; this module
//! decides whether the channel takes it — its type by content, its name and text free of an
//! individual number, the channel's quota — and then stores it under a server-made name beside
//! its message, with the upload in the audit trail. Every download is recorded too.

pub mod documents;
pub mod images;
pub mod kind;
pub mod pages;
pub mod store;

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};
use crate::db::new_id;
use crate::error::Result;
use crate::messages::{self, Refused};
pub use store::Attachment;

/// Longest file name kept (characters).
pub const NAME_MAX: usize = 200;

/// The folder files live in: outside any web root, private to the portal (H4).
pub fn folder(state: &AppState) -> PathBuf {
    crate::files::channel_files(&state.config.data_dir)
}

/// A fresh private path for an upload that is still arriving.
pub fn incoming_path(state: &AppState) -> anyhow::Result<PathBuf> {
    let dir = folder(state);
    crate::files::private_dir(&dir)?;
    Ok(dir.join(format!("incoming-{}", new_id())))
}

/// A file as it arrived: the name the sender's device gave it and where its bytes are.
pub struct Upload {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
}

impl Drop for Upload {
    /// An upload that was not kept leaves nothing behind.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A file name as it is kept and shown: the last part of any path the device sent, without
/// control characters, at most `NAME_MAX` characters. `../../etc/passwd` is `passwd`; the name
/// never reaches the file system.
pub fn clean_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = last
        .chars()
        .filter(|c| !crate::text::is_forbidden(*c, false))
        .take(NAME_MAX)
        .collect();
    name.trim().trim_start_matches('.').trim().to_string()
}

/// Whether an uploader may send files here: clerks of the channel, and guests whose permission
/// is 「読む・書く・ファイルを送る」 (D6). Records the refusal otherwise.
pub async fn record_refused(
    state: &AppState,
    source: &Source,
    author: Actor,
    channel_id: &str,
    why: &str,
) -> Result<()> {
    let ev = Event::new(author, "file.upload", Outcome::Denied)
        .detail(why.to_string())
        .in_channel(channel_id.to_string());
    state.audit.record(state.now(), source, &ev).await?;
    Ok(())
}

/// Sends a file in a channel as a message of its own, with an optional comment. Refusals are
/// explained to the sender and leave nothing stored.
pub async fn post(
    state: &AppState,
    source: &Source,
    author: Actor,
    author_id: &str,
    channel_id: &str,
    comment: &str,
    upload: Upload,
) -> Result<std::result::Result<String, Refused>> {
    let name = clean_name(&upload.name);
    if upload.size == 0 || name.is_empty() {
        return Ok(Err(Refused::NoFile));
    }
    if upload.size > state.config.file_max_bytes {
        return Ok(Err(Refused::FileTooLarge {
            max_mb: state.config.file_max_bytes / (1024 * 1024),
        }));
    }
    for (what, text) in [("message", comment), ("file name", name.as_str())] {
        if let Some(refused) =
            messages::guard_my_number(state, source, &author, channel_id, what, text).await?
        {
            return Ok(Err(refused));
        }
    }
    let bytes = tokio::fs::read(&upload.path)
        .await
        .map_err(anyhow::Error::from)?;
    // Unpacking an Office package or reading a PDF's text is work for a blocking thread.
    let (checked, bytes) = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || {
            let checked = std::panic::catch_unwind(|| kind::accept(&name, &bytes))
                .unwrap_or(Err(kind::NotAccepted::Type));
            (checked, bytes)
        })
        .await
        .map_err(anyhow::Error::from)?
    };
    let accepted = match checked {
        Ok(a) => a,
        Err(kind::NotAccepted::Name) => {
            record_refused(state, source, author, channel_id, "name not accepted").await?;
            return Ok(Err(Refused::FileName));
        }
        Err(kind::NotAccepted::Type) => {
            record_refused(state, source, author, channel_id, "type not accepted").await?;
            return Ok(Err(Refused::FileType));
        }
    };
    let name = accepted.name.clone();
    // A photo loses its place, camera serial and comments before anyone else can have it (F6).
    let bytes = match images::strip(&accepted.content_type, &bytes) {
        Some(clean) if clean.len() == bytes.len() => bytes,
        Some(clean) => {
            tokio::fs::write(&upload.path, &clean)
                .await
                .map_err(anyhow::Error::from)?;
            clean
        }
        None => {
            record_refused(state, source, author, channel_id, "image not well formed").await?;
            return Ok(Err(Refused::FileType));
        }
    };
    let kept_size = bytes.len() as u64;
    if let Some(text) = &accepted.text
        && let Some(refused) =
            messages::guard_my_number(state, source, &author, channel_id, "file", text).await?
    {
        return Ok(Err(refused));
    }
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let now = state.now();
    let file_id = new_id();
    let mut tx = state.db.begin().await?;
    // The quota is reserved in the database before the bytes are kept (F1): concurrent
    // uploads queue on the channel's row, and the one that would pass the quota is refused.
    let size = i64::try_from(kept_size).unwrap_or(i64::MAX);
    let quota = i64::try_from(state.config.channel_quota_bytes).unwrap_or(i64::MAX);
    if !store::reserve(&mut tx, channel_id, size, quota).await? {
        drop(tx);
        record_refused(state, source, author, channel_id, "channel quota").await?;
        return Ok(Err(Refused::Quota));
    }
    let message_id = messages::store::insert(&mut tx, channel_id, author_id, comment, now).await?;
    store::insert(
        &mut tx,
        &Attachment {
            file_id: file_id.clone(),
            message_id: message_id.clone(),
            channel_id: channel_id.to_string(),
            name: name.clone(),
            content_type: accepted.content_type.clone(),
            size,
            created_at: now,
        },
        author_id,
        &sha256,
    )
    .await?;
    let ev = Event::new(author, "file.upload", Outcome::Success)
        .target(&file_id)
        .detail(format!(
            "{name} · {} bytes · {} · sha256 {sha256}",
            kept_size, accepted.content_type
        ))
        .in_channel(channel_id.to_string());
    audit::record(&mut tx, now, source, &ev).await?;
    // The bytes take their server-made name before the record commits; a commit that fails
    // takes them away again.
    let stored = folder(state).join(&file_id);
    tokio::fs::rename(&upload.path, &stored)
        .await
        .map_err(anyhow::Error::from)?;
    if let Err(e) = tx.commit().await {
        let _ = tokio::fs::remove_file(&stored).await;
        return Err(e.into());
    }
    Ok(Ok(message_id))
}

/// A file of this channel to download, with the download recorded (F4); `None` if the channel
/// holds no such file.
pub async fn open(
    state: &AppState,
    source: &Source,
    reader: Actor,
    channel_id: &str,
    file_id: &str,
) -> Result<Option<(Attachment, PathBuf)>> {
    let Some(file) = store::get(&state.db, channel_id, file_id).await? else {
        return Ok(None);
    };
    let ev = Event::new(reader, "file.download", Outcome::Success)
        .target(file_id)
        .in_channel(channel_id.to_string());
    state.audit.record(state.now(), source, &ev).await?;
    let path = folder(state).join(&file.file_id);
    Ok(Some((file, path)))
}

/// Deletes bytes no channel file stands for, at start: uploads a crash cut off, and the files of
/// messages withdrawn before withdrawing deleted them (F5). Only bytes untouched for an hour go:
/// another instance sharing the folder may be storing an upload right now (its bytes take their
/// name just before its record commits). Returns how many were deleted.
pub async fn remove_orphans(state: &AppState) -> Result<usize> {
    let dir = folder(state);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(anyhow::Error::from(e).into()),
    };
    let kept: std::collections::HashSet<String> =
        store::all_ids(&state.db).await?.into_iter().collect();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let settled = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= std::time::Duration::from_secs(3600));
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && settled && !kept.contains(&name) && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}
