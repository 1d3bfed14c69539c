//! The SQL of 確認依頼: asking for acknowledgement, acknowledging, reminding, and the requests
//! still open.

use sqlx::{AnyConnection, FromRow};

use crate::clock::Timestamp;
use crate::db::Db;

/// Records an acknowledgement; false if this member had already acknowledged it.
pub async fn acknowledge(
    conn: &mut AnyConnection,
    message_id: &str,
    account_id: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(concat!(
        "insert into message_ack (message_id, account_id, acked_at) \
         select m.message_id, $2, $3 from message m where m.message_id = $1 and ",
        active_channel!("m.channel_id"),
        " on conflict do nothing"
    ))
    .bind(message_id)
    .bind(account_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Asks members to acknowledge a message, optionally by a date.
pub async fn request_ack(
    conn: &mut AnyConnection,
    message_id: &str,
    due: Option<Timestamp>,
) -> Result<(), sqlx::Error> {
    sqlx::query("update message set ack_requested = 1, ack_due_at = $1 where message_id = $2")
        .bind(due)
        .bind(message_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes the message's reminder turn (D9): true, and the time kept, if no reminder went out
/// for it in the last `every` seconds.
pub async fn take_reminder_turn(
    conn: &mut AnyConnection,
    channel_id: &str,
    message_id: &str,
    now: Timestamp,
    every: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(concat!(
        "update message set ack_reminded_at = $1 where message_id = $2 and channel_id = $3 \
         and (ack_reminded_at is null or ack_reminded_at <= $4) and ",
        active_channel!("$3")
    ))
    .bind(now)
    .bind(message_id)
    .bind(channel_id)
    .bind(now - every)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Open 確認依頼 a clerk's department has asked for: messages still awaiting someone's
/// acknowledgement, with how many have acknowledged, newest first.
#[derive(Clone, Debug, FromRow)]
pub struct OpenRequest {
    pub message_id: String,
    pub channel_id: String,
    pub channel_name: String,
    pub body: String,
    pub created_at: i64,
    pub ack_due_at: Option<i64>,
    pub ack_count: i64,
}

pub async fn open_requests(db: &Db, author_id: &str) -> Result<Vec<OpenRequest>, sqlx::Error> {
    sqlx::query_as::<_, OpenRequest>(
        "select m.message_id, m.channel_id, ch.name as channel_name, m.body, m.created_at, \
         m.ack_due_at, (select count(*) from message_ack k where k.message_id = m.message_id) \
         as ack_count from message m join channel ch on ch.channel_id = m.channel_id \
         where m.author_id = $1 and m.ack_requested = 1 and m.withdrawn_at is null \
         and ch.status = 'active' order by m.seq desc limit 50",
    )
    .bind(author_id)
    .fetch_all(&db.pool)
    .await
}
