//! Passwords (B6): length only (no composition rules), common passwords refused, any Unicode
//! compared exactly, argon2id with m=19456 KiB, t=2, p=1, hashed off the async executor.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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

type Job = Box<dyn FnOnce() + Send>;

/// The threads that hash and verify passwords: half the cores (at least one), for the life of
/// the process. Each argon2 run takes 19 MiB and a core for its whole time. On the shared
/// blocking pool, twenty people signing in together spread those runs over many short-lived
/// threads, and the allocator kept each thread's 19 MiB: the portal grew by 200 MiB. Here the
/// runs queue for a few threads that reuse their memory, and however many people sign in at
/// once, page views keep at least half the cores (bench, 2 cores: one thread served 21
/// sign-ins/s where two served 26, and the guest page kept 66% of its throughput, not 54%).
static HASHERS: std::sync::LazyLock<std::sync::mpsc::Sender<Job>> =
    std::sync::LazyLock::new(|| {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        let threads = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
        // Each thread rests after every run as long as the run took: hashing gets at most half
        // of its core, however many people sign in at once. Nice alone did not keep it off the
        // pages: while 20 people signed in, the hashing thread took a third of both cores
        // (perf, all threads) and the guest page's p99 rose 2.33× (6.4 → 14.9 ms) beside its
        // slices alone; resting, 1.72× (6.8 → 11.7 ms), with 19 sign-ins/s instead of 40
        // (p50 1.1 s instead of 0.5 s). A single sign-in waits for no rest.
        for i in 0..threads {
            let queue = queue.clone();
            let started = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => {
                                let started = std::time::Instant::now();
                                job();
                                std::thread::sleep(started.elapsed());
                            }
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = started {
                tracing::error!(error = %e, "a password hashing thread could not start");
            }
        }
        jobs
    });

/// How much the hashing threads give way to the rest of the portal (a Unix nice value): the
/// most a thread can, short of running only when a core is idle.
const HASHER_NICENESS: i32 = 19;

/// Makes the calling hashing thread yield the cores to page views when both want them: a burst
/// of sign-ins then queues for its hashes instead of stalling every page in the city (bench:
/// the guest page's p99 went from 88 to 283 ms while 20 people signed in). When the portal is
/// otherwise idle the hashes still get whole cores. Linux applies a nice value per thread.
/// At nice 10 the hashes still took about 40% of the machine while pages were busy (guest page
/// p99 19.1 ms alone, 44.5 ms during 20 sign-ins at 16/s); at 19, 20.6 and 32.3 ms at 22
/// sign-ins/s. Only-when-idle (`SCHED_IDLE`) halved the sign-ins instead.
fn lower_priority() {
    let me = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(me), HASHER_NICENESS) {
        tracing::warn!(error = %e, "a password hashing thread kept its priority");
    }
}

/// Runs `f` on a hashing thread and waits for it without holding an async worker.
async fn on_hasher<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> anyhow::Result<R> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    HASHERS
        .send(Box::new(move || {
            let _ = answer.send(f());
        }))
        .map_err(|_| anyhow::anyhow!("the password hashing threads have stopped"))?;
    Ok(answered.await?)
}

thread_local! {
    /// This hashing thread's argon2 working memory (19 MiB), allocated once and reused.
    static BLOCKS: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs argon2 with this thread's working memory, sized for `params`.
fn with_memory<R>(params: &Params, f: impl FnOnce(&mut [Block]) -> R) -> R {
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        let need = params.block_count();
        if blocks.len() != need {
            *blocks = vec![Block::default(); need];
        }
        f(&mut blocks)
    })
}

/// Hashes on a hashing thread, as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub async fn hash(password: String) -> anyhow::Result<String> {
    on_hasher(move || {
        let argon = argon2();
        let mut salt = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        let salt = Salt::new(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        with_memory(argon.params(), |blocks| {
            argon.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
        })
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(argon.params())
                .map_err(|e| anyhow::anyhow!("hash parameters: {e}"))?,
            salt: Some(salt),
            hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("hash output: {e}"))?),
        };
        Ok(phc.to_string())
    })
    .await?
}

/// A fixed hash checked when the account does not exist, so both answers take as long (B7).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0Gx9U8uSqHHcPCO1IJMyPkkfR7pyrFJ8g8fhQGJXz2Y";

/// Verifies on a hashing thread, with the parameters stored in the hash; `None` as the stored
/// hash still costs one verification.
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    on_hasher(move || {
        let exists = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
        let unreadable =
            |e: &dyn std::fmt::Display| anyhow::anyhow!("stored password hash unreadable: {e}");
        let parsed = PasswordHash::new(&stored).map_err(|e| unreadable(&e))?;
        let params = Params::try_from(&parsed).map_err(|e| unreadable(&e))?;
        let algorithm =
            Algorithm::try_from(parsed.algorithm.as_str()).map_err(|e| unreadable(&e))?;
        let version =
            Version::try_from(parsed.version.unwrap_or(0x13)).map_err(|e| unreadable(&e))?;
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return Err(anyhow::anyhow!(
                "stored password hash unreadable: no salt or hash"
            ));
        };
        let argon = Argon2::new(algorithm, version, params);
        let mut out = vec![0u8; expected.len()];
        with_memory(argon.params(), |blocks| {
            argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks)
        })
        .map_err(|e| anyhow::anyhow!("verifying a password: {e}"))?;
        let ok: bool = subtle::ConstantTimeEq::ct_eq(out.as_slice(), expected.as_bytes()).into();
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

    #[tokio::test]
    async fn hashes_made_before_the_hashing_threads_still_verify_and_new_ones_verify_elsewhere() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let before = super::argon2()
            .hash_password(b"an older password")
            .expect("hash")
            .to_string();
        assert!(
            verify("an older password".into(), Some(before.clone()))
                .await
                .expect("v")
        );
        assert!(
            !verify("an older passwore".into(), Some(before))
                .await
                .expect("v")
        );
        let ours = hash("a newer password".into()).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("phc");
        assert!(
            super::argon2()
                .verify_password(b"a newer password", &parsed)
                .is_ok()
        );
        // Twenty at once all come back, on the few hashing threads.
        let all = futures_util::future::join_all(
            (0..20).map(|i| verify(format!("p{i}"), Some(ours.clone()))),
        )
        .await;
        assert!(all.iter().all(|r| matches!(r, Ok(false))));
    }
}
