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

/// Reserves `size` bytes of the channel's quota (F1), in the upload's transaction: one
/// conditional update of the channel's row, which concurrent uploads wait their turn for on
/// both engines. False, and nothing reserved, when the files would pass `quota`.
pub async fn reserve(
    conn: &mut AnyConnection,
    channel_id: &str,
    size: i64,
    quota: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "insert into channel_quota (channel_id, used_bytes) values ($1, 0) \
         on conflict (channel_id) do nothing",
    )
    .bind(channel_id)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query(
        "update channel_quota set used_bytes = used_bytes + $1 \
         where channel_id = $2 and used_bytes + $1 <= $3",
    )
    .bind(size)
    .bind(channel_id)
    .bind(quota)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every file id the channels hold.
pub async fn all_ids(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("select file_id from attachment")
        .fetch_all(&db.pool)
        .await
}
