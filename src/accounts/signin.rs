//! Signing in and out: the password step, the code step, the lockout and slow-down policy,
//! the owner's notices, and ending a login. Each step commits with its audit records.

use std::net::IpAddr;

use super::lockout::{apply_lockout, notify_failures, notify_recovery_code_used, record_slowdown};
use super::store::{self as accounts, Account, Factor};
use super::{Kind, Status, logins, throttle};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};
use crate::auth::policy;
use crate::auth::{password, totp};
use crate::error::{Error, Result};
use crate::guests::store as guests;

pub use super::EMAIL_MAX;
/// Longest password read at sign-in; longer input cannot be anyone's password.
pub const PASSWORD_READ_MAX: usize = 1024;

pub use super::sign_in_name::normalise_email;

/// What the password step decided.
pub enum PasswordStep {
    /// Wrong name or password, or an account that cannot sign in now: one answer for all (B7).
    Wrong,
    /// This address, or this name from it, is being slowed down (B13).
    Slowed,
    /// The name drew too many tries this hour from browsers that are not a known device for it;
    /// this browser is not one (B14).
    Guarded,
    /// The password opened these accounts (several only for guests with one name in several
    /// channels, D7); the code step comes next.
    Opened(Vec<String>),
    /// The right password for a guest whose access has ended or who has not finished
    /// enrolling: they are told so, and whom to ask (only someone who knows the password).
    Ended(String),
}

/// Why a guest's access has ended, as a locale key, and whom to contact.
pub struct Ending {
    pub why: &'static str,
    pub contact: String,
    pub department: String,
    pub channel: String,
}

/// The ending of a guest's access, read from the account as it is now and the reason its last
/// login was ended for; `None` for an account that is not a guest.
pub async fn ending(state: &AppState, account_id: &str, reason: &str) -> Result<Option<Ending>> {
    let mut conn = state.db.pool.acquire().await?;
    let Some(g) = guests::get(&mut conn, account_id).await? else {
        return Ok(None);
    };
    let now = state.now();
    let why = match g.status {
        Status::Invited => "ended-not-enrolled",
        Status::Revoked => "ended-revoked",
        Status::Closed => "ended-closed",
        Status::Locked => "ended-locked",
        Status::Expired => "ended-expired",
        _ if g.expires_at <= now => "ended-expired",
        _ if !g.access_open(now) => "ended-channel",
        _ => match reason {
            "authenticator_reset" => "ended-reset",
            "idle_timeout" | "absolute_timeout" => "ended-idle",
            "password_changed" | "authenticator_changed" | "other_sessions_ended" => {
                "ended-own-change"
            }
            _ => "ended-by-clerk",
        },
    };
    Ok(Some(Ending {
        why,
        contact: g.sponsor_name.clone(),
        department: g.department_name.clone(),
        channel: g.channel_name.clone(),
    }))
}

fn actor_for(kind: Kind, id: String) -> Actor {
    match kind {
        Kind::Clerk => Actor::Clerk(id),
        Kind::Guest => Actor::Guest(id),
    }
}

/// A guest may sign in only before their expiry and while their channel is open (C5).
async fn guest_in_time(state: &AppState, account_id: &str) -> Result<bool> {
    let mut conn = state.db.pool.acquire().await?;
    let guest = guests::get(&mut conn, account_id).await?;
    Ok(guest.is_some_and(|g| g.access_open(state.now())))
}

/// The password step for a name typed on the clerks' (`Kind::Clerk`) or guests' sign-in page.
/// `known_device`: the browser carries a device cookie for this name (B14).
pub async fn check_password(
    state: &AppState,
    source: &Source,
    address: Option<IpAddr>,
    kind: Kind,
    name: &str,
    typed: &str,
    known_device: bool,
) -> Result<PasswordStep> {
    let now = state.now();
    let email = normalise_email(name);
    if email.chars().count() > EMAIL_MAX || typed.len() > PASSWORD_READ_MAX {
        return Ok(PasswordStep::Wrong);
    }
    // Wrong passwords slow down where they come from, never the account itself (B13): the
    // owner's correct password from another address always goes through.
    let keys = throttle::Keys::new(address, &email);
    if throttle::is_slowed(&state.db, &keys, now).await? {
        state
            .audit
            .record(
                now,
                source,
                &Event::new(Actor::Anonymous, "sign_in.password", Outcome::Denied)
                    .detail("address slowed down"),
            )
            .await?;
        return Ok(PasswordStep::Slowed);
    }
    // Tries from browsers that are not a known device for the name share one budget, from
    // every address (B14); the owner's known devices never draw on it.
    if !known_device {
        let tries = throttle::take_untrusted_try(&state.db, &keys, now).await?;
        if throttle::untrusted_spent(tries) {
            state
                .audit
                .record(
                    now,
                    source,
                    &Event::new(Actor::Anonymous, "sign_in.password", Outcome::Denied)
                        .detail("name's budget for unknown devices spent"),
                )
                .await?;
            return Ok(PasswordStep::Guarded);
        }
    }
    // A clerk's address names one account; a guest's sign-in name may name one in each of
    // several channels (D7), and the password then tells which.
    let candidates = match kind {
        Kind::Clerk => accounts::by_email(&state.db, &email)
            .await?
            .filter(|a| a.kind == Kind::Clerk)
            .into_iter()
            .collect(),
        Kind::Guest => accounts::guests_by_sign_in_name(&state.db, &email).await?,
    };
    let mut usable = vec![];
    for a in &candidates {
        if a.status.may_try_sign_in()
            && (kind == Kind::Clerk || guest_in_time(state, &a.account_id).await?)
        {
            usable.push(a.clone());
        }
    }
    // Accounts that could sign in now are tried; only when none can is the newest tried, so
    // its owner hears "not active" as before. At least one argon2 verification runs, account or
    // not, so an unknown name answers as slowly as a wrong password (B7).
    let tried: Vec<Account> = if usable.is_empty() {
        candidates.into_iter().take(1).collect()
    } else {
        usable.clone()
    };
    let mut matching = vec![];
    if tried.is_empty() {
        password::verify(typed.to_string(), None).await?;
    }
    for a in &tried {
        if password::verify(typed.to_string(), a.password_hash.clone()).await? {
            matching.push(a.clone());
        }
    }
    if tried.is_empty() {
        let mut tx = state.db.begin().await?;
        let slowed = throttle::record_failure(&mut tx, &keys, now).await?;
        audit::record(
            &mut tx,
            now,
            source,
            &Event::new(Actor::Anonymous, "sign_in.password", Outcome::Failure)
                .detail("unknown account"),
        )
        .await?;
        record_slowdown(&mut tx, source, slowed, now).await?;
        tx.commit().await?;
        return Ok(PasswordStep::Wrong);
    }
    let matching_usable: Vec<Account> = matching
        .iter()
        .filter(|a| usable.iter().any(|u| u.account_id == a.account_id))
        .cloned()
        .collect();
    // The right password for a guest who cannot sign in now: say why (honest endings).
    let ended_guest = (kind == Kind::Guest)
        .then(|| matching.first().map(|a| a.account_id.clone()))
        .flatten();
    if matching_usable.is_empty() {
        let mut tx = state.db.begin().await?;
        let slowed = throttle::record_failure(&mut tx, &keys, now).await?;
        let mut told = vec![];
        for account in &tried {
            let actor = Actor::Claimed(account.account_id.clone());
            let ok = matching.iter().any(|m| m.account_id == account.account_id);
            let reason = if !ok {
                "wrong password"
            } else {
                "account not active"
            };
            if !ok {
                let failures =
                    accounts::record_failure(&mut tx, &account.account_id, Factor::Password)
                        .await?;
                if policy::tell_owner(failures) {
                    audit::record(
                        &mut tx,
                        now,
                        source,
                        &Event::new(actor.clone(), "account.failures_notified", Outcome::Success)
                            .target(&account.account_id)
                            .detail(format!("{failures} failed passwords")),
                    )
                    .await?;
                    told.push(account.clone());
                }
            }
            audit::record(
                &mut tx,
                now,
                source,
                &Event::new(actor, "sign_in.password", Outcome::Failure).detail(reason),
            )
            .await?;
        }
        record_slowdown(&mut tx, source, slowed, now).await?;
        tx.commit().await?;
        for account in &told {
            notify_failures(state, account).await;
        }
        if let Some(id) = ended_guest {
            return Ok(PasswordStep::Ended(id));
        }
        return Ok(PasswordStep::Wrong);
    }
    let mut tx = state.db.begin().await?;
    throttle::forget_name(&mut tx, &keys).await?;
    if !known_device {
        throttle::give_back_untrusted(&mut tx, &keys).await?;
    }
    for account in &matching_usable {
        accounts::reset_password_failures(&mut tx, &account.account_id).await?;
        audit::record(
            &mut tx,
            now,
            source,
            &Event::new(
                Actor::Claimed(account.account_id.clone()),
                "sign_in.password",
                Outcome::Success,
            ),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(PasswordStep::Opened(
        matching_usable.into_iter().map(|a| a.account_id).collect(),
    ))
}

/// The channels a password opened, for the person to pick one (D7): account, channel and
/// department names.
pub async fn choices(state: &AppState, ids: &[String]) -> Result<Vec<(String, String, String)>> {
    let mut channels = vec![];
    let mut conn = state.db.pool.acquire().await?;
    for id in ids {
        if let Some(g) = guests::get(&mut conn, id).await? {
            channels.push((g.account_id, g.channel_name, g.department_name));
        }
    }
    Ok(channels)
}

/// What the code step decided.
pub enum CodeStep {
    /// The account can no longer sign in here (disabled, expired, not this kind): start again.
    Gone,
    /// The account is locked until an admin or clerk resets it.
    Locked,
    /// Too many wrong codes: the factor is locked for a while (B5).
    Throttled,
    /// A wrong or replayed code (shown alike, B4).
    Wrong,
    /// Both factors passed: a new login.
    SignedIn { login_id: String },
}

/// The code step: a TOTP code, or for guests a one-time recovery code (B9).
pub async fn check_code(
    state: &AppState,
    source: &Source,
    kind: Kind,
    account_id: &str,
    code: &str,
) -> Result<CodeStep> {
    let now = state.now();
    let mut conn = state.db.pool.acquire().await?;
    let account = accounts::by_id(&mut conn, account_id).await?;
    drop(conn);
    let Some(account) = account.filter(|a| a.kind == kind && a.status.may_try_sign_in()) else {
        return Ok(CodeStep::Gone);
    };
    let actor = Actor::Claimed(account.account_id.clone());
    if kind == Kind::Guest && !guest_in_time(state, &account.account_id).await? {
        return Ok(CodeStep::Gone);
    }
    if account.status == Status::Locked || account.totp_locked_until > now {
        state
            .audit
            .record(
                now,
                source,
                &Event::new(actor, "sign_in.totp", Outcome::Denied).detail("locked"),
            )
            .await?;
        return Ok(if account.status == Status::Locked {
            CodeStep::Locked
        } else {
            CodeStep::Throttled
        });
    }
    // Each attempt is counted before its code is checked, so parallel attempts cannot exceed
    // the window (B5): once an attempt fills it, every later one finds the factor locked.
    let mut tx = state.db.begin().await?;
    let Some(failures) = accounts::claim_totp_attempt(&mut tx, &account.account_id, now).await?
    else {
        drop(tx);
        state
            .audit
            .record(
                now,
                source,
                &Event::new(actor, "sign_in.totp", Outcome::Denied).detail("locked"),
            )
            .await?;
        return Ok(CodeStep::Throttled);
    };
    let lockout = apply_lockout(&mut tx, &account.account_id, Factor::Totp, failures, now).await?;
    tx.commit().await?;
    let secret = match &account.totp_secret {
        Some(sealed) => state.secrets.open(&account.account_id, sealed)?,
        None => {
            return Err(Error::Internal(anyhow::anyhow!(
                "active account without TOTP"
            )));
        }
    };
    let step = totp::matching_step(&secret, code, now)?;
    let mut tx = state.db.begin().await?;
    // Guests may use a one-time recovery code instead of the app (B9).
    let recovery = step.is_none()
        && kind == Kind::Guest
        && totp::normalise_code(code).is_none()
        && guests::use_recovery_code(
            &mut tx,
            &account.account_id,
            &crate::guests::seal_recovery_code(&state.secrets, code),
            now,
        )
        .await?;
    let accepted = recovery
        || match step {
            Some(step) => {
                accounts::accept_totp_step(&mut tx, &account.account_id, step, None).await?
            }
            None => false,
        };
    if accepted {
        if recovery {
            accounts::clear_totp_failures(&mut tx, &account.account_id).await?;
        }
        let login_id = logins::insert(&mut tx, &account.account_id, now).await?;
        let who = actor_for(kind, account.account_id.clone());
        let factor = if recovery {
            "sign_in.recovery_code"
        } else {
            "sign_in.totp"
        };
        audit::record(
            &mut tx,
            now,
            source,
            &Event::new(who.clone(), factor, Outcome::Success),
        )
        .await?;
        audit::record(
            &mut tx,
            now,
            source,
            &Event::new(who, "session.start", Outcome::Success),
        )
        .await?;
        tx.commit().await?;
        if recovery {
            notify_recovery_code_used(state, &account).await;
        }
        return Ok(CodeStep::SignedIn { login_id });
    }
    // The failure was counted when the attempt was claimed.
    // A replayed code is its own audit event, but the person sees a wrong code (B4).
    let action = if step.is_some() {
        "totp.replay"
    } else {
        "sign_in.totp"
    };
    audit::record(
        &mut tx,
        now,
        source,
        &Event::new(actor.clone(), action, Outcome::Failure),
    )
    .await?;
    if let Some(detail) = lockout {
        audit::record(
            &mut tx,
            now,
            source,
            &Event::new(actor, "account.lockout", Outcome::Success)
                .target(&account.account_id)
                .detail(detail),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(CodeStep::Wrong)
}

/// Ends one login for `reason` (sign-out, a guard's limit) and records it, if it was open.
pub async fn end_login(
    state: &AppState,
    source: &Source,
    login_id: &str,
    actor: Actor,
    reason: &str,
) -> Result<()> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if logins::end(&mut tx, login_id, reason, now).await? {
        audit::record(
            &mut tx,
            now,
            source,
            &Event::new(actor, "session.end", Outcome::Success).detail(reason.to_string()),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Signs out: ends the session's login, recorded as the person it belonged to.
pub async fn sign_out(state: &AppState, source: &Source, kind: Kind, login_id: &str) -> Result<()> {
    let actor = logins::open(&state.db, login_id)
        .await?
        .map(|l| actor_for(kind, l.account_id))
        .unwrap_or(Actor::Anonymous);
    end_login(state, source, login_id, actor, "sign_out").await
}

/// Records a refused request (`authz.denied`, D1, D3): a signed-in person asking for what is
/// not theirs, an address that is no page, or input refused at the edge.
pub async fn record_denied(
    state: &AppState,
    source: &Source,
    actor: Actor,
    target: &str,
    detail: Option<&str>,
) -> Result<()> {
    let mut event = Event::new(actor, "authz.denied", Outcome::Denied).target(target);
    if let Some(detail) = detail {
        event = event.detail(detail);
    }
    state.audit.record(state.now(), source, &event).await?;
    Ok(())
}

/// The actor a login acts as.
pub fn login_actor(login: &logins::LoginRow) -> Actor {
    actor_for(login.kind, login.account_id.clone())
}
