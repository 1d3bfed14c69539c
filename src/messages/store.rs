//! Messages in a channel.

use sqlx::{AnyConnection, FromRow};

use crate::clock::Timestamp;
use crate::db::{Db, new_id};

#[derive(Clone, Debug, FromRow)]
pub struct Message {
    pub message_id: String,
    pub author_name: String,
    pub author_kind: String,
    pub organisation: Option<String>,
    pub body: String,
    pub created_at: i64,
}

/// The latest messages of a channel, oldest first.
pub async fn recent(db: &Db, channel_id: &str, limit: i64) -> Result<Vec<Message>, sqlx::Error> {
    let mut rows = sqlx::query_as::<_, Message>(
        "select m.message_id, a.name as author_name, a.kind as author_kind, g.organisation, \
         m.body, m.created_at from message m join account a on a.account_id = m.author_id \
         left join guest g on g.account_id = m.author_id where m.channel_id = $1 \
         order by m.created_at desc, m.message_id desc limit $2",
    )
    .bind(channel_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.reverse();
    Ok(rows)
}

pub async fn insert(
    conn: &mut AnyConnection,
    channel_id: &str,
    author_id: &str,
    body: &str,
    now: Timestamp,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "insert into message (message_id, channel_id, author_id, body, created_at) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(channel_id)
    .bind(author_id)
    .bind(body)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(id)
}
