//! The audit trail: one writer for every feature. Records are append-only (triggers refuse UPDATE
//! and DELETE) and hash-chained: each carries the SHA-256 of its content and of the record before
//! it, so `madoguchi audit verify` finds the first record edited by hand (G4).
//!
//! A record is written in the same transaction as the change it describes; if it cannot be
//! written, the change is rolled back with it (G5). Never put secrets, codes, tokens, session ids
//! or message bodies in a record (G3).

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

#[derive(Clone, Debug, FromRow)]
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
    fn compute_hash(&self) -> String {
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
    // Taking the head row first serialises writers on both backends, so the chain never forks.
    let (seq, prev_hash): (i64, String) = sqlx::query_as(
        "update audit_head set seq = seq + 1 where audit_head_id = 1 returning seq, last_hash",
    )
    .fetch_one(&mut *conn)
    .await?;
    let (actor_kind, actor_id) = event.actor.parts();
    let mut rec = Record {
        seq,
        at: now,
        actor_kind: actor_kind.to_string(),
        actor_id: actor_id.map(str::to_string),
        action: event.action.to_string(),
        target: event.target.clone(),
        channel_id: event.channel_id.clone(),
        outcome: event.outcome.as_str().to_string(),
        source: source.address.clone(),
        request_id: source.request_id.clone(),
        detail: event.detail.clone(),
        prev_hash,
        hash: String::new(),
    };
    rec.hash = rec.compute_hash();
    sqlx::query(
        "insert into audit_event (seq, at, actor_kind, actor_id, action, target, channel_id, \
         outcome, source, request_id, detail, prev_hash, hash) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
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
    .bind(&rec.hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("update audit_head set last_hash = $1 where audit_head_id = 1")
        .bind(&rec.hash)
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

/// Walks the whole chain in order and reports the first record that does not fit.
pub async fn verify(db: &Db) -> Result<Verdict, sqlx::Error> {
    const PAGE: i64 = 1000;
    let mut expected_prev = "0".repeat(64);
    let mut expected_seq = 1i64;
    let mut count = 0i64;
    loop {
        let page = sqlx::query_as::<_, Record>(
            "select seq, at, actor_kind, actor_id, action, target, channel_id, outcome, source, \
             request_id, detail, prev_hash, hash from audit_event where seq >= $1 \
             order by seq limit $2",
        )
        .bind(expected_seq)
        .bind(PAGE)
        .fetch_all(&db.pool)
        .await?;
        if page.is_empty() {
            break;
        }
        for rec in &page {
            if rec.seq != expected_seq {
                return Ok(Verdict::Broken {
                    seq: expected_seq,
                    reason: format!("record {expected_seq} is missing"),
                });
            }
            if rec.prev_hash != expected_prev {
                return Ok(Verdict::Broken {
                    seq: rec.seq,
                    reason: "does not link to the record before it".into(),
                });
            }
            if rec.compute_hash() != rec.hash {
                return Ok(Verdict::Broken {
                    seq: rec.seq,
                    reason: "its content does not match its hash".into(),
                });
            }
            expected_prev = rec.hash.clone();
            expected_seq += 1;
            count += 1;
        }
    }
    let head: (i64, String) =
        sqlx::query_as("select seq, last_hash from audit_head where audit_head_id = 1")
            .fetch_one(&db.pool)
            .await?;
    if head.0 != count || (count > 0 && head.1 != expected_prev) {
        return Ok(Verdict::Broken {
            seq: count + 1,
            reason: format!(
                "the chain ends at record {count} but {} were written",
                head.0
            ),
        });
    }
    Ok(Verdict::Intact { records: count })
}
