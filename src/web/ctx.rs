//! What every page needs: language, CSRF token, request id and source address.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use tower_sessions::Session;

use super::error::{AppError, AppResult};
use crate::audit::Source;
use crate::i18n::Lang;

pub const CSRF_KEY: &str = "csrf";
pub const CSRF_FIELD: &str = "csrf";

/// The request id and source address, put into the request by the outermost middleware.
#[derive(Clone, Debug)]
pub struct RequestInfo {
    pub request_id: String,
    pub address: Option<std::net::IpAddr>,
}

impl RequestInfo {
    pub fn source(&self) -> Source {
        Source {
            address: self.address.map(|a| a.to_string()),
            request_id: Some(self.request_id.clone()),
        }
    }
}

/// The municipality and whom residents and guests contact there, shown on the sign-in and guest
/// pages; put into each request by a layer (`web::shared_layers`).
#[derive(Clone, Debug, Default)]
pub struct Contact {
    pub municipality: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

impl Contact {
    pub fn is_empty(&self) -> bool {
        self.municipality.is_none() && self.phone.is_none() && self.email.is_none()
    }
}

/// The language alone, for what is drawn once and shown to many readers (SECURITY C9): kept
/// conversations and guest lists are drawn with this, never with a request's `Ctx`, so no CSRF
/// token, name or permission of one reader can be drawn into what another is served. It offers
/// the words and dates such drawings use, and nothing of the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Words(Lang);

impl Words {
    pub fn new(lang: Lang) -> Self {
        Self(lang)
    }
    pub fn lang(&self) -> Lang {
        self.0
    }
    pub fn t(&self, key: &str) -> String {
        self.0.t(key)
    }
    pub fn t_with(&self, key: &str, args: impl AsRef<[(&'static str, String)]>) -> String {
        self.0.t_with(key, args)
    }
    pub fn dt(&self, t: &i64) -> String {
        self.0.long_datetime(*t)
    }
    pub fn paren(&self, inner: &str) -> String {
        self.0.paren(inner)
    }
    pub fn last_day(&self, t: &i64) -> String {
        self.0.last_day(*t)
    }
    pub fn day_label(&self, t: &i64) -> String {
        self.0.day_label(*t)
    }
    pub fn time_of_day(&self, t: &i64) -> String {
        self.0.time_of_day(*t)
    }
    pub fn machine_time(&self, t: &i64) -> String {
        crate::i18n::machine_time(*t)
    }
}

/// The page context handed to every template.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub lang: Lang,
    pub csrf: String,
    pub path: String,
    /// Where the language switch returns to: this page, or for a form post the page it came from.
    pub back: String,
    pub request_id: String,
    pub source: Source,
    pub address: Option<std::net::IpAddr>,
    /// The signed-in person's name, shown with the sign-out button.
    pub user: Option<String>,
    pub is_admin: bool,
    /// Whether the signed-in person is a guest (their menu and sign-out differ).
    pub guest: bool,
    pub contact: Contact,
}

impl Ctx {
    /// The language alone, to draw what other readers are shown too (C9).
    pub fn words(&self) -> Words {
        Words(self.lang)
    }
    pub fn t(&self, key: &str) -> String {
        self.lang.t(key)
    }
    pub fn t_with(&self, key: &str, args: impl AsRef<[(&'static str, String)]>) -> String {
        self.lang.t_with(key, args)
    }
    /// A moment with its date and weekday: `2026年11月28日（土） 23時42分`.
    pub fn dt(&self, t: &i64) -> String {
        self.lang.long_datetime(*t)
    }
    /// Whether a menu entry is the page shown now (`aria-current`).
    pub fn is_current(&self, link: &str) -> bool {
        let p = self.path.as_str();
        if link == crate::links::STAFF_HOME {
            p == link
        } else if link == crate::links::GUEST_HOME {
            p == link || p.starts_with("/c/")
        } else {
            p == link || p.starts_with(&format!("{link}/"))
        }
    }
    /// One line of a form's error summary: the field's label, then what is wrong with it.
    pub fn summary_line(&self, field: &str, message: &str) -> String {
        match self.lang.try_t(&format!("summary-field-{field}")) {
            Some(label) => format!("{label}: {message}"),
            None => message.to_string(),
        }
    }
    /// A date typed as `2027-03-31` (a date input's value), as people read it: the day it ends
    /// with its weekday.
    pub fn input_day(&self, iso: &str) -> String {
        crate::clock::end_of_day(iso)
            .map(|end| self.lang.last_day(end))
            .unwrap_or_else(|| iso.to_string())
    }
    /// A name's organisation or department in parentheses, as each language writes them:
    /// full-width in Japanese (`（市立病院）`), after a space in English (` (City Hospital)`).
    pub fn paren(&self, inner: &str) -> String {
        self.lang.paren(inner)
    }
    /// The last day an end time covers, with its weekday: `2026年12月25日（金）`.
    pub fn last_day(&self, t: &i64) -> String {
        self.lang.last_day(*t)
    }
    pub fn day_label(&self, t: &i64) -> String {
        self.lang.day_label(*t)
    }
    pub fn time_of_day(&self, t: &i64) -> String {
        self.lang.time_of_day(*t)
    }
    pub fn machine_time(&self, t: &i64) -> String {
        crate::i18n::machine_time(*t)
    }
    pub fn machine_date(&self, t: &i64) -> String {
        crate::i18n::machine_time(*t).chars().take(10).collect()
    }
    pub fn other_lang(&self) -> Lang {
        self.lang.other()
    }

    /// A context for pages drawn outside a session (error pages).
    pub fn bare(lang: Lang, info: Option<&RequestInfo>) -> Self {
        Self {
            lang,
            csrf: String::new(),
            path: "/".into(),
            back: "/".into(),
            request_id: info.map(|i| i.request_id.clone()).unwrap_or_default(),
            source: info.map(RequestInfo::source).unwrap_or_default(),
            address: info.and_then(|i| i.address),
            user: None,
            is_admin: false,
            guest: false,
            contact: Contact::default(),
        }
    }
}

/// Form errors as (field, message) pairs, shown next to their fields.
pub type FieldErrors = Vec<(String, String)>;

/// The message for one field, if the form had an error there.
pub fn field_error(errors: &[(String, String)], field: &str) -> Option<String> {
    errors
        .iter()
        .find(|(f, _)| f == field)
        .map(|(_, m)| m.clone())
}

/// The attributes that tie an input (whose id is its field's name) to its error and hint:
/// `aria-invalid` when the field was refused, and `aria-describedby` naming the error
/// (`{field}-error`) and the hint (`{field}-hint`) shown beside it.
pub fn field_attrs(errors: &[(String, String)], field: &str, hint: bool) -> String {
    let invalid = errors.iter().any(|(f, _)| f == field);
    let mut described = vec![];
    if invalid {
        described.push(format!("{field}-error"));
    }
    if hint {
        described.push(format!("{field}-hint"));
    }
    let mut attrs = String::new();
    if invalid {
        attrs.push_str(" aria-invalid=\"true\"");
    }
    if !described.is_empty() {
        attrs.push_str(&format!(" aria-describedby=\"{}\"", described.join(" ")));
    }
    attrs
}

pub fn new_csrf_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The CSRF token of a visitor who has no session yet, carried in a signed cookie so that
/// anonymous page views store nothing on the server (C8). Put in by `middleware::visitor_token`.
#[derive(Clone, Debug)]
pub struct VisitorToken(pub String);

/// The token a form must carry: the session's once a session exists (created on first use),
/// else the visitor's signed-cookie token, so a bare page view writes no session row (C8).
pub async fn csrf_token(session: &Session, visitor: Option<&VisitorToken>) -> AppResult<String> {
    if let Some(t) = session.get::<String>(CSRF_KEY).await? {
        return Ok(t);
    }
    if session.is_empty().await
        && let Some(v) = visitor
    {
        return Ok(v.0.clone());
    }
    let t = new_csrf_token();
    session.insert(CSRF_KEY, &t).await?;
    Ok(t)
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("session layer missing")))?;
        let info = parts.extensions.get::<RequestInfo>().cloned();
        let lang = super::lang::from_headers(&parts.headers);
        let mut ctx = Ctx::bare(lang, info.as_ref());
        ctx.csrf = csrf_token(&session, parts.extensions.get::<VisitorToken>()).await?;
        ctx.path = parts.uri.path().to_string();
        if let Some(contact) = parts.extensions.get::<Contact>() {
            ctx.contact = contact.clone();
        }
        ctx.back = if parts.method == axum::http::Method::GET {
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| ctx.path.clone())
        } else {
            // A page drawn in answer to a post (a form with errors) has no address of its own
            // to come back to; the page that posted it does.
            parts
                .headers
                .get(axum::http::header::REFERER)
                .and_then(|r| r.to_str().ok())
                .and_then(|r| r.find("://").map(|i| &r[i + 3..]))
                .and_then(|r| r.find('/').map(|i| r[i..].to_string()))
                .filter(|p| crate::links::local_path(p).is_some())
                .unwrap_or_else(|| ctx.path.clone())
        };
        Ok(ctx)
    }
}

/// The length of the longest page drawn so far, up to `DRAW_AT_ONCE_MAX`.
static LONGEST_PAGE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
const DRAW_AT_ONCE_MAX: usize = 256 * 1024;

/// Draws a page into a buffer as long as the longest page so far, instead of one that grows
/// (and is copied) several times on the way: the clerk's channel page is 57 KB, and growing to
/// it took 2% of that page's time in a profile.
fn draw<T: askama::Template>(t: &T) -> Result<String, askama::Error> {
    use std::sync::atomic::Ordering::Relaxed;
    let mut page = String::with_capacity(LONGEST_PAGE.load(Relaxed).max(T::SIZE_HINT));
    t.render_into(&mut page)?;
    LONGEST_PAGE.fetch_max(page.len().min(DRAW_AT_ONCE_MAX), Relaxed);
    Ok(page)
}

/// Renders a template as an HTML page.
pub fn render<T: askama::Template>(t: &T) -> AppResult<Response> {
    Ok(Html(draw(t)?).into_response())
}

/// Renders a form page again with its errors, as 422.
pub fn render_invalid<T: askama::Template>(t: &T) -> AppResult<Response> {
    Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, Html(draw(t)?)).into_response())
}
