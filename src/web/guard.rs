//! The guards: extractors that give a page its signed-in clerk, admin or guest, re-checked on
//! every request by `accounts::session` (C3, C5, B12), or send the person to sign in.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::ctx::RequestInfo;
use super::error::AppError;
use super::session_store::{REV_KEY, Store};
use crate::accounts::session::{self, Checked};
use crate::accounts::{StaffUser, signin};
use crate::app::AppState;
use crate::audit::Source;
use crate::guests::GuestUser;
use crate::links;

/// The session key naming the login (kept with the store, which keeps such sessions).
pub use super::session_store::LOGIN_KEY;
pub const PENDING_KEY: &str = "pending";
pub const ENDED_KEY: &str = "ended";

/// Whose access ended and why, kept for the page that tells them.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Ended {
    pub account_id: String,
    pub reason: String,
}

/// The state between the password and the TOTP step (B8): it opens the code form, nothing else.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub account_id: String,
    pub at: i64,
    /// The sign-in name as typed and normalised, for the device cookie given once the second
    /// factor passes (B14).
    #[serde(default)]
    pub name: String,
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

/// Where the request came from, for its audit records.
pub fn source(parts: &Parts) -> Source {
    parts
        .extensions
        .get::<RequestInfo>()
        .map(RequestInfo::source)
        .unwrap_or_default()
}

/// The session and the login id it names, if any.
async fn login_of(
    parts: &mut Parts,
    state: &AppState,
) -> Result<(Session, Option<String>), AppError> {
    let session = Session::from_request_parts(parts, state)
        .await
        .map_err(|_| AppError::Internal(anyhow::anyhow!("session layer missing")))?;
    let login_id = session.get::<String>(LOGIN_KEY).await?;
    Ok((session, login_id))
}

/// Makes sure this request's session record was read under the login's current revision
/// (`session_store`): a record kept in memory under an older one is read again, and one that
/// no longer names the login signs no one in. A record read from the database in this request
/// is as new as without a cache; it is read once more to be kept for the next requests.
async fn fresh(
    parts: &Parts,
    session: &Session,
    login_id: &str,
    rev: i64,
) -> Result<bool, AppError> {
    let served = session.get::<i64>(REV_KEY).await?;
    if served == Some(rev) {
        return Ok(true);
    }
    let (Some(store), Some(id)) = (parts.extensions.get::<Store>(), session.id()) else {
        return Ok(true);
    };
    store.keep(&id, login_id, rev).await?;
    if served.is_none() {
        return Ok(true);
    }
    session.load().await?;
    Ok(session.get::<String>(LOGIN_KEY).await?.as_deref() == Some(login_id))
}

/// Turns the check's answer into the request's person or the page to show instead, once the
/// session record is known to be current (`fresh`).
async fn admit<T>(
    parts: &Parts,
    checked: Checked<T>,
    session: &Session,
    login_id: &str,
    sign_in: &'static str,
) -> Result<T, GuardRejection> {
    if let Checked::Allowed(_, rev) = &checked
        && !fresh(parts, session, login_id, *rev).await?
    {
        return Err(GuardRejection::SignIn(sign_in));
    }
    settle(checked, session, sign_in).await
}

/// Turns the check's answer into the request's person or the page to show instead.
async fn settle<T>(
    checked: Checked<T>,
    session: &Session,
    sign_in: &'static str,
) -> Result<T, GuardRejection> {
    match checked {
        Checked::Allowed(user, _) => Ok(user),
        Checked::NotSignedIn => {
            session.remove::<String>(LOGIN_KEY).await?;
            Err(GuardRejection::SignIn(sign_in))
        }
        Checked::Ended => {
            session.flush().await?;
            Err(GuardRejection::SignIn(sign_in))
        }
        Checked::EndedFor { account_id, reason } => {
            // A fresh session that only remembers whose access ended and why, for the page
            // that says so (honest endings), instead of a silent sign-in form.
            session.flush().await?;
            session
                .insert(ENDED_KEY, Ended { account_id, reason })
                .await?;
            Err(GuardRejection::SignIn(links::SIGN_IN_ENDED))
        }
        Checked::OtherAudience { recorded: true } => Err(GuardRejection::Error(AppError::NotFound)),
        Checked::OtherAudience { recorded: false } => Err(GuardRejection::SignIn(sign_in)),
    }
}

/// The session of a request to a clerk's page and the login it names, or the clerk's sign-in
/// page. The login is then checked (`accounts::session::staff`, or `staff_login` on a login a
/// page read with what it shows) and admitted with [`admit_staff`].
pub async fn staff_session(
    parts: &mut Parts,
    state: &AppState,
) -> Result<(Session, String), GuardRejection> {
    match login_of(parts, state).await? {
        (session, Some(login_id)) => Ok((session, login_id)),
        (_, None) => Err(GuardRejection::SignIn(links::STAFF_SIGN_IN)),
    }
}

/// The clerk a checked login turned out to be, or the page to show instead (as for every
/// clerk's page).
pub async fn admit_staff(
    parts: &Parts,
    checked: Checked<StaffUser>,
    session: &Session,
    login_id: &str,
) -> Result<StaffUser, GuardRejection> {
    admit(parts, checked, session, login_id, links::STAFF_SIGN_IN).await
}

impl FromRequestParts<AppState> for StaffUser {
    type Rejection = GuardRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (session, login_id) = staff_session(parts, state).await?;
        let checked = session::staff(state, &source(parts), &login_id, parts.uri.path()).await?;
        admit_staff(parts, checked, &session, &login_id).await
    }
}

impl FromRequestParts<AppState> for GuestUser {
    type Rejection = GuardRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (session, login_id) = login_of(parts, state).await?;
        let Some(login_id) = login_id else {
            return Err(GuardRejection::SignIn(links::GUEST_SIGN_IN));
        };
        let checked = session::guest(state, &source(parts), &login_id).await?;
        admit(parts, checked, &session, &login_id, links::GUEST_SIGN_IN).await
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
        signin::record_denied(state, &source(parts), user.actor(), parts.uri.path(), None).await?;
        Err(GuardRejection::Error(AppError::NotFound))
    }
}
