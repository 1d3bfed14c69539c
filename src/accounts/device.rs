//! Device cookies (SECURITY B14, OWASP's "device cookies"): a browser in which someone has
//! signed in completely — password and second factor — is given a signed cookie naming the
//! sign-in name, and is from then on a known device for that name. Password attempts at a name
//! from browsers that do not carry its cookie share one budget per hour, from whatever address
//! they come (`throttle::take_untrusted_try`); attempts from a known device never draw on it, so
//! strangers spread over many addresses cannot slow the owner down on their own phone or PC.
//!
//! A value is up to `MAX_NAMES` entries `tag.nonce.mac`, newest first: `tag` is a hash of the
//! sign-in name (the name itself is not in the cookie), `nonce` random, `mac` an HMAC-SHA256 of
//! both under the portal's session key. Nothing is stored on the server.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie's name (with `__Host-` in front when served over TLS).
pub const COOKIE: &str = "madoguchi_device";
/// How many sign-in names one browser is a known device for (a shared office PC).
pub const MAX_NAMES: usize = 5;
/// How long a browser stays a known device without signing in again, in seconds.
pub const LIFETIME_SECS: i64 = 365 * 24 * 3600;

/// The hash a sign-in name is known by in the cookie.
fn tag(name: &str) -> String {
    hex::encode(&Sha256::digest(name.as_bytes())[..16])
}

fn mac(key: &[u8], tag: &str, nonce: &str) -> Vec<u8> {
    // A key of any length is accepted by HMAC.
    let mut m = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return vec![],
    };
    m.update(b"madoguchi device cookie\0");
    m.update(tag.as_bytes());
    m.update(b"\0");
    m.update(nonce.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The entries of a value whose signature holds, as (tag, entry).
fn valid_entries<'a>(key: &[u8], value: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
    value.split('~').filter_map(move |entry| {
        let mut parts = entry.split('.');
        let (tag, nonce, sig) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let sig = hex::decode(sig).ok()?;
        let expected = mac(key, tag, nonce);
        (!expected.is_empty() && bool::from(expected.ct_eq(&sig))).then_some((tag, entry))
    })
}

/// Whether `value` (the cookie as the browser sent it) makes this browser a known device for
/// the sign-in name `name` (already normalised as sign-in normalises it).
pub fn recognises(key: &[u8], value: Option<&str>, name: &str) -> bool {
    let Some(value) = value else {
        return false;
    };
    let wanted = tag(name);
    valid_entries(key, value).any(|(t, _)| t == wanted)
}

/// The cookie's new value after a complete sign-in with `name`: an entry for it first, then the
/// valid entries for other names the browser already carried, at most `MAX_NAMES` in all.
pub fn issue(key: &[u8], existing: Option<&str>, name: &str) -> String {
    let new_tag = tag(name);
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let nonce = hex::encode(nonce);
    let mut entries = vec![format!(
        "{new_tag}.{nonce}.{}",
        hex::encode(mac(key, &new_tag, &nonce))
    )];
    if let Some(existing) = existing {
        entries.extend(
            valid_entries(key, existing)
                .filter(|(t, _)| *t != new_tag)
                .map(|(_, e)| e.to_string())
                .take(MAX_NAMES - 1),
        );
    }
    entries.join("~")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a key of sixty-four bytes for the tests of the device cookies..";

    #[test]
    fn a_browser_is_known_for_the_names_signed_in_there_only() {
        // SECURITY B14
        let v = issue(KEY, None, "sato@hospital.example.jp");
        assert!(recognises(KEY, Some(&v), "sato@hospital.example.jp"));
        assert!(!recognises(KEY, Some(&v), "tanaka@hospital.example.jp"));
        assert!(!recognises(KEY, None, "sato@hospital.example.jp"));
        // Another key (another portal) and a changed value are not recognised.
        assert!(!recognises(
            b"another key",
            Some(&v),
            "sato@hospital.example.jp"
        ));
        let forged = v.replacen('.', "0.", 1);
        assert!(!recognises(KEY, Some(&forged), "sato@hospital.example.jp"));
        assert!(!recognises(
            KEY,
            Some("garbage~a.b.c"),
            "sato@hospital.example.jp"
        ));
    }

    #[test]
    fn a_shared_pc_keeps_the_newest_five_names() {
        let mut v: Option<String> = None;
        for i in 0..7 {
            v = Some(issue(KEY, v.as_deref(), &format!("p{i}@city.example.jp")));
        }
        let v = v.unwrap_or_default();
        let known: Vec<bool> = (0..7)
            .map(|i| recognises(KEY, Some(&v), &format!("p{i}@city.example.jp")))
            .collect();
        assert_eq!(known, [false, false, true, true, true, true, true]);
        // Signing in again with a name keeps one entry for it.
        let again = issue(KEY, Some(&v), "p6@city.example.jp");
        assert_eq!(again.split('~').count(), MAX_NAMES);
    }
}
