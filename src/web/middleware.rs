//! The mechanisms every route shares: request id and access log, security headers, localised
//! error pages, and the CSRF guard. Built once here; features only add routes.

use std::net::SocketAddr;
use std::time::Instant;

use askama::Template;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use super::ctx::{CSRF_FIELD, CSRF_KEY, Ctx, RequestInfo, VisitorToken};
use super::error::{AppError, ErrorKind};
use crate::app::AppState;
use futures_util::StreamExt;

pub const CSP: &str = "default-src 'self'; script-src 'self'; object-src 'none'; \
    base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
/// The policy of a file download: nothing in it may run, even if shown in place (F4).
pub const CSP_DOWNLOAD: &str = "default-src 'none'; sandbox; frame-ancestors 'none'";

/// Largest form body we read (forms only carry short fields).
pub const FORM_LIMIT: usize = 64 * 1024;

/// Gives each request an id and its source address; logs one line without the query string or
/// any path parameter (link tokens live in paths and must never reach a log).
pub async fn request_context(mut req: Request, next: Next) -> Response {
    let mut id = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
    let request_id = hex::encode(id);
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "(unmatched)".into());
    let method = req.method().clone();
    req.extensions_mut().insert(RequestInfo {
        request_id: request_id.clone(),
        address,
    });
    let started = Instant::now();
    let mut res = next.run(req).await;
    tracing::info!(
        request_id,
        %method,
        route,
        status = res.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// Security headers on every response, error pages included (E3, C7).
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // A download (F4) is also sandboxed, should a browser ever show it in place.
    let download = h
        .get(header::CONTENT_DISPOSITION)
        .is_some_and(|v| v.as_bytes().starts_with(b"attachment"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if download { CSP_DOWNLOAD } else { CSP }),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::REFERRER_POLICY) {
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
    }
    if state.config.tls.is_some() {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if is_static {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
    } else {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.remove(header::SERVER);
    res
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    ctx: Ctx,
    status: u16,
    title: String,
    message: String,
    /// Where "back to the start" leads: the staff console for its own pages, else sign-in.
    home: &'static str,
}

/// Turns every error status without a page of its own into the localised error page (E4).
pub async fn error_pages(req: Request, next: Next) -> Response {
    let lang = super::lang::from_headers(req.headers());
    let info = req.extensions().get::<RequestInfo>().cloned();
    let home = if req.uri().path().starts_with("/staff") {
        crate::links::STAFF_HOME
    } else {
        crate::links::ROOT
    };
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        return res;
    }
    let kind = res.extensions().get::<ErrorKind>().copied();
    let key = match (kind, status.as_u16()) {
        (Some(ErrorKind::Csrf), _) => "error-csrf",
        (Some(ErrorKind::InvalidInput), _) => "error-input",
        (_, 400) | (_, 422) | (_, 415) => "error-400",
        (_, 403) => "error-403",
        (_, 404) => "error-404",
        (_, 405) => "error-405",
        (_, 408) => "error-408",
        (_, 413) => "error-413",
        (_, 429) => "error-429",
        _ => "error-500",
    };
    let page = ErrorPage {
        ctx: Ctx::bare(lang, info.as_ref()),
        status: status.as_u16(),
        title: lang.t(&format!("{key}-title")),
        message: lang.t(key),
        home,
    };
    let body = match page.render() {
        Ok(html) => html,
        Err(_) => "<!doctype html><title>Error</title><p>Error</p>".to_string(),
    };
    let mut out = (status, Html(body)).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = res.headers().get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// Runs the rest of the request in a task of its own. A client that hangs up drops the request
/// future; were a handler dropped half-way, a transaction could be cut inside sqlx's `begin`
/// (which is not cancel-safe) and poison a pooled connection. Here every handler runs to its
/// commit or rollback whatever the client does; only the answer is lost.
pub async fn run_to_completion(req: Request, next: Next) -> Response {
    match tokio::spawn(next.run(req)).await {
        Ok(res) => res,
        Err(e) => {
            tracing::error!(error = %e, "a request task failed");
            AppError::Internal(anyhow::anyhow!("request task failed")).into_response()
        }
    }
}

/// A panic in a handler becomes a 500 page, not a dropped connection (E4).
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked");
    AppError::Internal(anyhow::anyhow!("handler panicked")).into_response()
}

/// CSRF (E2): refuses non-safe requests that a browser marks as cross-site or whose `Origin`
/// is foreign, and form posts whose `csrf` field does not match the session's token.
pub async fn csrf_guard(
    State(state): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    if matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let fetch_site = headers
        .get(HeaderName::from_static("sec-fetch-site"))
        .map(|v| v.as_bytes().to_vec());
    if fetch_site.as_deref() == Some(b"cross-site") {
        return AppError::Csrf.into_response();
    }
    // Pages sent with `Referrer-Policy: no-referrer` (links with tokens, A5) make browsers send
    // `Origin: null`; that is accepted only when the browser vouches it is the same origin.
    let null_origin = headers
        .get(header::ORIGIN)
        .is_some_and(|o| o.as_bytes() == b"null");
    if null_origin && fetch_site.as_deref() != Some(b"same-origin") {
        return AppError::Csrf.into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN).filter(|_| !null_origin) {
        let ours = origin_of(&state.config.public_url);
        let own_host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_ascii_lowercase);
        let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
        // The configured public origin, or the origin this very request was sent to.
        let same_host = own_host
            .is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"));
        if origin != ours && !same_host {
            return AppError::Csrf.into_response();
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_form = content_type.starts_with("application/x-www-form-urlencoded");
    let is_upload = content_type.starts_with("multipart/form-data");
    if !is_form && !is_upload {
        return AppError::Csrf.into_response();
    }
    let visitor = req.extensions().get::<VisitorToken>().map(|v| v.0.clone());
    let (expected, by_visitor) = match session.get::<String>(CSRF_KEY).await {
        Ok(Some(t)) => (t, false),
        Ok(None) => match visitor {
            Some(v) if session.is_empty().await => (v, true),
            _ => return AppError::Csrf.into_response(),
        },
        Err(e) => return AppError::from(e).into_response(),
    };
    if is_upload {
        // Uploads carry the token in the body too, as their first part (E10): it is read from
        // the front of the stream and the file behind it streams on untouched.
        let boundary = content_type
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_string())
            .next()
            .unwrap_or_default();
        let (parts, body) = req.into_parts();
        let mut stream = body.into_data_stream();
        let mut head = Vec::new();
        let given = loop {
            if let Some(token) = first_part_token(&head, &boundary) {
                break token;
            }
            if head.len() > UPLOAD_HEAD_MAX {
                return AppError::Csrf.into_response();
            }
            match stream.next().await {
                Some(Ok(chunk)) => head.extend_from_slice(&chunk),
                _ => return AppError::Csrf.into_response(),
            }
        };
        if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            return AppError::Csrf.into_response();
        }
        let head = futures_util::stream::once(async move {
            Ok::<_, axum::Error>(axum::body::Bytes::from(head))
        });
        let body = Body::from_stream(head.chain(stream));
        return next.run(Request::from_parts(parts, body)).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, FORM_LIMIT).await {
        Ok(b) => b,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let given = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return AppError::Csrf.into_response();
    }
    let res = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    // A form that started a session (the password step, an enrolment) hands the visitor's
    // token on to it, so the pages already open keep working.
    if by_visitor
        && !session.is_empty().await
        && matches!(session.get::<String>(CSRF_KEY).await, Ok(None))
        && let Err(e) = session.insert(CSRF_KEY, &expected).await
    {
        return AppError::from(e).into_response();
    }
    res
}

/// How far into an upload the CSRF part must have ended.
const UPLOAD_HEAD_MAX: usize = 4096;

/// The value of a multipart body's first part if that part is the CSRF field and has been
/// read whole; `None` while more bytes are needed (or if it is not there at all).
fn first_part_token(head: &[u8], boundary: &str) -> Option<String> {
    if boundary.is_empty() {
        return None;
    }
    // The file part after the token may be binary: read only the text before it.
    let text = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
    };
    let delimiter = format!("--{boundary}\r\n");
    let rest = text.trim_start_matches("\r\n").strip_prefix(&delimiter)?;
    let (headers, rest) = rest.split_once("\r\n\r\n")?;
    let names_csrf = headers.lines().any(|h| {
        h.to_ascii_lowercase().starts_with("content-disposition:")
            && h.contains(&format!("name=\"{CSRF_FIELD}\""))
    });
    if !names_csrf {
        return None;
    }
    let (value, _) = rest.split_once(&format!("\r\n--{boundary}"))?;
    Some(value.to_string())
}

/// Gives a visitor without a session a CSRF token in a signed cookie (C8), so the sign-in and
/// invitation forms work without the server storing anything for a mere page view.
pub async fn visitor_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let name = visitor_cookie_name(&state);
    let key = state.config.session_key.expose();
    let existing = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.split_once('.'))
        .filter(|(token, sig)| {
            bool::from(
                visitor_signature(key, token)
                    .as_bytes()
                    .ct_eq(sig.as_bytes()),
            )
        })
        .map(|(token, _)| token.to_string());
    let fresh = existing.is_none();
    let token = existing.unwrap_or_else(super::ctx::new_csrf_token);
    req.extensions_mut().insert(VisitorToken(token.clone()));
    let mut res = next.run(req).await;
    if fresh {
        let secure = if state.config.secure_cookies() {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{name}={token}.{}; Path=/; HttpOnly; SameSite=Lax{secure}",
            visitor_signature(key, &token)
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

fn visitor_cookie_name(state: &AppState) -> &'static str {
    if state.config.secure_cookies() {
        "__Host-madoguchi-visitor"
    } else {
        "madoguchi-visitor"
    }
}

fn visitor_signature(key: &[u8], token: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(b"visitor-csrf:");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn origin_of(url: &str) -> String {
    let lower = url.to_ascii_lowercase();
    let after_scheme = lower.find("://").map(|i| i + 3).unwrap_or(0);
    match lower[after_scheme..].find('/') {
        Some(i) => lower[..after_scheme + i].to_string(),
        None => lower,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_origin_of_the_public_url_drops_the_path() {
        assert_eq!(
            super::origin_of("https://Madoguchi.City.example.jp/base"),
            "https://madoguchi.city.example.jp"
        );
        assert_eq!(
            super::origin_of("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        );
    }
}
