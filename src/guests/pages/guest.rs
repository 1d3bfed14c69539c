//! The guest's own pages: their one channel and their account.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::accounts::GuestUser;
use crate::accounts::logins;
use crate::accounts::store as accounts;
use crate::accounts::store::Factor;
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome};
use crate::auth::password::{self, GUEST_MIN_CHARS, PasswordProblem};
use crate::auth::totp;
use crate::guests::REASON_MAX;
use crate::guests::store::{self as guests, ExtensionRequest, Guest};
use crate::links;
use crate::messages::store::{self as messages, Message};
use crate::web::Routes;
use crate::web::ctx::{Ctx, render, render_invalid};
use crate::web::error::{AppError, AppResult};

pub fn router() -> Routes {
    Routes::new()
        .route(links::GUEST_HOME, get(home_get))
        .route(links::GUEST_CHANNEL, get(channel_get))
        .route(links::GUEST_CHANNEL_MESSAGES, post(message_post))
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

fn with_guest(mut ctx: Ctx, user: &GuestUser) -> Ctx {
    ctx.user = Some(user.guest.name.clone());
    ctx.guest = true;
    ctx
}

async fn home_get(user: GuestUser) -> Response {
    Redirect::to(&links::with(
        links::GUEST_CHANNEL,
        "channel",
        &user.guest.channel_id,
    ))
    .into_response()
}

#[derive(Template)]
#[template(path = "guest/channel.html")]
struct ChannelPage {
    ctx: Ctx,
    guest: Guest,
    messages: Vec<Message>,
    draft: String,
    error: Option<String>,
    purpose: String,
    ends_on: String,
    expires_on: String,
}

/// The one shared membership check for a guest's channel-scoped routes (D1): anything but the
/// guest's own channel is the same not-found as a missing id, and the attempt is recorded.
pub async fn guest_channel_scope(
    state: &AppState,
    ctx: &Ctx,
    user: &GuestUser,
    channel: &str,
) -> AppResult<()> {
    if channel == user.guest.channel_id {
        return Ok(());
    }
    let ev = Event::new(user.actor(), "authz.denied", Outcome::Denied)
        .target(ctx.path.clone())
        .in_channel(channel.chars().take(64).collect::<String>());
    audit::record_alone(&state.db, state.now(), &ctx.source, &ev).await?;
    Err(AppError::NotFound)
}

impl ChannelPage {
    fn permission_key(&self) -> String {
        format!("permission-{}", self.guest.permission)
    }
    fn may_post(&self) -> bool {
        may_post(&self.guest)
    }
}

/// Whether a guest's permission allows writing (D6); decided from the database, never a form.
pub fn may_post(g: &Guest) -> bool {
    g.permission.may_post()
}

async fn channel_page(
    state: &AppState,
    ctx: Ctx,
    user: GuestUser,
    draft: String,
    error: Option<String>,
) -> AppResult<ChannelPage> {
    let mut conn = state.db.pool.acquire().await?;
    let ch = crate::channels::store::get(&mut conn, &user.guest.channel_id)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    Ok(ChannelPage {
        messages: messages::recent(&state.db, &ch.channel_id, MESSAGES_SHOWN).await?,
        ctx: with_guest(ctx, &user),
        draft,
        error,
        purpose: ch.purpose,
        ends_on: crate::guests::last_day(ch.ends_at),
        expires_on: crate::guests::last_day(user.guest.expires_at),
        guest: user.guest,
    })
}

pub const MESSAGES_SHOWN: i64 = 200;
pub const MESSAGE_MAX: usize = 4000;

#[derive(Deserialize)]
pub struct MessageForm {
    #[serde(default)]
    body: String,
}

impl MessageForm {
    pub fn body(&self) -> &str {
        &self.body
    }
}

async fn message_post(
    State(state): State<AppState>,
    ctx: Ctx,
    user: GuestUser,
    Path(channel): Path<String>,
    Form(form): Form<MessageForm>,
) -> AppResult<Response> {
    guest_channel_scope(&state, &ctx, &user, &channel).await?;
    let now = state.now();
    if !may_post(&user.guest) {
        let mut ev =
            Event::new(user.actor(), "message.post", Outcome::Denied).detail("permission read");
        ev.channel_id = Some(channel.clone());
        audit::record_alone(&state.db, now, &ctx.source, &ev).await?;
        return Err(AppError::Forbidden);
    }
    let body = match crate::channels::pages::text_field(&form.body, MESSAGE_MAX, true) {
        Ok(b) => b,
        Err(key) => {
            let error = Some(ctx.t(key));
            let draft = form.body.chars().take(MESSAGE_MAX * 2).collect();
            return render_invalid(&channel_page(&state, ctx, user, draft, error).await?);
        }
    };
    let mut tx = state.db.begin().await?;
    let id = messages::insert(&mut tx, &channel, &user.guest.account_id, &body, now).await?;
    let ev = Event::new(user.actor(), "message.post", Outcome::Success)
        .target(id)
        .in_channel(channel.clone());
    audit::record(&mut tx, now, &ctx.source, &ev).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!(
        "{}#latest",
        links::with(links::GUEST_CHANNEL, "channel", &channel)
    ))
    .into_response())
}

async fn channel_get(
    State(state): State<AppState>,
    ctx: Ctx,
    user: GuestUser,
    Path(channel): Path<String>,
) -> AppResult<Response> {
    guest_channel_scope(&state, &ctx, &user, &channel).await?;
    let ev = Event::new(user.actor(), "channel.view", Outcome::Success).in_channel(channel.clone());
    audit::record_alone(&state.db, state.now(), &ctx.source, &ev).await?;
    render(&channel_page(&state, ctx, user, String::new(), None).await?)
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
}

impl AccountPage {
    fn error_for(&self, field: &str) -> Option<String> {
        crate::web::ctx::field_error(&self.errors, field)
    }
    fn day(&self, t: &i64) -> String {
        crate::guests::last_day(*t)
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
    let other_sessions: i64 = sqlx::query_scalar(
        "select count(*) from login where account_id = $1 and ended_at is null and login_id <> $2",
    )
    .bind(&user.guest.account_id)
    .bind(&user.login_id)
    .fetch_one(&state.db.pool)
    .await?;
    Ok(AccountPage {
        ctx: with_guest(ctx, user),
        expires_on: crate::guests::last_day(user.guest.expires_at),
        requests: guests::requests(&state.db, &user.guest.account_id).await?,
        other_sessions,
        recovery_left: guests::recovery_codes_left(&state.db, &user.guest.account_id).await?,
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
    let problem = crate::channels::pages::text_field(&message, REASON_MAX, true).err();
    if let Some(key) = problem {
        let errors = vec![("message".to_string(), ctx.t(key))];
        let shown: String = message.chars().take(REASON_MAX * 2).collect();
        return render_invalid(&account_page(&state, ctx, &user, None, errors, shown).await?);
    }
    let now = state.now();
    let g = &user.guest;
    let mut tx = state.db.begin().await?;
    // The row lock serialises two racing requests, so at most one stays open.
    guests::lock_in_status(&mut tx, &g.account_id, &[crate::accounts::Status::Active]).await?;
    let open: i64 = sqlx::query_scalar(
        "select count(*) from extension_request where account_id = $1 and decided_at is null",
    )
    .bind(&g.account_id)
    .fetch_one(&mut *tx)
    .await?;
    if open > 0 {
        drop(tx);
        session
            .insert("notice", "account-extension-pending")
            .await?;
        return Ok(Redirect::to(links::GUEST_ACCOUNT).into_response());
    }
    let rid = guests::insert_request(&mut tx, &g.account_id, &message, now).await?;
    let ev = Event::new(user.actor(), "guest.extension_requested", Outcome::Success)
        .target(&g.account_id)
        .detail(format!("request {rid}"))
        .in_channel(g.channel_id.clone());
    audit::record(&mut tx, now, &ctx.source, &ev).await?;
    tx.commit().await?;
    let mail = crate::guests::simple_mail(
        &g.sponsor_name,
        &g.sponsor_email,
        "mail-extension-request-subject",
        vec![(
            "mail-extension-request-body",
            vec![
                ("guest", g.name.clone()),
                ("organisation", g.organisation.clone()),
                ("channel", g.channel_name.clone()),
                ("until", crate::guests::last_day(g.expires_at)),
            ],
        )],
        Some((
            state.link(&links::with(links::STAFF_GUEST, "guest", &g.account_id)),
            "mail-open-extend",
        )),
    )?;
    if let Err(e) = state.mailer.send(&mail).await {
        tracing::warn!(error = format!("{e:#}"), "extension request mail not sent");
    }
    session.insert("notice", "account-extension-sent").await?;
    Ok(Redirect::to(links::GUEST_ACCOUNT).into_response())
}

async fn end_others_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: GuestUser,
) -> AppResult<Response> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    end_other_sessions(
        &mut tx,
        &user,
        &ctx,
        "session.end_others",
        "ended_by_owner",
        now,
    )
    .await?;
    tx.commit().await?;
    session.insert("notice", "account-others-ended").await?;
    Ok(Redirect::to(links::GUEST_ACCOUNT).into_response())
}

/// Ends the guest's other sessions and records `action` with how many ended, in the caller's
/// transaction (B10, C6).
async fn end_other_sessions(
    tx: &mut crate::db::Tx,
    user: &GuestUser,
    ctx: &Ctx,
    action: &'static str,
    reason: &str,
    now: i64,
) -> AppResult<()> {
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
        &ctx.source,
        &Event::new(user.actor(), action, Outcome::Success)
            .detail(format!("other sessions ended: {n}")),
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    code: String,
    password: String,
    password_confirm: String,
}

/// Re-checks the factors a guest already proved, with the same throttling and failure counts
/// as sign-in (A9, B5): `code` is `None` where only the password is asked for. A right code's
/// step is used up like at sign-in (B10).
async fn factors_ok(
    state: &AppState,
    ctx: &Ctx,
    account_id: &str,
    current: String,
    code: Option<&str>,
) -> AppResult<bool> {
    let now = state.now();
    if let Some(addr) = ctx.address
        && !state.limiter.allow(addr, "account_factors", now)
    {
        return Err(AppError::TooManyRequests);
    }
    let mut conn = state.db.pool.acquire().await?;
    let Some(account) = accounts::by_id(&mut conn, account_id).await? else {
        return Ok(false);
    };
    drop(conn);
    let throttled =
        account.password_locked_until > now || (code.is_some() && account.totp_locked_until > now);
    let password_ok = password::verify(current, account.password_hash.clone()).await?;
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
        let lockout =
            crate::accounts::signin::count_failure(&mut tx, account_id, factor, now).await?;
        if let Some(detail) = lockout {
            audit::record(
                &mut tx,
                now,
                &ctx.source,
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
        audit::record_alone(
            &state.db,
            state.now(),
            &ctx.source,
            &Event::new(user.actor(), "account.password_change", Outcome::Failure),
        )
        .await?;
    }
    if !errors.is_empty() {
        return render_invalid(
            &account_page(&state, ctx, &user, None, errors, String::new()).await?,
        );
    }
    let hash = password::hash(form.password).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    sqlx::query("update account set password_hash = $1 where account_id = $2")
        .bind(&hash)
        .bind(&user.guest.account_id)
        .execute(&mut *tx)
        .await?;
    end_other_sessions(
        &mut tx,
        &user,
        &ctx,
        "account.password_change",
        "password_changed",
        now,
    )
    .await?;
    tx.commit().await?;
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
    let now = state.now();
    let mut tx = state.db.begin().await?;
    crate::guests::end(
        &mut tx,
        &user.guest,
        "closed",
        user.actor(),
        "closed by the guest",
        &ctx.source,
        now,
    )
    .await?;
    tx.commit().await?;
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
        audit::record_alone(
            &state.db,
            state.now(),
            &ctx.source,
            &Event::new(
                user.actor(),
                "account.authenticator_change",
                Outcome::Failure,
            ),
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
    crate::enrolment::pages::authenticator_page(
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
        return crate::enrolment::pages::authenticator_page(
            ctx,
            &secret,
            &user.guest.sign_in_name,
            links::GUEST_ACCOUNT_AUTHENTICATOR_CONFIRM,
            error,
        );
    };
    let sealed = state.secrets.seal(&user.guest.account_id, &secret)?;
    let mut tx = state.db.begin().await?;
    sqlx::query("update account set totp_secret = $1, totp_last_step = $2 where account_id = $3")
        .bind(&sealed)
        .bind(step)
        .bind(&user.guest.account_id)
        .execute(&mut *tx)
        .await?;
    end_other_sessions(
        &mut tx,
        &user,
        &ctx,
        "account.authenticator_change",
        "authenticator_changed",
        now,
    )
    .await?;
    tx.commit().await?;
    session.remove::<String>(REENROL_KEY).await?;
    session.cycle_id().await?;
    session
        .insert("notice", "account-authenticator-changed")
        .await?;
    Ok(Redirect::to(links::GUEST_ACCOUNT).into_response())
}
