//! Staff sign-in: e-mail and password, then a TOTP code; sign-out.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use axum::http::HeaderMap;

use crate::accounts::device;
use crate::accounts::signin::{self, CodeStep, PasswordStep};
use crate::app::AppState;
use crate::auth::policy::TOTP_PENDING_SECS;
use crate::links;
use crate::web::ctx::{CSRF_KEY, Ctx, new_csrf_token, render, render_invalid};
use crate::web::error::{AppError, AppResult};
use crate::web::forms::take;
use crate::web::guard::{LOGIN_KEY, PENDING_KEY, Pending};
use crate::web::routes::Routes;
use crate::web::{device_cookie_name, long_cookie, request_cookie};

pub fn router() -> Routes {
    Routes::new()
        .route(links::SIGN_IN_ENDED, get(ended_get))
        .route(
            links::STAFF_SIGN_IN,
            get(|c, s, q| sign_in_get(c, s, q, Audience::Staff))
                .post(|st, c, s, h, f| sign_in_post(st, c, s, h, f, Audience::Staff)),
        )
        .route(
            links::STAFF_SIGN_IN_CODE,
            get(|st, c, s| code_get(st, c, s, Audience::Staff))
                .post(|st, c, s, h, f| code_post(st, c, s, h, f, Audience::Staff)),
        )
        .route(
            links::STAFF_SIGN_OUT,
            post(|st, c, s| sign_out_post(st, c, s, Audience::Staff)),
        )
        .route(
            links::GUEST_SIGN_IN,
            get(|c, s, q| sign_in_get(c, s, q, Audience::Guest))
                .post(|st, c, s, h, f| sign_in_post(st, c, s, h, f, Audience::Guest)),
        )
        .route(
            links::GUEST_SIGN_IN_CHOOSE,
            get(choose_get).post(choose_post),
        )
        .route(
            links::GUEST_SIGN_IN_CODE,
            get(|st, c, s| code_get(st, c, s, Audience::Guest))
                .post(|st, c, s, h, f| code_post(st, c, s, h, f, Audience::Guest)),
        )
        .route(
            links::GUEST_SIGN_OUT,
            post(|st, c, s| sign_out_post(st, c, s, Audience::Guest)),
        )
}

/// Who a sign-in page is for: clerks on the staff console, or guests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    Staff,
    Guest,
}

impl Audience {
    pub fn kind(self) -> crate::accounts::Kind {
        match self {
            Audience::Staff => crate::accounts::Kind::Clerk,
            Audience::Guest => crate::accounts::Kind::Guest,
        }
    }
    pub fn sign_in(self) -> &'static str {
        match self {
            Audience::Staff => links::STAFF_SIGN_IN,
            Audience::Guest => links::GUEST_SIGN_IN,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Audience::Staff => links::STAFF_SIGN_IN_CODE,
            Audience::Guest => links::GUEST_SIGN_IN_CODE,
        }
    }
    pub fn is_staff(self) -> bool {
        self == Audience::Staff
    }
    pub fn home(self) -> &'static str {
        match self {
            Audience::Staff => links::STAFF_HOME,
            Audience::Guest => links::GUEST_HOME,
        }
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    ctx: Ctx,
    audience: Audience,
    email: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "signin_code.html")]
struct CodePage {
    ctx: Ctx,
    audience: Audience,
    error: Option<String>,
    locked: bool,
}

/// `?signed_out=1`: the page a sign-out lands on says it worked.
#[derive(Deserialize, Default)]
pub struct SignInQuery {
    #[serde(default)]
    signed_out: Option<String>,
}

async fn sign_in_get(
    ctx: Ctx,
    session: Session,
    axum::extract::Query(query): axum::extract::Query<SignInQuery>,
    audience: Audience,
) -> AppResult<Response> {
    let notice = match take::<String>(&session, "notice").await? {
        Some(key) => Some(ctx.t(&key)),
        None if query.signed_out.is_some() => Some(ctx.t("signed-out")),
        None => None,
    };
    render(&SignInPage {
        ctx,
        audience,
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

async fn sign_in_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
    audience: Audience,
) -> AppResult<Response> {
    let now = state.now();
    if let Some(addr) = ctx.address
        && !state.limiter.allow(addr, "sign_in", now).await?
    {
        return Err(AppError::TooManyRequests);
    }
    let email = signin::normalise_email(&form.email);
    let known_device = device::recognises(
        state.config.session_key.expose(),
        request_cookie(&headers, device_cookie_name(&state.config)).as_deref(),
        &email,
    );
    let step = signin::check_password(
        &state,
        &ctx.source,
        ctx.address,
        audience.kind(),
        &form.email,
        &form.password,
        known_device,
    )
    .await?;
    let opened = match step {
        PasswordStep::Opened(ids) => ids,
        PasswordStep::Ended(account_id) => {
            return ended_page(&state, ctx, &account_id, "").await;
        }
        PasswordStep::Slowed | PasswordStep::Guarded => {
            let error = Some(ctx.t(if matches!(step, PasswordStep::Slowed) {
                "signin-slowed"
            } else {
                "signin-guarded"
            }));
            let page = SignInPage {
                ctx,
                audience,
                email,
                error,
                notice: None,
            };
            return Ok((
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                axum::response::Html(page.render()?),
            )
                .into_response());
        }
        PasswordStep::Wrong => {
            let error = Some(ctx.t(match audience {
                Audience::Staff => "signin-wrong",
                Audience::Guest => "guest-signin-wrong",
            }));
            let email = if email.chars().count() > signin::EMAIL_MAX {
                String::new()
            } else {
                email
            };
            return render_invalid(&SignInPage {
                ctx,
                audience,
                email,
                error,
                notice: None,
            });
        }
    };
    // A new id for the new privilege (C1); the pending state opens only the code form (B8).
    session.cycle_id().await?;
    session.remove::<String>(LOGIN_KEY).await?;
    if let [account_id] = &opened[..] {
        session
            .insert(
                PENDING_KEY,
                Pending {
                    account_id: account_id.clone(),
                    at: now,
                    name: email.clone(),
                },
            )
            .await?;
        return Ok(Redirect::to(audience.code()).into_response());
    }
    // The same name and password open guest accounts in several channels: the person says
    // which channel, then gives that account's code (D7).
    session
        .insert(
            CHOICE_KEY,
            Choice {
                account_ids: opened,
                at: now,
                name: email,
            },
        )
        .await?;
    Ok(Redirect::to(links::GUEST_SIGN_IN_CHOOSE).into_response())
}

/// Guest accounts that one name and password opened, while the person picks a channel (D7).
/// Like the pending state it lasts five minutes and opens nothing else.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Choice {
    account_ids: Vec<String>,
    at: i64,
    #[serde(default)]
    name: String,
}

const CHOICE_KEY: &str = "choice";

#[derive(Template)]
#[template(path = "signin_choose.html")]
struct ChoosePage {
    ctx: Ctx,
    channels: Vec<(String, String, String)>,
}

async fn choice(state: &AppState, session: &Session) -> AppResult<Option<Choice>> {
    let c = session.get::<Choice>(CHOICE_KEY).await?;
    Ok(c.filter(|c| state.now() - c.at <= TOTP_PENDING_SECS))
}

async fn choose_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
) -> AppResult<Response> {
    let Some(c) = choice(&state, &session).await? else {
        return Ok(Redirect::to(links::GUEST_SIGN_IN).into_response());
    };
    let channels = signin::choices(&state, &c.account_ids).await?;
    render(&ChoosePage { ctx, channels })
}

#[derive(Deserialize)]
pub struct ChooseForm {
    account: String,
}

async fn choose_post(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<ChooseForm>,
) -> AppResult<Response> {
    let Some(c) = choice(&state, &session).await? else {
        return Ok(Redirect::to(links::GUEST_SIGN_IN).into_response());
    };
    // Only an account the password opened can be chosen (D4: never from the form alone).
    if !c.account_ids.contains(&form.account) {
        return Err(AppError::BadRequest);
    }
    session.remove::<Choice>(CHOICE_KEY).await?;
    session
        .insert(
            PENDING_KEY,
            Pending {
                account_id: form.account,
                at: c.at,
                name: c.name,
            },
        )
        .await?;
    Ok(Redirect::to(links::GUEST_SIGN_IN_CODE).into_response())
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
    audience: Audience,
) -> AppResult<Response> {
    if pending(&state, &session).await?.is_none() {
        // Only someone whose sign-in lapsed is told so; a bare visit stores nothing (C8).
        if !session.is_empty().await {
            session.remove::<Pending>(PENDING_KEY).await?;
            session.insert("notice", "signin-expired").await?;
        }
        return Ok(Redirect::to(audience.sign_in()).into_response());
    }
    render(&CodePage {
        ctx,
        audience,
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
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
    audience: Audience,
) -> AppResult<Response> {
    let now = state.now();
    if let Some(addr) = ctx.address
        && !state.limiter.allow(addr, "sign_in_code", now).await?
    {
        return Err(AppError::TooManyRequests);
    }
    let Some(p) = pending(&state, &session).await? else {
        session.remove::<Pending>(PENDING_KEY).await?;
        session.insert("notice", "signin-expired").await?;
        return Ok(Redirect::to(audience.sign_in()).into_response());
    };
    let step = signin::check_code(
        &state,
        &ctx.source,
        audience.kind(),
        &p.account_id,
        &form.code,
    )
    .await?;
    let error = match step {
        CodeStep::Gone => {
            session.remove::<Pending>(PENDING_KEY).await?;
            return Ok(Redirect::to(audience.sign_in()).into_response());
        }
        CodeStep::SignedIn { login_id } => {
            session.cycle_id().await?;
            session.remove::<Pending>(PENDING_KEY).await?;
            session.insert(LOGIN_KEY, &login_id).await?;
            session.insert(CSRF_KEY, new_csrf_token()).await?;
            let mut res = Redirect::to(audience.home()).into_response();
            // This browser is now a known device for the name (B14).
            if !p.name.is_empty() {
                let cookie = device_cookie_name(&state.config);
                let value = device::issue(
                    state.config.session_key.expose(),
                    request_cookie(&headers, cookie).as_deref(),
                    &p.name,
                );
                let set = long_cookie(&state.config, cookie, &value, device::LIFETIME_SECS);
                if let Ok(v) = axum::http::HeaderValue::from_str(&set) {
                    res.headers_mut().append(axum::http::header::SET_COOKIE, v);
                }
            }
            return Ok(res);
        }
        CodeStep::Locked => "signin-locked",
        CodeStep::Throttled => "signin-throttled",
        CodeStep::Wrong => "signin-code-wrong",
    };
    let error = Some(ctx.t(error));
    render_invalid(&CodePage {
        ctx,
        audience,
        error,
        locked: matches!(step, CodeStep::Locked),
    })
}

async fn sign_out_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    audience: Audience,
) -> AppResult<Response> {
    if let Some(login_id) = session.get::<String>(LOGIN_KEY).await? {
        signin::sign_out(&state, &ctx.source, audience.kind(), &login_id).await?;
    }
    session.flush().await?;
    Ok(Redirect::to(&format!("{}?signed_out=1", audience.sign_in())).into_response())
}

/// The page that tells a guest their access has ended, why, and whom to ask.
#[derive(Template)]
#[template(path = "ended.html")]
struct EndedPage {
    ctx: Ctx,
    ending: signin::Ending,
}

async fn ended_page(
    state: &AppState,
    ctx: Ctx,
    account_id: &str,
    reason: &str,
) -> AppResult<Response> {
    match signin::ending(state, account_id, reason).await? {
        Some(ending) => Ok((
            axum::http::StatusCode::FORBIDDEN,
            axum::response::Html(EndedPage { ctx, ending }.render()?),
        )
            .into_response()),
        None => Ok(Redirect::to(links::GUEST_SIGN_IN).into_response()),
    }
}

/// Where a guest whose open session was ended lands: the same honest page as at sign-in.
async fn ended_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
) -> AppResult<Response> {
    let Some(ended) = session
        .remove::<crate::web::guard::Ended>(crate::web::guard::ENDED_KEY)
        .await?
    else {
        return Ok(Redirect::to(links::GUEST_SIGN_IN).into_response());
    };
    ended_page(&state, ctx, &ended.account_id, &ended.reason).await
}
