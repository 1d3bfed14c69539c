//! Group commit for the records that page views and refusals cause. Concurrent requests queue
//! their records on one writer, which appends everything queued so far in a single transaction
//! — the chain head is taken once per batch, not once per record — and then answers each
//! request. A request answers only after its own record is committed, so nothing a person was
//! shown is missing from the trail (G5); a batch that fails to commit fails every request in it.
//! The queue is bounded: when it is full, requests wait (back-pressure, not unbounded memory).
//! State-changing actions keep their own transaction with their record (`audit::record`).
//!
//! The same batches carry the small bookkeeping writes a page view causes — a login's last-seen
//! time, a reader's read state — as [`Statement`]s the owning feature builds, so a page view
//! never takes the write lock of its own.

use tokio::sync::{mpsc, oneshot};

use super::{Event, Source, append};
use crate::clock::Timestamp;
use crate::db::Db;

/// Most records queued at once; more wait for room.
const QUEUE: usize = 4096;
/// Most records in one transaction.
const BATCH: usize = 512;
/// How often a batch that PostgreSQL ended in a deadlock is tried again.
const RETRIES: usize = 3;

/// One write a feature hands to the writer: its SQL and the values bound to it, in order.
#[derive(Debug, Clone)]
pub struct Statement {
    sql: &'static str,
    binds: Vec<Bind>,
}

#[derive(Debug, Clone)]
enum Bind {
    Int(i64),
    Text(String),
}

impl Statement {
    pub fn new(sql: &'static str) -> Self {
        Self { sql, binds: vec![] }
    }

    pub fn int(mut self, v: i64) -> Self {
        self.binds.push(Bind::Int(v));
        self
    }

    pub fn text(mut self, v: impl Into<String>) -> Self {
        self.binds.push(Bind::Text(v.into()));
        self
    }
}

enum Work {
    Record { source: Source, event: Event },
    Run(Statement),
}

struct Job {
    now: Timestamp,
    work: Vec<Work>,
    done: oneshot::Sender<Result<(), String>>,
}

/// The handle requests queue their records on. Cloning it shares the one writer.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

/// A batch that could not be committed, or a writer that has stopped.
#[derive(Debug, thiserror::Error)]
#[error("the audit record could not be written: {0}")]
pub struct NotWritten(String);

impl Writer {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, jobs));
        Self { queue }
    }

    /// Queues one record and waits until the batch holding it is committed.
    pub async fn record(
        &self,
        now: Timestamp,
        source: &Source,
        event: &Event,
    ) -> Result<(), NotWritten> {
        self.queue_work(
            now,
            vec![Work::Record {
                source: source.clone(),
                event: event.clone(),
            }],
        )
        .await
    }

    /// Queues bookkeeping statements and waits until the batch holding them is committed.
    pub async fn run(&self, statements: Vec<Statement>) -> Result<(), NotWritten> {
        if statements.is_empty() {
            return Ok(());
        }
        self.queue_work(0, statements.into_iter().map(Work::Run).collect())
            .await
    }

    async fn queue_work(&self, now: Timestamp, work: Vec<Work>) -> Result<(), NotWritten> {
        let (done, answer) = oneshot::channel();
        let job = Job { now, work, done };
        self.queue
            .send(job)
            .await
            .map_err(|_| NotWritten("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| NotWritten("the writer has stopped".into()))?
            .map_err(NotWritten)
    }
}

async fn run(db: Db, mut jobs: mpsc::Receiver<Job>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut written = write(&db, &batch).await;
        // Two instances' batches may raise the versions of the same channels in different
        // orders (migration 0013); PostgreSQL then ends one of them, which is tried again.
        for _ in 0..RETRIES {
            match &written {
                Err(e) if crate::db::is_retryable(e) => written = write(&db, &batch).await,
                _ => break,
            }
        }
        let written = written.map_err(|e| {
            tracing::error!(error = %e, records = batch.len(), "audit batch not committed");
            e.to_string()
        });
        for job in batch {
            let _ = job.done.send(written.clone());
        }
    }
}

async fn write(db: &Db, batch: &[Job]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    let mut items: Vec<(Timestamp, &Source, &Event)> = vec![];
    for job in batch {
        for work in &job.work {
            match work {
                Work::Record { source, event } => items.push((job.now, source, event)),
                Work::Run(statement) => {
                    let mut query = sqlx::query(statement.sql);
                    for bind in &statement.binds {
                        query = match bind {
                            Bind::Int(v) => query.bind(*v),
                            Bind::Text(v) => query.bind(v.as_str()),
                        };
                    }
                    query.execute(&mut **tx).await?;
                }
            }
        }
    }
    if !items.is_empty() {
        append(&mut tx, &items).await?;
    }
    tx.commit().await
}
