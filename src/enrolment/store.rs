//! One-time links (first-admin setup, clerk setup, later guest invitations). Only the SHA-256 of
//! a token is stored; using one is a single conditional UPDATE, so two racing uses cannot both win.

use super::Purpose;
use sqlx::{AnyConnection, FromRow};

use crate::clock::Timestamp;
use crate::db::{Db, new_id};

#[derive(Clone, Debug, FromRow)]
pub struct Invitation {
    pub invitation_id: String,
    pub purpose: Purpose,
    pub account_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub opened_at: Option<i64>,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub struct NewInvitation<'a> {
    pub token_hash: &'a str,
    pub purpose: Purpose,
    pub account_id: Option<&'a str>,
    pub created_by: Option<&'a str>,
    pub expires_at: Timestamp,
}

/// Stores a new link and revokes every earlier unused one for the same account (or, for the
/// first-admin link, every earlier first-admin link): re-issuing kills the old token.
pub async fn insert(
    conn: &mut AnyConnection,
    inv: &NewInvitation<'_>,
    now: Timestamp,
) -> Result<String, sqlx::Error> {
    match inv.account_id {
        Some(account) => {
            sqlx::query(
                "update invitation set revoked_at = $1 where account_id = $2 \
                 and used_at is null and revoked_at is null",
            )
            .bind(now)
            .bind(account)
            .execute(&mut *conn)
            .await?;
        }
        None => {
            sqlx::query(
                "update invitation set revoked_at = $1 where purpose = $2 \
                 and used_at is null and revoked_at is null",
            )
            .bind(now)
            .bind(inv.purpose)
            .execute(&mut *conn)
            .await?;
        }
    }
    let id = new_id();
    sqlx::query(
        "insert into invitation (invitation_id, token_hash, purpose, account_id, created_by, \
         created_at, expires_at) values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(inv.token_hash)
    .bind(inv.purpose)
    .bind(inv.account_id)
    .bind(inv.created_by)
    .bind(now)
    .bind(inv.expires_at)
    .execute(conn)
    .await?;
    Ok(id)
}

/// A link that can still be used at `now`: not used, not revoked, not expired.
pub async fn usable(
    db: &Db,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<Invitation>, sqlx::Error> {
    sqlx::query_as::<_, Invitation>(
        "select invitation_id, purpose, account_id, created_at, expires_at, opened_at, used_at, \
         revoked_at from invitation where token_hash = $1 and used_at is null \
         and revoked_at is null and expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&db.pool)
    .await
}

/// Records the first opening (never consumes the link).
pub async fn mark_opened(
    conn: &mut AnyConnection,
    id: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "update invitation set opened_at = $1 where invitation_id = $2 and opened_at is null",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Uses the link up; exactly one caller gets `true` (A2).
pub async fn consume(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<Invitation>, sqlx::Error> {
    sqlx::query_as::<_, Invitation>(
        "update invitation set used_at = $1 where token_hash = $2 and used_at is null \
         and revoked_at is null and expires_at > $1 \
         returning invitation_id, purpose, account_id, created_at, expires_at, opened_at, \
         used_at, revoked_at",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}
