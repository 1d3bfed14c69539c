//! The cookie-session store: tower-sessions' SQLite or PostgreSQL store, chosen by the database
//! URL. It has no `Any` flavour, so this enum delegates to the native one over the same database.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::db::WriteTurns;

#[derive(Clone, Debug)]
pub enum Store {
    /// On SQLite the store's writes take their turn with the portal's other writers.
    Sqlite(SqliteStore, WriteTurns),
    Postgres(PostgresStore),
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
            Store::Postgres(PostgresStore::new(pool))
        } else {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .test_before_acquire(false)
                .connect(url)
                .await?;
            Store::Sqlite(SqliteStore::new(pool), turns)
        };
        match &store {
            Store::Sqlite(s, _) => s.migrate().await?,
            Store::Postgres(s) => s.migrate().await?,
        }
        Ok(store)
    }
}

#[async_trait]
impl SessionStore for Store {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Store::Sqlite(s, turns) => {
                let _turn = turns.take().await;
                s.create(record).await
            }
            Store::Postgres(s) => s.create(record).await,
        }
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Store::Sqlite(s, turns) => {
                let _turn = turns.take().await;
                s.save(record).await
            }
            Store::Postgres(s) => s.save(record).await,
        }
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Store::Sqlite(s, _) => s.load(id).await,
            Store::Postgres(s) => s.load(id).await,
        }
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Store::Sqlite(s, turns) => {
                let _turn = turns.take().await;
                s.delete(id).await
            }
            Store::Postgres(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for Store {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            Store::Sqlite(s, turns) => {
                let _turn = turns.take().await;
                s.delete_expired().await
            }
            Store::Postgres(s) => s.delete_expired().await,
        }
    }
}
