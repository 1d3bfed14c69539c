//! The staff console's guests: the department list, one guest's page, and what a clerk can do
//! to a guest — extend, revoke, re-issue, reset the authenticator, end sessions, decide
//! extension requests. Each asks for a reason, which is kept in the audit trail.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::accounts::{StaffUser, Status};
use crate::app::AppState;
use crate::channels::store as channels;
use crate::guests::lifecycle::{self, NotLive, NotReissued};
use crate::guests::pages::list::{GuestList, ListQuery};
use crate::guests::pages::sheet::deliver;
use crate::guests::store::{self as guest_db, ExtensionRequest, Guest};
use crate::links;
use crate::web::confirm::ConfirmPage;
use crate::web::ctx::{Ctx, render, render_invalid};
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{ReasonForm, reason, with_user};
use crate::web::routes::Routes;

pub fn router() -> Routes {
    Routes::new()
        .route(links::STAFF_GUESTS, get(guests_get))
        .route(links::STAFF_GUEST, get(guest_get))
        .route(links::STAFF_GUEST_EXTEND, post(extend_post))
        .route(links::STAFF_GUEST_REVOKE, get(revoke_get).post(revoke_post))
        .route(links::STAFF_GUEST_REISSUE, post(reissue_post))
        .route(links::STAFF_GUEST_RESET, post(reset_post))
        .route(links::STAFF_GUEST_END_SESSIONS, post(end_sessions_post))
        .route(links::STAFF_EXTENSION_DECIDE, post(decide_post))
}

#[derive(Template)]
#[template(path = "staff/guests.html")]
struct GuestsPage {
    ctx: Ctx,
    list: GuestList,
}

async fn guests_get(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Query(query): Query<ListQuery>,
) -> AppResult<Response> {
    let mut filter = query.filter();
    if !user.is_admin() {
        filter.department_id = Some(user.department_id.clone().unwrap_or_default());
    }
    let list = GuestList::load(&state, &ctx, filter, None, links::STAFF_GUESTS.to_string()).await?;
    render(&GuestsPage {
        ctx: with_user(ctx, &user),
        list,
    })
}

/// The guest a clerk's request names, if they may see them (D1, D3).
pub(super) async fn staff_guest_scope(
    state: &AppState,
    ctx: &Ctx,
    user: &StaffUser,
    guest_id: &str,
) -> AppResult<Guest> {
    Ok(lifecycle::for_clerk(state, user, &ctx.source, guest_id, &ctx.path).await?)
}

#[derive(Template)]
#[template(path = "staff/guest.html")]
struct GuestPage {
    ctx: Ctx,
    guest: Guest,
    requests: Vec<ExtensionRequest>,
    open_sessions: i64,
    max_expiry: String,
    errors: Vec<(String, String)>,
    notice: Option<String>,
}

impl GuestPage {
    fn error_for(&self, f: &str) -> Option<String> {
        crate::web::ctx::field_error(&self.errors, f)
    }
    fn attrs(&self, f: &str, hint: bool) -> String {
        crate::web::ctx::field_attrs(&self.errors, f, hint)
    }
    fn day(&self, t: &i64) -> String {
        self.ctx.last_day(t)
    }
    fn status_label(&self) -> String {
        self.ctx
            .t(&format!("guest-status-{}", self.guest.display_status()))
    }
    fn kind_label(&self) -> String {
        self.ctx.t(&format!("kind-{}", self.guest.guest_kind))
    }
    fn permission_label(&self) -> String {
        self.ctx.t(&format!("permission-{}", self.guest.permission))
    }
    fn live(&self) -> bool {
        self.guest.status.is_live()
    }
    fn invited(&self) -> bool {
        self.guest.status == crate::accounts::Status::Invited
    }
    fn enrolled(&self) -> bool {
        matches!(self.guest.status, Status::Active | Status::Locked)
    }
    fn decide_action(&self, r: &ExtensionRequest) -> String {
        links::staff_extension_decide(&r.extension_request_id)
    }
}

async fn guest_page(
    state: &AppState,
    ctx: Ctx,
    user: &StaffUser,
    guest: Guest,
    errors: Vec<(String, String)>,
    notice: Option<String>,
) -> AppResult<GuestPage> {
    let open_sessions = crate::accounts::logins::open_count(&state.db, &guest.account_id).await?;
    let mut conn = state.db.pool.acquire().await?;
    let channel = channels::get(&mut conn, &guest.channel_id).await?;
    drop(conn);
    let max = channel
        .map(|c| c.ends_at)
        .unwrap_or(0)
        .min(state.now() + state.config.guest_max_days * 86_400);
    Ok(GuestPage {
        ctx: with_user(ctx, user),
        requests: guest_db::requests(&state.db, &guest.account_id).await?,
        open_sessions,
        max_expiry: crate::clock::last_day(max + 1),
        guest,
        errors,
        notice,
    })
}

async fn guest_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(guest): Path<String>,
) -> AppResult<Response> {
    let guest = staff_guest_scope(&state, &ctx, &user, &guest).await?;
    let notice = session.remove::<String>("notice").await?.map(|k| ctx.t(&k));
    render(&guest_page(&state, ctx, &user, guest, vec![], notice).await?)
}

async fn invalid(
    state: &AppState,
    ctx: Ctx,
    user: &StaffUser,
    guest: Guest,
    field: &str,
    message: String,
) -> AppResult<Response> {
    let errors = vec![(field.to_string(), message)];
    render_invalid(&guest_page(state, ctx, user, guest, errors, None).await?)
}

fn back(guest: &Guest) -> Response {
    Redirect::to(&links::staff_guest(&guest.account_id)).into_response()
}

#[derive(Deserialize)]
pub struct ExtendForm {
    #[serde(default)]
    expires_on: String,
    #[serde(default)]
    reason: String,
}

/// A new expiry within policy, or the message to show beside the field.
async fn checked_expiry(
    state: &AppState,
    ctx: &Ctx,
    guest: &Guest,
    date: &str,
) -> AppResult<Result<i64, String>> {
    Ok(lifecycle::checked_expiry(state, guest, date)
        .await?
        .map_err(|k| ctx.t_with(k, [("max", state.config.guest_max_days.to_string())])))
}

fn not_live(ctx: &Ctx) -> String {
    ctx.t("guest-not-live")
}

async fn extend_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(guest): Path<String>,
    Form(form): Form<ExtendForm>,
) -> AppResult<Response> {
    let guest = staff_guest_scope(&state, &ctx, &user, &guest).await?;
    if !guest.status.is_live() {
        let m = not_live(&ctx);
        return invalid(&state, ctx, &user, guest, "ext-date", m).await;
    }
    let why = match reason(&ctx, &form.reason) {
        Ok(r) => r,
        Err(m) => return invalid(&state, ctx, &user, guest, "ext-reason", m).await,
    };
    let t = match checked_expiry(&state, &ctx, &guest, &form.expires_on).await? {
        Ok(t) => t,
        Err(m) => return invalid(&state, ctx, &user, guest, "ext-date", m).await,
    };
    if let Err(NotLive) = lifecycle::extend(&state, &user, &ctx.source, &guest, t, &why).await? {
        let m = not_live(&ctx);
        return invalid(&state, ctx, &user, guest, "ext-date", m).await;
    }
    session.insert("notice", "guest-extended").await?;
    Ok(back(&guest))
}

/// What revoking will do, before it is done: it cannot be undone.
fn revoke_page(
    ctx: Ctx,
    user: &StaffUser,
    guest: &Guest,
    reason: String,
    errors: Vec<(String, String)>,
) -> AppResult<Response> {
    let who = [
        ("name", guest.name.clone()),
        ("organisation", guest.organisation.clone()),
    ];
    ConfirmPage {
        heading: ctx.t_with("guest-revoke-confirm-title", who.clone()),
        consequences: vec![
            ctx.t_with("guest-revoke-confirm-ends", who),
            ctx.t("guest-revoke-confirm-again"),
        ],
        action: links::staff_guest_revoke(&guest.account_id),
        back: links::staff_guest(&guest.account_id),
        back_label: ctx.t("back-to-guest"),
        button: ctx.t("guest-revoke"),
        ctx: with_user(ctx, user),
        reason,
        errors,
    }
    .respond()
}

async fn revoke_get(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path(guest): Path<String>,
) -> AppResult<Response> {
    let guest = staff_guest_scope(&state, &ctx, &user, &guest).await?;
    if !guest.status.is_live() {
        return Ok(back(&guest));
    }
    revoke_page(ctx, &user, &guest, String::new(), vec![])
}

async fn revoke_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(guest): Path<String>,
    Form(form): Form<ReasonForm>,
) -> AppResult<Response> {
    let guest = staff_guest_scope(&state, &ctx, &user, &guest).await?;
    let typed: String = form.reason().chars().take(1000).collect();
    if !form.confirmed() {
        return revoke_page(ctx, &user, &guest, typed, vec![]);
    }
    let why = match reason(&ctx, form.reason()) {
        Ok(r) => r,
        Err(m) => return revoke_page(ctx, &user, &guest, typed, vec![("reason".into(), m)]),
    };
    lifecycle::revoke(&state, &user, &ctx.source, &guest, &why).await?;
    session.insert("notice", "guest-revoked").await?;
    Ok(back(&guest))
}

#[derive(Deserialize)]
pub struct ReissueForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    delivery: String,
}

async fn reissue_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(guest): Path<String>,
    Form(form): Form<ReissueForm>,
) -> AppResult<Response> {
    let guest = staff_guest_scope(&state, &ctx, &user, &guest).await?;
    reinvite(&state, ctx, &session, &user, guest, form, false).await
}

async fn reset_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(guest): Path<String>,
    Form(form): Form<ReissueForm>,
) -> AppResult<Response> {
    let guest = staff_guest_scope(&state, &ctx, &user, &guest).await?;
    reinvite(&state, ctx, &session, &user, guest, form, true).await
}

/// Re-issues an invitation (the old link dies) or resets the authenticator (the guest's
/// credentials are wiped, their sessions end, and they enrol again through the new link). The
/// clerk never sees or chooses a secret (B10).
async fn reinvite(
    state: &AppState,
    ctx: Ctx,
    session: &Session,
    user: &StaffUser,
    guest: Guest,
    form: ReissueForm,
    reset: bool,
) -> AppResult<Response> {
    let field = if reset { "reset" } else { "reissue" };
    let why = match reason(&ctx, &form.reason) {
        Ok(r) => r,
        Err(m) => return invalid(state, ctx, user, guest, field, m).await,
    };
    let link = match lifecycle::reinvite(state, user, &ctx.source, &guest, &why, reset).await? {
        Ok(link) => link,
        Err(NotReissued::NotLive) => {
            let m = not_live(&ctx);
            return invalid(state, ctx, user, guest, field, m).await;
        }
        Err(NotReissued::TooOften) => {
            let m = ctx.t_with(
                "guest-reissue-too-often",
                [("count", lifecycle::REISSUE_PER_HOUR.to_string())],
            );
            return invalid(state, ctx, user, guest, field, m).await;
        }
    };
    deliver(
        state,
        session,
        &guest.account_id,
        link,
        form.delivery == "print",
    )
    .await
}

async fn end_sessions_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(guest): Path<String>,
    Form(form): Form<ReasonForm>,
) -> AppResult<Response> {
    let guest = staff_guest_scope(&state, &ctx, &user, &guest).await?;
    let why = match reason(&ctx, form.reason()) {
        Ok(r) => r,
        Err(m) => return invalid(&state, ctx, &user, guest, "end_sessions", m).await,
    };
    lifecycle::end_sessions(&state, &user, &ctx.source, &guest, &why).await?;
    session.insert("notice", "guest-sessions-ended").await?;
    Ok(back(&guest))
}

#[derive(Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    expires_on: String,
    #[serde(default)]
    reason: String,
}

async fn decide_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(request): Path<String>,
    Form(form): Form<DecideForm>,
) -> AppResult<Response> {
    let mut conn = state.db.pool.acquire().await?;
    let req = guest_db::request(&mut conn, &request).await?;
    drop(conn);
    let Some(req) = req else {
        // Same answer as any other id this clerk may not see.
        staff_guest_scope(&state, &ctx, &user, "").await?;
        return Err(AppError::NotFound);
    };
    let guest = staff_guest_scope(&state, &ctx, &user, &req.account_id).await?;
    let why = match reason(&ctx, &form.reason) {
        Ok(r) => r,
        Err(m) => return invalid(&state, ctx, &user, guest, "decide", m).await,
    };
    let approve = match form.decision.as_str() {
        "approve" => true,
        "refuse" => false,
        _ => {
            return invalid(
                &state,
                ctx.clone(),
                &user,
                guest,
                "decide",
                ctx.t("form-choose"),
            )
            .await;
        }
    };
    let new_expiry = if approve {
        if !guest.status.is_live() {
            let m = not_live(&ctx);
            return invalid(&state, ctx, &user, guest, "decide", m).await;
        }
        match checked_expiry(&state, &ctx, &guest, &form.expires_on).await? {
            Ok(t) => Some(t),
            Err(m) => return invalid(&state, ctx, &user, guest, "decide", m).await,
        }
    } else {
        None
    };
    let decided = lifecycle::decide_extension(
        &state,
        &user,
        &ctx.source,
        &guest,
        &req.extension_request_id,
        new_expiry,
        &why,
    )
    .await?;
    if !decided {
        return Ok(back(&guest));
    }
    session.insert("notice", "guest-request-decided").await?;
    Ok(back(&guest))
}
