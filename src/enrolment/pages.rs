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
use qrcode::QrCode;
use qrcode::render::svg;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::accounts::logins;
use crate::accounts::store::{self as accounts, NewClerk};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome};
use crate::auth::password::{self, CLERK_MIN_CHARS, GUEST_MIN_CHARS, PasswordProblem};
use crate::auth::token::LinkToken;
use crate::auth::totp;
use crate::clerks::{Email, PersonName};
use crate::enrolment::store::{self as invitations, Invitation};
use crate::guests::store::{self as guests, Guest};
use crate::links;
use crate::web::Routes;
use crate::web::ctx::{CSRF_KEY, Ctx, new_csrf_token};
use crate::web::error::{AppError, AppResult};
use crate::web::guard::{LOGIN_KEY, PENDING_KEY};

pub fn router() -> Routes {
    Routes::new()
        .route(links::SETUP_APP, get(app_get).post(app_post))
        .route(links::SETUP_RECOVERY, get(recovery_get))
        .route(links::SETUP, get(link_get).post(link_post))
        .route(links::INVITE, get(link_get).post(link_post))
}

const ENROL_KEY: &str = "enrol";
/// Codes one setup link may try per minute, from any address.
const LINK_CODES_PER_MINUTE: u32 = 10;
/// Scope under which the secret is sealed while it waits in the session.
const ENROL_SCOPE: &str = "enrolment";

/// What the first step leaves for the second, server-side in the session.
#[derive(Serialize, Deserialize)]
struct Enrolment {
    token_hash: String,
    purpose: String,
    account_id: Option<String>,
    name: String,
    email: String,
    password_hash: String,
    sealed_secret: String,
}

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
#[template(path = "setup_app.html")]
struct AppPage {
    ctx: Ctx,
    action: &'static str,
    qr_svg: String,
    key: String,
    uri: String,
    error: Option<String>,
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

fn limited(state: &AppState, ctx: &Ctx) -> AppResult<()> {
    if let Some(addr) = ctx.address
        && !state.limiter.allow(addr, "link", state.now())
    {
        return Err(AppError::TooManyRequests);
    }
    Ok(())
}

/// What a link leads to, if it can still be used.
struct Usable {
    token: LinkToken,
    inv: Invitation,
    account: Option<accounts::Account>,
    guest: Option<Guest>,
}

/// A guest invitation is usable only while the guest is still invited and unexpired, the
/// channel is not archived and the sponsor is still an active clerk (A7).
async fn guest_still_allowed(
    conn: &mut sqlx::AnyConnection,
    g: &Guest,
    now: i64,
) -> AppResult<bool> {
    let sponsor = accounts::by_id(conn, &g.sponsor_id).await?;
    Ok(g.status == crate::accounts::Status::Invited
        && g.access_open(now)
        && sponsor.is_some_and(|s| s.status == crate::accounts::Status::Active))
}

/// The link's invitation and the account it sets up — if all can still be used (re-checked at
/// every step: the account must still be waiting for its setup, A7).
async fn usable_link(state: &AppState, token: &str) -> AppResult<Option<Usable>> {
    let Some(token) = LinkToken::parse(token) else {
        return Ok(None);
    };
    let Some(inv) = invitations::usable(&state.db, &token.hash(), state.now()).await? else {
        return Ok(None);
    };
    match (inv.purpose.as_str(), &inv.account_id) {
        ("bootstrap", None) => {
            if accounts::admin_exists(&state.db).await? {
                return Ok(None);
            }
            Ok(Some(Usable {
                token,
                inv,
                account: None,
                guest: None,
            }))
        }
        ("clerk_setup", Some(id)) => {
            let mut conn = state.db.pool.acquire().await?;
            let account = accounts::by_id(&mut conn, id).await?;
            Ok(account
                .filter(|a| a.status == crate::accounts::Status::Invited)
                .map(|a| Usable {
                    token,
                    inv,
                    account: Some(a),
                    guest: None,
                }))
        }
        ("guest", Some(id)) => {
            let mut conn = state.db.pool.acquire().await?;
            let account = accounts::by_id(&mut conn, id).await?;
            let guest = guests::get(&mut conn, id).await?;
            match (account, guest) {
                (Some(a), Some(g)) if guest_still_allowed(&mut conn, &g, state.now()).await? => {
                    Ok(Some(Usable {
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
fn sign_in_name(account_email: &str, guest: Option<&crate::guests::store::Guest>) -> String {
    guest
        .map(|g| g.sign_in_name.clone())
        .unwrap_or_else(|| account_email.to_string())
}

async fn link_get(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> AppResult<Response> {
    limited(&state, &ctx)?;
    let Some(Usable {
        inv,
        account,
        guest,
        ..
    }) = usable_link(&state, &token).await?
    else {
        return invalid(ctx);
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if invitations::mark_opened(&mut tx, &inv.invitation_id, now).await? {
        let target = inv.account_id.clone().unwrap_or(inv.invitation_id.clone());
        let mut ev = Event::new(Actor::Anonymous, "invitation.opened", Outcome::Success)
            .target(target)
            .detail(inv.purpose.clone());
        ev.channel_id = guest.as_ref().map(|g| g.channel_id.clone());
        audit::record(&mut tx, now, &ctx.source, &ev).await?;
    }
    tx.commit().await?;
    let (name, email) = account
        .map(|a| (a.name, sign_in_name(&a.email, guest.as_ref())))
        .unwrap_or_default();
    page(
        StatusCode::OK,
        &SetupPage {
            ctx,
            bootstrap: inv.purpose == "bootstrap",
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
    limited(&state, &ctx)?;
    let Some(Usable {
        token,
        inv,
        account,
        guest,
    }) = usable_link(&state, &token).await?
    else {
        return invalid(ctx);
    };
    let min_chars = if guest.is_some() {
        GUEST_MIN_CHARS
    } else {
        CLERK_MIN_CHARS
    };
    let bootstrap = inv.purpose == "bootstrap";
    let mut errors = Vec::new();
    let (name, email) = match &account {
        Some(a) => (a.name.clone(), sign_in_name(&a.email, guest.as_ref())),
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

/// The page that shows a new authenticator secret (QR code, key, `otpauth://` link) and asks
/// for one code from it; shared by enrolment and a guest's change of authenticator.
pub fn authenticator_page(
    ctx: Ctx,
    secret: &[u8],
    account_label: &str,
    action: &'static str,
    error: Option<String>,
) -> AppResult<Response> {
    let uri = totp::otpauth_uri(secret, account_label)?;
    let qr_svg = QrCode::new(uri.as_bytes())
        .map_err(|e| anyhow::anyhow!("QR code: {e}"))?
        .render::<svg::Color>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page(
        status,
        &AppPage {
            ctx,
            action,
            qr_svg,
            key: totp::display_key(secret),
            uri,
            error,
        },
    )
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
    limited(&state, &ctx)?;
    let Some(e) = session.get::<Enrolment>(ENROL_KEY).await? else {
        return invalid(ctx);
    };
    let now = state.now();
    // Per account as well as per address (A9): one link gets a few tries a minute.
    if !state.limiter.allow_key(
        e.token_hash.clone(),
        "link_code",
        LINK_CODES_PER_MINUTE,
        now,
    ) {
        return Err(AppError::TooManyRequests);
    }
    let secret = totp::open_from_session(&state.secrets, ENROL_SCOPE, &e.sealed_secret)?;
    let Some(step) = totp::matching_step(&secret, &form.code, now)? else {
        let error = Some(ctx.t("setup-code-wrong"));
        return app_page(&state, ctx, &e, error);
    };
    let mut tx = state.db.begin().await?;
    // Exactly one of two racing submissions gets the link (A2).
    let Some(inv) = invitations::consume(&mut tx, &e.token_hash, now).await? else {
        drop(tx);
        session.remove::<Enrolment>(ENROL_KEY).await?;
        return invalid(ctx);
    };
    let account_id = match (&inv.purpose[..], inv.account_id.as_deref()) {
        ("bootstrap", None) => {
            let n: i64 = sqlx::query_scalar(
                "select count(*) from clerk c join account a on a.account_id = c.account_id \
                 where c.role = 'admin' and a.status = 'active'",
            )
            .fetch_one(&mut *tx)
            .await?;
            if n > 0 {
                drop(tx);
                session.remove::<Enrolment>(ENROL_KEY).await?;
                return invalid(ctx);
            }
            match accounts::insert_clerk(
                &mut tx,
                &NewClerk {
                    email: &e.email,
                    name: &e.name,
                    role: "admin",
                    department_id: None,
                    status: "invited",
                },
                now,
            )
            .await
            {
                Ok(id) => id,
                Err(err) if crate::db::is_unique_violation(&err) => {
                    drop(tx);
                    session.remove::<Enrolment>(ENROL_KEY).await?;
                    return invalid(ctx);
                }
                Err(err) => return Err(err.into()),
            }
        }
        ("clerk_setup", Some(id)) => {
            let account = accounts::by_id(&mut tx, id).await?;
            if account.is_none_or(|a| a.status != crate::accounts::Status::Invited) {
                drop(tx);
                session.remove::<Enrolment>(ENROL_KEY).await?;
                return invalid(ctx);
            }
            id.to_string()
        }
        ("guest", Some(id)) => {
            let allowed = match guests::get(&mut tx, id).await? {
                Some(g) => guest_still_allowed(&mut tx, &g, now).await?,
                None => false,
            };
            if !allowed {
                drop(tx);
                session.remove::<Enrolment>(ENROL_KEY).await?;
                return invalid(ctx);
            }
            id.to_string()
        }
        _ => return Err(AppError::NotFound),
    };
    let sealed = state.secrets.seal(&account_id, &secret)?;
    // The confirming code's step is used up: it cannot be replayed at sign-in (A10).
    accounts::complete_enrolment(&mut tx, &account_id, &e.password_hash, &sealed, step).await?;
    let is_guest = inv.purpose == "guest";
    let recovery = if is_guest {
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
            &ctx.source,
            &Event::new(actor.clone(), action, Outcome::Success)
                .target(&account_id)
                .detail(detail),
        )
        .await?;
    }
    tx.commit().await?;
    session.cycle_id().await?;
    session.remove::<Enrolment>(ENROL_KEY).await?;
    session.remove_value(PENDING_KEY).await?;
    session.insert(LOGIN_KEY, &login_id).await?;
    session.insert(CSRF_KEY, new_csrf_token()).await?;
    if let Some(codes) = recovery {
        // Shown once, on the next page, then forgotten; sealed while they wait (B9).
        let sealed =
            totp::seal_for_session(&state.secrets, RECOVERY_SCOPE, codes.join(" ").as_bytes())?;
        session.insert(RECOVERY_KEY, sealed).await?;
        return Ok(no_referrer(
            Redirect::to(links::SETUP_RECOVERY).into_response(),
        ));
    }
    Ok(no_referrer(Redirect::to(links::STAFF_HOME).into_response()))
}

const RECOVERY_KEY: &str = "recovery_codes";
const RECOVERY_SCOPE: &str = "recovery-codes";

#[derive(Template)]
#[template(path = "setup_recovery.html")]
struct RecoveryPage {
    ctx: Ctx,
    codes: Vec<String>,
}

async fn recovery_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
) -> AppResult<Response> {
    let Some(sealed) = session.remove::<String>(RECOVERY_KEY).await? else {
        return Ok(Redirect::to(links::GUEST_HOME).into_response());
    };
    let opened = totp::open_from_session(&state.secrets, RECOVERY_SCOPE, &sealed)?;
    let codes = String::from_utf8_lossy(&opened)
        .split(' ')
        .map(str::to_string)
        .collect();
    page(StatusCode::OK, &RecoveryPage { ctx, codes })
}
