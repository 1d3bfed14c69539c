//! Passwords (B6): length only (no composition rules), common passwords refused, any Unicode
//! compared exactly, argon2id with m=19456 KiB, t=2, p=1, hashed off the async executor.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

pub const GUEST_MIN_CHARS: usize = 8;
pub const CLERK_MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;

/// Frequently chosen passwords long enough to pass the length rule.
const COMMON: &str = include_str!("common-passwords.txt");

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum PasswordProblem {
    TooShort,
    TooLong,
    Common,
    Mismatch,
}

/// Checks a new password; `min` is the account kind's minimum length in characters.
pub fn check_new(password: &str, confirm: &str, min: usize) -> Result<(), PasswordProblem> {
    let chars = password.chars().count();
    if chars < min {
        return Err(PasswordProblem::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(PasswordProblem::TooLong);
    }
    let lower = password.to_lowercase();
    if COMMON.lines().any(|c| c == lower) {
        return Err(PasswordProblem::Common);
    }
    if password != confirm {
        return Err(PasswordProblem::Mismatch);
    }
    Ok(())
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// How many passwords are hashed or verified at once: one per core. Each argon2 run takes
/// 19 MiB and a core for its whole time, so twenty people signing in together queue here
/// instead of taking twenty blocking threads and 380 MiB, and page views keep their cores.
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

/// Hashes on a blocking thread, at most one per core at a time.
pub async fn hash(password: String) -> anyhow::Result<String> {
    let _turn = HASHING.acquire().await?;
    tokio::task::spawn_blocking(move || {
        argon2()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

/// A fixed hash checked when the account does not exist, so both answers take as long (B7).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0Gx9U8uSqHHcPCO1IJMyPkkfR7pyrFJ8g8fhQGJXz2Y";

/// Verifies on a blocking thread, at most one per core at a time; `None` as the stored hash
/// still costs one verification.
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    let _turn = HASHING.acquire().await?;
    tokio::task::spawn_blocking(move || {
        let exists = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| anyhow::anyhow!("stored password hash unreadable: {e}"))?;
        let ok = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && exists)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_password_is_refused_by_characters_not_bytes() {
        // SECURITY B6: seven Japanese characters are 21 bytes but still too short.
        assert_eq!(
            check_new("あいうえおかき", "あいうえおかき", GUEST_MIN_CHARS),
            Err(PasswordProblem::TooShort)
        );
        assert_eq!(
            check_new("あいうえおかきく", "あいうえおかきく", GUEST_MIN_CHARS),
            Ok(())
        );
    }

    #[test]
    fn sixty_four_characters_and_any_unicode_are_allowed_without_composition_rules() {
        // SECURITY B6
        let long = "窓口".repeat(32);
        assert_eq!(check_new(&long, &long, CLERK_MIN_CHARS), Ok(()));
        let plain = "correct horse battery staple";
        assert_eq!(check_new(plain, plain, CLERK_MIN_CHARS), Ok(()));
    }

    #[test]
    fn common_passwords_are_refused() {
        // SECURITY B6
        assert_eq!(
            check_new("password123", "password123", GUEST_MIN_CHARS),
            Err(PasswordProblem::Common)
        );
        assert_eq!(
            check_new("Password1", "Password1", GUEST_MIN_CHARS),
            Err(PasswordProblem::Common)
        );
    }

    #[test]
    fn clerks_need_twelve_characters() {
        assert_eq!(
            check_new("elevenchars", "elevenchars", CLERK_MIN_CHARS),
            Err(PasswordProblem::TooShort)
        );
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_the_owasp_parameters_and_compare_exactly() {
        // SECURITY B6
        let h = hash("Ｐａｓｓ ｗｏｒｄ 窓口".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            verify("Ｐａｓｓ ｗｏｒｄ 窓口".into(), Some(h.clone()))
                .await
                .expect("v")
        );
        // No normalisation: the half-width spelling is a different password.
        assert!(!verify("Pass word 窓口".into(), Some(h)).await.expect("v"));
        assert!(!verify("anything".into(), None).await.expect("v"));
    }
}
