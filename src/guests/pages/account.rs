//! The guest's account page: access end, extension requests, sessions, password,
//! authenticator, closing the account.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::accounts::{credentials, logins};
use crate::app::AppState;
use crate::auth::password::{self, GUEST_MIN_CHARS, PasswordProblem};
use crate::auth::totp;
use crate::guests::GuestUser;
use crate::guests::REASON_MAX;
use crate::guests::lifecycle::{self, Reason};
use crate::guests::store::{self as guests, ExtensionRequest, Guest};
use crate::links;
use crate::web::authenticator::authenticator_page;
use crate::web::ctx::{Ctx, render, render_invalid};
use crate::web::error::{AppError, AppResult};
use crate::web::forms::with_guest;
use crate::web::routes::Routes;

pub fn router() -> Routes {
    Routes::new()
        .route(links::GUEST_ACCOUNT, get(account_get))
        .route(links::GUEST_ACCOUNT_EXTENSION, post(extension_post))
        .route(links::GUEST_ACCOUNT_END_OTHERS, post(end_others_post))
        .route(links::GUEST_ACCOUNT_PASSWORD, post(password_post))
        .route(links::GUEST_ACCOUNT_CLOSE, post(close_post))
        .route(
            links::GUEST_ACCOUNT_AUTHENTICATOR,
            get(authenticator_get).post(authenticator_post),
        )
        .route(
            links::GUEST_ACCOUNT_AUTHENTICATOR_CONFIRM,
            post(authenticator_confirm_post),
        )
}

#[derive(Template)]
#[template(path = "guest/account.html")]
struct AccountPage {
    ctx: Ctx,
    guest: Guest,
    expires_on: String,
    requests: Vec<ExtensionRequest>,
    other_sessions: i64,
    recovery_left: i64,
    notice: Option<String>,
    errors: Vec<(String, String)>,
    message: String,
    notices_on: bool,
}

impl AccountPage {
    fn error_for(&self, field: &str) -> Option<String> {
        crate::web::ctx::field_error(&self.errors, field)
    }
    fn day(&self, t: &i64) -> String {
        self.ctx.last_day(t)
    }
    fn has_open_request(&self) -> bool {
        self.requests.iter().any(|r| r.decided_at.is_none())
    }
}

async fn account_page(
    state: &AppState,
    ctx: Ctx,
    user: &GuestUser,
    notice: Option<String>,
    errors: Vec<(String, String)>,
    message: String,
) -> AppResult<AccountPage> {
    let other_sessions =
        logins::other_open_count(&state.db, &user.guest.account_id, &user.login_id).await?;
    Ok(AccountPage {
        expires_on: ctx.lang.last_day(user.guest.expires_at),
        ctx: with_guest(ctx, user),
        requests: guests::requests(&state.db, &user.guest.account_id).await?,
        other_sessions,
        recovery_left: guests::recovery_codes_left(&state.db, &user.guest.account_id).await?,
        notices_on: crate::messages::notify::enabled(state, &user.guest.account_id).await?,
        guest: user.guest.clone(),
        notice,
        errors,
        message,
    })
}

async fn account_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: GuestUser,
) -> AppResult<Response> {
    let notice = session.remove::<String>("notice").await?.map(|k| ctx.t(&k));
    render(&account_page(&state, ctx, &user, notice, vec![], String::new()).await?)
}

#[derive(Deserialize)]
pub struct ExtensionForm {
    #[serde(default)]
    message: String,
}

async fn extension_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: GuestUser,
    Form(form): Form<ExtensionForm>,
) -> AppResult<Response> {
    let message = form.message.trim().to_string();
    let why = match Reason::parse(&message) {
        Ok(why) => why,
        Err(key) => {
            let errors = vec![("message".to_string(), ctx.t(key))];
            let shown: String = message.chars().take(REASON_MAX * 2).collect();
            return render_invalid(&account_page(&state, ctx, &user, None, errors, shown).await?);
        }
    };
    let sent = lifecycle::request_extension(&state, &ctx.source, &user, &why).await?;
    let notice = if sent {
        "account-extension-sent"
    } else {
        "account-extension-pending"
    };
    session.insert("notice", notice).await?;
    Ok(Redirect::to(links::GUEST_ACCOUNT).into_response())
}

async fn end_others_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: GuestUser,
) -> AppResult<Response> {
    credentials::end_other_sessions(&state, &ctx.source, &user).await?;
    session.insert("notice", "account-others-ended").await?;
    Ok(Redirect::to(links::GUEST_ACCOUNT).into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    code: String,
    password: String,
    password_confirm: String,
}

/// Re-checks the guest's factors, under the same per-address limit as sign-in (A9).
async fn factors_ok(
    state: &AppState,
    ctx: &Ctx,
    account_id: &str,
    current: String,
    code: Option<&str>,
) -> AppResult<bool> {
    if let Some(addr) = ctx.address
        && !state
            .limiter
            .allow(addr, "account_factors", state.now())
            .await?
    {
        return Err(AppError::TooManyRequests);
    }
    Ok(credentials::check_factors(state, &ctx.source, account_id, &current, code).await?)
}

async fn password_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: GuestUser,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    let mut errors = vec![];
    if let Err(p) = password::check_new(&form.password, &form.password_confirm, GUEST_MIN_CHARS) {
        let key = match p {
            PasswordProblem::TooShort => "password-too-short",
            PasswordProblem::TooLong => "password-too-long",
            PasswordProblem::Common => "password-common",
            PasswordProblem::Mismatch => "password-mismatch",
        };
        errors.push((
            "password".to_string(),
            ctx.t_with(key, [("min", GUEST_MIN_CHARS.to_string())]),
        ));
    }
    if errors.is_empty()
        && !factors_ok(
            &state,
            &ctx,
            &user.guest.account_id,
            form.current,
            Some(&form.code),
        )
        .await?
    {
        errors.push(("current".to_string(), ctx.t("account-factors-wrong")));
        credentials::record_refused_change(&state, &ctx.source, &user, "account.password_change")
            .await?;
    }
    if !errors.is_empty() {
        return render_invalid(
            &account_page(&state, ctx, &user, None, errors, String::new()).await?,
        );
    }
    credentials::change_password(&state, &ctx.source, &user, form.password).await?;
    session.cycle_id().await?;
    session.insert("notice", "account-password-changed").await?;
    Ok(Redirect::to(links::GUEST_ACCOUNT).into_response())
}

#[derive(Deserialize)]
pub struct CloseForm {
    current: String,
}

async fn close_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: GuestUser,
    Form(form): Form<CloseForm>,
) -> AppResult<Response> {
    let ok = factors_ok(&state, &ctx, &user.guest.account_id, form.current, None).await?;
    if !ok {
        let errors = vec![("close".to_string(), ctx.t("account-password-wrong"))];
        return render_invalid(
            &account_page(&state, ctx, &user, None, errors, String::new()).await?,
        );
    }
    lifecycle::close(&state, &ctx.source, &user).await?;
    session.flush().await?;
    Ok(Redirect::to(links::GUEST_SIGN_IN).into_response())
}

const REENROL_KEY: &str = "reenrol";
const REENROL_SCOPE: &str = "re-enrolment";

#[derive(Deserialize)]
pub struct FactorsForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    code: String,
}

/// Starting a change of authenticator needs both current factors (B10).
async fn authenticator_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: GuestUser,
    Form(form): Form<FactorsForm>,
) -> AppResult<Response> {
    if !factors_ok(
        &state,
        &ctx,
        &user.guest.account_id,
        form.current,
        Some(&form.code),
    )
    .await?
    {
        credentials::record_refused_change(
            &state,
            &ctx.source,
            &user,
            "account.authenticator_change",
        )
        .await?;
        let errors = vec![("authenticator".to_string(), ctx.t("account-factors-wrong"))];
        return render_invalid(
            &account_page(&state, ctx, &user, None, errors, String::new()).await?,
        );
    }
    let secret = totp::generate_secret();
    let sealed = totp::seal_for_session(&state.secrets, REENROL_SCOPE, &secret)?;
    session.insert(REENROL_KEY, sealed).await?;
    Ok(Redirect::to(links::GUEST_ACCOUNT_AUTHENTICATOR).into_response())
}

async fn reenrol_secret(state: &AppState, session: &Session) -> AppResult<Option<Vec<u8>>> {
    match session.get::<String>(REENROL_KEY).await? {
        Some(sealed) => Ok(Some(totp::open_from_session(
            &state.secrets,
            REENROL_SCOPE,
            &sealed,
        )?)),
        None => Ok(None),
    }
}

async fn authenticator_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: GuestUser,
) -> AppResult<Response> {
    let Some(secret) = reenrol_secret(&state, &session).await? else {
        return Ok(Redirect::to(links::GUEST_ACCOUNT).into_response());
    };
    let ctx = with_guest(ctx, &user);
    authenticator_page(
        ctx,
        &secret,
        &user.guest.sign_in_name,
        links::GUEST_ACCOUNT_AUTHENTICATOR_CONFIRM,
        None,
    )
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    code: String,
}

/// Replaces the secret once the new app shows a right code; other sessions end (B10).
async fn authenticator_confirm_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: GuestUser,
    Form(form): Form<ConfirmForm>,
) -> AppResult<Response> {
    let Some(secret) = reenrol_secret(&state, &session).await? else {
        return Ok(Redirect::to(links::GUEST_ACCOUNT).into_response());
    };
    let now = state.now();
    let Some(step) = totp::matching_step(&secret, &form.code, now)? else {
        let error = Some(ctx.t("setup-code-wrong"));
        let ctx = with_guest(ctx, &user);
        return authenticator_page(
            ctx,
            &secret,
            &user.guest.sign_in_name,
            links::GUEST_ACCOUNT_AUTHENTICATOR_CONFIRM,
            error,
        );
    };
    credentials::replace_authenticator(&state, &ctx.source, &user, &secret, step).await?;
    session.remove::<String>(REENROL_KEY).await?;
    session.cycle_id().await?;
    session
        .insert("notice", "account-authenticator-changed")
        .await?;
    Ok(Redirect::to(links::GUEST_ACCOUNT).into_response())
}
