//! The guards: every request re-reads the login and its account from the database (status,
//! idle and absolute limits), so a session proves identity, never permission (C3, C5, B12).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::AppState;
use super::ctx::RequestInfo;
use super::error::AppError;
use super::paths;
use crate::audit::{self, Actor, Event, Outcome};
use crate::auth::policy::{ABSOLUTE_TIMEOUT_SECS, IDLE_TIMEOUT_SECS};
use crate::db::guests::{self, Guest};
use crate::db::logins;

pub const LOGIN_KEY: &str = "login";
pub const PENDING_KEY: &str = "pending";

/// The state between the password and the TOTP step (B8): it opens the code form, nothing else.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub account_id: String,
    pub at: i64,
}

/// A signed-in clerk or admin with both factors, re-checked on this request.
#[derive(Clone, Debug)]
pub struct StaffUser {
    pub login_id: String,
    pub account_id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub department_id: Option<String>,
    pub department_name: Option<String>,
}

impl StaffUser {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
    pub fn actor(&self) -> Actor {
        Actor::Clerk(self.account_id.clone())
    }
}

/// Sends the person to sign in again.
pub struct SignInAgain;

impl IntoResponse for SignInAgain {
    fn into_response(self) -> Response {
        Redirect::to(paths::STAFF_SIGN_IN).into_response()
    }
}

pub enum GuardRejection {
    SignIn,
    Error(AppError),
}

impl IntoResponse for GuardRejection {
    fn into_response(self) -> Response {
        match self {
            GuardRejection::SignIn => SignInAgain.into_response(),
            GuardRejection::Error(e) => e.into_response(),
        }
    }
}

impl<E: Into<AppError>> From<E> for GuardRejection {
    fn from(e: E) -> Self {
        GuardRejection::Error(e.into())
    }
}

impl FromRequestParts<AppState> for StaffUser {
    type Rejection = GuardRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("session layer missing")))?;
        let Some(login_id) = session.get::<String>(LOGIN_KEY).await? else {
            return Err(GuardRejection::SignIn);
        };
        let source = parts
            .extensions
            .get::<RequestInfo>()
            .map(RequestInfo::source)
            .unwrap_or_default();
        let now = state.now();
        let Some(login) = logins::open(&state.db, &login_id).await? else {
            session.remove::<String>(LOGIN_KEY).await?;
            return Err(GuardRejection::SignIn);
        };
        if login.kind != "clerk" {
            // A guest asking for a clerk function gets the ordinary not-found page (D3), and
            // the attempt is recorded.
            audit::record_alone(
                &state.db,
                now,
                &source,
                &Event::new(
                    Actor::Guest(login.account_id.clone()),
                    "authz.denied",
                    Outcome::Denied,
                )
                .target(parts.uri.path()),
            )
            .await?;
            return Err(GuardRejection::Error(AppError::NotFound));
        }
        let end_reason = if login.status != "active" {
            Some("account_inactive")
        } else if now - login.last_seen_at > IDLE_TIMEOUT_SECS {
            Some("idle_timeout")
        } else if now - login.created_at > ABSOLUTE_TIMEOUT_SECS {
            Some("absolute_timeout")
        } else {
            None
        };
        if let Some(reason) = end_reason {
            end_login(
                state,
                &session,
                &login.login_id,
                Actor::Clerk(login.account_id.clone()),
                reason,
                &source,
            )
            .await?;
            return Err(GuardRejection::SignIn);
        }
        logins::touch(&state.db, &login.login_id, now).await?;
        Ok(StaffUser {
            login_id: login.login_id,
            account_id: login.account_id,
            name: login.name,
            email: login.email,
            role: login.role.unwrap_or_default(),
            department_id: login.department_id,
            department_name: login.department_name,
        })
    }
}

/// Ends a login the guard refuses, records why, and forgets the cookie session.
async fn end_login(
    state: &AppState,
    session: &Session,
    login_id: &str,
    actor: Actor,
    reason: &str,
    source: &crate::audit::Source,
) -> Result<(), AppError> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if logins::end(&mut tx, login_id, reason, now).await? {
        audit::record(
            &mut tx,
            now,
            source,
            &Event::new(actor, "session.end", Outcome::Success).detail(reason.to_string()),
        )
        .await?;
    }
    tx.commit().await?;
    session.flush().await?;
    Ok(())
}

/// A signed-in guest, re-checked on this request: account active, not expired, channel not
/// archived (C5). The session proves who; the database says whether.
#[derive(Clone, Debug)]
pub struct GuestUser {
    pub login_id: String,
    pub guest: Guest,
}

impl GuestUser {
    pub fn actor(&self) -> Actor {
        Actor::Guest(self.guest.account_id.clone())
    }
}

/// Sends a guest to the guest sign-in page.
pub enum GuestRejection {
    SignIn,
    Error(AppError),
}

impl IntoResponse for GuestRejection {
    fn into_response(self) -> Response {
        match self {
            GuestRejection::SignIn => Redirect::to(paths::GUEST_SIGN_IN).into_response(),
            GuestRejection::Error(e) => e.into_response(),
        }
    }
}

impl<E: Into<AppError>> From<E> for GuestRejection {
    fn from(e: E) -> Self {
        GuestRejection::Error(e.into())
    }
}

impl FromRequestParts<AppState> for GuestUser {
    type Rejection = GuestRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("session layer missing")))?;
        let Some(login_id) = session.get::<String>(LOGIN_KEY).await? else {
            return Err(GuestRejection::SignIn);
        };
        let source = parts
            .extensions
            .get::<RequestInfo>()
            .map(RequestInfo::source)
            .unwrap_or_default();
        let now = state.now();
        let Some(login) = logins::open(&state.db, &login_id).await? else {
            session.remove::<String>(LOGIN_KEY).await?;
            return Err(GuestRejection::SignIn);
        };
        if login.kind != "guest" {
            // A clerk's session opens no guest page: it is simply not signed in here.
            return Err(GuestRejection::SignIn);
        }
        let mut conn = state.db.pool.acquire().await?;
        let guest = guests::get(&mut conn, &login.account_id).await?;
        let channel_status: Option<String> = match &guest {
            Some(g) => {
                sqlx::query_scalar("select status from channel where channel_id = $1")
                    .bind(&g.channel_id)
                    .fetch_optional(&mut *conn)
                    .await?
            }
            None => None,
        };
        drop(conn);
        let end_reason = match &guest {
            None => Some("not_guest"),
            Some(g) if g.status != "active" => Some("account_inactive"),
            Some(g) if g.expires_at <= now => Some("guest_expired"),
            Some(_) if channel_status.as_deref() != Some("active") => Some("channel_archived"),
            Some(_) if now - login.last_seen_at > IDLE_TIMEOUT_SECS => Some("idle_timeout"),
            Some(_) if now - login.created_at > ABSOLUTE_TIMEOUT_SECS => Some("absolute_timeout"),
            Some(_) => None,
        };
        let (Some(guest), None) = (guest, end_reason) else {
            end_login(
                state,
                &session,
                &login.login_id,
                Actor::Guest(login.account_id.clone()),
                end_reason.unwrap_or("not_guest"),
                &source,
            )
            .await?;
            return Err(GuestRejection::SignIn);
        };
        logins::touch(&state.db, &login.login_id, now).await?;
        guests::touch(&state.db, &guest.account_id, now).await?;
        Ok(GuestUser {
            login_id: login.login_id,
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
        audit::record_alone(
            &state.db,
            state.now(),
            &source,
            &Event::new(user.actor(), "authz.denied", Outcome::Denied).target(parts.uri.path()),
        )
        .await?;
        Err(GuardRejection::Error(AppError::NotFound))
    }
}
