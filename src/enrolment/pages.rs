//! One-time setup links: the first admin, and clerks added by an admin or on the command line.
//! Opening the link (GET/HEAD) never uses it up (A4); the final POST of the authenticator step
//! does, atomically (A2). Step two lives at a URL without the token (A5).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header::REFERRER_POLICY;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use tower_sessions::Session;

use crate::accounts::store as accounts;
use crate::app::AppState;
use crate::auth::password::{self, CLERK_MIN_CHARS, GUEST_MIN_CHARS, PasswordProblem};
use crate::auth::totp;
use crate::clerks::{Email, PersonName};
use crate::enrolment::{self, Enrolled, Enrolment, Link};
use crate::guests::store::Guest;
use crate::links;
use crate::web::authenticator::authenticator_page;
use crate::web::ctx::{CSRF_KEY, Ctx, new_csrf_token};
use crate::web::error::{AppError, AppResult};
use crate::web::guard::{LOGIN_KEY, PENDING_KEY};
use crate::web::routes::Routes;

pub fn router() -> Routes {
    Routes::new()
        .route(links::SETUP_APP, get(app_get).post(app_post))
        .route(links::SETUP_RECOVERY, get(recovery_get))
        .route(links::SETUP_RECOVERY_TEXT, get(recovery_text_get))
        .route(links::SETUP, get(link_get).post(link_post))
        .route(links::INVITE, get(link_get).post(link_post))
}

const ENROL_KEY: &str = "enrol";
/// Codes one setup link may try per minute, from any address.
const LINK_CODES_PER_MINUTE: u32 = 10;
/// Scope under which the secret is sealed while it waits in the session.
const ENROL_SCOPE: &str = "enrolment";

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    ctx: Ctx,
    bootstrap: bool,
    guest: Option<Guest>,
    name: String,
    email: String,
    errors: Vec<(String, String)>,
}

impl SetupPage {
    fn min_chars(&self) -> usize {
        if self.guest.is_some() {
            GUEST_MIN_CHARS
        } else {
            CLERK_MIN_CHARS
        }
    }

    fn error_for(&self, field: &str) -> Option<String> {
        crate::web::ctx::field_error(&self.errors, field)
    }
}

#[derive(Template)]
#[template(path = "link_invalid.html")]
struct InvalidPage {
    ctx: Ctx,
}

/// Invalid, expired, used and unknown links all get this same page and status (A8).
fn invalid(ctx: Ctx) -> AppResult<Response> {
    let html = InvalidPage { ctx }.render()?;
    Ok(no_referrer(
        (StatusCode::NOT_FOUND, Html(html)).into_response(),
    ))
}

fn no_referrer(mut res: Response) -> Response {
    res.headers_mut()
        .insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

fn page<T: Template>(status: StatusCode, t: &T) -> AppResult<Response> {
    Ok(no_referrer((status, Html(t.render()?)).into_response()))
}

async fn limited(state: &AppState, ctx: &Ctx) -> AppResult<()> {
    if let Some(addr) = ctx.address
        && !state.limiter.allow(addr, "link", state.now()).await?
    {
        return Err(AppError::TooManyRequests);
    }
    Ok(())
}

async fn link_get(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> AppResult<Response> {
    limited(&state, &ctx).await?;
    let Some(Link {
        inv,
        account,
        guest,
        ..
    }) = enrolment::usable_link(&state, &token).await?
    else {
        return invalid(ctx);
    };
    enrolment::record_opened(&state, &ctx.source, &inv, guest.as_ref()).await?;
    let (name, email) = account
        .map(|a| (a.name, enrolment::sign_in_name(&a.email, guest.as_ref())))
        .unwrap_or_default();
    page(
        StatusCode::OK,
        &SetupPage {
            ctx,
            bootstrap: inv.purpose == enrolment::Purpose::Bootstrap,
            guest,
            name,
            email,
            errors: vec![],
        },
    )
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    password: String,
    password_confirm: String,
}

async fn link_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    Path(token): Path<String>,
    Form(form): Form<SetupForm>,
) -> AppResult<Response> {
    limited(&state, &ctx).await?;
    let Some(Link {
        token,
        inv,
        account,
        guest,
    }) = enrolment::usable_link(&state, &token).await?
    else {
        return invalid(ctx);
    };
    let min_chars = if guest.is_some() {
        GUEST_MIN_CHARS
    } else {
        CLERK_MIN_CHARS
    };
    let bootstrap = inv.purpose == enrolment::Purpose::Bootstrap;
    let mut errors = Vec::new();
    let (name, email) = match &account {
        Some(a) => (
            a.name.clone(),
            enrolment::sign_in_name(&a.email, guest.as_ref()),
        ),
        None => {
            let name = PersonName::parse(&form.name)
                .map(|n| n.as_str().to_string())
                .unwrap_or_else(|e| {
                    errors.push(("name".to_string(), ctx.t(e)));
                    form.name.chars().take(200).collect()
                });
            let email = Email::parse(&form.email)
                .map(|e| e.as_str().to_string())
                .unwrap_or_else(|e| {
                    errors.push(("email".to_string(), ctx.t(e)));
                    form.email.chars().take(300).collect()
                });
            (name, email)
        }
    };
    if let Err(problem) = password::check_new(&form.password, &form.password_confirm, min_chars) {
        let key = match problem {
            PasswordProblem::TooShort => "password-too-short",
            PasswordProblem::TooLong => "password-too-long",
            PasswordProblem::Common => "password-common",
            PasswordProblem::Mismatch => "password-mismatch",
        };
        errors.push((
            "password".to_string(),
            ctx.t_with(key, &[("min", min_chars.to_string())]),
        ));
    }
    if bootstrap && errors.is_empty() && accounts::by_email(&state.db, &email).await?.is_some() {
        errors.push(("email".to_string(), ctx.t("form-email-taken")));
    }
    if !errors.is_empty() {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SetupPage {
                ctx,
                bootstrap,
                guest,
                name,
                email,
                errors,
            },
        );
    }
    let password_hash = password::hash(form.password).await?;
    crate::enrolment::remember_password(&state, &ctx.source, &inv, &password_hash).await?;
    let secret = totp::generate_secret();
    let enrolment = Enrolment {
        token_hash: token.hash(),
        purpose: inv.purpose,
        account_id: inv.account_id,
        name,
        email,
        password_hash,
        sealed_secret: totp::seal_for_session(&state.secrets, ENROL_SCOPE, &secret)?,
    };
    session.insert(ENROL_KEY, &enrolment).await?;
    Ok(no_referrer(Redirect::to(links::SETUP_APP).into_response()))
}

fn app_page(
    state: &AppState,
    ctx: Ctx,
    e: &Enrolment,
    error: Option<String>,
) -> AppResult<Response> {
    let secret = totp::open_from_session(&state.secrets, ENROL_SCOPE, &e.sealed_secret)?;
    authenticator_page(ctx, &secret, &e.email, links::SETUP_APP, error)
}

async fn app_get(State(state): State<AppState>, ctx: Ctx, session: Session) -> AppResult<Response> {
    let Some(e) = session.get::<Enrolment>(ENROL_KEY).await? else {
        return invalid(ctx);
    };
    app_page(&state, ctx, &e, None)
}

#[derive(Deserialize)]
pub struct AppForm {
    code: String,
}

async fn app_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    Form(form): Form<AppForm>,
) -> AppResult<Response> {
    limited(&state, &ctx).await?;
    let Some(e) = session.get::<Enrolment>(ENROL_KEY).await? else {
        return invalid(ctx);
    };
    let now = state.now();
    // Per account as well as per address (A9): one link gets a few tries a minute.
    if !state
        .limiter
        .allow_key(
            e.token_hash.clone(),
            "link_code",
            LINK_CODES_PER_MINUTE,
            now,
        )
        .await?
    {
        return Err(AppError::TooManyRequests);
    }
    let secret = totp::open_from_session(&state.secrets, ENROL_SCOPE, &e.sealed_secret)?;
    let Some(step) = totp::matching_step(&secret, &form.code, now)? else {
        let error = Some(ctx.t("setup-code-wrong"));
        return app_page(&state, ctx, &e, error);
    };
    let Some(Enrolled {
        login_id,
        recovery_codes: recovery,
    }) = enrolment::complete(&state, &ctx.source, &e, &secret, step).await?
    else {
        session.remove::<Enrolment>(ENROL_KEY).await?;
        return invalid(ctx);
    };
    session.cycle_id().await?;
    session.remove::<Enrolment>(ENROL_KEY).await?;
    session.remove_value(PENDING_KEY).await?;
    session.insert(LOGIN_KEY, &login_id).await?;
    session.insert(CSRF_KEY, new_csrf_token()).await?;
    if let Some(codes) = recovery {
        // Shown once, on the next page, then forgotten; sealed while they wait (B9).
        let sealed =
            totp::seal_for_session(&state.secrets, RECOVERY_SCOPE, codes.join(" ").as_bytes())?;
        let held = HeldCodes {
            sealed,
            until: state.now() + RECOVERY_SHOWN_SECS,
        };
        session.insert(RECOVERY_KEY, held).await?;
        return Ok(no_referrer(
            Redirect::to(links::SETUP_RECOVERY).into_response(),
        ));
    }
    Ok(no_referrer(Redirect::to(links::STAFF_HOME).into_response()))
}

const RECOVERY_KEY: &str = "recovery_codes";
const RECOVERY_SCOPE: &str = "recovery-codes";
/// How long the new recovery codes can be shown again, printed or saved from this session.
const RECOVERY_SHOWN_SECS: i64 = 15 * 60;

/// The new recovery codes, sealed in the session while they can still be shown.
#[derive(serde::Serialize, serde::Deserialize)]
struct HeldCodes {
    sealed: String,
    until: i64,
}

#[derive(Template)]
#[template(path = "setup_recovery.html")]
struct RecoveryPage {
    ctx: Ctx,
    codes: Vec<String>,
}

/// The codes just made, while they may still be shown; forgotten once their time is up.
async fn held_codes(state: &AppState, session: &Session) -> AppResult<Option<Vec<String>>> {
    let Some(held) = session.get::<HeldCodes>(RECOVERY_KEY).await? else {
        return Ok(None);
    };
    if held.until <= state.now() {
        session.remove_value(RECOVERY_KEY).await?;
        return Ok(None);
    }
    let opened = totp::open_from_session(&state.secrets, RECOVERY_SCOPE, &held.sealed)?;
    Ok(Some(
        String::from_utf8_lossy(&opened)
            .split(' ')
            .map(str::to_string)
            .collect(),
    ))
}

async fn recovery_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
) -> AppResult<Response> {
    let Some(codes) = held_codes(&state, &session).await? else {
        return Ok(Redirect::to(links::GUEST_HOME).into_response());
    };
    page(StatusCode::OK, &RecoveryPage { ctx, codes })
}

/// The same codes as a text file to keep (never cached, never sent elsewhere).
async fn recovery_text_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
) -> AppResult<Response> {
    let Some(codes) = held_codes(&state, &session).await? else {
        return Ok(Redirect::to(links::GUEST_HOME).into_response());
    };
    let mut text = format!(
        "{}\r\n{}\r\n\r\n",
        ctx.t("recovery-file-title"),
        ctx.t("recovery-help")
    );
    for code in codes {
        text.push_str(&code);
        text.push_str("\r\n");
    }
    let mut res = text.into_response();
    let headers = res.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        axum::http::header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"madoguchi-recovery-codes.txt\""),
    );
    Ok(no_referrer(res))
}
