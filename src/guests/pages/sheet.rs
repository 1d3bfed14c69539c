//! The printed invitation sheet (A4) for residents served at the counter, and delivering a
//! fresh invitation by mail or as that sheet.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header::REFERRER_POLICY};
use axum::response::{Html, IntoResponse, Redirect, Response};
use qrcode::QrCode;
use qrcode::render::svg;
use tower_sessions::Session;

use crate::app::AppState;
use crate::clock::last_day;
use crate::guests::issue::{self, Delivery};
use crate::guests::store::Guest;
use crate::links;
use crate::web::ctx::Ctx;
use crate::web::error::AppResult;

#[derive(Template)]
#[template(path = "staff/invitation_print.html")]
pub struct PrintPage {
    pub ctx: Ctx,
    pub guest: Guest,
    pub link: String,
    pub qr_svg: String,
    pub link_expires: String,
    pub expires_on: String,
}

/// The printed invitation sheet (A4), for residents served at the counter.
pub fn print_sheet(state: &AppState, ctx: Ctx, guest: Guest, link: String) -> AppResult<Response> {
    let qr_svg = QrCode::new(link.as_bytes())
        .map_err(|e| anyhow::anyhow!("QR code: {e}"))?
        .render::<svg::Color>()
        .min_dimensions(240, 240)
        .build();
    let page = PrintPage {
        link_expires: ctx.dt(&(state.now() + state.config.invitation_lifetime_secs)),
        expires_on: last_day(guest.expires_at),
        ctx,
        guest,
        link,
        qr_svg,
    };
    let mut res = (StatusCode::OK, Html(page.render()?)).into_response();
    res.headers_mut()
        .insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(res)
}

/// Delivers a fresh invitation: by mail (then back to the guest's page) or as a sheet.
pub async fn deliver(
    state: &AppState,
    ctx: Ctx,
    session: &Session,
    guest_id: &str,
    link: String,
    print: bool,
) -> AppResult<Response> {
    let notice = match issue::deliver(state, guest_id, &link, print).await? {
        Delivery::Print(guest) => return print_sheet(state, ctx, *guest, link),
        Delivery::Mailed(true) => "guest-invitation-mailed",
        Delivery::Mailed(false) => "guest-invitation-mail-failed",
    };
    session.insert("notice", notice).await?;
    Ok(Redirect::to(&links::staff_guest(guest_id)).into_response())
}
