//! The guest lifecycle: issue, enrol (see `web::setup`), extend, revoke, reset, expire, remind.
//! Every change commits together with its audit record.

pub mod pages;
pub mod store;

use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use crate::accounts::logins;
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};
use crate::auth::token::LinkToken;
use crate::auth::totp::SecretBox;
use crate::channels::store::Channel;
use crate::clock::Timestamp;
use crate::enrolment::store::{self as invitations, NewInvitation};
use crate::guests::store::{self as guests, Guest, NewGuest};
use crate::i18n::Lang;
use crate::mail::notice::Notice;

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
}
pub const ORGANISATION_MAX: usize = 100;
pub const REASON_MAX: usize = 500;
pub const JST_OFFSET: i64 = 9 * 3600;

/// The instant a day ends in Japan (24:00 JST of `date`), from `YYYY-MM-DD`.
pub fn end_of_day(date: &str) -> Option<Timestamp> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(date.trim(), &fmt).ok()?;
    let midnight_utc = d.midnight().assume_utc().unix_timestamp();
    Some(midnight_utc + 86_400 - JST_OFFSET)
}

/// The JST date on which an instant falls, `YYYY-MM-DD` (for `end_of_day` values: the last day).
pub fn last_day(t: Timestamp) -> String {
    let shifted = t - 1 + JST_OFFSET;
    match time::OffsetDateTime::from_unix_timestamp(shifted) {
        Ok(dt) => format!(
            "{:04}-{:02}-{:02}",
            dt.year(),
            u8::from(dt.month()),
            dt.day()
        ),
        Err(_) => String::new(),
    }
}

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

/// Whether a clerk may manage a channel: their own department's, or any for an admin (D3).
pub fn may_manage(
    role: crate::clerks::Role,
    department_id: Option<&str>,
    channel: &Channel,
) -> bool {
    role == crate::clerks::Role::Admin || department_id == Some(channel.department_id.as_str())
}

pub struct GuestInput<'a> {
    pub name: &'a str,
    pub organisation: &'a str,
    pub kind: Kind,
    pub email: Option<&'a str>,
    pub permission: Permission,
    pub expires_at: Timestamp,
}

pub struct Issued {
    pub account_id: String,
    pub sign_in_name: String,
    pub link: String,
}

/// Issues one guest and an invitation inside the caller's transaction.
pub async fn issue(
    conn: &mut AnyConnection,
    state: &AppState,
    sponsor: &str,
    source: &Source,
    channel: &Channel,
    g: &GuestInput<'_>,
) -> Result<Result<Issued, &'static str>, sqlx::Error> {
    let now = state.now();
    let sign_in_name = match g.email {
        Some(e) => e.to_string(),
        None => resident_sign_in_id(),
    };
    // Only a live guest of this same channel blocks the address: an address used in another
    // channel or department, by a clerk, or by an ended guest looks like a fresh one (D7).
    // Checked before writing: on PostgreSQL a failed insert would abort the transaction.
    if g.email.is_some()
        && guests::name_live_in_channel(conn, &channel.channel_id, &sign_in_name).await?
    {
        return Ok(Err("form-email-taken"));
    }
    let id = match guests::insert(
        conn,
        &NewGuest {
            channel_id: &channel.channel_id,
            sign_in_name: &sign_in_name,
            has_email: g.email.is_some(),
            name: g.name,
            organisation: g.organisation,
            kind: g.kind,
            permission: g.permission,
            sponsor_id: sponsor,
            expires_at: g.expires_at,
        },
        now,
    )
    .await
    {
        Ok(id) => id,
        Err(e) if crate::db::is_unique_violation(&e) => return Ok(Err("form-email-taken")),
        Err(e) => return Err(e),
    };
    let ev = Event::new(
        Actor::Clerk(sponsor.to_string()),
        "guest.issue",
        Outcome::Success,
    )
    .target(&id)
    .detail(format!(
        "kind={} permission={} expires_at={}",
        g.kind, g.permission, g.expires_at
    ))
    .in_channel(channel.channel_id.clone());
    audit::record(conn, now, source, &ev).await?;
    let link = invite(conn, state, &id, &channel.channel_id, sponsor, source).await?;
    Ok(Ok(Issued {
        account_id: id,
        sign_in_name,
        link,
    }))
}

/// A new invitation link for a guest (the previous one dies), recorded.
pub async fn invite(
    conn: &mut AnyConnection,
    state: &AppState,
    guest_id: &str,
    channel_id: &str,
    clerk: &str,
    source: &Source,
) -> Result<String, sqlx::Error> {
    let now = state.now();
    let token = LinkToken::generate();
    invitations::insert(
        conn,
        &NewInvitation {
            token_hash: &token.hash(),
            purpose: "guest",
            account_id: Some(guest_id),
            created_by: Some(clerk),
            expires_at: now + state.config.invitation_lifetime_secs,
        },
        now,
    )
    .await?;
    let ev = Event::new(
        Actor::Clerk(clerk.to_string()),
        "invitation.issued",
        Outcome::Success,
    )
    .target(guest_id)
    .detail("guest")
    .in_channel(channel_id.to_string());
    audit::record(conn, now, source, &ev).await?;
    Ok(state.link(&format!("/invite/{}", token.as_str())))
}

/// Ends a guest's access at once: status, sessions, pending links (C5). Returns false if the
/// guest had already ended.
pub async fn end(
    conn: &mut AnyConnection,
    guest: &Guest,
    status: &'static str,
    actor: Actor,
    reason: &str,
    source: &Source,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(concat!(
        "update account set status = $1 where account_id = $2 and status in ",
        crate::live_statuses!()
    ))
    .bind(status)
    .bind(&guest.account_id)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    let sessions = logins::end_all(conn, &guest.account_id, None, status, now).await?;
    guests::revoke_invitations(conn, &guest.account_id, now).await?;
    let action = match status {
        "revoked" => "guest.revoke",
        "expired" => "guest.expired",
        _ => "guest.close",
    };
    let ev = Event::new(actor, action, Outcome::Success)
        .target(&guest.account_id)
        .detail(format!("reason: {reason}; sessions ended: {sessions}"))
        .in_channel(guest.channel_id.clone());
    audit::record(conn, now, source, &ev).await?;
    Ok(true)
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub expired: usize,
    pub reminders: usize,
}

/// Marks guests whose time has passed as expired and sends due reminders. Access already
/// ends at `expires_at` on every request; this records it and tidies up.
pub async fn sweep(state: &AppState) -> anyhow::Result<SweepReport> {
    let now = state.now();
    let mut report = SweepReport::default();
    let source = Source::default();
    for id in guests::due_to_expire(&state.db, now).await? {
        let mut tx = state.db.begin().await?;
        if let Some(g) = guests::get(&mut tx, &id).await?
            && end(
                &mut tx,
                &g,
                "expired",
                Actor::System,
                "expiry",
                &source,
                now,
            )
            .await?
        {
            report.expired += 1;
        }
        tx.commit().await?;
    }
    // Each reminder has its window: from its own day down to the next smaller reminder day, so a
    // late sweep sends only the reminder that is due now, never two at once.
    let days_list = &state.config.reminder_days;
    for (i, &days) in days_list.iter().enumerate() {
        let lower = days_list.get(i + 1).copied().unwrap_or(0);
        for id in guests::due_for_reminder(&state.db, days, lower, now).await? {
            let mut tx = state.db.begin().await?;
            let Some(g) = guests::get(&mut tx, &id).await? else {
                continue;
            };
            if !guests::claim_reminder(&mut tx, &id, days, now).await? {
                continue;
            }
            let ev = Event::new(Actor::System, "guest.reminder", Outcome::Success)
                .target(&id)
                .detail(format!("{days} days"))
                .in_channel(g.channel_id.clone());
            audit::record(&mut tx, now, &source, &ev).await?;
            tx.commit().await?;
            for mail in reminder_mails(state, &g)? {
                if let Err(e) = state.mailer.send(&mail).await {
                    tracing::warn!(error = format!("{e:#}"), "reminder not sent");
                }
            }
            report.reminders += 1;
        }
    }
    Ok(report)
}

fn reminder_mails(state: &AppState, g: &Guest) -> anyhow::Result<Vec<crate::mail::Mail>> {
    let until = last_day(g.expires_at);
    let mut mails = vec![];
    if let Some(email) = g.email() {
        mails.push(
            Notice {
                to_name: g.name.clone(),
                to_email: email.to_string(),
                subject_key: "mail-reminder-subject",
                paragraphs: vec![
                    (
                        "mail-reminder-guest",
                        vec![
                            ("channel", g.channel_name.clone()),
                            ("until", until.clone()),
                        ],
                    ),
                    ("mail-reminder-guest-extend", vec![]),
                ],
                link: Some((state.link("/account"), "mail-open-account")),
            }
            .render()?,
        );
    }
    mails.push(
        Notice {
            to_name: g.sponsor_name.clone(),
            to_email: g.sponsor_email.clone(),
            subject_key: "mail-reminder-subject",
            paragraphs: vec![(
                "mail-reminder-sponsor",
                vec![
                    ("guest", g.name.clone()),
                    ("organisation", g.organisation.clone()),
                    ("channel", g.channel_name.clone()),
                    ("until", until),
                ],
            )],
            link: Some((
                state.link(&format!("/staff/guests/{}#extend", g.account_id)),
                "mail-open-extend",
            )),
        }
        .render()?,
    );
    Ok(mails)
}

/// The invitation mail: who invited the guest, for what, and the link.
pub fn invitation_mail(
    state: &AppState,
    g: &Guest,
    email: &str,
    link: &str,
) -> anyhow::Result<crate::mail::Mail> {
    Notice {
        to_name: g.name.clone(),
        to_email: email.to_string(),
        subject_key: "mail-invite-subject",
        paragraphs: vec![
            (
                "mail-invite-body",
                vec![
                    ("sponsor", g.sponsor_name.clone()),
                    ("department", g.department_name.clone()),
                    ("channel", g.channel_name.clone()),
                ],
            ),
            (
                "mail-invite-steps",
                vec![(
                    "hours",
                    (state.config.invitation_lifetime_secs / 3600).to_string(),
                )],
            ),
            ("mail-setup-ignore", vec![]),
        ],
        link: Some((link.to_string(), "mail-invite-button")),
    }
    .render()
}

/// A short notice to one person, with an optional link.
pub fn simple_mail(
    to_name: &str,
    to_email: &str,
    subject_key: &'static str,
    paragraphs: Vec<(&'static str, Vec<(&'static str, String)>)>,
    link: Option<(String, &'static str)>,
) -> anyhow::Result<crate::mail::Mail> {
    Notice {
        to_name: to_name.to_string(),
        to_email: to_email.to_string(),
        subject_key,
        paragraphs,
        link,
    }
    .render()
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
