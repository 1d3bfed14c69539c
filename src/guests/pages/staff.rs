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

use crate::accounts::StaffUser;
use crate::accounts::logins;
use crate::app::AppState;
use crate::audit::{self, Event, Outcome};
use crate::channels::pages::{GuestList, ListQuery, deliver, reason, with_user};
use crate::channels::store as channels;
use crate::guests;
use crate::guests::store::{self as guest_db, ExtensionRequest, Guest};
use crate::links;
use crate::web::Routes;
use crate::web::ctx::{Ctx, render, render_invalid};
use crate::web::error::{AppError, AppResult};

pub fn router() -> Routes {
    Routes::new()
        .route(links::STAFF_GUESTS, get(guests_get))
        .route(links::STAFF_GUEST, get(guest_get))
        .route(links::STAFF_GUEST_EXTEND, post(extend_post))
        .route(links::STAFF_GUEST_REVOKE, post(revoke_post))
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

impl GuestsPage {
    fn day(&self, t: &i64) -> String {
        guests::last_day(*t)
    }
    fn status_label(&self, g: &Guest) -> String {
        self.ctx.t(&format!("guest-status-{}", g.display_status()))
    }
    fn guest_link(&self, g: &Guest) -> String {
        links::with(links::STAFF_GUEST, "guest", &g.account_id)
    }
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
    let list = GuestList::load(&state, filter, links::STAFF_GUESTS.to_string()).await?;
    render(&GuestsPage {
        ctx: with_user(ctx, &user),
        list,
    })
}

/// The one check for guest-scoped staff routes (D1, D3): a guest of another department's
/// channel is the same not-found as a missing one, and the attempt is recorded.
async fn staff_guest_scope(
    state: &AppState,
    ctx: &Ctx,
    user: &StaffUser,
    guest_id: &str,
) -> AppResult<Guest> {
    let mut conn = state.db.pool.acquire().await?;
    let guest = guest_db::get(&mut conn, guest_id).await?;
    drop(conn);
    match guest {
        Some(g) if user.is_admin() || user.department_id.as_deref() == Some(&g.department_id) => {
            Ok(g)
        }
        other => {
            let mut ev =
                Event::new(user.actor(), "authz.denied", Outcome::Denied).target(ctx.path.clone());
            ev.channel_id = other.map(|g| g.channel_id);
            audit::record_alone(&state.db, state.now(), &ctx.source, &ev).await?;
            Err(AppError::NotFound)
        }
    }
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
    fn day(&self, t: &i64) -> String {
        guests::last_day(*t)
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
        matches!(self.guest.status.as_str(), "invited" | "active" | "locked")
    }
    fn invited(&self) -> bool {
        self.guest.status == crate::accounts::Status::Invited
    }
    fn enrolled(&self) -> bool {
        matches!(self.guest.status.as_str(), "active" | "locked")
    }
    fn action(&self, template: &str) -> String {
        links::with(template, "guest", &self.guest.account_id)
    }
    fn decide_action(&self, r: &ExtensionRequest) -> String {
        links::with(
            links::STAFF_EXTENSION_DECIDE,
            "request",
            &r.extension_request_id,
        )
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
    let open_sessions: i64 =
        sqlx::query_scalar("select count(*) from login where account_id = $1 and ended_at is null")
            .bind(&guest.account_id)
            .fetch_one(&state.db.pool)
            .await?;
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
        max_expiry: guests::last_day(max + 1),
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
    Redirect::to(&links::with(links::STAFF_GUEST, "guest", &guest.account_id)).into_response()
}

fn event(user: &StaffUser, guest: &Guest, action: &'static str, detail: String) -> Event {
    Event::new(user.actor(), action, Outcome::Success)
        .target(&guest.account_id)
        .detail(detail)
        .in_channel(guest.channel_id.clone())
}

#[derive(Deserialize)]
pub struct ExtendForm {
    #[serde(default)]
    expires_on: String,
    #[serde(default)]
    reason: String,
}

/// A new expiry within policy: not past, not after the channel's end, not beyond the maximum.
async fn checked_expiry(
    state: &AppState,
    ctx: &Ctx,
    guest: &Guest,
    date: &str,
) -> AppResult<Result<i64, String>> {
    let mut conn = state.db.pool.acquire().await?;
    let channel = channels::get(&mut conn, &guest.channel_id)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    let Some(t) = guests::end_of_day(date) else {
        return Ok(Err(ctx.t("form-date-invalid")));
    };
    Ok(
        guests::check_expiry(t, state.now(), channel.ends_at, state.config.guest_max_days)
            .map(|()| t)
            .map_err(|k| ctx.t_with(k, [("max", state.config.guest_max_days.to_string())])),
    )
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
    if !matches!(guest.status.as_str(), "invited" | "active" | "locked") {
        return invalid(
            &state,
            ctx.clone(),
            &user,
            guest,
            "extend",
            ctx.t("guest-not-live"),
        )
        .await;
    }
    let why = match reason(&ctx, &form.reason) {
        Ok(r) => r,
        Err(m) => return invalid(&state, ctx, &user, guest, "extend", m).await,
    };
    let t = match checked_expiry(&state, &ctx, &guest, &form.expires_on).await? {
        Ok(t) => t,
        Err(m) => return invalid(&state, ctx, &user, guest, "extend", m).await,
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if !guest_db::lock_in_status(&mut tx, &guest.account_id, &crate::accounts::Status::LIVE).await?
    {
        drop(tx);
        return invalid(
            &state,
            ctx.clone(),
            &user,
            guest,
            "extend",
            ctx.t("guest-not-live"),
        )
        .await;
    }
    guest_db::set_expiry(&mut tx, &guest.account_id, t).await?;
    let detail = format!("from {} to {t}; reason: {why}", guest.expires_at);
    audit::record(
        &mut tx,
        now,
        &ctx.source,
        &event(&user, &guest, "guest.extend", detail),
    )
    .await?;
    tx.commit().await?;
    session.insert("notice", "guest-extended").await?;
    Ok(back(&guest))
}

async fn revoke_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(guest): Path<String>,
    Form(form): Form<crate::channels::pages::ReasonForm>,
) -> AppResult<Response> {
    let guest = staff_guest_scope(&state, &ctx, &user, &guest).await?;
    let why = match reason(&ctx, form.reason()) {
        Ok(r) => r,
        Err(m) => return invalid(&state, ctx, &user, guest, "revoke", m).await,
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    guests::end(
        &mut tx,
        &guest,
        "revoked",
        user.actor(),
        &why,
        &ctx.source,
        now,
    )
    .await?;
    tx.commit().await?;
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
    let allowed = if reset {
        matches!(guest.status.as_str(), "active" | "locked")
    } else {
        guest.status == crate::accounts::Status::Invited
    };
    if !allowed {
        return invalid(
            state,
            ctx.clone(),
            user,
            guest,
            field,
            ctx.t("guest-not-live"),
        )
        .await;
    }
    let why = match reason(&ctx, &form.reason) {
        Ok(r) => r,
        Err(m) => return invalid(state, ctx, user, guest, field, m).await,
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    // Re-checked inside the transaction: a revoke or expiry committed meanwhile wins.
    let still = if reset {
        guest_db::reset_credentials(&mut tx, &guest.account_id).await?
    } else {
        guest_db::lock_in_status(
            &mut tx,
            &guest.account_id,
            &[crate::accounts::Status::Invited],
        )
        .await?
    };
    if !still {
        drop(tx);
        return invalid(
            state,
            ctx.clone(),
            user,
            guest,
            field,
            ctx.t("guest-not-live"),
        )
        .await;
    }
    if reset {
        let n =
            logins::end_all(&mut tx, &guest.account_id, None, "authenticator_reset", now).await?;
        let detail = format!("reason: {why}; sessions ended: {n}");
        audit::record(
            &mut tx,
            now,
            &ctx.source,
            &event(user, &guest, "guest.authenticator_reset", detail),
        )
        .await?;
    } else {
        audit::record(
            &mut tx,
            now,
            &ctx.source,
            &event(user, &guest, "guest.reissue", format!("reason: {why}")),
        )
        .await?;
    }
    let link = guests::invite(
        &mut tx,
        state,
        &guest.account_id,
        &guest.channel_id,
        &user.account_id,
        &ctx.source,
    )
    .await?;
    tx.commit().await?;
    deliver(
        state,
        ctx,
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
    Form(form): Form<crate::channels::pages::ReasonForm>,
) -> AppResult<Response> {
    let guest = staff_guest_scope(&state, &ctx, &user, &guest).await?;
    let why = match reason(&ctx, form.reason()) {
        Ok(r) => r,
        Err(m) => return invalid(&state, ctx, &user, guest, "end_sessions", m).await,
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let n = logins::end_all(&mut tx, &guest.account_id, None, "ended_by_clerk", now).await?;
    let detail = format!("reason: {why}; sessions ended: {n}");
    audit::record(
        &mut tx,
        now,
        &ctx.source,
        &event(&user, &guest, "guest.end_sessions", detail),
    )
    .await?;
    tx.commit().await?;
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
        if !matches!(guest.status.as_str(), "invited" | "active" | "locked") {
            return invalid(
                &state,
                ctx.clone(),
                &user,
                guest,
                "decide",
                ctx.t("guest-not-live"),
            )
            .await;
        }
        match checked_expiry(&state, &ctx, &guest, &form.expires_on).await? {
            Ok(t) => Some(t),
            Err(m) => return invalid(&state, ctx, &user, guest, "decide", m).await,
        }
    } else {
        None
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let decision = if approve { "approved" } else { "refused" };
    if !guest_db::decide_request(
        &mut tx,
        &req.extension_request_id,
        &user.account_id,
        decision,
        &why,
        new_expiry,
        now,
    )
    .await?
    {
        drop(tx);
        return Ok(back(&guest));
    }
    if let Some(t) = new_expiry {
        guest_db::set_expiry(&mut tx, &guest.account_id, t).await?;
    }
    let detail = format!("{decision}; new expiry: {new_expiry:?}; reason: {why}");
    audit::record(
        &mut tx,
        now,
        &ctx.source,
        &event(&user, &guest, "guest.extension_decided", detail),
    )
    .await?;
    tx.commit().await?;
    if let Some(email) = guest.email() {
        let mut args = vec![("reason", why.clone())];
        let key = match new_expiry {
            Some(t) => {
                args.push(("until", guests::last_day(t)));
                "mail-extension-approved"
            }
            None => "mail-extension-refused",
        };
        let mail = guests::simple_mail(
            &guest.name,
            email,
            "mail-extension-decided-subject",
            vec![(key, args)],
            Some((state.link(links::GUEST_ACCOUNT), "mail-open-account")),
        )?;
        if let Err(e) = state.mailer.send(&mail).await {
            tracing::warn!(error = format!("{e:#}"), "decision mail not sent");
        }
    }
    session.insert("notice", "guest-request-decided").await?;
    Ok(back(&guest))
}
