//! Signed checkpoints of the audit chain, kept outside the database (G6). At a fixed interval,
//! at shutdown and on `madoguchi audit checkpoint`, the chain's head (sequence, hash, time) is
//! signed with an Ed25519 key that never enters the database and appended to a log file, one
//! JSON object per line — like CloudTrail's signed digest files. Someone who can rewrite the
//! database, even recompute every hash, cannot make it agree with checkpoints they cannot sign;
//! a database put back to an earlier copy lacks records a checkpoint has seen.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::db::Db;

/// One signed head of the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last record's sequence number when the checkpoint was taken.
    pub seq: i64,
    /// That record's hash.
    pub hash: String,
    /// When the checkpoint was taken (Unix seconds).
    pub at: Timestamp,
    /// Ed25519 over `message(seq, hash, at)`, base64.
    pub signature: String,
}

/// The bytes a checkpoint's signature covers.
fn message(seq: i64, hash: &str, at: Timestamp) -> Vec<u8> {
    format!("madoguchi audit checkpoint v1\n{seq}\n{hash}\n{at}").into_bytes()
}

/// The portal's checkpoint key: signs the heads; its public half checks them.
pub struct Signer(SigningKey);

impl Signer {
    pub fn new(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The public key, base64, as `madoguchi audit public-key` prints it for auditors.
    pub fn public_key(&self) -> String {
        B64.encode(self.0.verifying_key().to_bytes())
    }

    pub fn sign(&self, seq: i64, hash: &str, at: Timestamp) -> Checkpoint {
        let signature = self.0.sign(&message(seq, hash, at));
        Checkpoint {
            seq,
            hash: hash.to_string(),
            at,
            signature: B64.encode(signature.to_bytes()),
        }
    }
}

/// A public key given as base64 (from `madoguchi audit public-key`).
pub fn public_key(encoded: &str) -> anyhow::Result<VerifyingKey> {
    let bytes: [u8; 32] = B64
        .decode(encoded.trim())
        .context("the public key is not base64")?
        .try_into()
        .map_err(|_| anyhow::anyhow!("the public key must be 32 bytes"))?;
    VerifyingKey::from_bytes(&bytes).context("not an Ed25519 public key")
}

/// A checkpoint log that cannot be trusted, and where.
#[derive(Debug, PartialEq, Eq)]
pub struct BadLog {
    pub line: usize,
    pub reason: String,
}

/// Reads a checkpoint log and checks every line's signature and order. A missing file is an
/// empty log (no checkpoint taken yet).
pub fn read_log(
    path: &Path,
    key: &VerifyingKey,
) -> anyhow::Result<Result<Vec<Checkpoint>, BadLog>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ok(vec![])),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut out: Vec<Checkpoint> = vec![];
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| {
            Ok(Err(BadLog {
                line: i + 1,
                reason: reason.to_string(),
            }))
        };
        let Ok(cp) = serde_json::from_str::<Checkpoint>(&line) else {
            return bad("not a checkpoint");
        };
        let signature = B64
            .decode(&cp.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|b| Signature::from_bytes(&b));
        let Some(signature) = signature else {
            return bad("its signature is unreadable");
        };
        if key
            .verify(&message(cp.seq, &cp.hash, cp.at), &signature)
            .is_err()
        {
            return bad(
                "its signature does not match: the line was edited or not signed by this key",
            );
        }
        if out.last().is_some_and(|prev| cp.seq < prev.seq) {
            return bad("it goes back to an earlier record than the line before it");
        }
        out.push(cp);
    }
    Ok(Ok(out))
}

/// Signs the chain's head now and appends it to the log at `path`, synced to disk. Unless
/// `always`, nothing is written when the head has not moved since the log's last checkpoint.
pub async fn take(
    db: &Db,
    signer: &Signer,
    path: &Path,
    now: Timestamp,
    always: bool,
) -> anyhow::Result<Option<Checkpoint>> {
    let (seq, hash) = super::head(db).await?;
    if !always && last_seq(path)? == Some(seq) {
        return Ok(None);
    }
    let cp = signer.sign(seq, &hash, now);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::files::private_dir(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut line = serde_json::to_string(&cp)?;
    line.push('\n');
    file.write_all(line.as_bytes())?;
    file.sync_all()?;
    Ok(Some(cp))
}

/// The sequence of the log's last checkpoint, unchecked (only to skip an unchanged head).
fn last_seq(path: &Path) -> anyhow::Result<Option<i64>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    Ok(text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<Checkpoint>(l).ok())
        .map(|cp| cp.seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_signed_with_the_key_checks_and_an_edited_one_does_not() {
        let signer = Signer::new(&[7u8; 32]);
        let key = public_key(&signer.public_key()).expect("key");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("log.jsonl");
        let good = signer.sign(5, &"a".repeat(64), 1_800_000_000);
        let mut edited = signer.sign(9, &"b".repeat(64), 1_800_000_600);
        edited.seq = 8;
        let lines = [&good, &edited]
            .iter()
            .map(|c| serde_json::to_string(c).expect("json"))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&path, lines).expect("write");
        let read = read_log(&path, &key).expect("read");
        assert_eq!(read.expect_err("edited").line, 2);
        std::fs::write(&path, serde_json::to_string(&good).expect("json")).expect("write");
        assert_eq!(read_log(&path, &key).expect("read"), Ok(vec![good]));
    }

    #[test]
    fn another_key_does_not_check_the_log() {
        let signer = Signer::new(&[7u8; 32]);
        let other = public_key(&Signer::new(&[8u8; 32]).public_key()).expect("key");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("log.jsonl");
        let cp = signer.sign(1, &"c".repeat(64), 1);
        std::fs::write(&path, serde_json::to_string(&cp).expect("json")).expect("write");
        assert!(read_log(&path, &other).expect("read").is_err());
    }
}
