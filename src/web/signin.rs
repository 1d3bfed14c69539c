//! Staff sign-in: e-mail and password, then a TOTP code; sign-out.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;

use super::AppState;
use super::ctx::{CSRF_KEY, Ctx, new_csrf_token, render, render_invalid};
use super::error::{AppError, AppResult};
use super::guard::{LOGIN_KEY, PENDING_KEY, Pending};
use super::paths;
use crate::audit::{self, Actor, Event, Outcome};
use crate::auth::policy::{self, AfterFailure, TOTP_HARD_LIMIT, TOTP_PENDING_SECS};
use crate::auth::{password, totp};
use crate::db::accounts::{self, Factor};
use crate::db::logins;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::STAFF_SIGN_IN, get(sign_in_get).post(sign_in_post))
        .route(paths::STAFF_SIGN_IN_CODE, get(code_get).post(code_post))
        .route(paths::STAFF_SIGN_OUT, post(sign_out_post))
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    ctx: Ctx,
    email: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "signin_code.html")]
struct CodePage {
    ctx: Ctx,
    error: Option<String>,
    locked: bool,
}

/// Longest e-mail address accepted anywhere (RFC 5321 path limit).
pub const EMAIL_MAX: usize = 254;
/// Longest password read at sign-in; longer input cannot be anyone's password.
const PASSWORD_READ_MAX: usize = 1024;

async fn sign_in_get(ctx: Ctx, session: Session) -> AppResult<Response> {
    let notice = session
        .remove::<String>("notice")
        .await?
        .map(|key| ctx.t(&key));
    render(&SignInPage {
        ctx,
        email: String::new(),
        error: None,
        notice,
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
}

pub fn normalise_email(s: &str) -> String {
    s.trim().to_lowercase()
}

async fn sign_in_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    Form(form): Form<SignInForm>,
) -> AppResult<Response> {
    let now = state.now();
    if let Some(addr) = ctx.address
        && !state.limiter.allow(addr, "sign_in", now)
    {
        return Err(AppError::TooManyRequests);
    }
    let email = normalise_email(&form.email);
    let wrong = |ctx: Ctx, email: String| {
        let error = Some(ctx.t("signin-wrong"));
        render_invalid(&SignInPage {
            ctx,
            email,
            error,
            notice: None,
        })
    };
    if email.chars().count() > EMAIL_MAX || form.password.len() > PASSWORD_READ_MAX {
        return wrong(ctx, String::new());
    }
    let account = accounts::by_email(&state.db, &email)
        .await?
        .filter(|a| a.kind == "clerk");
    // Always one argon2 verification, account or not, so both answers take as long (B7).
    let ok = password::verify(
        form.password,
        account.as_ref().and_then(|a| a.password_hash.clone()),
    )
    .await?;
    let Some(account) = account else {
        audit::record_alone(
            &state.db,
            now,
            &ctx.source,
            &Event::new(Actor::Anonymous, "sign_in.password", Outcome::Failure)
                .detail("unknown account"),
        )
        .await?;
        return wrong(ctx, email);
    };
    let actor = Actor::Claimed(account.account_id.clone());
    let throttled = account.password_locked_until > now;
    let usable = account.status == "active" || account.status == "locked";
    if !ok || throttled || !usable {
        let mut tx = state.db.begin().await?;
        let reason = if throttled {
            "throttled"
        } else if !ok {
            "wrong password"
        } else {
            "account not active"
        };
        if !ok && !throttled {
            let failures =
                accounts::record_failure(&mut tx, &account.account_id, Factor::Password).await?;
            if let AfterFailure::LockUntil(until) = policy::after_failure(failures, now, None) {
                accounts::lock_until(&mut tx, &account.account_id, Factor::Password, until).await?;
                audit::record(
                    &mut tx,
                    now,
                    &ctx.source,
                    &Event::new(actor.clone(), "account.lockout", Outcome::Success)
                        .target(&account.account_id)
                        .detail(format!("password, until {until}")),
                )
                .await?;
            }
        }
        audit::record(
            &mut tx,
            now,
            &ctx.source,
            &Event::new(actor, "sign_in.password", Outcome::Failure).detail(reason),
        )
        .await?;
        tx.commit().await?;
        return wrong(ctx, email);
    }
    let mut tx = state.db.begin().await?;
    accounts::reset_password_failures(&mut tx, &account.account_id).await?;
    audit::record(
        &mut tx,
        now,
        &ctx.source,
        &Event::new(actor, "sign_in.password", Outcome::Success),
    )
    .await?;
    tx.commit().await?;
    // A new id for the new privilege (C1); the pending state opens only the code form (B8).
    session.cycle_id().await?;
    session.remove::<String>(LOGIN_KEY).await?;
    session
        .insert(
            PENDING_KEY,
            Pending {
                account_id: account.account_id,
                at: now,
            },
        )
        .await?;
    Ok(Redirect::to(paths::STAFF_SIGN_IN_CODE).into_response())
}

/// The pending state, if it is still fresh.
async fn pending(state: &AppState, session: &Session) -> AppResult<Option<Pending>> {
    let p = session.get::<Pending>(PENDING_KEY).await?;
    Ok(p.filter(|p| state.now() - p.at <= TOTP_PENDING_SECS))
}

async fn code_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
) -> AppResult<Response> {
    if pending(&state, &session).await?.is_none() {
        session.remove::<Pending>(PENDING_KEY).await?;
        session.insert("notice", "signin-expired").await?;
        return Ok(Redirect::to(paths::STAFF_SIGN_IN).into_response());
    }
    render(&CodePage {
        ctx,
        error: None,
        locked: false,
    })
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

async fn code_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let now = state.now();
    if let Some(addr) = ctx.address
        && !state.limiter.allow(addr, "sign_in_code", now)
    {
        return Err(AppError::TooManyRequests);
    }
    let Some(p) = pending(&state, &session).await? else {
        session.remove::<Pending>(PENDING_KEY).await?;
        session.insert("notice", "signin-expired").await?;
        return Ok(Redirect::to(paths::STAFF_SIGN_IN).into_response());
    };
    let mut conn = state.db.pool.acquire().await?;
    let account = accounts::by_id(&mut conn, &p.account_id).await?;
    drop(conn);
    let Some(account) = account.filter(|a| a.status == "active" || a.status == "locked") else {
        session.remove::<Pending>(PENDING_KEY).await?;
        return Ok(Redirect::to(paths::STAFF_SIGN_IN).into_response());
    };
    let actor = Actor::Claimed(account.account_id.clone());
    if account.status == "locked" || account.totp_locked_until > now {
        audit::record_alone(
            &state.db,
            now,
            &ctx.source,
            &Event::new(actor, "sign_in.totp", Outcome::Denied).detail("locked"),
        )
        .await?;
        let error = Some(ctx.t(if account.status == "locked" {
            "signin-locked"
        } else {
            "signin-throttled"
        }));
        return render_invalid(&CodePage {
            ctx,
            error,
            locked: account.status == "locked",
        });
    }
    let secret = match &account.totp_secret {
        Some(sealed) => state.secrets.open(&account.account_id, sealed)?,
        None => {
            return Err(AppError::Internal(anyhow::anyhow!(
                "active account without TOTP"
            )));
        }
    };
    let step = totp::matching_step(&secret, &form.code, now)?;
    let mut tx = state.db.begin().await?;
    if let Some(step) = step
        && accounts::accept_totp_step(&mut tx, &account.account_id, step).await?
    {
        let login_id = logins::insert(&mut tx, &account.account_id, now).await?;
        let clerk = Actor::Clerk(account.account_id.clone());
        audit::record(
            &mut tx,
            now,
            &ctx.source,
            &Event::new(clerk.clone(), "sign_in.totp", Outcome::Success),
        )
        .await?;
        audit::record(
            &mut tx,
            now,
            &ctx.source,
            &Event::new(clerk, "session.start", Outcome::Success),
        )
        .await?;
        tx.commit().await?;
        session.cycle_id().await?;
        session.remove::<Pending>(PENDING_KEY).await?;
        session.insert(LOGIN_KEY, &login_id).await?;
        session.insert(CSRF_KEY, new_csrf_token()).await?;
        return Ok(Redirect::to(paths::STAFF_HOME).into_response());
    }
    // A replayed code is its own audit event, but the person sees a wrong code (B4).
    let action = if step.is_some() {
        "totp.replay"
    } else {
        "sign_in.totp"
    };
    audit::record(
        &mut tx,
        now,
        &ctx.source,
        &Event::new(actor.clone(), action, Outcome::Failure),
    )
    .await?;
    let failures = accounts::record_failure(&mut tx, &account.account_id, Factor::Totp).await?;
    match policy::after_failure(failures, now, Some(TOTP_HARD_LIMIT)) {
        AfterFailure::Count => {}
        AfterFailure::LockUntil(until) => {
            accounts::lock_until(&mut tx, &account.account_id, Factor::Totp, until).await?;
            audit::record(
                &mut tx,
                now,
                &ctx.source,
                &Event::new(actor, "account.lockout", Outcome::Success)
                    .target(&account.account_id)
                    .detail(format!("totp, until {until}")),
            )
            .await?;
        }
        AfterFailure::Lock => {
            accounts::set_status(&mut tx, &account.account_id, "locked").await?;
            logins::end_all(&mut tx, &account.account_id, None, "account_locked", now).await?;
            audit::record(
                &mut tx,
                now,
                &ctx.source,
                &Event::new(actor, "account.lockout", Outcome::Success)
                    .target(&account.account_id)
                    .detail("totp, locked until reset"),
            )
            .await?;
        }
    }
    tx.commit().await?;
    let error = Some(ctx.t("signin-code-wrong"));
    render_invalid(&CodePage {
        ctx,
        error,
        locked: false,
    })
}

async fn sign_out_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
) -> AppResult<Response> {
    if let Some(login_id) = session.get::<String>(LOGIN_KEY).await? {
        let now = state.now();
        let account = logins::open(&state.db, &login_id)
            .await?
            .map(|l| l.account_id);
        let mut tx = state.db.begin().await?;
        if logins::end(&mut tx, &login_id, "sign_out", now).await? {
            let actor = account.map(Actor::Clerk).unwrap_or(Actor::Anonymous);
            audit::record(
                &mut tx,
                now,
                &ctx.source,
                &Event::new(actor, "session.end", Outcome::Success).detail("sign_out"),
            )
            .await?;
        }
        tx.commit().await?;
    }
    session.flush().await?;
    Ok(Redirect::to(paths::STAFF_SIGN_IN).into_response())
}
