//! Messages in a channel.

use sqlx::{AnyConnection, FromRow};

use crate::clock::Timestamp;
use crate::db::{Db, new_id};

#[derive(Clone, Debug, FromRow)]
pub struct Message {
    pub message_id: String,
    pub author_id: String,
    pub author_name: String,
    pub author_kind: String,
    /// A guest author's organisation.
    pub organisation: Option<String>,
    /// A clerk author's department (課).
    pub department_name: Option<String>,
    pub body: String,
    pub created_at: i64,
    /// The file sent with the message, if any: its id, name and size in bytes.
    pub file_id: Option<String>,
    pub file_name: Option<String>,
    pub file_size: Option<i64>,
    /// Whether this message starts a new day (JST) on its page.
    #[sqlx(skip)]
    pub new_day: bool,
}

/// Up to `limit` messages of a channel, oldest first: the newest ones, or with `before` (a
/// message id) the ones just older than it. The extra row fetched says whether older ones exist.
pub async fn recent(
    db: &Db,
    channel_id: &str,
    limit: i64,
    before: Option<&str>,
) -> Result<(Vec<Message>, bool), sqlx::Error> {
    let mut rows = sqlx::query_as::<_, Message>(
        "select m.message_id, m.author_id, a.name as author_name, a.kind as author_kind, \
         g.organisation, d.name as department_name, m.body, m.created_at, \
         f.file_id, f.name as file_name, f.size as file_size \
         from message m join account a on a.account_id = m.author_id \
         left join attachment f on f.message_id = m.message_id \
         left join guest g on g.account_id = m.author_id \
         left join clerk c on c.account_id = m.author_id \
         left join department d on d.department_id = c.department_id where m.channel_id = $1 \
         and ($3 is null or exists (select 1 from message b where b.message_id = $3 \
              and b.channel_id = m.channel_id and (m.created_at < b.created_at \
              or (m.created_at = b.created_at and m.message_id < b.message_id)))) \
         order by m.created_at desc, m.message_id desc limit $2",
    )
    .bind(channel_id)
    .bind(limit + 1)
    .bind(before)
    .fetch_all(&db.pool)
    .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    rows.reverse();
    Ok((rows, more))
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

impl Message {
    /// A file's size as people read it: `820 KB`, `3.4 MB`.
    pub fn file_size_label(&self) -> String {
        let bytes = self.file_size.unwrap_or(0).max(0) as f64;
        if bytes < 1024.0 * 1024.0 {
            format!("{} KB", (bytes / 1024.0).ceil() as i64)
        } else {
            format!("{:.1} MB", bytes / (1024.0 * 1024.0))
        }
    }
}
