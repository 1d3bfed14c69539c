//! One-time link tokens (A1): 256 random bits, URL-safe; only the SHA-256 is ever stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A token as given to a person. Its `Debug` hides it so it cannot reach a log by accident.
pub struct LinkToken(String);

impl LinkToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts only what `generate` can produce; anything else is no token at all.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == 43
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkToken([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_carries_256_bits_and_is_url_safe() {
        // SECURITY A1
        let t = LinkToken::generate();
        let raw = URL_SAFE_NO_PAD.decode(t.as_str()).expect("base64url");
        assert_eq!(raw.len(), 32);
        assert!(LinkToken::parse(t.as_str()).is_some());
        assert_ne!(t.as_str(), LinkToken::generate().as_str());
        assert_eq!(t.hash().len(), 64);
        assert!(!t.hash().contains(t.as_str()));
    }

    #[test]
    fn malformed_tokens_are_not_tokens() {
        assert!(LinkToken::parse("short").is_none());
        assert!(LinkToken::parse(&"a".repeat(42)).is_none());
        assert!(LinkToken::parse(&format!("{}/", "a".repeat(42))).is_none());
    }
}
