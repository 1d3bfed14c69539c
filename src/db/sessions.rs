//! The cookie-session rows the session store keeps (the web layer's `session_store`): read here,
//! once per request, on connections handed back without sqlx's ping (`Readers`), with the very
//! query, table and time encoding of the store that writes them.

use sqlx::{PgConnection, SqliteConnection};
use time::OffsetDateTime;

use super::{Db, Readers};

/// The encoded record of session `id` if it has not expired (SQLite).
pub async fn sqlite_data(
    readers: &Readers<SqliteConnection>,
    id: &str,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    let mut conn = readers.get().await?;
    let data: Option<(Vec<u8>,)> =
        sqlx::query_as("select data from tower_sessions where id = ? and expiry_date > ?")
            .bind(id)
            .bind(OffsetDateTime::now_utc())
            .fetch_optional(&mut *conn)
            .await?;
    conn.done();
    Ok(data.map(|(d,)| d))
}

/// The encoded record of session `id` if it has not expired (PostgreSQL).
pub async fn postgres_data(
    readers: &Readers<PgConnection>,
    id: &str,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    let mut conn = readers.get().await?;
    let data: Option<(Vec<u8>,)> = sqlx::query_as(
        r#"select data from "tower_sessions"."session" where id = $1 and expiry_date > $2"#,
    )
    .bind(id)
    .bind(OffsetDateTime::now_utc())
    .fetch_optional(&mut *conn)
    .await?;
    conn.done();
    Ok(data.map(|(d,)| d))
}

/// Raises the session revision of `login_id` once the record naming it was written or deleted.
pub async fn raise(db: &Db, login_id: &str) -> Result<(), sqlx::Error> {
    let _turn = db.turn().await;
    sqlx::query("update login set session_rev = session_rev + 1 where login_id = $1")
        .bind(login_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}
