//! The audit trail: one writer for every feature. Records are append-only (triggers refuse UPDATE
//! and DELETE) and hash-chained: each carries the SHA-256 of its content and of the record before
//! it, so `madoguchi audit verify` finds the first record edited by hand (G4).
//!
//! A record is written in the same transaction as the change it describes; if it cannot be
//! written, the change is rolled back with it (G5). Never put secrets, codes, tokens, session ids
//! or message bodies in a record (G3).

pub mod checkpoint;
pub mod witness;
pub mod writer;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, FromRow};

use crate::clock::Timestamp;
use crate::db::Db;

/// Who acted.
#[derive(Clone, Debug)]
pub enum Actor {
    Anonymous,
    /// Someone who named an account but has not proven it (a sign-in attempt).
    Claimed(String),
    Clerk(String),
    Guest(String),
    System,
    Operator,
}

impl Actor {
    fn parts(&self) -> (&'static str, Option<&str>) {
        match self {
            Actor::Anonymous => ("anonymous", None),
            Actor::Claimed(id) => ("claimed", Some(id)),
            Actor::Clerk(id) => ("clerk", Some(id)),
            Actor::Guest(id) => ("guest", Some(id)),
            Actor::System => ("system", None),
            Actor::Operator => ("operator", None),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// Where a request came from; attached to every record it causes.
#[derive(Clone, Debug, Default)]
pub struct Source {
    pub address: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Event {
    pub actor: Actor,
    pub action: &'static str,
    pub target: Option<String>,
    pub channel_id: Option<String>,
    pub outcome: Outcome,
    pub detail: Option<String>,
}

impl Event {
    pub fn new(actor: Actor, action: &'static str, outcome: Outcome) -> Self {
        Self {
            actor,
            action,
            target: None,
            channel_id: None,
            outcome,
            detail: None,
        }
    }
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }
    pub fn in_channel(mut self, channel_id: impl Into<String>) -> Self {
        self.channel_id = Some(channel_id.into());
        self
    }
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

#[derive(Clone, Debug, FromRow, Serialize, Deserialize)]
pub struct Record {
    pub seq: i64,
    pub at: i64,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub channel_id: Option<String>,
    pub outcome: String,
    pub source: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl Record {
    pub fn compute_hash(&self) -> String {
        // A JSON array is an unambiguous encoding of the fields, in a fixed order.
        let canonical = serde_json::json!([
            self.seq,
            self.at,
            self.actor_kind,
            self.actor_id,
            self.action,
            self.target,
            self.channel_id,
            self.outcome,
            self.source,
            self.request_id,
            self.detail,
            self.prev_hash,
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// Appends one record inside the caller's transaction.
pub async fn record(
    conn: &mut AnyConnection,
    now: Timestamp,
    source: &Source,
    event: &Event,
) -> Result<(), sqlx::Error> {
    append(conn, &[(now, source, event)]).await
}

/// Most records one insert statement carries (13 values each, far below either engine's limit
/// on bound values).
const INSERT_ROWS: usize = 32;

/// The insert of `rows` records, one text per size, made once: a batch's records go in a few
/// statements rather than one round trip each to the database.
fn insert_sql(rows: usize) -> &'static str {
    static TEXTS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        (0..=INSERT_ROWS)
            .map(|rows| {
                let values = (0..rows)
                    .map(|r| {
                        let n = (1..=13).map(|c| format!("${}", r * 13 + c));
                        format!("({})", n.collect::<Vec<_>>().join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "insert into audit_event (seq, at, actor_kind, actor_id, action, target, \
                     channel_id, outcome, source, request_id, detail, prev_hash, hash) values {values}"
                )
            })
            .collect()
    });
    &TEXTS[rows.min(INSERT_ROWS)]
}

/// Appends records in order inside the caller's transaction, taking the chain head once.
pub async fn append(
    conn: &mut AnyConnection,
    items: &[(Timestamp, &Source, &Event)],
) -> Result<(), sqlx::Error> {
    if items.is_empty() {
        return Ok(());
    }
    // Taking the head row first serialises writers on both backends, so the chain never forks.
    let (last_seq, mut prev_hash): (i64, String) = sqlx::query_as(
        "update audit_head set seq = seq + $1 where audit_head_id = 1 returning seq, last_hash",
    )
    .bind(items.len() as i64)
    .fetch_one(&mut *conn)
    .await?;
    let first_seq = last_seq - items.len() as i64 + 1;
    let mut records = Vec::with_capacity(items.len());
    for (i, (now, source, event)) in items.iter().enumerate() {
        let (actor_kind, actor_id) = event.actor.parts();
        let mut rec = Record {
            seq: first_seq + i as i64,
            at: *now,
            actor_kind: actor_kind.to_string(),
            actor_id: actor_id.map(str::to_string),
            action: event.action.to_string(),
            target: event.target.clone(),
            channel_id: event.channel_id.clone(),
            outcome: event.outcome.as_str().to_string(),
            source: source.address.clone(),
            request_id: source.request_id.clone(),
            detail: event.detail.clone(),
            prev_hash: std::mem::take(&mut prev_hash),
            hash: String::new(),
        };
        rec.hash = rec.compute_hash();
        prev_hash = rec.hash.clone();
        records.push(rec);
    }
    for chunk in records.chunks(INSERT_ROWS) {
        let mut query = sqlx::query(insert_sql(chunk.len()));
        for rec in chunk {
            query = query
                .bind(rec.seq)
                .bind(rec.at)
                .bind(&rec.actor_kind)
                .bind(&rec.actor_id)
                .bind(&rec.action)
                .bind(&rec.target)
                .bind(&rec.channel_id)
                .bind(&rec.outcome)
                .bind(&rec.source)
                .bind(&rec.request_id)
                .bind(&rec.detail)
                .bind(&rec.prev_hash)
                .bind(&rec.hash);
        }
        query.execute(&mut *conn).await?;
    }
    sqlx::query("update audit_head set last_hash = $1 where audit_head_id = 1")
        .bind(&prev_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Writes a record that accompanies no other change (a refused sign-in, a page view).
pub async fn record_alone(
    db: &Db,
    now: Timestamp,
    source: &Source,
    event: &Event,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    record(&mut tx, now, source, event).await?;
    tx.commit().await
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Intact { records: i64 },
    Broken { seq: i64, reason: String },
}

/// Checks records one at a time, in order, against the chain and against signed checkpoints
/// (G4, G6): the same walk for the live database and for an exported trail, in constant memory.
pub struct Walk<'a> {
    expected_prev: String,
    expected_seq: i64,
    checkpoints: &'a [checkpoint::Checkpoint],
    next_checkpoint: usize,
}

impl<'a> Walk<'a> {
    /// `checkpoints` in the order they were written (by sequence).
    pub fn new(checkpoints: &'a [checkpoint::Checkpoint]) -> Self {
        Self {
            expected_prev: "0".repeat(64),
            expected_seq: 1,
            checkpoints,
            next_checkpoint: 0,
        }
    }

    /// How many records fit so far.
    pub fn records(&self) -> i64 {
        self.expected_seq - 1
    }

    /// Takes the next record; the first that does not fit ends the walk.
    pub fn push(&mut self, rec: &Record) -> Result<(), Verdict> {
        let seq = self.expected_seq;
        if rec.seq != seq {
            return Err(Verdict::Broken {
                seq,
                reason: format!("record {seq} is missing"),
            });
        }
        if rec.prev_hash != self.expected_prev {
            return Err(Verdict::Broken {
                seq,
                reason: "does not link to the record before it".into(),
            });
        }
        if rec.compute_hash() != rec.hash {
            return Err(Verdict::Broken {
                seq,
                reason: "its content does not match its hash".into(),
            });
        }
        while let Some(cp) = self.checkpoints.get(self.next_checkpoint)
            && cp.seq <= seq
        {
            if cp.seq == seq && cp.hash != rec.hash {
                return Err(Verdict::Broken {
                    seq,
                    reason: format!(
                        "it differs from the checkpoint signed at {}: the chain was rewritten \
                         or the database replaced after it",
                        crate::i18n::Lang::En.datetime(cp.at)
                    ),
                });
            }
            self.next_checkpoint += 1;
        }
        self.expected_prev = rec.hash.clone();
        self.expected_seq += 1;
        Ok(())
    }

    /// Ends the walk: every checkpoint must have been reached, and the head (when known) must
    /// name the last record.
    pub fn finish(self, head: Option<(i64, String)>) -> Verdict {
        let count = self.records();
        if let Some(cp) = self.checkpoints.iter().rev().find(|cp| cp.seq > count) {
            return Verdict::Broken {
                seq: count + 1,
                reason: format!(
                    "record {} is missing: the checkpoint signed at {} covers records up to {}, \
                     so records were deleted or the database rolled back to an earlier copy",
                    count + 1,
                    crate::i18n::Lang::En.datetime(cp.at),
                    cp.seq
                ),
            };
        }
        if let Some((head_seq, head_hash)) = head
            && (head_seq != count || (count > 0 && head_hash != self.expected_prev))
        {
            return Verdict::Broken {
                seq: count + 1,
                reason: format!("the chain ends at record {count} but {head_seq} were written"),
            };
        }
        Verdict::Intact { records: count }
    }
}

/// Walks the whole chain in order and reports the first record that does not fit.
pub async fn verify(db: &Db) -> Result<Verdict, sqlx::Error> {
    verify_with(db, &[], |_| {}).await
}

/// Walks the whole chain against `checkpoints`, calling `progress` with the count every
/// 100,000 records.
pub async fn verify_with(
    db: &Db,
    checkpoints: &[checkpoint::Checkpoint],
    mut progress: impl FnMut(i64),
) -> Result<Verdict, sqlx::Error> {
    const PAGE: i64 = 5000;
    let mut walk = Walk::new(checkpoints);
    loop {
        let page = sqlx::query_as::<_, Record>(
            "select seq, at, actor_kind, actor_id, action, target, channel_id, outcome, source, \
             request_id, detail, prev_hash, hash from audit_event where seq >= $1 \
             order by seq limit $2",
        )
        .bind(walk.records() + 1)
        .bind(PAGE)
        .fetch_all(&db.pool)
        .await?;
        if page.is_empty() {
            break;
        }
        for rec in &page {
            if let Err(broken) = walk.push(rec) {
                return Ok(broken);
            }
            if walk.records() % 100_000 == 0 {
                progress(walk.records());
            }
        }
    }
    let head = head(db).await?;
    Ok(walk.finish(Some(head)))
}

/// The chain's head: the last sequence written and its hash.
pub async fn head(db: &Db) -> Result<(i64, String), sqlx::Error> {
    sqlx::query_as("select seq, last_hash from audit_head where audit_head_id = 1")
        .fetch_one(&db.pool)
        .await
}

/// Every record in order, for an auditor's copy (`madoguchi audit export`): one JSON object
/// per line, written as it is read.
pub async fn export(db: &Db, out: &mut impl std::io::Write) -> anyhow::Result<i64> {
    const PAGE: i64 = 5000;
    let mut next = 1i64;
    loop {
        let page = sqlx::query_as::<_, Record>(
            "select seq, at, actor_kind, actor_id, action, target, channel_id, outcome, source, \
             request_id, detail, prev_hash, hash from audit_event where seq >= $1 \
             order by seq limit $2",
        )
        .bind(next)
        .bind(PAGE)
        .fetch_all(&db.pool)
        .await?;
        let Some(last) = page.last() else {
            break;
        };
        next = last.seq + 1;
        for rec in &page {
            serde_json::to_writer(&mut *out, rec)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(next - 1)
}
