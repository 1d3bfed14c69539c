//! The printed invitation sheet (one A4 page) for residents served at the counter, and
//! delivering a fresh invitation by mail or as that sheet.
//!
//! A sheet is shown after a redirect, so that reloading or going back prints it again: the
//! invitation link waits in the clerk's session, sealed with a key kept outside the database
//! (A1: the database holds only the link's hash), until it is used or expires. Another browser
//! reprints with a fresh link, and the page says that the earlier sheet stops working.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header::REFERRER_POLICY};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use qrcode::QrCode;
use qrcode::render::svg;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::accounts::{StaffUser, Status};
use crate::app::AppState;
use crate::auth::totp;
use crate::guests::issue::{self, Delivery};
use crate::guests::lifecycle::{self, Reason};
use crate::guests::store::Guest;
use crate::links;
use crate::web::ctx::{Ctx, render};
use crate::web::error::AppResult;
use crate::web::forms::with_user;
use crate::web::routes::Routes;

pub fn router() -> Routes {
    Routes::new().route(links::STAFF_GUEST_SHEET, get(sheet_get).post(sheet_post))
}

const SHEET_KEY: &str = "invitation_sheet";
const SHEET_SCOPE: &str = "invitation-sheet";

/// The link of the last sheet printed in this session, sealed.
#[derive(Serialize, Deserialize)]
struct HeldSheet {
    guest_id: String,
    sealed: String,
    until: i64,
}

#[derive(Template)]
#[template(path = "staff/invitation_print.html")]
pub struct PrintPage {
    pub ctx: Ctx,
    pub guest: Guest,
    pub link: String,
    pub qr_svg: String,
    pub link_expires: String,
    pub link_expires_at: i64,
    pub expires_on: String,
    pub sign_in_address: String,
    pub municipality: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The sheet was just made again with a new link.
    pub fresh: bool,
}

impl PrintPage {
    fn from(&self) -> String {
        self.ctx.t_with(
            "print-from",
            [
                ("municipality", self.municipality.clone()),
                ("department", self.guest.department_name.clone()),
            ],
        )
    }
    fn addressee(&self) -> String {
        self.ctx
            .t_with("print-addressee", [("name", self.guest.name.clone())])
    }
}

/// The sheet, in the language the guest was invited in.
fn print_sheet(
    state: &AppState,
    mut ctx: Ctx,
    guest: Guest,
    link: String,
    until: i64,
    fresh: bool,
) -> AppResult<Response> {
    let qr_svg = QrCode::new(link.as_bytes())
        .map_err(|e| anyhow::anyhow!("QR code: {e}"))?
        .render::<svg::Color>()
        .min_dimensions(160, 160)
        .build();
    ctx.lang = guest.lang();
    let config = &state.config;
    let page = PrintPage {
        link_expires: ctx.lang.long_datetime(until),
        link_expires_at: until,
        expires_on: ctx.lang.last_day(guest.expires_at),
        sign_in_address: state.link(links::GUEST_SIGN_IN),
        municipality: config
            .municipality
            .clone()
            .unwrap_or_else(|| ctx.t("city-default")),
        phone: config.contact_phone.clone(),
        email: config.contact_email.clone(),
        fresh,
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

/// Keeps a sheet's link in the session, sealed, and sends the clerk to the sheet.
async fn hold(
    state: &AppState,
    session: &Session,
    guest_id: &str,
    link: &str,
    fresh: bool,
) -> AppResult<Response> {
    let held = HeldSheet {
        guest_id: guest_id.to_string(),
        sealed: totp::seal_for_session(&state.secrets, SHEET_SCOPE, link.as_bytes())?,
        until: state.now() + state.config.invitation_lifetime_secs,
    };
    session.insert(SHEET_KEY, held).await?;
    let mut to = links::staff_guest_sheet(guest_id);
    if fresh {
        to.push_str("?fresh=1");
    }
    Ok(Redirect::to(&to).into_response())
}

/// Delivers a fresh invitation: by mail (then back to the guest's page) or as a sheet.
pub async fn deliver(
    state: &AppState,
    session: &Session,
    guest_id: &str,
    link: String,
    print: bool,
) -> AppResult<Response> {
    let notice = match issue::deliver(state, guest_id, &link, print).await? {
        Delivery::Print(guest) => {
            return hold(state, session, &guest.account_id, &link, false).await;
        }
        Delivery::Mailed(true) => "guest-invitation-mailed",
        Delivery::Mailed(false) => "guest-invitation-mail-failed",
    };
    session.insert("notice", notice).await?;
    Ok(Redirect::to(&links::staff_guest(guest_id)).into_response())
}

#[derive(Template)]
#[template(path = "staff/sheet_reprint.html")]
struct ReprintPage {
    ctx: Ctx,
    guest: Guest,
}

#[derive(Deserialize)]
struct SheetQuery {
    #[serde(default)]
    fresh: Option<String>,
}

async fn sheet_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(guest): Path<String>,
    Query(query): Query<SheetQuery>,
) -> AppResult<Response> {
    let guest = super::staff::staff_guest_scope(&state, &ctx, &user, &guest).await?;
    if guest.status != Status::Invited {
        return Ok(Redirect::to(&links::staff_guest(&guest.account_id)).into_response());
    }
    if let Some(held) = session.get::<HeldSheet>(SHEET_KEY).await?
        && held.guest_id == guest.account_id
        && held.until > state.now()
    {
        let link = totp::open_from_session(&state.secrets, SHEET_SCOPE, &held.sealed)?;
        let link = String::from_utf8_lossy(&link).into_owned();
        if crate::enrolment::link_is_usable(&state, &link).await? {
            let fresh = query.fresh.is_some();
            return print_sheet(&state, ctx, guest, link, held.until, fresh);
        }
    }
    render(&ReprintPage {
        ctx: with_user(ctx, &user),
        guest,
    })
}

/// Prints again with a new link: the earlier sheet's link dies, the sign-in ID stays.
async fn sheet_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(guest): Path<String>,
) -> AppResult<Response> {
    let guest = super::staff::staff_guest_scope(&state, &ctx, &user, &guest).await?;
    let why =
        Reason::parse(&ctx.t("sheet-reprint-reason")).map_err(|_| anyhow::anyhow!("reason"))?;
    match lifecycle::reinvite(&state, &user, &ctx.source, &guest, &why, false).await? {
        Ok(link) => hold(&state, &session, &guest.account_id, &link, true).await,
        Err(_) => Ok(Redirect::to(&links::staff_guest(&guest.account_id)).into_response()),
    }
}
