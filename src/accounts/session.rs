//! Who a request is: every request re-reads the login and its account from the database
//! (status, idle and absolute limits, a guest's access), so a session proves identity, never
//! permission (C3, C5, B12). A login that may no longer be used is ended here and recorded.

use super::signin::{end_login, record_denied};
use super::{Kind, Role, StaffUser, Status, logins};
use crate::app::AppState;
use crate::audit::{Actor, Source};
use crate::auth::policy::{ABSOLUTE_TIMEOUT_SECS, IDLE_TIMEOUT_SECS};
use crate::clock::Timestamp;
use crate::error::Result;
use crate::guests::GuestUser;
use crate::guests::store as guests;

/// What a session's login turned out to be for a page of one audience.
pub enum Checked<T> {
    /// No open login: the session should forget it and the person sign in.
    NotSignedIn,
    /// The login was open but may no longer be used; it has been ended and recorded.
    Ended,
    /// A guest's login that was ended — by a clerk, by expiry, by the guest's own change, or
    /// by this check: the account and the reason, so the person is told why (not just sent to
    /// sign in again).
    EndedFor { account_id: String, reason: String },
    /// A login of the other audience: a guest at a clerk's page is refused and recorded (D3);
    /// a clerk at a guest's page is simply not signed in there.
    OtherAudience { recorded: bool },
    /// The person, re-checked now, and the revision of their session record the login row
    /// holds (what a session record kept in memory must have been read under).
    Allowed(T, i64),
}

/// The idle and absolute limits every session has (C3).
fn past_limits(login: &logins::LoginRow, now: Timestamp) -> Option<&'static str> {
    past_limits_at(login.created_at, login.last_seen_at, now)
}

fn past_limits_at(
    created_at: Timestamp,
    last_seen_at: Timestamp,
    now: Timestamp,
) -> Option<&'static str> {
    if now - last_seen_at > IDLE_TIMEOUT_SECS {
        Some("idle_timeout")
    } else if now - created_at > ABSOLUTE_TIMEOUT_SECS {
        Some("absolute_timeout")
    } else {
        None
    }
}

/// How stale a recorded last-seen time may be before a request writes a new one.
const TOUCH_EVERY_SECS: i64 = 60;

/// Records that the login (and the guest) were seen now — at most once a minute, decided from
/// the rows already read, and through the write path's batches, so a page view takes no write
/// lock of its own for it.
async fn touch(
    state: &AppState,
    login: (&str, Timestamp),
    guest: Option<&crate::guests::store::Guest>,
    now: Timestamp,
) -> Result<()> {
    let (login_id, last_seen_at) = login;
    let mut writes = vec![];
    if now - last_seen_at > TOUCH_EVERY_SECS {
        writes.push(logins::touch(login_id, now));
    }
    if let Some(g) = guest
        && g.last_access_at.is_none_or(|t| now - t > TOUCH_EVERY_SECS)
    {
        writes.push(guests::touch(&g.account_id, now));
    }
    state.audit.run(writes).await?;
    Ok(())
}

/// The clerk or admin behind `login_id`, for a clerk's page at `path`.
pub async fn staff(
    state: &AppState,
    source: &Source,
    login_id: &str,
    path: &str,
) -> Result<Checked<StaffUser>> {
    let login = logins::open(&state.db, login_id).await?;
    staff_login(state, source, login, path).await
}

/// `staff` on the open login a query has already read (`None`: no open login), for a page
/// that reads what it shows in the same query as the login (`logins::OPEN_COLUMNS`).
pub async fn staff_login(
    state: &AppState,
    source: &Source,
    login: Option<logins::LoginRow>,
    path: &str,
) -> Result<Checked<StaffUser>> {
    let now = state.now();
    let Some(login) = login else {
        return Ok(Checked::NotSignedIn);
    };
    if login.kind != Kind::Clerk {
        // A guest asking for a clerk function gets the ordinary not-found page (D3).
        let actor = Actor::Guest(login.account_id.clone());
        record_denied(state, source, actor, path, None).await?;
        return Ok(Checked::OtherAudience { recorded: true });
    }
    let end_reason = if login.status != Status::Active {
        Some("account_inactive")
    } else {
        past_limits(&login, now)
    };
    if let Some(reason) = end_reason {
        let actor = Actor::Clerk(login.account_id.clone());
        end_login(state, source, &login.login_id, actor, reason).await?;
        return Ok(Checked::Ended);
    }
    touch(state, (&login.login_id, login.last_seen_at), None, now).await?;
    let session_rev = login.session_rev;
    Ok(Checked::Allowed(
        StaffUser {
            login_id: login.login_id,
            account_id: login.account_id,
            name: login.name,
            email: login.email,
            role: login.role.unwrap_or(Role::Clerk),
            department_id: login.department_id,
            department_name: login.department_name,
        },
        session_rev,
    ))
}

/// The guest behind `login_id`: account active, access open (C5).
pub async fn guest(
    state: &AppState,
    source: &Source,
    login_id: &str,
) -> Result<Checked<GuestUser>> {
    let now = state.now();
    // One read for the usual case: the open login, its account, the guest and the channel.
    let mut conn = state.db.reader().await?;
    let found = guests::signed_in(&mut conn, login_id).await?;
    conn.done();
    let Some(found) = found else {
        // No open guest login: not signed in, a clerk's login, or a login whose guest is gone.
        let Some(login) = logins::open(&state.db, login_id).await? else {
            return Ok(match logins::ended(&state.db, login_id).await? {
                Some((account_id, reason)) if reason != "sign_out" => {
                    Checked::EndedFor { account_id, reason }
                }
                _ => Checked::NotSignedIn,
            });
        };
        if login.kind != Kind::Guest {
            return Ok(Checked::OtherAudience { recorded: false });
        }
        let actor = Actor::Guest(login.account_id.clone());
        end_login(state, source, &login.login_id, actor, "not_guest").await?;
        return Ok(Checked::Ended);
    };
    let g = &found.guest;
    let end_reason = if g.status != Status::Active {
        Some("account_inactive")
    } else if g.expires_at <= now {
        Some("guest_expired")
    } else if !g.access_open(now) {
        Some("channel_closed")
    } else {
        past_limits_at(found.login_created_at, found.login_last_seen_at, now)
    };
    if let Some(reason) = end_reason {
        let actor = Actor::Guest(g.account_id.clone());
        end_login(state, source, &found.login_id, actor, reason).await?;
        return Ok(Checked::EndedFor {
            account_id: g.account_id.clone(),
            reason: reason.to_string(),
        });
    }
    touch(
        state,
        (&found.login_id, found.login_last_seen_at),
        Some(g),
        now,
    )
    .await?;
    let session_rev = found.session_rev;
    Ok(Checked::Allowed(
        GuestUser {
            login_id: found.login_id,
            guest: found.guest,
            channel_version: found.channel_version,
            read_mark: found.read_mark,
        },
        session_rev,
    ))
}

/// Records a signed-in person's refused request (`authz.denied`, D1): an address that is no
/// page, or input refused at the edge. Anonymous probes are not recorded, so strangers cannot
/// fill the append-only trail.
pub async fn record_probe(
    state: &AppState,
    source: &Source,
    login_id: &str,
    target: &str,
    detail: Option<&str>,
) -> Result<()> {
    if let Some(login) = logins::open(&state.db, login_id).await? {
        let actor = super::signin::login_actor(&login);
        record_denied(state, source, actor, target, detail).await?;
    }
    Ok(())
}
