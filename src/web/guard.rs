//! The guards: every request re-reads the login and its account from the database (status,
//! idle and absolute limits), so a session proves identity, never permission (C3, C5, B12).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::ctx::RequestInfo;
use super::error::AppError;
use crate::accounts::logins;
use crate::accounts::signin;
use crate::accounts::{GuestUser, Kind, StaffUser, Status};
use crate::app::AppState;
use crate::audit::{Actor, Source};
use crate::auth::policy::{ABSOLUTE_TIMEOUT_SECS, IDLE_TIMEOUT_SECS};
use crate::clerks::Role;
use crate::guests::store as guests;
use crate::links;

pub const LOGIN_KEY: &str = "login";
pub const PENDING_KEY: &str = "pending";

/// The state between the password and the TOTP step (B8): it opens the code form, nothing else.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub account_id: String,
    pub at: i64,
}

/// Why a guard turned a request away: sign in (again) at this page, or an error page.
pub enum GuardRejection {
    SignIn(&'static str),
    Error(AppError),
}

impl IntoResponse for GuardRejection {
    fn into_response(self) -> Response {
        match self {
            GuardRejection::SignIn(page) => Redirect::to(page).into_response(),
            GuardRejection::Error(e) => e.into_response(),
        }
    }
}

impl<E: Into<AppError>> From<E> for GuardRejection {
    fn from(e: E) -> Self {
        GuardRejection::Error(e.into())
    }
}

/// The open login this request's session names, with what the guards need around it.
struct Opened {
    session: Session,
    login: logins::LoginRow,
    source: Source,
    now: i64,
}

/// Reads the login named by the session; a session naming no open login forgets it.
async fn open_login(
    parts: &mut Parts,
    state: &AppState,
    sign_in: &'static str,
) -> Result<Opened, GuardRejection> {
    let session = Session::from_request_parts(parts, state)
        .await
        .map_err(|_| AppError::Internal(anyhow::anyhow!("session layer missing")))?;
    let Some(login_id) = session.get::<String>(LOGIN_KEY).await? else {
        return Err(GuardRejection::SignIn(sign_in));
    };
    let Some(login) = logins::open(&state.db, &login_id).await? else {
        session.remove::<String>(LOGIN_KEY).await?;
        return Err(GuardRejection::SignIn(sign_in));
    };
    let source = parts
        .extensions
        .get::<RequestInfo>()
        .map(RequestInfo::source)
        .unwrap_or_default();
    Ok(Opened {
        session,
        login,
        source,
        now: state.now(),
    })
}

/// The idle and absolute limits every session has (C3).
fn past_limits(login: &logins::LoginRow, now: i64) -> Option<&'static str> {
    if now - login.last_seen_at > IDLE_TIMEOUT_SECS {
        Some("idle_timeout")
    } else if now - login.created_at > ABSOLUTE_TIMEOUT_SECS {
        Some("absolute_timeout")
    } else {
        None
    }
}

/// Ends a login the guard refuses, records why, and forgets the cookie session.
async fn end_login(
    state: &AppState,
    o: &Opened,
    actor: Actor,
    reason: &str,
    sign_in: &'static str,
) -> GuardRejection {
    let ended = async {
        signin::end_login(state, &o.source, &o.login.login_id, actor, reason).await?;
        o.session.flush().await?;
        Ok::<(), AppError>(())
    }
    .await;
    match ended {
        Ok(()) => GuardRejection::SignIn(sign_in),
        Err(e) => GuardRejection::Error(e),
    }
}

/// The ordinary not-found page for someone asking for what is not theirs, recorded (D1, D3).
async fn deny(state: &AppState, source: &Source, actor: Actor, path: &str) -> GuardRejection {
    let recorded = signin::record_denied(state, source, actor, path, None).await;
    match recorded {
        Ok(()) => GuardRejection::Error(AppError::NotFound),
        Err(e) => GuardRejection::Error(e.into()),
    }
}

impl FromRequestParts<AppState> for StaffUser {
    type Rejection = GuardRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let o = open_login(parts, state, links::STAFF_SIGN_IN).await?;
        if o.login.kind != Kind::Clerk {
            // A guest asking for a clerk function gets the ordinary not-found page (D3).
            let actor = Actor::Guest(o.login.account_id.clone());
            return Err(deny(state, &o.source, actor, parts.uri.path()).await);
        }
        let actor = Actor::Clerk(o.login.account_id.clone());
        let end_reason = if o.login.status != Status::Active {
            Some("account_inactive")
        } else {
            past_limits(&o.login, o.now)
        };
        if let Some(reason) = end_reason {
            return Err(end_login(state, &o, actor, reason, links::STAFF_SIGN_IN).await);
        }
        logins::touch(&state.db, &o.login.login_id, o.now).await?;
        let login = o.login;
        Ok(StaffUser {
            login_id: login.login_id,
            account_id: login.account_id,
            name: login.name,
            email: login.email,
            role: login.role.unwrap_or(Role::Clerk),
            department_id: login.department_id,
            department_name: login.department_name,
        })
    }
}

impl FromRequestParts<AppState> for GuestUser {
    type Rejection = GuardRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let o = open_login(parts, state, links::GUEST_SIGN_IN).await?;
        if o.login.kind != Kind::Guest {
            // A clerk's session opens no guest page: it is simply not signed in here.
            return Err(GuardRejection::SignIn(links::GUEST_SIGN_IN));
        }
        let mut conn = state.db.pool.acquire().await?;
        let guest = guests::get(&mut conn, &o.login.account_id).await?;
        drop(conn);
        let end_reason = match &guest {
            None => Some("not_guest"),
            Some(g) if g.status != Status::Active => Some("account_inactive"),
            Some(g) if g.expires_at <= o.now => Some("guest_expired"),
            Some(g) if !g.access_open(o.now) => Some("channel_closed"),
            Some(_) => past_limits(&o.login, o.now),
        };
        let (Some(guest), None) = (guest, end_reason) else {
            let actor = Actor::Guest(o.login.account_id.clone());
            let reason = end_reason.unwrap_or("not_guest");
            return Err(end_login(state, &o, actor, reason, links::GUEST_SIGN_IN).await);
        };
        logins::touch(&state.db, &o.login.login_id, o.now).await?;
        guests::touch(&state.db, &guest.account_id, o.now).await?;
        Ok(GuestUser {
            login_id: o.login.login_id,
            guest,
        })
    }
}

/// An admin; any other clerk gets the not-found page and the refusal is audited (D3).
pub struct AdminUser(pub StaffUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = GuardRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = StaffUser::from_request_parts(parts, state).await?;
        if user.is_admin() {
            return Ok(AdminUser(user));
        }
        let source = parts
            .extensions
            .get::<RequestInfo>()
            .map(RequestInfo::source)
            .unwrap_or_default();
        Err(deny(state, &source, user.actor(), parts.uri.path()).await)
    }
}
