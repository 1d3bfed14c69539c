//! Messages in a channel.

use sqlx::{AnyConnection, FromRow};

use crate::audit::writer::Statement;
use crate::clock::Timestamp;
use crate::db::{Backend, Db, new_id};

#[derive(Clone, Debug, FromRow)]
pub struct Message {
    pub message_id: String,
    /// The order messages were posted in.
    pub seq: i64,
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
    /// How many members other than the author have read it (既読).
    pub read_count: i64,
    /// Whether a clerk asked members to acknowledge it (確認依頼), and by when.
    pub ack_requested: i64,
    pub ack_due_at: Option<i64>,
    /// How many members have acknowledged it, and whether the reader has.
    pub ack_count: i64,
    #[sqlx(default)]
    pub acked_by_me: i64,
    /// Who has acknowledged it, as account ids joined by commas (for a page shared by readers).
    #[sqlx(default)]
    pub ackers: Option<String>,
    /// When its author corrected or withdrew it.
    pub edited_at: Option<i64>,
    pub withdrawn_at: Option<i64>,
}

/// What a conversation row shows to every reader. Acknowledgements are counted only for the
/// messages that ask for them.
const COLUMNS: &str = "m.message_id, m.seq, m.author_id, a.name as author_name, \
     a.kind as author_kind, g.organisation, d.name as department_name, m.body, m.created_at, \
     f.file_id, f.name as file_name, f.size as file_size, \
     (select count(distinct r.account_id) from channel_read r where r.channel_id = m.channel_id \
      and r.last_seq >= m.seq and r.account_id <> m.author_id) as read_count, \
     m.ack_requested, m.ack_due_at, \
     case when m.ack_requested = 1 then (select count(*) from message_ack k \
      where k.message_id = m.message_id) else 0 end as ack_count, \
     m.edited_at, m.withdrawn_at";

/// What a row shows one reader (`$R`) besides: whether they acknowledged it.
const READER_COLUMNS: &str = "case when m.ack_requested = 1 then (select count(*) \
     from message_ack k where k.message_id = m.message_id and k.account_id = $R) else 0 end \
     as acked_by_me";

/// Who acknowledged a message that asks for it, for pages kept for every reader.
fn ackers(db: &Db) -> &'static str {
    match db.backend {
        Backend::Sqlite => {
            "case when m.ack_requested = 1 then (select group_concat(k.account_id, ',') \
             from message_ack k where k.message_id = m.message_id) end as ackers"
        }
        Backend::Postgres => {
            "case when m.ack_requested = 1 then (select string_agg(k.account_id, ',') \
             from message_ack k where k.message_id = m.message_id) end as ackers"
        }
    }
}

const FROM: &str = "from message m join account a on a.account_id = m.author_id \
     left join attachment f on f.message_id = m.message_id \
     left join guest g on g.account_id = m.author_id \
     left join clerk c on c.account_id = m.author_id \
     left join department d on d.department_id = c.department_id";

/// Up to `limit` messages of a channel as every reader sees them, oldest first: the newest
/// ones, or with `before` (a message id) the ones just older than it. The extra row fetched
/// says whether older ones exist. What depends on the reader is worked out by `messages::page`.
pub async fn recent(
    db: &Db,
    channel_id: &str,
    limit: i64,
    before: Option<&str>,
) -> Result<(Vec<Message>, bool), sqlx::Error> {
    let sql = format!(
        "select {COLUMNS}, {} {FROM} where m.channel_id = $1 \
         and ($3 is null or m.seq < (select b.seq from message b where b.message_id = $3 \
              and b.channel_id = $1)) \
         order by m.seq desc limit $2",
        ackers(db)
    );
    let mut rows = sqlx::query_as::<_, Message>(&sql)
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

/// The channel's version and `reader`'s read mark in it; `None` if there is no such channel.
pub async fn seen(
    db: &Db,
    channel_id: &str,
    reader: &str,
) -> Result<Option<super::Seen>, sqlx::Error> {
    let row: Option<(i64, Option<i64>)> = sqlx::query_as(
        "select c.version, (select max(cr.last_seq) from channel_read cr \
         where cr.channel_id = c.channel_id and cr.account_id = $2) \
         from channel c where c.channel_id = $1",
    )
    .bind(channel_id)
    .bind(reader)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(version, mark)| super::Seen { version, mark }))
}

/// One message of a channel as `reader` sees it.
pub async fn one(
    db: &Db,
    channel_id: &str,
    message_id: &str,
    reader: &str,
) -> Result<Option<Message>, sqlx::Error> {
    let sql = format!(
        "select {COLUMNS}, {} {FROM} where m.channel_id = $1 and m.message_id = $2",
        READER_COLUMNS.replace("$R", "$3")
    );
    sqlx::query_as::<_, Message>(&sql)
        .bind(channel_id)
        .bind(message_id)
        .bind(reader)
        .fetch_optional(&db.pool)
        .await
}

/// Marks as read, for `reader`, every message of the channel up to `newest`: one row, the
/// reader's new high-water mark with its time, as a statement for the write path's next batch.
/// A message is read by everyone whose mark is at or past it, and was read when the first such
/// mark was set. Reading out of order or from two devices never lowers the mark nor writes twice.
pub fn mark_read(channel_id: &str, reader: &str, newest: i64, now: Timestamp) -> Vec<Statement> {
    vec![
        Statement::new(
            "insert into channel_read (channel_id, account_id, last_seq, read_at) \
             select $1, $2, $3, $4 where not exists (select 1 from channel_read \
             where channel_id = $1 and account_id = $2 and last_seq >= $3) \
             on conflict do nothing",
        )
        .text(channel_id)
        .text(reader)
        .int(newest)
        .int(now),
    ]
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
    /// Whether `reader` has acknowledged this message.
    pub fn acked_by(&self, reader: &str) -> bool {
        self.ackers
            .as_deref()
            .is_some_and(|ids| ids.split(',').any(|id| id == reader))
    }

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

/// A member of a channel as a message's 既読 and 確認 lists show them.
#[derive(Clone, Debug, FromRow)]
pub struct Member {
    pub account_id: String,
    pub name: String,
    pub kind: String,
    pub organisation: Option<String>,
    pub department_name: Option<String>,
    pub email: Option<String>,
    pub read_at: Option<i64>,
    pub acked_at: Option<i64>,
    /// 1 while the member's access to the channel is open: only they are reminded (D9).
    pub live: i64,
}

/// Everyone a message is for — the channel's live guests and the clerks of its department —
/// and anyone else who has read or acknowledged it, except its author; with when they read and
/// acknowledged it.
pub async fn members(
    db: &Db,
    channel_id: &str,
    message_id: &str,
    author_id: &str,
) -> Result<Vec<Member>, sqlx::Error> {
    sqlx::query_as::<_, Member>(concat!(
        "select a.account_id, a.name, a.kind, g.organisation, d.name as department_name, \
         case when a.kind = 'clerk' then a.email when g.has_email = 1 then g.sign_in_name end \
         as email, \
         r.read_at, k.acked_at, \
         case when (g.channel_id = $1 and a.status in ",
        crate::live_statuses!(),
        ") or (c.department_id = (select ch.department_id from channel ch \
         where ch.channel_id = $1) and a.status = 'active') then 1 else 0 end as live \
         from account a \
         left join guest g on g.account_id = a.account_id \
         left join clerk c on c.account_id = a.account_id \
         left join department d on d.department_id = c.department_id \
         left join (select cr.account_id, min(cr.read_at) as read_at from channel_read cr \
          where cr.channel_id = $1 and cr.last_seq >= (select seq from message \
          where message_id = $2) group by cr.account_id) r on r.account_id = a.account_id \
         left join message_ack k on k.message_id = $2 and k.account_id = a.account_id \
         where a.account_id <> $3 and ((g.channel_id = $1 and a.status in ",
        crate::live_statuses!(),
        ") or (c.department_id = (select ch.department_id from channel ch \
         where ch.channel_id = $1) and a.status = 'active') \
         or r.read_at is not null or k.acked_at is not null) \
         order by a.kind, a.name, a.account_id"
    ))
    .bind(channel_id)
    .bind(message_id)
    .bind(author_id)
    .fetch_all(&db.pool)
    .await
}

/// Corrects a message's text, or withdraws it (its text emptied), if it is still its author's
/// to change; false otherwise.
/// Only through the message's own channel, and only while that channel is active (D8).
pub async fn change(
    conn: &mut AnyConnection,
    channel_id: &str,
    message_id: &str,
    author_id: &str,
    body: Option<&str>,
    now: Timestamp,
    not_before: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = match body {
        Some(body) => {
            sqlx::query(concat!(
                "update message set body = $1, edited_at = $2 where message_id = $3 \
                 and author_id = $4 and created_at >= $5 and withdrawn_at is null \
                 and channel_id = $6 and ",
                active_channel!("$6")
            ))
            .bind(body)
            .bind(now)
            .bind(message_id)
            .bind(author_id)
            .bind(not_before)
            .bind(channel_id)
            .execute(conn)
            .await?
        }
        None => {
            sqlx::query(concat!(
                "update message set body = '', withdrawn_at = $1 where message_id = $2 \
                 and author_id = $3 and created_at >= $4 and withdrawn_at is null \
                 and channel_id = $5 and ",
                active_channel!("$5")
            ))
            .bind(now)
            .bind(message_id)
            .bind(author_id)
            .bind(not_before)
            .bind(channel_id)
            .execute(conn)
            .await?
        }
    };
    Ok(done.rows_affected() == 1)
}

/// The file a withdrawn message carried, now gone from the channel.
#[derive(Clone, Debug, FromRow)]
pub struct TakenFile {
    pub file_id: String,
    pub name: String,
    pub size: i64,
    pub sha256: String,
}

/// Takes a message's file out of its channel (F5): the row goes, and its size goes back to the
/// channel's quota. The caller deletes the bytes once this commits.
pub async fn take_file(
    conn: &mut AnyConnection,
    channel_id: &str,
    message_id: &str,
) -> Result<Option<TakenFile>, sqlx::Error> {
    let file = sqlx::query_as::<_, TakenFile>(
        "select file_id, name, size, sha256 from attachment \
         where message_id = $1 and channel_id = $2",
    )
    .bind(message_id)
    .bind(channel_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(f) = &file {
        sqlx::query("delete from attachment where file_id = $1")
            .bind(&f.file_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("update channel_quota set used_bytes = used_bytes - $1 where channel_id = $2")
            .bind(f.size)
            .bind(channel_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(file)
}

/// Whether a channel still takes changes (D8): active, not ended.
pub async fn channel_active(db: &Db, channel_id: &str) -> Result<bool, sqlx::Error> {
    let active: Option<i64> = sqlx::query_scalar(concat!("select 1 where ", active_channel!("$1")))
        .bind(channel_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(active.is_some())
}

/// A channel with how many messages in it this reader has not seen.
#[derive(Clone, Debug, FromRow)]
pub struct Unread {
    pub channel_id: String,
    pub name: String,
    pub unread: i64,
}

/// The active channels of a department (all of them for `None`, an administrator) with their
/// unread counts for `reader`, those with something new first.
pub async fn unread_counts(
    db: &Db,
    reader: &str,
    department_id: Option<&str>,
) -> Result<Vec<Unread>, sqlx::Error> {
    sqlx::query_as::<_, Unread>(
        "select ch.channel_id, ch.name, (select count(*) from message m \
         where m.channel_id = ch.channel_id and m.author_id <> $1 and m.seq > \
         coalesce((select max(cr.last_seq) from channel_read cr where cr.channel_id = ch.channel_id \
         and cr.account_id = $1), 0)) as unread from channel ch \
         where ch.status = 'active' and ($2 is null or ch.department_id = $2) \
         order by unread desc, ch.name limit 200",
    )
    .bind(reader)
    .bind(department_id)
    .fetch_all(&db.pool)
    .await
}

/// A message found by a search, newest first.
#[derive(Clone, Debug, FromRow)]
pub struct Found {
    pub message_id: String,
    pub author_name: String,
    pub body: String,
    pub file_name: Option<String>,
    pub created_at: i64,
}

/// Messages of a channel whose text or file name holds `term` (any case), newest first; at
/// most `limit`. Withdrawn messages are not found.
pub async fn search(
    db: &Db,
    channel_id: &str,
    term: &str,
    limit: i64,
) -> Result<Vec<Found>, sqlx::Error> {
    let escaped: String = term
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '%' | '_' | '\\'))
        .collect();
    let pattern = format!("%{escaped}%");
    sqlx::query_as::<_, Found>(
        "select m.message_id, a.name as author_name, m.body, f.name as file_name, m.created_at \
         from message m join account a on a.account_id = m.author_id \
         left join attachment f on f.message_id = m.message_id \
         where m.channel_id = $1 and m.withdrawn_at is null \
         and (lower(m.body) like $2 or lower(f.name) like $2) \
         order by m.seq desc limit $3",
    )
    .bind(channel_id)
    .bind(pattern)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}
