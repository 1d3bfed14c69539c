//! Connections for the reads every page view makes (who is signed in, the channel), handed
//! back without a round trip.
//!
//! sqlx's pool pings every connection it takes back (sqlx 0.8.6, `return_to_pool`), whatever
//! `after_release` answers: one more round trip to SQLite's connection thread, or to
//! PostgreSQL, after every query, in a task of its own. The ping guards against a query
//! abandoned half-way (a client hanging up), which may leave the connection in a state the next
//! user must not inherit. Here a connection comes back only through `Reader::done`, called once
//! its reads finished; a reader dropped any other way (an error, an abandoned request) closes
//! its connection instead, so nothing half-done is ever handed on.

use std::sync::{Arc, Mutex};

use sqlx::{AnyConnection, Connection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
struct Idle<C> {
    url: String,
    conns: Mutex<Vec<C>>,
    slots: Arc<Semaphore>,
}

/// At most `size` connections, opened on first use and kept while they serve: `Any` ones for
/// the portal's reads, native ones for the session store's.
#[derive(Debug)]
pub struct Readers<C = AnyConnection>(Arc<Idle<C>>);

impl<C> Clone for Readers<C> {
    fn clone(&self) -> Self {
        Readers(self.0.clone())
    }
}

impl<C: Connection> Readers<C> {
    pub fn new(url: &str, size: u32) -> Self {
        Readers(Arc::new(Idle {
            url: url.to_string(),
            conns: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(size.max(1) as usize)),
        }))
    }

    /// A connection for reads outside a transaction; give it back with `done`.
    pub async fn get(&self) -> Result<Reader<C>, sqlx::Error> {
        let permit = self
            .0
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.0.conns.lock().ok().and_then(|mut c| c.pop());
        let conn = match idle {
            Some(c) => c,
            None => C::connect(&self.0.url).await?,
        };
        Ok(Reader {
            conn,
            home: self.0.clone(),
            _permit: permit,
        })
    }
}

/// One connection of `Readers`, for plain reads (never a transaction). Dropped without `done`,
/// it closes its connection.
pub struct Reader<C = AnyConnection> {
    conn: C,
    home: Arc<Idle<C>>,
    _permit: OwnedSemaphorePermit,
}

impl<C: Connection> Reader<C> {
    /// Hands the connection back after reads that ran to their end.
    pub fn done(self) {
        let Reader { conn, home, .. } = self;
        if !conn.is_in_transaction()
            && let Ok(mut idle) = home.conns.lock()
        {
            idle.push(conn);
        }
    }
}

impl<C> std::ops::Deref for Reader<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.conn
    }
}

impl<C> std::ops::DerefMut for Reader<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.conn
    }
}
