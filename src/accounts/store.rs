//! Accounts (anything that signs in), clerks and departments.

use sqlx::{AnyConnection, FromRow};

use crate::accounts::{Kind, Status};

use crate::clock::Timestamp;
use crate::db::Db;

const ACCOUNT_COLUMNS: &str = "account_id, kind, email, name, status, password_hash, totp_secret, \
     totp_last_step, totp_failures, totp_locked_until, password_failures, password_locked_until, \
     created_at";

#[derive(Clone, Debug, FromRow)]
pub struct Account {
    pub account_id: String,
    pub kind: Kind,
    pub email: String,
    pub name: String,
    pub status: Status,
    pub password_hash: Option<String>,
    pub totp_secret: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub totp_failures: i64,
    pub totp_locked_until: i64,
    pub password_failures: i64,
    pub password_locked_until: i64,
    pub created_at: i64,
}

pub async fn by_email(db: &Db, email: &str) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as::<_, Account>(&format!(
        "select {ACCOUNT_COLUMNS} from account where email = $1"
    ))
    .bind(email)
    .fetch_optional(&db.pool)
    .await
}

/// Every guest account with this sign-in name, newest first (D7: one person may hold one in
/// each of several channels). Bounded: nobody is a guest of more channels than this at once.
pub async fn guests_by_sign_in_name(db: &Db, name: &str) -> Result<Vec<Account>, sqlx::Error> {
    sqlx::query_as::<_, Account>(&format!(
        "select {ACCOUNT_COLUMNS} from account where account_id in \
         (select account_id from guest where sign_in_name = $1) \
         order by created_at desc limit 20"
    ))
    .bind(name)
    .fetch_all(&db.pool)
    .await
}

pub async fn by_id(conn: &mut AnyConnection, id: &str) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as::<_, Account>(&format!(
        "select {ACCOUNT_COLUMNS} from account where account_id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn set_status(
    conn: &mut AnyConnection,
    id: &str,
    status: Status,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("update account set status = $1 where account_id = $2")
        .bind(status)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Stores the credentials chosen at enrolment and marks the account active. The confirming
/// code's step becomes the last accepted step, so it cannot be replayed at sign-in (A10).
pub async fn complete_enrolment(
    conn: &mut AnyConnection,
    id: &str,
    password_hash: &str,
    encrypted_secret: &[u8],
    confirmed_step: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update account set password_hash = $1, totp_secret = $2, totp_last_step = $3, \
         status = 'active', totp_failures = 0, totp_locked_until = 0, password_failures = 0, \
         password_locked_until = 0 where account_id = $4",
    )
    .bind(password_hash)
    .bind(encrypted_secret)
    .bind(confirmed_step)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The replay guard (B3): succeeds only if `step` is later than every step accepted before.
/// With `unlocked_at`, the lockout is part of the same condition, so requests racing past an
/// earlier check of it cannot win once the account is locked (B5). Without it, the attempt was
/// claimed first (`claim_totp_attempt`), which passed the lockout and may itself have set it.
pub async fn accept_totp_step(
    conn: &mut AnyConnection,
    id: &str,
    step: i64,
    unlocked_at: Option<Timestamp>,
) -> Result<bool, sqlx::Error> {
    const ACCEPT: &str = "update account set totp_last_step = $1, totp_failures = 0, \
         totp_locked_until = 0 where account_id = $2 \
         and (totp_last_step is null or totp_last_step < $1) and status = 'active'";
    let r = match unlocked_at {
        Some(now) => {
            sqlx::query(&format!("{ACCEPT} and totp_locked_until <= $3"))
                .bind(step)
                .bind(id)
                .bind(now)
                .execute(conn)
                .await?
        }
        None => {
            sqlx::query(ACCEPT)
                .bind(step)
                .bind(id)
                .execute(conn)
                .await?
        }
    };
    Ok(r.rows_affected() == 1)
}

/// Claims one TOTP attempt: counts it as a failure before the code is checked (a correct code
/// then clears the count), and returns the new count — or `None` when the factor is locked or
/// the account not active, in which case the attempt must not be evaluated (B5). The row
/// update serialises racing attempts on both engines.
pub async fn claim_totp_attempt(
    conn: &mut AnyConnection,
    id: &str,
    now: Timestamp,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "update account set totp_failures = totp_failures + 1 \
         where account_id = $1 and status = 'active' and totp_locked_until <= $2 \
         returning totp_failures",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Counts one failure of a factor and returns the new count; the caller decides the lockout.
pub async fn record_failure(
    conn: &mut AnyConnection,
    id: &str,
    factor: Factor,
) -> Result<i64, sqlx::Error> {
    let sql = match factor {
        Factor::Password => {
            "update account set password_failures = password_failures + 1 where account_id = $1 \
             returning password_failures"
        }
        Factor::Totp => {
            "update account set totp_failures = totp_failures + 1 where account_id = $1 \
             returning totp_failures"
        }
    };
    sqlx::query_scalar(sql).bind(id).fetch_one(conn).await
}

pub async fn lock_until(
    conn: &mut AnyConnection,
    id: &str,
    factor: Factor,
    until: Timestamp,
) -> Result<(), sqlx::Error> {
    let sql = match factor {
        Factor::Password => "update account set password_locked_until = $1 where account_id = $2",
        Factor::Totp => "update account set totp_locked_until = $1 where account_id = $2",
    };
    sqlx::query(sql).bind(until).bind(id).execute(conn).await?;
    Ok(())
}

pub async fn reset_password_failures(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update account set password_failures = 0, password_locked_until = 0 where account_id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Clears every counter and lock after a clerk has checked the person (B5).
pub async fn unlock(conn: &mut AnyConnection, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update account set status = 'active', totp_failures = 0, totp_locked_until = 0, \
         password_failures = 0, password_locked_until = 0 where account_id = $1 and status = 'locked'",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    Password,
    Totp,
}

/// Clears the code failures after a recovery code let the owner in (B9).
pub async fn clear_totp_failures(conn: &mut AnyConnection, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update account set totp_failures = 0, totp_locked_until = 0 where account_id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_password(
    conn: &mut AnyConnection,
    id: &str,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update account set password_hash = $1 where account_id = $2")
        .bind(password_hash)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A new sealed TOTP secret, with the step its confirming code used (B3).
pub async fn set_totp(
    conn: &mut AnyConnection,
    id: &str,
    sealed: &[u8],
    step: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update account set totp_secret = $1, totp_last_step = $2 where account_id = $3")
        .bind(sealed)
        .bind(step)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
