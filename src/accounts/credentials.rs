//! A signed-in guest's own credentials: re-checking both factors before a change, changing
//! the password or the authenticator, and ending their other sessions (B10, C6).

use super::logins;
use super::store::{self as accounts, Factor};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};
use crate::auth::{password, totp};
use crate::db::Tx;
use crate::error::Result;
use crate::guests::GuestUser;

/// Re-checks the factors a guest already proved, with the same failure counts and lockout as
/// sign-in (B5): `code` is `None` where only the password is asked for. A right code's step is
/// used up like at sign-in (B10).
pub async fn check_factors(
    state: &AppState,
    source: &Source,
    account_id: &str,
    current: &str,
    code: Option<&str>,
) -> Result<bool> {
    let now = state.now();
    let mut conn = state.db.pool.acquire().await?;
    let Some(account) = accounts::by_id(&mut conn, account_id).await? else {
        return Ok(false);
    };
    drop(conn);
    let throttled =
        account.password_locked_until > now || (code.is_some() && account.totp_locked_until > now);
    let password_ok = password::verify(current.to_string(), account.password_hash.clone()).await?;
    let step = match (code, account.totp_secret.as_ref()) {
        (Some(code), Some(sealed)) => {
            let secret = state.secrets.open(account_id, sealed)?;
            totp::matching_step(&secret, code, now)?
        }
        _ => None,
    };
    if throttled {
        return Ok(false);
    }
    let mut tx = state.db.begin().await?;
    let failed = if !password_ok {
        Some(Factor::Password)
    } else if code.is_some() {
        match step {
            Some(step)
                if accounts::accept_totp_step(&mut tx, account_id, step, Some(now)).await? =>
            {
                None
            }
            _ => Some(Factor::Totp),
        }
    } else {
        None
    };
    if let Some(factor) = failed {
        let lockout = super::lockout::count_failure(&mut tx, account_id, factor, now).await?;
        if let Some(detail) = lockout {
            audit::record(
                &mut tx,
                now,
                source,
                &Event::new(
                    Actor::Guest(account_id.to_string()),
                    "account.lockout",
                    Outcome::Success,
                )
                .target(account_id)
                .detail(detail),
            )
            .await?;
        }
    } else {
        accounts::reset_password_failures(&mut tx, account_id).await?;
    }
    tx.commit().await?;
    Ok(failed.is_none())
}

/// Records a change that was refused because the factors did not match.
pub async fn record_refused_change(
    state: &AppState,
    source: &Source,
    user: &GuestUser,
    action: &'static str,
) -> Result<()> {
    state
        .audit
        .record(
            state.now(),
            source,
            &Event::new(user.actor(), action, Outcome::Failure),
        )
        .await?;
    Ok(())
}

/// Ends the guest's other sessions and records `action` with how many ended, in the caller's
/// transaction (B10, C6).
async fn end_others_in(
    tx: &mut Tx,
    source: &Source,
    user: &GuestUser,
    action: &'static str,
    reason: &str,
    now: i64,
) -> Result<()> {
    let n = logins::end_all(
        tx,
        &user.guest.account_id,
        Some(&user.login_id),
        reason,
        now,
    )
    .await?;
    audit::record(
        tx,
        now,
        source,
        &Event::new(user.actor(), action, Outcome::Success)
            .detail(format!("other sessions ended: {n}")),
    )
    .await?;
    Ok(())
}

/// The guest ends every session but this one.
pub async fn end_other_sessions(state: &AppState, source: &Source, user: &GuestUser) -> Result<()> {
    let mut tx = state.db.begin().await?;
    end_others_in(
        &mut tx,
        source,
        user,
        "session.end_others",
        "ended_by_owner",
        state.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a new password (already checked against the policy); other sessions end (C6).
pub async fn change_password(
    state: &AppState,
    source: &Source,
    user: &GuestUser,
    new_password: String,
) -> Result<()> {
    let hash = password::hash(new_password).await?;
    let mut tx = state.db.begin().await?;
    accounts::set_password(&mut tx, &user.guest.account_id, &hash).await?;
    end_others_in(
        &mut tx,
        source,
        user,
        "account.password_change",
        "password_changed",
        state.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Replaces the authenticator once the new app showed a right code at `step` (its step is used
/// up); other sessions end (B10).
pub async fn replace_authenticator(
    state: &AppState,
    source: &Source,
    user: &GuestUser,
    secret: &[u8],
    step: i64,
) -> Result<()> {
    let sealed = state.secrets.seal(&user.guest.account_id, secret)?;
    let mut tx = state.db.begin().await?;
    accounts::set_totp(&mut tx, &user.guest.account_id, &sealed, step).await?;
    end_others_in(
        &mut tx,
        source,
        user,
        "account.authenticator_change",
        "authenticator_changed",
        state.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
