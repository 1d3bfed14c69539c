//! The cookie-session store: tower-sessions' SQLite or PostgreSQL store, chosen by the database
//! URL. It has no `Any` flavour, so this enum delegates to the native one over the same database.

use async_trait::async_trait;
use sqlx::{PgConnection, SqliteConnection};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::db::{Readers, WriteTurns, sessions};

/// How many connections read sessions (`Store::load`), beside the store's own pool.
const READERS: u32 = 8;

/// The store's writes go through tower-sessions' stores; a session is read, once per request,
/// on connections handed back without sqlx's ping (`db::Readers`), with the very query and
/// encoding of those stores.
#[derive(Clone, Debug)]
pub enum Store {
    /// On SQLite the store's writes take their turn with the portal's other writers.
    Sqlite(SqliteStore, WriteTurns, Readers<SqliteConnection>),
    Postgres(PostgresStore, Readers<PgConnection>),
}

fn backend(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn decode(data: Option<Vec<u8>>) -> session_store::Result<Option<Record>> {
    data.map(|bytes| rmp_serde::from_slice(&bytes))
        .transpose()
        .map_err(|e| session_store::Error::Decode(e.to_string()))
}

impl Store {
    pub async fn open(url: &str, turns: WriteTurns) -> anyhow::Result<Self> {
        // sqlx tests every connection as it takes it back, so testing it again before handing
        // it out would be a second round trip per session look-up.
        let store = if url.starts_with("postgres") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .test_before_acquire(false)
                .connect(url)
                .await?;
            Store::Postgres(PostgresStore::new(pool), Readers::new(url, READERS))
        } else {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .test_before_acquire(false)
                .connect(url)
                .await?;
            Store::Sqlite(SqliteStore::new(pool), turns, Readers::new(url, READERS))
        };
        match &store {
            Store::Sqlite(s, _, _) => s.migrate().await?,
            Store::Postgres(s, _) => s.migrate().await?,
        }
        Ok(store)
    }
}

#[async_trait]
impl SessionStore for Store {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Store::Sqlite(s, turns, _) => {
                let _turn = turns.take().await;
                s.create(record).await
            }
            Store::Postgres(s, _) => s.create(record).await,
        }
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Store::Sqlite(s, turns, _) => {
                let _turn = turns.take().await;
                s.save(record).await
            }
            Store::Postgres(s, _) => s.save(record).await,
        }
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Store::Sqlite(_, _, readers) => decode(
                sessions::sqlite_data(readers, &id.to_string())
                    .await
                    .map_err(backend)?,
            ),
            Store::Postgres(_, readers) => decode(
                sessions::postgres_data(readers, &id.to_string())
                    .await
                    .map_err(backend)?,
            ),
        }
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Store::Sqlite(s, turns, _) => {
                let _turn = turns.take().await;
                s.delete(id).await
            }
            Store::Postgres(s, _) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for Store {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            Store::Sqlite(s, turns, _) => {
                let _turn = turns.take().await;
                s.delete_expired().await
            }
            Store::Postgres(s, _) => s.delete_expired().await,
        }
    }
}
