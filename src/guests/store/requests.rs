//! Recovery codes and extension requests.

use sqlx::{AnyConnection, FromRow};

use crate::clock::Timestamp;
use crate::db::{Db, new_id};

pub async fn store_recovery_codes(
    conn: &mut AnyConnection,
    id: &str,
    hashes: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from recovery_code where account_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for h in hashes {
        sqlx::query("insert into recovery_code (account_id, code_hash, keyed) values ($1, $2, 1)")
            .bind(id)
            .bind(h)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Uses up one recovery code; true exactly once per code.
pub async fn use_recovery_code(
    conn: &mut AnyConnection,
    id: &str,
    hash: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "update recovery_code set used_at = $1 where account_id = $2 and code_hash = $3 \
         and keyed = 1 and used_at is null and exists (select 1 from account a \
         where a.account_id = $2 and a.status = 'active')",
    )
    .bind(now)
    .bind(id)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Seals recovery codes stored before keyed hashing (plain SHA-256) with the server's key (B9):
/// their digest is replaced by its HMAC, so the codes people hold keep working. Runs at start.
pub async fn seal_legacy_recovery_codes(
    db: &Db,
    secrets: &crate::auth::totp::SecretBox,
) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let legacy: Vec<(String, String)> =
        sqlx::query_as("select account_id, code_hash from recovery_code where keyed = 0")
            .fetch_all(&mut **tx)
            .await?;
    for (account_id, digest) in &legacy {
        sqlx::query(
            "update recovery_code set code_hash = $1, keyed = 1 \
             where account_id = $2 and code_hash = $3 and keyed = 0",
        )
        .bind(secrets.recovery_hash(digest))
        .bind(account_id)
        .bind(digest)
        .execute(&mut **tx)
        .await?;
    }
    tx.commit().await?;
    Ok(legacy.len() as u64)
}

pub async fn recovery_codes_left(db: &Db, id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from recovery_code where account_id = $1 and used_at is null",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
}

#[derive(Clone, Debug, FromRow)]
pub struct ExtensionRequest {
    pub extension_request_id: String,
    pub account_id: String,
    pub message: String,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    pub decision: Option<String>,
    pub decision_reason: Option<String>,
    pub new_expires_at: Option<i64>,
}

const REQUEST_COLUMNS: &str = "extension_request_id, account_id, message, created_at, decided_at, \
     decision, decision_reason, new_expires_at";

pub async fn requests(db: &Db, id: &str) -> Result<Vec<ExtensionRequest>, sqlx::Error> {
    sqlx::query_as::<_, ExtensionRequest>(&format!(
        "select {REQUEST_COLUMNS} from extension_request where account_id = $1 \
         order by created_at desc"
    ))
    .bind(id)
    .fetch_all(&db.pool)
    .await
}

pub async fn request(
    conn: &mut AnyConnection,
    request_id: &str,
) -> Result<Option<ExtensionRequest>, sqlx::Error> {
    sqlx::query_as::<_, ExtensionRequest>(&format!(
        "select {REQUEST_COLUMNS} from extension_request where extension_request_id = $1"
    ))
    .bind(request_id)
    .fetch_optional(conn)
    .await
}

pub async fn insert_request(
    conn: &mut AnyConnection,
    id: &str,
    message: &str,
    now: Timestamp,
) -> Result<String, sqlx::Error> {
    let rid = new_id();
    sqlx::query(
        "insert into extension_request (extension_request_id, account_id, message, created_at) \
         values ($1, $2, $3, $4)",
    )
    .bind(&rid)
    .bind(id)
    .bind(message)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(rid)
}

/// Decides an open request; false if it was decided already.
pub async fn decide_request(
    conn: &mut AnyConnection,
    request_id: &str,
    clerk: &str,
    decision: &str,
    reason: &str,
    new_expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "update extension_request set decided_at = $1, decided_by = $2, decision = $3, \
         decision_reason = $4, new_expires_at = $5 where extension_request_id = $6 \
         and decided_at is null",
    )
    .bind(now)
    .bind(clerk)
    .bind(decision)
    .bind(reason)
    .bind(new_expires_at)
    .bind(request_id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn open_request_count(conn: &mut AnyConnection, id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from extension_request where account_id = $1 and decided_at is null",
    )
    .bind(id)
    .fetch_one(conn)
    .await
}
