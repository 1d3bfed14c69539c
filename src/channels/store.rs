//! Project channels (案件): each belongs to one department and has a required end.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, FromRow, Row};

use crate::accounts::logins::{LoginRow, OPEN_COLUMNS, OPEN_FROM};

use crate::clock::Timestamp;
use crate::db::{Db, new_id};

const COLUMNS: &str = concat!(
    "c.channel_id, c.department_id, d.name as department_name, c.name, c.purpose, \
     c.ends_at, c.status, c.created_at, c.archived_at, c.guests_version, \
     (select cast(coalesce(sum(t.n), 0) as bigint) from guest_tally t \
      where t.channel_id = c.channel_id and t.status in ",
    crate::live_statuses!(),
    ") as live_guests"
);

crate::vocab::text_enum!(
    /// A channel is active until a clerk archives it.
    Status, "channel status" { Active = "active", Archived = "archived" }
);

#[derive(Clone, Debug, FromRow)]
pub struct Channel {
    pub channel_id: String,
    pub department_id: String,
    pub department_name: String,
    pub name: String,
    pub purpose: String,
    pub ends_at: i64,
    pub status: Status,
    pub created_at: i64,
    pub archived_at: Option<i64>,
    pub live_guests: i64,
    /// The version of the channel's guest lists (migration 0017), read with the channel.
    pub guests_version: i64,
}

impl Channel {
    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Channel>, sqlx::Error> {
    sqlx::query_as::<_, Channel>(&format!(
        "select {COLUMNS} from channel c join department d on d.department_id = c.department_id \
         where c.channel_id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// A channel with its conversation's version and a reader's read mark in it, read together for
/// the channel page (the conversation uses them as `messages::Seen`).
#[derive(Debug, FromRow)]
pub struct Viewed {
    #[sqlx(flatten)]
    pub channel: Channel,
    pub version: i64,
    pub read_mark: Option<i64>,
}

/// An open login and, if it exists, the channel a request names with its conversation's version
/// and the login's account's read mark in it: the clerk's channel page reads both in one query.
#[derive(Debug)]
pub struct LoginViewing {
    pub login: LoginRow,
    pub viewed: Option<Viewed>,
}

impl<'r> FromRow<'r, AnyRow> for LoginViewing {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        let login = LoginRow::from_row(row)?;
        let found: Option<String> = row.try_get("channel_id")?;
        let viewed = found.map(|_| Viewed::from_row(row)).transpose()?;
        Ok(Self { login, viewed })
    }
}

pub async fn get_login_viewing(
    conn: &mut AnyConnection,
    login_id: &str,
    channel_id: &str,
) -> Result<Option<LoginViewing>, sqlx::Error> {
    // Every view of the clerk's channel page runs this: its text is put together once.
    static TEXT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "select {OPEN_COLUMNS}, {COLUMNS}, c.version, (select max(cr.last_seq) from channel_read cr \
             where cr.channel_id = c.channel_id and cr.account_id = l.account_id) as read_mark \
             {OPEN_FROM} left join channel c on c.channel_id = $2 \
             left join department d on d.department_id = c.department_id \
             where l.login_id = $1 and l.ended_at is null"
        )
    });
    sqlx::query_as::<_, LoginViewing>(&TEXT)
        .bind(login_id)
        .bind(channel_id)
        .fetch_optional(conn)
        .await
}

/// Channels a clerk may see: their department's, or every one for an admin (`None`).
pub async fn list(db: &Db, department: Option<&str>) -> Result<Vec<Channel>, sqlx::Error> {
    sqlx::query_as::<_, Channel>(&format!(
        "select {COLUMNS} from channel c join department d on d.department_id = c.department_id \
         where ($1 = '' or c.department_id = $1) order by c.status, c.ends_at, c.name"
    ))
    .bind(department.unwrap_or(""))
    .fetch_all(&db.pool)
    .await
}

pub struct NewChannel<'a> {
    pub department_id: &'a str,
    pub name: &'a str,
    pub purpose: &'a str,
    pub ends_at: Timestamp,
    pub created_by: &'a str,
}

pub async fn insert(
    conn: &mut AnyConnection,
    c: &NewChannel<'_>,
    now: Timestamp,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "insert into channel (channel_id, department_id, name, purpose, ends_at, status, \
         created_by, created_at) values ($1, $2, $3, $4, $5, 'active', $6, $7)",
    )
    .bind(&id)
    .bind(c.department_id)
    .bind(c.name)
    .bind(c.purpose)
    .bind(c.ends_at)
    .bind(c.created_by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn update(
    conn: &mut AnyConnection,
    id: &str,
    name: &str,
    purpose: &str,
    ends_at: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update channel set name = $1, purpose = $2, ends_at = $3 where channel_id = $4 \
         and status = 'active'",
    )
    .bind(name)
    .bind(purpose)
    .bind(ends_at)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn archive(
    conn: &mut AnyConnection,
    id: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "update channel set status = 'archived', archived_at = $1 where channel_id = $2 \
         and status = 'active'",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
