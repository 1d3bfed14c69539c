//! Guests: the vocabulary (kind, permission), the rules of their expiry, sign-in ids and
//! recovery codes, and the signed-in guest. Issuing (`issue`), the rest of the lifecycle
//! (`lifecycle`), expiry and reminders (`sweep`) are operations; enrolment is in `enrolment`.

pub mod csv;
pub mod issue;
pub mod lifecycle;
pub mod mails;
pub mod pages;
pub mod recovery;
pub mod store;
pub mod sweep;

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::audit::Actor;
use crate::auth::totp::SecretBox;
use crate::clock::{Timestamp, end_of_day, last_day};
use crate::i18n::Lang;
use store::Guest;

crate::vocab::text_enum!(
    /// What kind of organisation or person a guest is.
    Kind, "guest kind" {
        Hospital = "hospital",
        School = "school",
        Resident = "resident",
        Business = "business",
        Other = "other",
    }
);

crate::vocab::text_enum!(
    /// What a guest may do in their channel.
    Permission, "permission" { Read = "read", Post = "post", PostFiles = "post_files" }
);

impl Permission {
    pub fn may_post(self) -> bool {
        matches!(self, Permission::Post | Permission::PostFiles)
    }

    /// Whether the guest may send files (D6): only 「読む・書く・ファイルを送る」.
    pub fn may_send_files(self) -> bool {
        self == Permission::PostFiles
    }
}
/// A signed-in guest, re-checked on this request: account active, not expired, channel not
/// archived (C5). The session proves who; the database says whether.
#[derive(Clone, Debug)]
pub struct GuestUser {
    pub login_id: String,
    pub guest: Guest,
    /// The channel's version and the guest's read mark in it, read with the login (what the
    /// conversation needs to know whether its kept page is current).
    pub channel_version: i64,
    pub read_mark: Option<i64>,
}

impl GuestUser {
    pub fn actor(&self) -> Actor {
        Actor::Guest(self.guest.account_id.clone())
    }
}

pub const ORGANISATION_MAX: usize = 100;
pub const REASON_MAX: usize = 500;
/// Why an expiry cannot be granted (each a locale key).
pub fn check_expiry(
    expires_at: Timestamp,
    now: Timestamp,
    channel_ends_at: Timestamp,
    max_days: i64,
) -> Result<(), &'static str> {
    if expires_at <= now {
        return Err("guest-expiry-past");
    }
    if expires_at > channel_ends_at {
        return Err("guest-expiry-after-channel");
    }
    // Grants run to the end of a day, so the limit is the end of the day `max_days` from now.
    let limit = end_of_day(&last_day(now + max_days * 86_400 + 1)).unwrap_or(now);
    if expires_at > limit {
        return Err("guest-expiry-beyond-policy");
    }
    Ok(())
}

/// A sign-in id for a resident without e-mail, easy to read from paper: `r-7k3m-9p2x`.
pub fn resident_sign_in_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    let mut pick = || ALPHABET[rng.gen_range(0..ALPHABET.len())] as char;
    let a: String = (0..4).map(|_| pick()).collect();
    let b: String = (0..4).map(|_| pick()).collect();
    format!("r-{a}-{b}")
}

/// Ten recovery codes as shown to the guest, and their keyed hashes for storage (B9).
pub fn recovery_codes(secrets: &SecretBox) -> (Vec<String>, Vec<String>) {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    let codes: Vec<String> = (0..10)
        .map(|_| {
            let raw: String = (0..10)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect();
    let hashes = codes
        .iter()
        .map(|c| seal_recovery_code(secrets, c))
        .collect();
    (codes, hashes)
}

/// What is stored of a recovery code (B9): HMAC-SHA-256, with a key outside the database, of
/// its plain digest. Rows from before keyed hashing hold that plain digest and are sealed the
/// same way at start (`guests::store::seal_legacy_recovery_codes`).
pub fn seal_recovery_code(secrets: &SecretBox, typed: &str) -> String {
    secrets.recovery_hash(&hash_recovery_code(typed))
}

/// Plain digest of a recovery code as typed: case, spaces and hyphens do not matter.
pub fn hash_recovery_code(typed: &str) -> String {
    let norm: String = typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(Sha256::digest(norm.as_bytes()))
}

pub struct GuestInput<'a> {
    pub name: &'a str,
    pub organisation: &'a str,
    pub kind: Kind,
    pub email: Option<&'a str>,
    pub permission: Permission,
    pub expires_at: Timestamp,
    pub lang: crate::i18n::Lang,
}

pub struct Issued {
    pub account_id: String,
    pub sign_in_name: String,
    pub link: String,
}

/// The label of a guest kind or permission in a language.
pub fn label(lang: Lang, prefix: &str, value: &str) -> String {
    lang.t(&format!("{prefix}-{value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_ends_at_midnight_japan_time() {
        // 2027-01-15 24:00 JST is 2027-01-15 15:00 UTC.
        let t = end_of_day("2027-01-15").expect("date");
        assert_eq!(t, 1800025200);
        assert_eq!(last_day(t), "2027-01-15");
        assert_eq!(end_of_day("2027-02-30"), None);
        assert_eq!(end_of_day("soon"), None);
    }

    #[test]
    fn an_expiry_after_the_channel_end_is_rejected() {
        // SECURITY D5
        let now = end_of_day("2027-01-01").expect("d");
        let channel_end = end_of_day("2027-02-01").expect("d");
        assert_eq!(
            check_expiry(end_of_day("2027-02-02").expect("d"), now, channel_end, 90),
            Err("guest-expiry-after-channel")
        );
        assert_eq!(check_expiry(channel_end, now, channel_end, 90), Ok(()));
    }

    #[test]
    fn an_expiry_beyond_the_policy_maximum_is_rejected() {
        // SECURITY D5
        let now = end_of_day("2027-01-01").expect("d") - 3600;
        let channel_end = end_of_day("2028-01-01").expect("d");
        let ok = end_of_day(&last_day(now + 90 * 86_400)).expect("d");
        assert_eq!(check_expiry(ok, now, channel_end, 90), Ok(()));
        assert_eq!(
            check_expiry(ok + 86_400, now, channel_end, 90),
            Err("guest-expiry-beyond-policy")
        );
        assert_eq!(
            check_expiry(now - 1, now, channel_end, 90),
            Err("guest-expiry-past")
        );
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_match_however_typed() {
        // SECURITY B9
        let secrets = SecretBox::new(&[7u8; 32]);
        let (codes, hashes) = recovery_codes(&secrets);
        assert_eq!(codes.len(), 10);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        let typed = codes[3].to_uppercase().replace('-', " ");
        assert_eq!(seal_recovery_code(&secrets, &typed), hashes[3]);
        assert!(!hashes[3].contains(&codes[3]));
        // Keyed: neither the plain digest nor the hash under another key matches (B9).
        assert_ne!(hash_recovery_code(&typed), hashes[3]);
        let other = SecretBox::new(&[8u8; 32]);
        assert_ne!(seal_recovery_code(&other, &typed), hashes[3]);
    }

    #[test]
    fn resident_ids_are_readable_from_paper() {
        let id = resident_sign_in_id();
        assert_eq!(id.len(), 11);
        assert!(id.starts_with("r-"));
        assert!(!id.contains(['0', 'o', '1', 'l', 'i']));
    }
}
