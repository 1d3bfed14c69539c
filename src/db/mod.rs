//! Storage: one `Any` pool whose SQL text runs on SQLite and PostgreSQL alike (`$n` placeholders,
//! integer times from the application clock, 0/1 flags). Per-backend SQL lives only in the two
//! migration folders. We chose `Any` over an enum of native pools so every query has one path.

use std::str::FromStr;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Connection, Transaction};

mod readers;
pub mod sessions;
pub use readers::{Reader, Readers};

/// A write transaction; on SQLite it also holds the process's turn to write (`Db::begin`).
pub struct Tx {
    inner: Transaction<'static, Any>,
    _turn: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl std::ops::Deref for Tx {
    type Target = Transaction<'static, Any>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }
}

/// How long a SQLite writer waits for its turn in the process before it falls back to
/// SQLite's own waiting (so a transaction that waits on another writer can never hang).
const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    url: String,
    /// SQLite's writers take turns here, in the process, rather than at SQLite's write lock.
    writers: WriteTurns,
    /// Connections for the reads of every page view, handed back without sqlx's ping.
    readers: Readers,
}

/// The turns of SQLite's writers. Writers that meet at SQLite's lock poll it with sleeps of
/// 1, 2, 5, 10 … 100 ms (its busy handler). While 20 people signed in, the portal slept 14.9 s
/// in 10 s that way (strace), and page views waiting for their audit batch waited with it.
/// Here the next writer is woken the moment the previous one finishes. PostgreSQL has none.
#[derive(Clone, Debug)]
pub struct WriteTurns(Option<std::sync::Arc<tokio::sync::Semaphore>>);

impl WriteTurns {
    /// Waits for this process's turn to write; `None` after `TURN_WAIT`, or on PostgreSQL.
    pub async fn take(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let turns = self.0.clone()?;
        tokio::time::timeout(TURN_WAIT, turns.acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }
}

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        install_default_drivers();
        let backend = if url.starts_with("postgres") {
            Backend::Postgres
        } else if url.starts_with("sqlite") {
            Backend::Sqlite
        } else {
            anyhow::bail!("the database URL must start with sqlite:// or postgres://");
        };
        if backend == Backend::Sqlite {
            // WAL is a property of the file: set it once, before the pool opens more connections.
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(opts)
                .await
                .context("opening the SQLite database")?;
            pool.close().await;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            // sqlx pings every connection it takes back (a round trip to SQLite's thread, or to
            // PostgreSQL, after every query); with its default it pinged each again before
            // handing it out. That second ping tested a connection just tested.
            .test_before_acquire(false)
            // A future dropped inside `begin` (a client hanging up) can leave a connection
            // marked as inside a transaction (sqlx issues #2054, #4385). Such a connection is
            // closed rather than handed to the next request. A connection that looks inside a
            // transaction is pinged first, which lets a queued rollback finish, so an ordinary
            // dropped transaction is not mistaken for one. (sqlx 0.8.6 then pings every
            // connection it takes back all the same: a round trip to SQLite's thread per query,
            // 3.4% of the guest page's time in a profile. Only a change in sqlx can drop it.)
            .after_release(|conn, _| {
                Box::pin(async move {
                    if !conn.is_in_transaction() {
                        return Ok(true);
                    }
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            })
            .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
            .connect(url)
            .await
            .context("connecting to the database")?;
        let writers = WriteTurns(
            (backend == Backend::Sqlite)
                .then(|| std::sync::Arc::new(tokio::sync::Semaphore::new(1))),
        );
        Ok(Self {
            pool,
            backend,
            url: url.to_string(),
            writers,
            readers: Readers::new(url, max_connections),
        })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await,
        }
        .context("applying migrations")
    }

    /// Keeps the query planner's statistics fresh as tables grow (SQLite's recommended
    /// `PRAGMA optimize`, which analyses only the tables whose size changed much since last
    /// time). Without statistics SQLite cannot tell that walking the expiry index beats joining
    /// 100,000 accounts for a guest list. PostgreSQL's autovacuum does this by itself.
    pub async fn optimize(&self) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Sqlite {
            sqlx::query("pragma optimize=0x10002")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so a read inside it can never be invalidated by another writer; on
    /// PostgreSQL row locks (the audit head) do the same.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let turn = self.writers.take().await;
        let inner = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx { inner, _turn: turn })
    }

    /// This process's turn to write, for one statement that writes outside a transaction: held
    /// while it runs, it keeps that statement from meeting SQLite's busy handler (`WriteTurns`).
    pub async fn turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.writers.take().await
    }

    /// The turns SQLite's writers take, for writers outside this pool (the session store).
    pub fn write_turns(&self) -> WriteTurns {
        self.writers.clone()
    }

    /// A connection for the reads of a page view (`readers`); give it back with `Reader::done`.
    pub async fn reader(&self) -> Result<Reader, sqlx::Error> {
        self.readers.get().await
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A random public id (128 bits, URL-safe). Ids are never a secret (D2), but they are unguessable.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether PostgreSQL ended a transaction to break a deadlock or a serialization conflict; it
/// rolled back whole, so it may be run again.
pub fn is_retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => matches!(d.code().as_deref(), Some("40P01" | "40001")),
        _ => false,
    }
}

/// Whether an error is a unique-constraint violation (e.g. an e-mail already in use).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation()
                || d.code().as_deref() == Some("23505")
                || d.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}
