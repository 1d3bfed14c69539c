//! Completed sign-ins. The cookie session only names a login; every request re-reads the login
//! and its account (status, idle and absolute limits), so ending a login needs no cache flush.

use crate::accounts::{Kind, Role, Status};
use sqlx::{AnyConnection, FromRow};

use crate::audit::writer::Statement;
use crate::clock::Timestamp;
use crate::db::{Db, new_id};

/// An open login's columns (`OPEN_FROM`), named so that they can be read beside another
/// table's in one query (the clerk's channel page reads its channel with them).
pub const OPEN_COLUMNS: &str = "l.login_id, l.created_at as login_created_at, l.last_seen_at, \
     a.account_id, a.kind, a.name as account_name, a.email, a.status as account_status, \
     lc.role, lc.department_id as clerk_department_id, ld.name as clerk_department_name, \
     l.session_rev";

/// The tables of `OPEN_COLUMNS`: the login, its account and, for a clerk, their department.
pub const OPEN_FROM: &str = "from login l join account a on a.account_id = l.account_id \
     left join clerk lc on lc.account_id = a.account_id \
     left join department ld on ld.department_id = lc.department_id";

#[derive(Clone, Debug, FromRow)]
pub struct LoginRow {
    pub login_id: String,
    #[sqlx(rename = "login_created_at")]
    pub created_at: i64,
    pub last_seen_at: i64,
    pub account_id: String,
    pub kind: Kind,
    #[sqlx(rename = "account_name")]
    pub name: String,
    pub email: String,
    #[sqlx(rename = "account_status")]
    pub status: Status,
    pub role: Option<Role>,
    #[sqlx(rename = "clerk_department_id")]
    pub department_id: Option<String>,
    #[sqlx(rename = "clerk_department_name")]
    pub department_name: Option<String>,
    /// Raised with every write of the session record that names this login (migration 0019).
    pub session_rev: i64,
}

pub async fn insert(
    conn: &mut AnyConnection,
    account_id: &str,
    now: Timestamp,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "insert into login (login_id, account_id, created_at, last_seen_at) values ($1, $2, $3, $3)",
    )
    .bind(&id)
    .bind(account_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn open(db: &Db, login_id: &str) -> Result<Option<LoginRow>, sqlx::Error> {
    let mut conn = db.reader().await?;
    // Every guarded request runs this: its text is put together once, not per request.
    static OPEN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("select {OPEN_COLUMNS} {OPEN_FROM} where l.login_id = $1 and l.ended_at is null")
    });
    let row = sqlx::query_as::<_, LoginRow>(&OPEN)
        .bind(login_id)
        .fetch_optional(&mut *conn)
        .await?;
    conn.done();
    Ok(row)
}

/// Marks the login as seen, as a statement for the write path's next batch.
pub fn touch(login_id: &str, now: Timestamp) -> Statement {
    Statement::new(
        "update login set last_seen_at = $1 where login_id = $2 and ended_at is null \
         and last_seen_at < $3",
    )
    .int(now)
    .text(login_id)
    .int(now - 60)
}

/// Ends one login; returns whether it was still open.
pub async fn end(
    conn: &mut AnyConnection,
    login_id: &str,
    reason: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "update login set ended_at = $1, end_reason = $2 where login_id = $3 and ended_at is null",
    )
    .bind(now)
    .bind(reason)
    .bind(login_id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Ends every open login of an account, except `keep`; returns how many ended.
pub async fn end_all(
    conn: &mut AnyConnection,
    account_id: &str,
    keep: Option<&str>,
    reason: &str,
    now: Timestamp,
) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "update login set ended_at = $1, end_reason = $2 \
         where account_id = $3 and ended_at is null and login_id <> $4",
    )
    .bind(now)
    .bind(reason)
    .bind(account_id)
    .bind(keep.unwrap_or(""))
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// How many open logins an account has.
pub async fn open_count(db: &Db, account_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from login where account_id = $1 and ended_at is null")
        .bind(account_id)
        .fetch_one(&db.pool)
        .await
}

/// How many open logins an account has besides `login_id`.
pub async fn other_open_count(
    db: &Db,
    account_id: &str,
    login_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from login where account_id = $1 and ended_at is null and login_id <> $2",
    )
    .bind(account_id)
    .bind(login_id)
    .fetch_one(&db.pool)
    .await
}

/// The account and the reason of a login that has been ended, if it has.
pub async fn ended(db: &Db, login_id: &str) -> Result<Option<(String, String)>, sqlx::Error> {
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "select account_id, end_reason from login where login_id = $1 and ended_at is not null",
    )
    .bind(login_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(a, r)| (a, r.unwrap_or_default())))
}
