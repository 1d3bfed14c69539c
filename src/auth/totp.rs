//! TOTP (RFC 6238): 160-bit secrets, SHA-1, 6 digits, 30 s steps (B1). We check the current and
//! the previous step ourselves so the caller learns which step matched and can refuse replays
//! (B2, B3). Secrets are encrypted at rest with a key from configuration (B11).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Secret};
use unicode_normalization::UnicodeNormalization;

use crate::clock::Timestamp;

pub const STEP_SECS: i64 = 30;
pub const DIGITS: usize = 6;
pub const ISSUER: &str = "Madoguchi";

/// A fresh 160-bit secret.
pub fn generate_secret() -> Vec<u8> {
    let mut bytes = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

fn totp(secret: &[u8], account: &str) -> anyhow::Result<totp_rs::Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_step_duration(STEP_SECS as u64)
        .with_secret(Secret::from(secret))
        .with_issuer(Some(ISSUER))
        .with_account_name(account.replace(':', " "))
        .build()
        .map_err(|e| anyhow::anyhow!("building TOTP: {e}"))
}

/// The code for the step that contains `time`.
pub fn code_at(secret: &[u8], time: Timestamp) -> anyhow::Result<String> {
    Ok(totp(secret, "x")?.generate(time.max(0) as u64).to_string())
}

/// The key as people type it into an app (base32, in groups of four).
pub fn display_key(secret: &[u8]) -> String {
    let b32 = Secret::from(secret).to_base32();
    b32.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads a key as shown by `display_key` (spaces and case ignored).
pub fn parse_display_key(key: &str) -> Option<Vec<u8>> {
    let compact: String = key
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    Secret::try_from_base32(compact)
        .ok()
        .map(|s| s.as_ref().to_vec())
}

/// The `otpauth://` URI that authenticator apps open or scan.
pub fn otpauth_uri(secret: &[u8], account: &str) -> anyhow::Result<String> {
    totp(secret, account)?
        .to_url()
        .map_err(|e| anyhow::anyhow!("building otpauth URI: {e}"))
}

/// Normalises what a person typed: full-width digits and spaces are accepted.
pub fn normalise_code(input: &str) -> Option<String> {
    let code: String = input
        .nfkc()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// The step a code belongs to, if it is the code of the current or the previous step.
pub fn matching_step(secret: &[u8], input: &str, now: Timestamp) -> anyhow::Result<Option<i64>> {
    let Some(code) = normalise_code(input) else {
        return Ok(None);
    };
    let current = now.div_euclid(STEP_SECS);
    let mut found = None;
    // Both steps are always computed so the time taken does not depend on which matched.
    for step in [current, current - 1] {
        let expected = code_at(secret, step * STEP_SECS)?;
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    Ok(found)
}

/// Encrypts and decrypts secrets with the configured key, bound to the account id.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
    /// Keys the recovery-code hashes (B9); derived from the configured key, never stored in
    /// the database, so a copy of the database alone cannot test guesses offline.
    recovery_key: [u8; 32],
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(key.into()),
            recovery_key: keyed_hash(key, b"madoguchi/recovery-codes/v1"),
        }
    }

    /// HMAC-SHA-256 of a recovery code's plain digest with the server's recovery key, in hex.
    pub fn recovery_hash(&self, digest: &str) -> String {
        hex::encode(keyed_hash(&self.recovery_key, digest.as_bytes()))
    }

    pub fn seal(&self, account_id: &str, secret: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: account_id.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("encrypting a TOTP secret"))?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, account_id: &str, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        if sealed.len() < 12 {
            anyhow::bail!("sealed TOTP secret too short");
        }
        let (nonce, body) = sealed.split_at(12);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: account_id.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("a TOTP secret could not be decrypted with this key"))
    }
}

fn keyed_hash(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// A secret carried between the two enrolment pages, sealed so the session store never holds
/// it in the clear.
pub fn seal_for_session(b: &SecretBox, scope: &str, secret: &[u8]) -> anyhow::Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(b.seal(scope, secret)?))
}

pub fn open_from_session(b: &SecretBox, scope: &str, sealed: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed)?;
    b.open(scope, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_sha1_test_vectors_pass() {
        // SECURITY B1: RFC 6238 appendix B, SHA-1, truncated to our 6 digits.
        for (time, code8) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(code_at(RFC_SECRET, time).expect("code"), &code8[2..]);
        }
    }

    #[test]
    fn secrets_are_160_bits_and_the_uri_names_sha1_six_digits_thirty_seconds() {
        // SECURITY B1
        let s = generate_secret();
        assert_eq!(s.len(), 20);
        assert_ne!(s, generate_secret());
        let uri = otpauth_uri(&s, "clerk@city.example.jp").expect("uri");
        assert!(uri.starts_with("otpauth://totp/Madoguchi:"), "{uri}");
        assert!(uri.contains("digits=6") || !uri.contains("digits="));
        assert!(display_key(&s).replace(' ', "").len() == 32);
        assert_eq!(parse_display_key(&display_key(&s)), Some(s));
    }

    #[test]
    fn only_the_current_and_previous_steps_are_accepted() {
        // SECURITY B2
        let now = 1_700_000_015;
        let t = now / STEP_SECS;
        let at = |step: i64| code_at(RFC_SECRET, step * STEP_SECS).expect("code");
        assert_eq!(matching_step(RFC_SECRET, &at(t), now).expect("m"), Some(t));
        assert_eq!(
            matching_step(RFC_SECRET, &at(t - 1), now).expect("m"),
            Some(t - 1)
        );
        assert_eq!(matching_step(RFC_SECRET, &at(t - 2), now).expect("m"), None);
        assert_eq!(matching_step(RFC_SECRET, &at(t + 1), now).expect("m"), None);
    }

    #[test]
    fn full_width_digits_and_spaces_are_read_as_the_code() {
        assert_eq!(normalise_code("１２３ ４５６").as_deref(), Some("123456"));
        assert_eq!(normalise_code("12345"), None);
        assert_eq!(normalise_code("12345a"), None);
    }

    #[test]
    fn a_sealed_secret_opens_only_with_the_same_key_and_account() {
        // SECURITY B11
        let b = SecretBox::new(&[7u8; 32]);
        let sealed = b.seal("acct", b"secret-bytes-20-long").expect("seal");
        assert!(!sealed.windows(20).any(|w| w == b"secret-bytes-20-long"));
        assert_eq!(
            b.open("acct", &sealed).expect("open"),
            b"secret-bytes-20-long"
        );
        assert!(b.open("other", &sealed).is_err());
        assert!(SecretBox::new(&[8u8; 32]).open("acct", &sealed).is_err());
    }
}
