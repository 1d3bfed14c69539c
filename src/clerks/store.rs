//! Departments and clerks: their rows and the SQL that reads and writes them.

use sqlx::{AnyConnection, FromRow};

use crate::accounts::{Role, Status};
use crate::clock::Timestamp;
use crate::db::{Db, new_id};

#[derive(Clone, Debug, FromRow)]
pub struct ClerkRow {
    pub account_id: String,
    pub email: String,
    pub name: String,
    pub status: Status,
    pub role: Role,
    pub department_id: Option<String>,
    pub department_name: Option<String>,
    pub created_at: i64,
}

#[derive(Clone, Debug, FromRow)]
pub struct Department {
    pub department_id: String,
    pub name: String,
    pub created_at: i64,
}

pub async fn admin_exists(db: &Db) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "select count(*) from clerk c join account a on a.account_id = c.account_id \
         where c.role = 'admin' and a.status = 'active'",
    )
    .fetch_one(&db.pool)
    .await?;
    Ok(n > 0)
}

pub struct NewClerk<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub department_id: Option<&'a str>,
    pub status: Status,
}

pub async fn insert_clerk(
    conn: &mut AnyConnection,
    clerk: &NewClerk<'_>,
    now: Timestamp,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "insert into account (account_id, kind, email, name, status, created_at) \
         values ($1, 'clerk', $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(clerk.email)
    .bind(clerk.name)
    .bind(clerk.status)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("insert into clerk (account_id, department_id, role) values ($1, $2, $3)")
        .bind(&id)
        .bind(clerk.department_id)
        .bind(clerk.role)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

pub async fn clerks(db: &Db) -> Result<Vec<ClerkRow>, sqlx::Error> {
    sqlx::query_as::<_, ClerkRow>(
        "select a.account_id, a.email, a.name, a.status, c.role, c.department_id, \
         d.name as department_name, a.created_at \
         from clerk c join account a on a.account_id = c.account_id \
         left join department d on d.department_id = c.department_id \
         order by lower(a.name), a.email",
    )
    .fetch_all(&db.pool)
    .await
}

pub async fn clerk(conn: &mut AnyConnection, id: &str) -> Result<Option<ClerkRow>, sqlx::Error> {
    sqlx::query_as::<_, ClerkRow>(
        "select a.account_id, a.email, a.name, a.status, c.role, c.department_id, \
         d.name as department_name, a.created_at \
         from clerk c join account a on a.account_id = c.account_id \
         left join department d on d.department_id = c.department_id \
         where a.account_id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn departments(db: &Db) -> Result<Vec<Department>, sqlx::Error> {
    sqlx::query_as::<_, Department>(
        "select department_id, name, created_at from department order by name",
    )
    .fetch_all(&db.pool)
    .await
}

pub async fn department_by_name(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<Department>, sqlx::Error> {
    sqlx::query_as::<_, Department>(
        "select department_id, name, created_at from department where name = $1",
    )
    .bind(name)
    .fetch_optional(conn)
    .await
}

pub async fn department_exists(conn: &mut AnyConnection, id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("select count(*) from department where department_id = $1")
        .bind(id)
        .fetch_one(conn)
        .await?;
    Ok(n == 1)
}

pub async fn insert_department(
    conn: &mut AnyConnection,
    name: &str,
    now: Timestamp,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    sqlx::query("insert into department (department_id, name, created_at) values ($1, $2, $3)")
        .bind(&id)
        .bind(name)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(id)
}

/// The guests' unanswered extension requests for a sponsor: guest id, name, organisation.
pub async fn open_requests_for_sponsor(
    db: &Db,
    sponsor_id: &str,
) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "select a.account_id, a.name, g.organisation from extension_request r \
         join guest g on g.account_id = r.account_id join account a on a.account_id = g.account_id \
         where g.sponsor_id = $1 and r.decided_at is null order by r.created_at",
    )
    .bind(sponsor_id)
    .fetch_all(&db.pool)
    .await
}

/// Whether an active admin exists, inside a transaction (the first-admin link's last check).
pub async fn active_admin_exists(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "select count(*) from clerk c join account a on a.account_id = c.account_id \
         where c.role = 'admin' and a.status = 'active'",
    )
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}
