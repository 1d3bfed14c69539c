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

use super::AppState;
use super::ctx::{CSRF_FIELD, CSRF_KEY, Ctx, RequestInfo};
use super::error::{AppError, ErrorKind};
use super::i18n::Lang;

pub const CSP: &str = "default-src 'self'; script-src 'self'; object-src 'none'; \
    base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

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
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
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
}

/// Turns every error status without a page of its own into the localised error page (E4).
pub async fn error_pages(req: Request, next: Next) -> Response {
    let lang = Lang::from_headers(req.headers());
    let info = req.extensions().get::<RequestInfo>().cloned();
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
        (_, 400) | (_, 422) | (_, 415) => "error-400",
        (_, 403) => "error-403",
        (_, 404) | (_, 405) => "error-404",
        (_, 413) => "error-413",
        (_, 429) => "error-429",
        _ => "error-500",
    };
    let page = ErrorPage {
        ctx: Ctx::bare(lang, info.as_ref()),
        status: status.as_u16(),
        title: lang.t(&format!("{key}-title")),
        message: lang.t(key),
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
    let expected = match session.get::<String>(CSRF_KEY).await {
        Ok(Some(t)) => t,
        Ok(None) => return AppError::Csrf.into_response(),
        Err(e) => return AppError::from(e).into_response(),
    };
    if is_upload {
        // File uploads carry the token in the form's action URL, so the body streams untouched.
        let given = req
            .uri()
            .query()
            .and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == CSRF_FIELD)
                    .map(|(_, v)| v.into_owned())
            })
            .unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            return AppError::Csrf.into_response();
        }
        return next.run(req).await;
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
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
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
