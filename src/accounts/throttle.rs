//! Slow-downs of failed password sign-ins by where they come from (B13). Counted in the
//! database, so every instance behind a load balancer shares them and a restart keeps them.
//! The account itself is never locked by wrong passwords: a stranger slows only the address
//! they send from (and that address's tries at one name), never the owner elsewhere.

use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use crate::auth::policy::{
    ADDRESS_FAILURES_PER_SLOWDOWN, NAME_FAILURES_PER_SLOWDOWN, THROTTLE_MEMORY_SECS,
    UNTRUSTED_TRIES_PER_HOUR, slow_down,
};
use crate::clock::Timestamp;
use crate::db::Db;

/// The counters one sign-in attempt touches.
pub struct Keys {
    address: String,
    name_at_address: String,
    /// Tries at the name from browsers that are not a known device for it (B14).
    untrusted: String,
}

impl Keys {
    /// Keys for a typed sign-in name from an address. The name is hashed: what strangers type
    /// is not kept, and unknown names are counted exactly like real ones (B7).
    pub fn new(address: Option<std::net::IpAddr>, name: &str) -> Self {
        let address = address
            .map(|a| a.to_string())
            .unwrap_or_else(|| "unknown".into());
        let name = hex::encode(Sha256::digest(name.as_bytes()));
        Self {
            untrusted: format!("u:{name}"),
            name_at_address: format!("n:{address}:{name}"),
            address: format!("a:{address}"),
        }
    }
}

/// Whether this address, or this name from this address, is being slowed down now.
pub async fn is_slowed(db: &Db, keys: &Keys, now: Timestamp) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "select count(*) from sign_in_throttle \
         where throttle_key in ($1, $2) and locked_until > $3",
    )
    .bind(&keys.address)
    .bind(&keys.name_at_address)
    .bind(now)
    .fetch_one(&db.pool)
    .await?;
    Ok(n > 0)
}

/// Counts one wrong password on both counters and slows them down by the policy; returns
/// whether this failure started a slow-down.
pub async fn record_failure(
    conn: &mut AnyConnection,
    keys: &Keys,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let mut slowed = false;
    for (key, per) in [
        (&keys.name_at_address, NAME_FAILURES_PER_SLOWDOWN),
        (&keys.address, ADDRESS_FAILURES_PER_SLOWDOWN),
    ] {
        let failures: i64 = sqlx::query_scalar(
            "insert into sign_in_throttle (throttle_key, failures, locked_until, updated_at) \
             values ($1, 1, 0, $2) \
             on conflict (throttle_key) do update set \
               failures = case when sign_in_throttle.updated_at < $3 then 1 \
                          else sign_in_throttle.failures + 1 end, \
               updated_at = $2 \
             returning failures",
        )
        .bind(key)
        .bind(now)
        .bind(now - THROTTLE_MEMORY_SECS)
        .fetch_one(&mut *conn)
        .await?;
        if let Some(until) = slow_down(failures, per, now) {
            sqlx::query("update sign_in_throttle set locked_until = $1 where throttle_key = $2")
                .bind(until)
                .bind(key)
                .execute(&mut *conn)
                .await?;
            slowed = true;
        }
    }
    Ok(slowed)
}

/// A correct password forgets this name's failures from this address.
pub async fn forget_name(conn: &mut AnyConnection, keys: &Keys) -> Result<(), sqlx::Error> {
    sqlx::query("delete from sign_in_throttle where throttle_key = $1")
        .bind(&keys.name_at_address)
        .execute(conn)
        .await?;
    Ok(())
}

/// Counts a password try at a name from a browser that is not a known device for it (B14),
/// before the password is checked, so parallel tries cannot pass the budget. The count is
/// shared by every address and instance and starts again an hour after the last try. Returns
/// the tries counted so far in this hour; past `UNTRUSTED_TRIES_PER_HOUR` the try is refused.
pub async fn take_untrusted_try(db: &Db, keys: &Keys, now: Timestamp) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let tries: i64 = sqlx::query_scalar(
        "insert into sign_in_throttle (throttle_key, failures, locked_until, updated_at) \
         values ($1, 1, 0, $2) \
         on conflict (throttle_key) do update set \
           failures = case when sign_in_throttle.updated_at < $3 then 1 \
                      else sign_in_throttle.failures + 1 end, \
           updated_at = $2 \
         returning failures",
    )
    .bind(&keys.untrusted)
    .bind(now)
    .bind(now - 3600)
    .fetch_one(&mut **tx)
    .await?;
    tx.commit().await?;
    Ok(tries)
}

/// Whether a count from `take_untrusted_try` is past the hour's budget.
pub fn untrusted_spent(tries: i64) -> bool {
    tries > UNTRUSTED_TRIES_PER_HOUR
}

/// A right password gives its untrusted try back: only wrong ones spend the budget.
pub async fn give_back_untrusted(conn: &mut AnyConnection, keys: &Keys) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update sign_in_throttle set failures = failures - 1 \
         where throttle_key = $1 and failures > 0",
    )
    .bind(&keys.untrusted)
    .execute(conn)
    .await?;
    Ok(())
}
