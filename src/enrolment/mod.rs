//! Enrolment: invitation links for the first admin, clerks and guests, and setting a password
//! and an authenticator through one. Opening a link never uses it up (A4); completing the
//! authenticator step does, atomically (A2).

pub mod pages;
pub mod store;

use serde::{Deserialize, Serialize};

use crate::accounts::{logins, store as accounts};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};
use crate::auth::token::LinkToken;
use crate::clerks::store::NewClerk;
use crate::error::{Error, Result};
use crate::guests::store::{self as guests, Guest};
use crate::links;
use sqlx::AnyConnection;
use store::{Invitation, NewInvitation};

/// What the first step leaves for the second, server-side in the session.
#[derive(Serialize, Deserialize)]
pub struct Enrolment {
    pub token_hash: String,
    pub purpose: Purpose,
    pub account_id: Option<String>,
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub sealed_secret: String,
}

/// What a link leads to, if it can still be used.
pub struct Link {
    pub token: LinkToken,
    pub inv: Invitation,
    pub account: Option<accounts::Account>,
    pub guest: Option<Guest>,
}

/// A guest invitation is usable only while the guest is still invited and unexpired, the
/// channel is not archived and the sponsor is still an active clerk (A7).
async fn guest_still_allowed(conn: &mut sqlx::AnyConnection, g: &Guest, now: i64) -> Result<bool> {
    let sponsor = accounts::by_id(conn, &g.sponsor_id).await?;
    Ok(g.status == crate::accounts::Status::Invited
        && g.access_open(now)
        && sponsor.is_some_and(|s| s.status == crate::accounts::Status::Active))
}

/// The link's invitation and the account it sets up — if all can still be used (re-checked at
/// every step: the account must still be waiting for its setup, A7).
pub async fn usable_link(state: &AppState, token: &str) -> Result<Option<Link>> {
    let Some(token) = LinkToken::parse(token) else {
        return Ok(None);
    };
    let Some(inv) = store::usable(&state.db, &token.hash(), state.now()).await? else {
        return Ok(None);
    };
    match (inv.purpose, &inv.account_id) {
        (Purpose::Bootstrap, None) => {
            if crate::clerks::store::admin_exists(&state.db).await? {
                return Ok(None);
            }
            Ok(Some(Link {
                token,
                inv,
                account: None,
                guest: None,
            }))
        }
        (Purpose::ClerkSetup, Some(id)) => {
            let mut conn = state.db.pool.acquire().await?;
            let account = accounts::by_id(&mut conn, id).await?;
            Ok(account
                .filter(|a| a.status == crate::accounts::Status::Invited)
                .map(|a| Link {
                    token,
                    inv,
                    account: Some(a),
                    guest: None,
                }))
        }
        (Purpose::Guest, Some(id)) => {
            let mut conn = state.db.pool.acquire().await?;
            let account = accounts::by_id(&mut conn, id).await?;
            let guest = guests::get(&mut conn, id).await?;
            match (account, guest) {
                (Some(a), Some(g)) if guest_still_allowed(&mut conn, &g, state.now()).await? => {
                    Ok(Some(Link {
                        token,
                        inv,
                        account: Some(a),
                        guest: Some(g),
                    }))
                }
                _ => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

/// What the person types to sign in: a clerk's address, or a guest's sign-in name (D7: a
/// guest account's own `email` column is an internal key).
pub fn sign_in_name(account_email: &str, guest: Option<&crate::guests::store::Guest>) -> String {
    guest
        .map(|g| g.sign_in_name.clone())
        .unwrap_or_else(|| account_email.to_string())
}

/// Records that a link was opened, the first time it is.
pub async fn record_opened(
    state: &AppState,
    source: &Source,
    inv: &Invitation,
    guest: Option<&Guest>,
) -> Result<()> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if store::mark_opened(&mut tx, &inv.invitation_id, now).await? {
        let target = inv.account_id.clone().unwrap_or(inv.invitation_id.clone());
        let mut ev = Event::new(Actor::Anonymous, "invitation.opened", Outcome::Success)
            .target(target)
            .detail(inv.purpose.as_str());
        ev.channel_id = guest.map(|g| g.channel_id.clone());
        audit::record(&mut tx, now, source, &ev).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A finished enrolment: the new login, and a guest's recovery codes to show once (B9).
pub struct Enrolled {
    pub login_id: String,
    pub recovery_codes: Option<Vec<String>>,
}

/// Completes an enrolment whose authenticator code matched at `step`: uses up the link, sets
/// the password and the sealed secret, and signs the person in. `None` when the link can no
/// longer be used (someone else used it, or what it sets up has changed, A2, A7).
pub async fn complete(
    state: &AppState,
    source: &Source,
    e: &Enrolment,
    secret: &[u8],
    step: i64,
) -> Result<Option<Enrolled>> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    // Exactly one of two racing submissions gets the link (A2).
    let Some(inv) = store::consume(&mut tx, &e.token_hash, now).await? else {
        return Ok(None);
    };
    let account_id = match (inv.purpose, inv.account_id.as_deref()) {
        (Purpose::Bootstrap, None) => {
            if crate::clerks::store::active_admin_exists(&mut tx).await? {
                return Ok(None);
            }
            match crate::clerks::store::insert_clerk(
                &mut tx,
                &NewClerk {
                    email: &e.email,
                    name: &e.name,
                    role: crate::accounts::Role::Admin,
                    department_id: None,
                    status: crate::accounts::Status::Invited,
                },
                now,
            )
            .await
            {
                Ok(id) => id,
                Err(err) if crate::db::is_unique_violation(&err) => {
                    return Ok(None);
                }
                Err(err) => return Err(err.into()),
            }
        }
        (Purpose::ClerkSetup, Some(id)) => {
            let account = accounts::by_id(&mut tx, id).await?;
            if account.is_none_or(|a| a.status != crate::accounts::Status::Invited) {
                return Ok(None);
            }
            id.to_string()
        }
        (Purpose::Guest, Some(id)) => {
            let allowed = match guests::get(&mut tx, id).await? {
                Some(g) => guest_still_allowed(&mut tx, &g, now).await?,
                None => false,
            };
            if !allowed {
                return Ok(None);
            }
            id.to_string()
        }
        _ => return Err(Error::NotFound),
    };
    let sealed = state.secrets.seal(&account_id, secret)?;
    // The confirming code's step is used up: it cannot be replayed at sign-in (A10).
    accounts::complete_enrolment(&mut tx, &account_id, &e.password_hash, &sealed, step).await?;
    let is_guest = inv.purpose == Purpose::Guest;
    let recovery_codes = if is_guest {
        guests::mark_enrolled(&mut tx, &account_id, now).await?;
        let (codes, hashes) = crate::guests::recovery_codes(&state.secrets);
        guests::store_recovery_codes(&mut tx, &account_id, &hashes).await?;
        Some(codes)
    } else {
        None
    };
    let login_id = logins::insert(&mut tx, &account_id, now).await?;
    let actor = if is_guest {
        Actor::Guest(account_id.clone())
    } else {
        Actor::Clerk(account_id.clone())
    };
    for (action, detail) in [
        ("invitation.accepted", inv.purpose.as_str()),
        ("account.enrolled", "password+totp"),
        ("session.start", "enrolment"),
    ] {
        audit::record(
            &mut tx,
            now,
            source,
            &Event::new(actor.clone(), action, Outcome::Success)
                .target(&account_id)
                .detail(detail),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Some(Enrolled {
        login_id,
        recovery_codes,
    }))
}

crate::vocab::text_enum!(
    /// What a one-time link sets up: the first admin, a clerk, or a guest.
    Purpose, "link purpose" {
        Bootstrap = "bootstrap",
        ClerkSetup = "clerk_setup",
        Guest = "guest",
    }
);

/// Whether a link as it was given to a person can still be used: not used, revoked or expired.
pub async fn link_is_usable(state: &AppState, link: &str) -> anyhow::Result<bool> {
    let Some(token) = link
        .rsplit('/')
        .next()
        .and_then(crate::auth::token::LinkToken::parse)
    else {
        return Ok(false);
    };
    Ok(store::usable(&state.db, &token.hash(), state.now())
        .await?
        .is_some())
}

/// Issues a one-time link for an account (any earlier one dies with the next use check, A7) and
/// records it, inside the caller's transaction; returns the link people open. The one place a
/// link is made, for the first admin, clerks and guests alike.
pub async fn issue_link(
    conn: &mut AnyConnection,
    state: &AppState,
    purpose: Purpose,
    account_id: Option<&str>,
    channel_id: Option<&str>,
    actor: &Actor,
    source: &Source,
) -> Result<String> {
    let token = LinkToken::generate();
    let now = state.now();
    let created_by = match actor {
        Actor::Clerk(id) => Some(id.as_str()),
        _ => None,
    };
    let id = store::insert(
        conn,
        &NewInvitation {
            token_hash: &token.hash(),
            purpose,
            account_id,
            created_by,
            expires_at: now + state.config.invitation_lifetime_secs,
        },
        now,
    )
    .await?;
    let mut ev = Event::new(actor.clone(), "invitation.issued", Outcome::Success)
        .target(account_id.unwrap_or(&id))
        .detail(purpose.as_str());
    ev.channel_id = channel_id.map(str::to_string);
    audit::record(conn, now, source, &ev).await?;
    let path = match purpose {
        Purpose::Guest => links::invite(token.as_str()),
        Purpose::Bootstrap | Purpose::ClerkSetup => links::setup(token.as_str()),
    };
    Ok(state.link(&path))
}

/// Keeps the password a guest chose at the first enrolment step on their still-invited
/// account, so that signing in with it before the authenticator is registered can say that
/// enrolment is not finished (honest endings). The account cannot sign in until `complete`.
pub async fn remember_password(
    state: &AppState,
    source: &Source,
    inv: &Invitation,
    password_hash: &str,
) -> Result<()> {
    let (Purpose::Guest, Some(account_id)) = (inv.purpose, inv.account_id.as_deref()) else {
        return Ok(());
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let changed = sqlx::query(
        "update account set password_hash = $1 where account_id = $2 and status = 'invited'",
    )
    .bind(password_hash)
    .bind(account_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed == 1 {
        let ev = Event::new(
            Actor::Guest(account_id.to_string()),
            "enrolment.password",
            Outcome::Success,
        )
        .target(account_id);
        audit::record(&mut tx, now, source, &ev).await?;
    }
    tx.commit().await?;
    Ok(())
}
