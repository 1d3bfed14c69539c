//! The files of a channel, as rows beside their messages.

use sqlx::{AnyConnection, FromRow};

use crate::db::Db;

#[derive(Clone, Debug, FromRow)]
pub struct Attachment {
    pub file_id: String,
    pub message_id: String,
    pub channel_id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub created_at: i64,
}

pub async fn insert(
    conn: &mut AnyConnection,
    a: &Attachment,
    uploader_id: &str,
    sha256: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into attachment (file_id, message_id, channel_id, uploader_id, name, \
         content_type, size, sha256, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&a.file_id)
    .bind(&a.message_id)
    .bind(&a.channel_id)
    .bind(uploader_id)
    .bind(&a.name)
    .bind(&a.content_type)
    .bind(a.size)
    .bind(sha256)
    .bind(a.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A file of this channel; a file of another channel is not found.
pub async fn get(
    db: &Db,
    channel_id: &str,
    file_id: &str,
) -> Result<Option<Attachment>, sqlx::Error> {
    sqlx::query_as::<_, Attachment>(
        "select file_id, message_id, channel_id, name, content_type, size, created_at \
         from attachment where file_id = $1 and channel_id = $2",
    )
    .bind(file_id)
    .bind(channel_id)
    .fetch_optional(&db.pool)
    .await
}

/// The bytes all files of a channel take together.
pub async fn used_bytes(db: &Db, channel_id: &str) -> Result<u64, sqlx::Error> {
    let used: i64 = sqlx::query_scalar(
        "select cast(coalesce(sum(size), 0) as bigint) from attachment where channel_id = $1",
    )
    .bind(channel_id)
    .fetch_one(&db.pool)
    .await?;
    Ok(used.max(0) as u64)
}
