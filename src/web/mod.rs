//! HTTP plumbing: the layers every route shares, the route recorder, request context, CSRF,
//! input checks, errors and the guards. It imports no feature: `crate::router` merges the
//! features' pages onto it.

pub mod authenticator;
pub mod confirm;
pub mod ctx;
pub mod deadline;
pub mod error;
pub mod forms;
pub mod guard;
pub mod input;
pub mod lang;
pub mod listener;
pub mod mail;
pub mod middleware;
pub mod routes;
pub mod server;
pub mod session_store;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use tower_http::catch_panic::CatchPanicLayer;
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::app::AppState;
use crate::config::Config;
use error::AppError;
use session_store::Store;

pub fn cookie_name(config: &Config) -> &'static str {
    if config.secure_cookies() {
        "__Host-madoguchi"
    } else {
        "madoguchi"
    }
}

/// The device cookie's name (B14): with the `__Host-` prefix whenever the session's has it.
pub fn device_cookie_name(config: &Config) -> &'static str {
    if config.secure_cookies() {
        "__Host-madoguchi_device"
    } else {
        "madoguchi_device"
    }
}

/// The value of the cookie `name` as the browser sent it, if it did.
pub fn request_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value for a long-lived cookie only the server reads: `HttpOnly`,
/// `SameSite=Lax`, `Path=/`, `Secure` whenever cookies are.
pub fn long_cookie(config: &Config, name: &str, value: &str, max_age_secs: i64) -> String {
    let secure = if config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Max-Age={max_age_secs}; Path=/; HttpOnly; SameSite=Lax{secure}")
}

/// The layers every route shares: CSRF guard, input check, sessions, body limit, panic catching, error
/// pages, security headers, request id and log — outermost last.
pub fn shared_layers(routes: Router<AppState>, state: AppState, store: Store) -> Router {
    let config = &state.config;
    let sessions = SessionManagerLayer::new(store.clone())
        .with_name(cookie_name(config))
        .with_secure(config.secure_cookies())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        // The server enforces idle and absolute limits itself (`guard`); this only lets the
        // store forget abandoned sessions.
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(12)))
        .with_signed(Key::from(config.session_key.expose()));

    let contact = ctx::Contact {
        municipality: config.municipality.clone(),
        phone: config.contact_phone.clone(),
        email: config.contact_email.clone(),
    };
    routes
        .fallback(not_found)
        .layer(axum::Extension(contact))
        // The guard asks the store to read a kept session record again (`guard::fresh`).
        .layer(axum::Extension(store))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::csrf_guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            input::input_guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::visitor_token,
        ))
        .layer(sessions)
        .layer(DefaultBodyLimit::max(middleware::FORM_LIMIT))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn(middleware::run_to_completion))
        .layer(axum::middleware::from_fn(deadline::deadlines))
        .layer(axum::middleware::from_fn(middleware::error_pages))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::security_headers,
        ))
        .layer(axum::middleware::from_fn(middleware::request_context))
        .with_state(state)
}

/// Any address that is no page. For someone signed in (a guest above all) the probe is
/// recorded, since a guest sees only their channel and account (D1).
async fn not_found(
    axum::extract::State(state): axum::extract::State<AppState>,
    session: tower_sessions::Session,
    uri: axum::http::Uri,
    info: Option<axum::Extension<ctx::RequestInfo>>,
) -> Result<AppError, AppError> {
    let source = info.map(|i| i.0.source()).unwrap_or_default();
    record_probe(&state, &session, &source, uri.path(), None).await?;
    Ok(AppError::NotFound)
}

/// Records a signed-in person's refused request as `authz.denied` (D1): an address that is no
/// page, or one refused at the edge. Anonymous probes are not recorded, so strangers cannot
/// fill the append-only trail.
pub async fn record_probe(
    state: &AppState,
    session: &tower_sessions::Session,
    source: &crate::audit::Source,
    path: &str,
    detail: Option<&str>,
) -> Result<(), AppError> {
    if let Some(login_id) = session.get::<String>(guard::LOGIN_KEY).await? {
        let target = redacted_path(path);
        crate::accounts::session::record_probe(state, source, &login_id, &target, detail).await?;
    }
    Ok(())
}

/// A path fit for the audit trail: long segments may be link tokens typed into a wrong address
/// and are never recorded (A1); at most 200 characters.
pub fn redacted_path(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.len() >= 32 { "[redacted]" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
        .chars()
        .filter(|c| !crate::text::is_forbidden(*c, false))
        .take(200)
        .collect()
}

/// `static/` beside the crate when run from the source tree, else beside the working directory.
pub fn static_dir() -> std::path::PathBuf {
    let local = std::path::PathBuf::from("static");
    if local.join("style.css").exists() {
        local
    } else {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("static")
    }
}
