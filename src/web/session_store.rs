//! The cookie-session store: tower-sessions' SQLite or PostgreSQL store, chosen by the database
//! URL. It has no `Any` flavour, so this store delegates its writes to the native one over the
//! same database.
//!
//! Records that name a login are also kept in memory, each under the revision of its session
//! the login row held when it was read (`login.session_rev`, migration 0019). Every write or
//! deletion of such a record raises that revision, after the write, on whichever instance makes
//! it. A kept record is served with its revision (`REV_KEY`), and the guard, which reads the
//! login row on every request anyway, compares the two: on a difference it reads the record
//! again (`keep`, then `Session::load`). The login row stays the truth: sign-out, revocation and
//! expiry end the login, and the guard refuses an ended login whatever record it was given.
//! Pages without a guard read only what never changes under one session id (the login it names,
//! its CSRF token), or sessions that name no login, which are never kept.

use std::sync::Arc;

use async_trait::async_trait;
use quick_cache::sync::Cache;
use sqlx::{PgConnection, SqliteConnection};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::db::{Db, Readers, WriteTurns, sessions};

/// How many connections read sessions (`Store::load`), beside the store's own pool.
const READERS: u32 = 8;

/// How many signed-in sessions an instance keeps in memory.
const KEPT: usize = 20_000;

/// The key of a session record that names its login (the guard's).
pub const LOGIN_KEY: &str = "login";

/// The key under which a kept record carries the revision it was read under. It is never
/// written to the database.
pub const REV_KEY: &str = "_kept_rev";

#[derive(Clone, Debug)]
enum Engine {
    /// On SQLite the store's writes take their turn with the portal's other writers.
    Sqlite {
        store: SqliteStore,
        turns: WriteTurns,
        readers: Readers<SqliteConnection>,
    },
    Postgres {
        store: PostgresStore,
        readers: Readers<PgConnection>,
    },
}

#[derive(Clone, Debug)]
pub struct Store {
    engine: Engine,
    /// The portal's database, where the login rows' session revisions are raised.
    db: Db,
    kept: Arc<Cache<Id, Arc<(Record, i64)>>>,
}

fn backend(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn decode(data: Option<Vec<u8>>) -> session_store::Result<Option<Record>> {
    data.map(|bytes| rmp_serde::from_slice(&bytes))
        .transpose()
        .map_err(|e| session_store::Error::Decode(e.to_string()))
}

/// The login a record names, if any.
fn login_of(record: &Record) -> Option<String> {
    record
        .data
        .get(LOGIN_KEY)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

impl Store {
    pub async fn open(db: &Db) -> anyhow::Result<Self> {
        let url = db.url();
        // sqlx tests every connection as it takes it back, so testing it again before handing
        // it out would be a second round trip per session write.
        let engine = if url.starts_with("postgres") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .test_before_acquire(false)
                .connect(url)
                .await?;
            let store = PostgresStore::new(pool);
            store.migrate().await?;
            Engine::Postgres {
                store,
                readers: Readers::new(url, READERS),
            }
        } else {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .test_before_acquire(false)
                .connect(url)
                .await?;
            let store = SqliteStore::new(pool);
            store.migrate().await?;
            Engine::Sqlite {
                store,
                turns: db.write_turns(),
                readers: Readers::new(url, READERS),
            }
        };
        Ok(Store {
            engine,
            db: db.clone(),
            kept: Arc::new(Cache::new(KEPT)),
        })
    }

    /// The record as the database holds it now.
    async fn read(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let id = id.to_string();
        let data = match &self.engine {
            Engine::Sqlite { readers, .. } => sessions::sqlite_data(readers, &id).await,
            Engine::Postgres { readers, .. } => sessions::postgres_data(readers, &id).await,
        };
        decode(data.map_err(backend)?)
    }

    /// Reads the record again and keeps it under `rev`, the revision the guard has just read
    /// from the login row — before this read, so the record is at least as new as `rev` says.
    /// Kept only while it still names `login_id`.
    pub async fn keep(&self, id: &Id, login_id: &str, rev: i64) -> session_store::Result<()> {
        self.kept.remove(id);
        if let Some(record) = self.read(id).await?
            && login_of(&record).as_deref() == Some(login_id)
        {
            self.kept.insert(*id, Arc::new((record, rev)));
        }
        Ok(())
    }

    /// Raises the session revision of the login a record named, after its write or deletion,
    /// then forgets this instance's kept copy (a copy kept meanwhile by `keep` carries the
    /// revision from before the raise, so it is read again at its next use).
    async fn written(&self, id: &Id, login: Option<String>) -> session_store::Result<()> {
        if let Some(login) = login {
            sessions::raise(&self.db, &login).await.map_err(backend)?;
        }
        self.kept.remove(id);
        Ok(())
    }
}

/// The record as written: without the revision it was served with.
fn as_written(record: &Record) -> std::borrow::Cow<'_, Record> {
    if record.data.contains_key(REV_KEY) {
        let mut r = record.clone();
        r.data.remove(REV_KEY);
        std::borrow::Cow::Owned(r)
    } else {
        std::borrow::Cow::Borrowed(record)
    }
}

#[async_trait]
impl SessionStore for Store {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        record.data.remove(REV_KEY);
        match &self.engine {
            Engine::Sqlite { store, turns, .. } => {
                let _turn = turns.take().await;
                store.create(record).await
            }
            Engine::Postgres { store, .. } => store.create(record).await,
        }?;
        self.written(&record.id, login_of(record)).await
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let record = as_written(record);
        match &self.engine {
            Engine::Sqlite { store, turns, .. } => {
                let _turn = turns.take().await;
                store.save(&record).await
            }
            Engine::Postgres { store, .. } => store.save(&record).await,
        }?;
        self.written(&record.id, login_of(&record)).await
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(kept) = self.kept.get(id) {
            let (record, rev) = &*kept;
            if record.expiry_date > OffsetDateTime::now_utc() {
                let mut record = record.clone();
                record.data.insert(REV_KEY.to_string(), (*rev).into());
                return Ok(Some(record));
            }
            self.kept.remove(id);
        }
        self.read(id).await
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        // The login the record named, so that instances keeping it read it again (and find it
        // gone) at their next request.
        let login = self.read(id).await?.as_ref().and_then(login_of);
        match &self.engine {
            Engine::Sqlite { store, turns, .. } => {
                let _turn = turns.take().await;
                store.delete(id).await
            }
            Engine::Postgres { store, .. } => store.delete(id).await,
        }?;
        self.written(id, login).await
    }
}

#[async_trait]
impl ExpiredDeletion for Store {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match &self.engine {
            Engine::Sqlite { store, turns, .. } => {
                let _turn = turns.take().await;
                store.delete_expired().await
            }
            Engine::Postgres { store, .. } => store.delete_expired().await,
        }
    }
}
