//! What happens to a guest once issued (`issue`): extended, revoked, re-invited or reset,
//! sessions ended, extension requests asked for and decided, closed. Each commits together with its audit record
//! and decides which mail goes out.

use sqlx::AnyConnection;

use super::GuestUser;
pub use super::issue::invite;
use super::store::{self as guests, Guest};
use super::{REASON_MAX, check_expiry, mails};
use crate::accounts::{StaffUser, Status, logins};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};
use crate::clock::{Timestamp, end_of_day};
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::links;

/// Ends a guest's access at once: status, sessions, pending links (C5). Returns false if the
/// guest had already ended.
pub async fn end(
    conn: &mut AnyConnection,
    guest: &Guest,
    status: Status,
    actor: Actor,
    reason: &str,
    source: &Source,
    now: Timestamp,
) -> Result<bool> {
    if !guests::end_if_live(conn, &guest.account_id, status).await? {
        return Ok(false);
    }
    let sessions = logins::end_all(conn, &guest.account_id, None, status.as_str(), now).await?;
    guests::revoke_invitations(conn, &guest.account_id, now).await?;
    let action = match status {
        Status::Revoked => "guest.revoke",
        Status::Expired => "guest.expired",
        _ => "guest.close",
    };
    let ev = Event::new(actor, action, Outcome::Success)
        .target(&guest.account_id)
        .detail(format!("reason: {reason}; sessions ended: {sessions}"))
        .in_channel(guest.channel_id.clone());
    audit::record(conn, now, source, &ev).await?;
    Ok(true)
}

/// A reason a clerk gives for an action on a guest; it is kept in the audit trail.
#[derive(Debug, Clone)]
pub struct Reason(String);

impl Reason {
    pub fn parse(s: &str) -> std::result::Result<Self, &'static str> {
        crate::text::field(s, REASON_MAX, true).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The guest is no longer live (ended meanwhile, or not in the state the action needs).
#[derive(Debug, PartialEq, Eq)]
pub struct NotLive;

/// Why no new link was made for a guest.
#[derive(Debug, PartialEq, Eq)]
pub enum NotReissued {
    /// The guest's access is not in a state this applies to.
    NotLive,
    /// Already `REISSUE_PER_HOUR` new links for this guest in the last hour (D9).
    TooOften,
}

/// How many new links (mails or sheets) one guest may be given in an hour (D9).
pub const REISSUE_PER_HOUR: u32 = 5;

fn clerk_event(by: &StaffUser, guest: &Guest, action: &'static str, detail: String) -> Event {
    Event::new(by.actor(), action, Outcome::Success)
        .target(&guest.account_id)
        .detail(detail)
        .in_channel(guest.channel_id.clone())
}

/// The one check for guest-scoped clerk actions (D1, D3): a guest of another department's
/// channel is the same not-found as a missing one, and the attempt is recorded.
pub async fn for_clerk(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    guest_id: &str,
    path: &str,
) -> Result<Guest> {
    let mut conn = state.db.pool.acquire().await?;
    let guest = guests::get(&mut conn, guest_id).await?;
    drop(conn);
    match guest {
        Some(g) if by.is_admin() || by.department_id.as_deref() == Some(&g.department_id) => Ok(g),
        other => {
            let mut ev = Event::new(by.actor(), "authz.denied", Outcome::Denied).target(path);
            ev.channel_id = other.map(|g| g.channel_id);
            state.audit.record(state.now(), source, &ev).await?;
            Err(Error::NotFound)
        }
    }
}

/// A new expiry for a guest from a date a clerk typed, within policy: not past, not after the
/// channel's end, not beyond the maximum. The error is a locale key (with `max`).
pub async fn checked_expiry(
    state: &AppState,
    guest: &Guest,
    date: &str,
) -> Result<std::result::Result<Timestamp, &'static str>> {
    let Some(t) = end_of_day(date) else {
        return Ok(Err("form-date-invalid"));
    };
    let max_days = state.config.guest_max_days;
    Ok(check_expiry(t, state.now(), guest.channel_ends_at, max_days).map(|()| t))
}

/// A clerk moves a live guest's expiry.
pub async fn extend(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    guest: &Guest,
    until: Timestamp,
    why: &Reason,
) -> Result<std::result::Result<(), NotLive>> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if !guests::lock_in_status(&mut tx, &guest.account_id, &Status::LIVE).await? {
        return Ok(Err(NotLive));
    }
    guests::set_expiry(&mut tx, &guest.account_id, until).await?;
    let detail = format!(
        "from {} to {until}; reason: {}",
        guest.expires_at,
        why.as_str()
    );
    audit::record(
        &mut tx,
        now,
        source,
        &clerk_event(by, guest, "guest.extend", detail),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// A clerk ends a guest's access now (C5).
pub async fn revoke(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    guest: &Guest,
    why: &Reason,
) -> Result<()> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    end(
        &mut tx,
        guest,
        Status::Revoked,
        by.actor(),
        why.as_str(),
        source,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Re-issues an invitation (the old link dies) or resets the authenticator (the guest's
/// credentials are wiped, their sessions end, and they enrol again through the new link). The
/// clerk never sees or chooses a secret (B10). Returns the new link.
pub async fn reinvite(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    guest: &Guest,
    why: &Reason,
    reset: bool,
) -> Result<std::result::Result<String, NotReissued>> {
    let allowed = if reset {
        matches!(guest.status, Status::Active | Status::Locked)
    } else {
        guest.status == Status::Invited
    };
    if !allowed {
        return Ok(Err(NotReissued::NotLive));
    }
    let now = state.now();
    // Each new link is a mail or a sheet for one person: bounded per guest and hour (D9).
    if !state
        .limiter
        .allow_per_hour(guest.account_id.clone(), "reissue", REISSUE_PER_HOUR, now)
        .await?
    {
        let action = if reset {
            "guest.authenticator_reset"
        } else {
            "guest.reissue"
        };
        let mut ev = clerk_event(by, guest, action, "too many in an hour".to_string());
        ev.outcome = Outcome::Denied;
        state.audit.record(now, source, &ev).await?;
        return Ok(Err(NotReissued::TooOften));
    }
    let mut tx = state.db.begin().await?;
    // Re-checked inside the transaction: a revoke or expiry committed meanwhile wins.
    let still = if reset {
        guests::reset_credentials(&mut tx, &guest.account_id).await?
    } else {
        guests::lock_in_status(&mut tx, &guest.account_id, &[Status::Invited]).await?
    };
    if !still {
        return Ok(Err(NotReissued::NotLive));
    }
    let event = if reset {
        let n =
            logins::end_all(&mut tx, &guest.account_id, None, "authenticator_reset", now).await?;
        let detail = format!("reason: {}; sessions ended: {n}", why.as_str());
        clerk_event(by, guest, "guest.authenticator_reset", detail)
    } else {
        let detail = format!("reason: {}", why.as_str());
        clerk_event(by, guest, "guest.reissue", detail)
    };
    audit::record(&mut tx, now, source, &event).await?;
    let link = invite(
        &mut tx,
        state,
        &guest.account_id,
        &guest.channel_id,
        &by.account_id,
        source,
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(link))
}

/// A clerk ends every open session of a guest; the guest can sign in again.
pub async fn end_sessions(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    guest: &Guest,
    why: &Reason,
) -> Result<()> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let n = logins::end_all(&mut tx, &guest.account_id, None, "ended_by_clerk", now).await?;
    let detail = format!("reason: {}; sessions ended: {n}", why.as_str());
    audit::record(
        &mut tx,
        now,
        source,
        &clerk_event(by, guest, "guest.end_sessions", detail),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A clerk answers a guest's extension request: approved with a new expiry, or refused. The
/// guest is told by mail. Returns false if the request had already been answered.
pub async fn decide_extension(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    guest: &Guest,
    request_id: &str,
    new_expiry: Option<Timestamp>,
    why: &Reason,
) -> Result<bool> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let decision = if new_expiry.is_some() {
        "approved"
    } else {
        "refused"
    };
    if !guests::decide_request(
        &mut tx,
        request_id,
        &by.account_id,
        decision,
        why.as_str(),
        new_expiry,
        now,
    )
    .await?
    {
        return Ok(false);
    }
    if let Some(t) = new_expiry {
        guests::set_expiry(&mut tx, &guest.account_id, t).await?;
    }
    let detail = format!(
        "{decision}; new expiry: {new_expiry:?}; reason: {}",
        why.as_str()
    );
    audit::record(
        &mut tx,
        now,
        source,
        &clerk_event(by, guest, "guest.extension_decided", detail),
    )
    .await?;
    tx.commit().await?;
    if let Some(email) = guest.email() {
        let mut args = vec![("reason", why.as_str().to_string())];
        let key = match new_expiry {
            Some(t) => {
                args.extend(super::mails::last_day_args(t));
                "mail-extension-approved"
            }
            None => "mail-extension-refused",
        };
        let mail = mails::simple(
            &guest.name,
            email,
            "mail-extension-decided-subject",
            vec![(key, args)],
            Some((state.link(links::GUEST_ACCOUNT), "mail-open-account")),
        )?;
        if let Err(e) = state.mailer.send(&mail).await {
            tracing::warn!(error = format!("{e:#}"), "decision mail not sent");
        }
    }
    Ok(true)
}

/// Ends every live guest of a channel, inside the caller's transaction; returns how many.
pub async fn end_all_in_channel(
    tx: &mut Tx,
    channel_id: &str,
    by: &StaffUser,
    why: &str,
    source: &Source,
    now: Timestamp,
) -> Result<usize> {
    let mut n = 0;
    for id in guests::live_in_channel(tx, channel_id).await? {
        if let Some(g) = guests::get(tx, &id).await?
            && end(tx, &g, Status::Revoked, by.actor(), why, source, now).await?
        {
            n += 1;
        }
    }
    Ok(n)
}

/// A guest asks their sponsor for more time; the sponsor is mailed. `false` when a request is
/// already waiting for an answer (at most one is open).
pub async fn request_extension(
    state: &AppState,
    source: &Source,
    user: &GuestUser,
    message: &Reason,
) -> Result<bool> {
    let now = state.now();
    let g = &user.guest;
    let mut tx = state.db.begin().await?;
    // The row lock serialises two racing requests, so at most one stays open.
    guests::lock_in_status(&mut tx, &g.account_id, &[Status::Active]).await?;
    if guests::open_request_count(&mut tx, &g.account_id).await? > 0 {
        return Ok(false);
    }
    let rid = guests::insert_request(&mut tx, &g.account_id, message.as_str(), now).await?;
    let ev = Event::new(user.actor(), "guest.extension_requested", Outcome::Success)
        .target(&g.account_id)
        .detail(format!("request {rid}"))
        .in_channel(g.channel_id.clone());
    audit::record(&mut tx, now, source, &ev).await?;
    tx.commit().await?;
    let mail = mails::simple(
        &g.sponsor_name,
        &g.sponsor_email,
        "mail-extension-request-subject",
        vec![(
            "mail-extension-request-body",
            vec![
                ("guest", g.name.clone()),
                ("organisation", g.organisation.clone()),
                ("channel", g.channel_name.clone()),
            ]
            .into_iter()
            .chain(super::mails::last_day_args(g.expires_at))
            .collect(),
        )],
        Some((
            state.link(&links::staff_guest(&g.account_id)),
            "mail-open-extend",
        )),
    )?;
    if let Err(e) = state.mailer.send(&mail).await {
        tracing::warn!(error = format!("{e:#}"), "extension request mail not sent");
    }
    Ok(true)
}

/// The guest closes their own account (their password was re-checked).
pub async fn close(state: &AppState, source: &Source, user: &GuestUser) -> Result<()> {
    let mut tx = state.db.begin().await?;
    end(
        &mut tx,
        &user.guest,
        Status::Closed,
        user.actor(),
        "closed by the guest",
        source,
        state.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The one membership check for a guest's channel-scoped requests (D1): anything but the
/// guest's own channel is the same not-found as a missing id, and the attempt is recorded
/// against `path`.
pub async fn own_channel(
    state: &AppState,
    source: &Source,
    user: &GuestUser,
    channel_id: &str,
    path: &str,
) -> Result<()> {
    if channel_id == user.guest.channel_id {
        return Ok(());
    }
    let ev = Event::new(user.actor(), "authz.denied", Outcome::Denied)
        .target(path)
        .in_channel(channel_id.chars().take(64).collect::<String>());
    state.audit.record(state.now(), source, &ev).await?;
    Err(Error::NotFound)
}
