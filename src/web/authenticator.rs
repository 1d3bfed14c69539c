//! The page that shows a new authenticator secret, shared by enrolment and a guest's change of
//! authenticator.

use askama::Template;
use axum::http::header::REFERRER_POLICY;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use qrcode::QrCode;
use qrcode::render::svg;

use super::ctx::Ctx;
use super::error::AppResult;
use crate::auth::totp;

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
    let html = AppPage {
        ctx,
        action,
        qr_svg,
        key: totp::display_key(secret),
        uri,
        error,
    }
    .render()?;
    let mut res = (status, Html(html)).into_response();
    res.headers_mut()
        .insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(res)
}
