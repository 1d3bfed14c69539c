//! Per-address rate limiting of the sign-in and link endpoints (A9), on the injected clock so
//! tests can move time. The counts live in the database, so every instance behind a load
//! balancer draws on one allowance. Per-account limits live there too (see `auth::policy`).

use std::net::IpAddr;

use crate::clock::Timestamp;
use crate::db::Db;

#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    db: Db,
}

impl RateLimiter {
    pub fn new(per_minute: u32, db: Db) -> Self {
        Self { per_minute, db }
    }

    /// Counts one request of `bucket` from `addr`; false once the minute's allowance is spent.
    pub async fn allow(
        &self,
        addr: IpAddr,
        bucket: &'static str,
        now: Timestamp,
    ) -> Result<bool, sqlx::Error> {
        self.allow_key(addr.to_string(), bucket, self.per_minute, now)
            .await
    }

    /// The same for any key (an account, a link), with its own allowance per minute.
    pub async fn allow_key(
        &self,
        key: String,
        bucket: &'static str,
        per_minute: u32,
        now: Timestamp,
    ) -> Result<bool, sqlx::Error> {
        let _turn = self.db.turn().await;
        let count: i64 = sqlx::query_scalar(
            "insert into rate_window (key, bucket, minute, count) values ($1, $2, $3, 1) \
             on conflict (key, bucket, minute) do update set count = rate_window.count + 1 \
             returning count",
        )
        .bind(key)
        .bind(bucket)
        .bind(now.div_euclid(60))
        .fetch_one(&self.db.pool)
        .await?;
        Ok(count <= i64::from(per_minute))
    }

    /// The same per hour: the count is kept under the hour's first minute.
    pub async fn allow_per_hour(
        &self,
        key: String,
        bucket: &'static str,
        per_hour: u32,
        now: Timestamp,
    ) -> Result<bool, sqlx::Error> {
        let hour_start = now.div_euclid(3600) * 3600;
        self.allow_key(key, bucket, per_hour, hour_start).await
    }

    /// Deletes the counts of minutes and hours that have passed.
    pub async fn forget_before(&self, now: Timestamp) -> Result<u64, sqlx::Error> {
        let _turn = self.db.turn().await;
        let done = sqlx::query("delete from rate_window where minute < $1")
            .bind(now.div_euclid(60) - 60)
            .execute(&self.db.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
