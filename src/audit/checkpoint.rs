//! Signed, chained checkpoints of the audit chain, kept outside the database (G7). At start, at
//! a fixed interval, at shutdown and on `madoguchi audit checkpoint`, the chain's head (sequence,
//! hash, time) is signed with an Ed25519 key that never enters the database and appended to a
//! log file, one JSON object per line — like CloudTrail's signed, chained digest files. Each
//! checkpoint carries the digest of the one before (`prev`), so one checkpoint vouches for the
//! whole log before it.
//!
//! What this protects depends on who holds a copy. Someone who can rewrite the database but not
//! the log or the key cannot make the database agree with the log. The server's operator can do
//! all three: cut the log back with the database, or rewrite the chain and re-sign every
//! checkpoint with the key beside it. Only a witness outside their reach catches that: the
//! checkpoints also go to an auditor's mailbox and/or an HTTP endpoint (`web::server`), and
//! `audit verify --witness` checks the log and the database against that copy.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    /// The digest of the checkpoint before it in the log (`GENESIS` for the first); absent in
    /// checkpoints written before they were chained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    /// Ed25519 over `message`, base64.
    pub signature: String,
}

/// What the first chained checkpoint of a log names as the one before it.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The bytes a checkpoint's signature covers (v1 before checkpoints were chained).
fn message(seq: i64, hash: &str, at: Timestamp, prev: Option<&str>) -> Vec<u8> {
    match prev {
        None => format!("madoguchi audit checkpoint v1\n{seq}\n{hash}\n{at}").into_bytes(),
        Some(prev) => {
            format!("madoguchi audit checkpoint v2\n{seq}\n{hash}\n{at}\n{prev}").into_bytes()
        }
    }
}

impl Checkpoint {
    /// What the next checkpoint names as `prev`: SHA-256 of this one's signed bytes and signature.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(message(self.seq, &self.hash, self.at, self.prev.as_deref()));
        h.update(b"\n");
        h.update(self.signature.as_bytes());
        hex::encode(h.finalize())
    }

    /// Whether `key` signed exactly this checkpoint.
    pub fn signed_by(&self, key: &VerifyingKey) -> bool {
        let signature = B64
            .decode(&self.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|b| Signature::from_bytes(&b));
        signature.is_some_and(|sig| {
            key.verify(
                &message(self.seq, &self.hash, self.at, self.prev.as_deref()),
                &sig,
            )
            .is_ok()
        })
    }
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

    /// Signs a head, chained to the checkpoint whose digest is `prev`.
    pub fn sign(&self, seq: i64, hash: &str, at: Timestamp, prev: &str) -> Checkpoint {
        let signature = self.0.sign(&message(seq, hash, at, Some(prev)));
        Checkpoint {
            seq,
            hash: hash.to_string(),
            at,
            prev: Some(prev.to_string()),
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
        if !cp.signed_by(key) {
            return bad(
                "its signature does not match: the line was edited or not signed by this key",
            );
        }
        match (&cp.prev, out.last()) {
            (Some(prev), last) => {
                let expected = last.map_or_else(|| GENESIS.to_string(), Checkpoint::digest);
                if *prev != expected {
                    return bad(
                        "it does not chain to the line before it: lines before it were removed, \
                         replaced or reordered",
                    );
                }
            }
            (None, Some(last)) if last.prev.is_some() => {
                return bad("an unchained line after chained ones");
            }
            (None, _) => {}
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
    let last = newest(path)?;
    if !always && last.as_ref().map(|cp| cp.seq) == Some(seq) {
        return Ok(None);
    }
    let prev = last.map_or_else(|| GENESIS.to_string(), |cp| cp.digest());
    let cp = signer.sign(seq, &hash, now, &prev);
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

/// The log's newest checkpoint, unchecked (to chain the next one to it, and to send it to the
/// witness).
pub fn newest(path: &Path) -> anyhow::Result<Option<Checkpoint>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    Ok(text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<Checkpoint>(l).ok()))
}

/// The checkpoints in a text: every line that is one (a JSONL file, or a mail's body).
fn checkpoints_in(text: &str) -> impl Iterator<Item = Checkpoint> + '_ {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Checkpoint>(l.trim()).ok())
}

/// The witness's copy: a JSON-lines file of checkpoints (as an HTTP witness keeps them), or a
/// folder of the mails the witness received (`.eml`). Every checkpoint in it must be signed by
/// `key`; they come back ordered, without duplicates.
pub fn read_witness(path: &Path, key: &VerifyingKey) -> anyhow::Result<Vec<Checkpoint>> {
    let mut found = vec![];
    if path.is_dir() {
        let mut mails: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("eml")))
            .collect();
        mails.sort();
        for mail in mails {
            let bytes =
                std::fs::read(&mail).with_context(|| format!("reading {}", mail.display()))?;
            let Some(parsed) = mail_parser::MessageParser::default().parse(&bytes) else {
                continue;
            };
            for i in 0..parsed.text_body_count() {
                if let Some(text) = parsed.body_text(i) {
                    found.extend(checkpoints_in(&text));
                }
            }
        }
    } else {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        found.extend(checkpoints_in(&text));
    }
    if let Some(bad) = found.iter().find(|cp| !cp.signed_by(key)) {
        anyhow::bail!(
            "the witness's copy holds a checkpoint of record {} that this key did not sign",
            bad.seq
        );
    }
    found.sort_by(|a, b| (a.seq, a.at, &a.signature).cmp(&(b.seq, b.at, &b.signature)));
    found.dedup();
    Ok(found)
}

/// Checks the log against the witness's copy: every checkpoint the witness holds must stand in
/// the log as it was sent. `Err` says what was done to the log.
pub fn compare_with_witness(log: &[Checkpoint], witness: &[Checkpoint]) -> Result<(), String> {
    for w in witness {
        if !log.contains(w) {
            return Err(format!(
                "the checkpoint of record {} signed at {} is in the witness's copy but not in the \
                 checkpoint log: the log was cut back, emptied, deleted or rewritten and re-signed",
                w.seq,
                crate::i18n::Lang::En.datetime(w.at)
            ));
        }
    }
    Ok(())
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
        let good = signer.sign(5, &"a".repeat(64), 1_800_000_000, GENESIS);
        let mut edited = signer.sign(9, &"b".repeat(64), 1_800_000_600, &good.digest());
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
    fn a_line_taken_out_of_the_chain_breaks_it() {
        // SECURITY G7
        let signer = Signer::new(&[7u8; 32]);
        let key = public_key(&signer.public_key()).expect("key");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("log.jsonl");
        let one = signer.sign(1, &"a".repeat(64), 10, GENESIS);
        let two = signer.sign(2, &"b".repeat(64), 20, &one.digest());
        let three = signer.sign(3, &"c".repeat(64), 30, &two.digest());
        let write = |cps: &[&Checkpoint]| {
            let text: Vec<String> = cps
                .iter()
                .map(|c| serde_json::to_string(c).expect("json"))
                .collect();
            std::fs::write(&path, text.join("\n")).expect("write");
        };
        write(&[&one, &two, &three]);
        assert_eq!(read_log(&path, &key).expect("read").map(|l| l.len()), Ok(3));
        write(&[&one, &three]);
        assert_eq!(
            read_log(&path, &key).expect("read").expect_err("cut").line,
            2
        );
        write(&[&two, &three]);
        assert_eq!(
            read_log(&path, &key).expect("read").expect_err("cut").line,
            1
        );
        // The witness's copy names what the log lacks.
        let log = [one.clone(), two.clone()];
        assert!(compare_with_witness(&log, std::slice::from_ref(&two)).is_ok());
        assert!(compare_with_witness(std::slice::from_ref(&one), &[two]).is_err());
    }

    #[test]
    fn another_key_does_not_check_the_log() {
        let signer = Signer::new(&[7u8; 32]);
        let other = public_key(&Signer::new(&[8u8; 32]).public_key()).expect("key");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("log.jsonl");
        let cp = signer.sign(1, &"c".repeat(64), 1, GENESIS);
        std::fs::write(&path, serde_json::to_string(&cp).expect("json")).expect("write");
        assert!(read_log(&path, &other).expect("read").is_err());
    }
}
