//! The staff console's channels: create, edit, archive, revoke all guests, issue guests one by
//! one (e-mail or printed sheet) or from a CSV file.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header::REFERRER_POLICY};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Deserialize;
use tower_sessions::Session;

use crate::accounts::StaffUser;
use crate::app::AppState;
use crate::audit::{self, Event, Outcome};
use crate::channels::store::{self as channels, Channel, NewChannel};
use crate::clerks::{Email, PersonName};
use crate::db::Tx;
use crate::guests::store::{self as guest_db, Filter, Guest, Sort};
use crate::guests::{self, GuestInput, Kind, Permission, REASON_MAX};
use crate::links;
use crate::web::Routes;
use crate::web::ctx::{Ctx, render, render_invalid};
use crate::web::error::{AppError, AppResult};

pub fn router() -> Routes {
    Routes::new()
        .route(links::STAFF_CHANNELS, get(channels_get).post(channels_post))
        .route(links::STAFF_CHANNEL, get(channel_get))
        .route(links::STAFF_CHANNEL_MESSAGES, post(message_post))
        .route(links::STAFF_CHANNEL_EDIT, post(channel_edit_post))
        .route(links::STAFF_CHANNEL_ARCHIVE, post(archive_post))
        .route(links::STAFF_CHANNEL_REVOKE_ALL, post(revoke_all_post))
        .route(links::STAFF_CHANNEL_GUEST_NEW, post(guest_new_post))
        .route(
            links::STAFF_CHANNEL_GUEST_BULK,
            post(bulk_post).layer(axum::extract::DefaultBodyLimit::max(
                BULK_MAX_BYTES + 16 * 1024,
            )),
        )
}

pub fn with_user(mut ctx: Ctx, user: &StaffUser) -> Ctx {
    ctx.user = Some(user.name.clone());
    ctx.is_admin = user.is_admin();
    ctx
}

pub const CHANNEL_NAME_MAX: usize = 100;
pub const PURPOSE_MAX: usize = 1000;

/// The one membership check for a clerk's channel-scoped routes (D1, D3): another
/// department's channel is the same not-found as a missing one, and the attempt is recorded.
pub async fn staff_channel_scope(
    state: &AppState,
    ctx: &Ctx,
    user: &StaffUser,
    channel_id: &str,
) -> AppResult<Channel> {
    let mut conn = state.db.pool.acquire().await?;
    let channel = channels::get(&mut conn, channel_id).await?;
    drop(conn);
    match channel {
        Some(c) if guests::may_manage(user.role, user.department_id.as_deref(), &c) => Ok(c),
        _ => {
            let mut ev =
                Event::new(user.actor(), "authz.denied", Outcome::Denied).target(ctx.path.clone());
            ev.channel_id = Some(channel_id.chars().take(64).collect());
            audit::record_alone(&state.db, state.now(), &ctx.source, &ev).await?;
            Err(AppError::NotFound)
        }
    }
}

/// Reads a short text field: trimmed, required, at most `max` characters, no control
/// characters except line breaks where `multiline`.
pub fn text_field(value: &str, max: usize, multiline: bool) -> Result<String, &'static str> {
    let v = value.trim();
    if v.is_empty() {
        return Err("form-required");
    }
    if v.chars().count() > max {
        return Err("form-too-long");
    }
    if !crate::text::is_clean(v, multiline) {
        return Err("form-invalid-chars");
    }
    Ok(v.to_string())
}

type Errors = crate::web::ctx::FieldErrors;
use crate::web::ctx::field_error as error_for;

#[derive(Template)]
#[template(path = "staff/channels.html")]
struct ChannelsPage {
    ctx: Ctx,
    channels: Vec<Channel>,
    departments: Vec<crate::clerks::store::Department>,
    form: ChannelForm,
    errors: Errors,
}

impl ChannelsPage {
    fn error_for(&self, f: &str) -> Option<String> {
        error_for(&self.errors, f)
    }
    fn day(&self, t: &i64) -> String {
        guests::last_day(*t)
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct ChannelForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    department_id: String,
    #[serde(default)]
    ends_on: String,
}

async fn channels_page(
    state: &AppState,
    ctx: Ctx,
    user: &StaffUser,
    form: ChannelForm,
    errors: Errors,
) -> AppResult<ChannelsPage> {
    let dept = if user.is_admin() {
        None
    } else {
        Some(user.department_id.clone().unwrap_or_default())
    };
    Ok(ChannelsPage {
        ctx: with_user(ctx, user),
        channels: channels::list(&state.db, dept.as_deref()).await?,
        departments: crate::clerks::store::departments(&state.db).await?,
        form,
        errors,
    })
}

async fn channels_get(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
) -> AppResult<Response> {
    render(&channels_page(&state, ctx, &user, ChannelForm::default(), vec![]).await?)
}

/// Validates a channel form; the department comes from the clerk unless an admin chose one.
fn check_channel(
    ctx: &Ctx,
    user: &StaffUser,
    form: &ChannelForm,
    now: i64,
    errors: &mut Errors,
) -> Option<(String, String, String, i64)> {
    let name = text_field(&form.name, CHANNEL_NAME_MAX, false)
        .map_err(|k| errors.push(("name".into(), ctx.t(k))))
        .ok();
    let purpose = text_field(&form.purpose, PURPOSE_MAX, true)
        .map_err(|k| errors.push(("purpose".into(), ctx.t(k))))
        .ok();
    let department = if user.is_admin() {
        Some(form.department_id.trim().to_string()).filter(|d| !d.is_empty())
    } else {
        user.department_id.clone()
    };
    if department.is_none() {
        errors.push(("department_id".into(), ctx.t("form-department-required")));
    }
    let ends_at = match guests::end_of_day(&form.ends_on) {
        Some(t) if t > now => Some(t),
        Some(_) => {
            errors.push(("ends_on".into(), ctx.t("channel-end-past")));
            None
        }
        None => {
            errors.push(("ends_on".into(), ctx.t("form-date-invalid")));
            None
        }
    };
    Some((name?, purpose?, department?, ends_at?))
}

async fn channels_post(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Form(form): Form<ChannelForm>,
) -> AppResult<Response> {
    let now = state.now();
    let mut errors = vec![];
    let checked = check_channel(&ctx, &user, &form, now, &mut errors);
    if let Some((name, purpose, department, ends_at)) = checked {
        let mut tx = state.db.begin().await?;
        if crate::clerks::store::department_exists(&mut tx, &department).await? {
            let id = channels::insert(
                &mut tx,
                &NewChannel {
                    department_id: &department,
                    name: &name,
                    purpose: &purpose,
                    ends_at,
                    created_by: &user.account_id,
                },
                now,
            )
            .await?;
            let ev = Event::new(user.actor(), "channel.create", Outcome::Success)
                .target(&id)
                .detail(name)
                .in_channel(id.clone());
            audit::record(&mut tx, now, &ctx.source, &ev).await?;
            tx.commit().await?;
            return Ok(
                Redirect::to(&links::with(links::STAFF_CHANNEL, "channel", &id)).into_response(),
            );
        }
        errors.push(("department_id".into(), ctx.t("form-department-required")));
    }
    let mut shown = form.clone();
    shown.name = shown.name.chars().take(CHANNEL_NAME_MAX * 2).collect();
    shown.purpose = shown.purpose.chars().take(PURPOSE_MAX * 2).collect();
    render_invalid(&channels_page(&state, ctx, &user, shown, errors).await?)
}

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub page: i64,
}

impl ListQuery {
    pub fn filter(&self) -> Filter {
        let status = [
            "invited", "opened", "enrolled", "active", "expired", "revoked", "closed", "locked",
        ]
        .contains(&self.status.as_str())
        .then(|| self.status.clone());
        Filter {
            status,
            search: Some(self.q.chars().take(100).collect()),
            sort: Sort::parse(&self.sort),
            page: self.page.clamp(0, 10_000),
            ..Filter::default()
        }
    }
}

/// One page of a guest list, with what its filter form and paging links need.
pub struct GuestList {
    pub rows: Vec<Guest>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub status: String,
    pub q: String,
    pub sort: &'static str,
    pub base: String,
}

impl GuestList {
    pub async fn load(state: &AppState, mut f: Filter, base: String) -> AppResult<Self> {
        let (rows, total) = guest_db::list(&state.db, &f).await?;
        let pages = ((total + guest_db::PAGE_SIZE - 1) / guest_db::PAGE_SIZE).max(1);
        f.page = f.page.min(pages - 1);
        Ok(Self {
            rows,
            total,
            page: f.page,
            pages,
            status: f.status.unwrap_or_default(),
            q: f.search.unwrap_or_default(),
            sort: f.sort.as_str(),
            base,
        })
    }
    /// A link to another page of the same list (query values are URL-encoded).
    pub fn status_is(&self, s: &str) -> bool {
        self.status == s
    }
    pub fn sort_is(&self, s: &str) -> bool {
        self.sort == s
    }
    pub fn page_link(&self, page: i64) -> String {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("status", &self.status)
            .append_pair("q", &self.q)
            .append_pair("sort", self.sort)
            .append_pair("page", &page.to_string())
            .finish();
        format!("{}?{q}", self.base)
    }
    pub fn has_prev(&self) -> bool {
        self.page > 0
    }
    pub fn has_next(&self) -> bool {
        self.page + 1 < self.pages
    }
    pub fn prev(&self) -> i64 {
        self.page - 1
    }
    pub fn next(&self) -> i64 {
        self.page + 1
    }
    pub fn shown_page(&self) -> i64 {
        self.page + 1
    }
}

#[derive(Template)]
#[template(path = "staff/channel.html")]
struct ChannelPage {
    ctx: Ctx,
    channel: Channel,
    messages: Vec<crate::messages::store::Message>,
    draft: String,
    list: GuestList,
    form: GuestForm,
    edit: ChannelForm,
    errors: Errors,
    bulk_errors: Vec<String>,
    notice: Option<String>,
    default_expiry: String,
    max_expiry: String,
}

impl ChannelPage {
    fn error_for(&self, f: &str) -> Option<String> {
        error_for(&self.errors, f)
    }
    fn day(&self, t: &i64) -> String {
        guests::last_day(*t)
    }
    fn is_default_permission(&self, p: &str) -> bool {
        p == "post"
    }
    fn kind_chosen(&self, k: &str) -> bool {
        self.form.kind == k
    }
    fn permission_chosen(&self, p: &str) -> bool {
        self.form.permission == p || (self.form.permission.is_empty() && p == "post")
    }
    fn kinds(&self) -> Vec<(&'static str, String)> {
        Kind::ALL
            .iter()
            .map(|k| (k.as_str(), self.ctx.t(&format!("kind-{k}"))))
            .collect()
    }
    fn permissions(&self) -> Vec<(&'static str, String)> {
        Permission::ALL
            .iter()
            .map(|p| (p.as_str(), self.ctx.t(&format!("permission-{p}"))))
            .collect()
    }
    fn status_label(&self, g: &Guest) -> String {
        self.ctx.t(&format!("guest-status-{}", g.display_status()))
    }
    fn guest_link(&self, g: &Guest) -> String {
        links::with(links::STAFF_GUEST, "guest", &g.account_id)
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct GuestForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    permission: String,
    #[serde(default)]
    expires_on: String,
    #[serde(default)]
    delivery: String,
}

fn default_expiry(state: &AppState, channel: &Channel) -> (String, String) {
    let now = state.now();
    let default = (now + state.config.guest_default_days * 86_400).min(channel.ends_at);
    let max = (now + state.config.guest_max_days * 86_400).min(channel.ends_at);
    (guests::last_day(default + 1), guests::last_day(max + 1))
}

/// The channel page again, showing form errors.
async fn error_page(
    state: &AppState,
    ctx: Ctx,
    user: &StaffUser,
    channel: Channel,
    errors: Errors,
) -> AppResult<ChannelPage> {
    channel_page(
        state,
        ctx,
        user,
        channel,
        &ListQuery::default(),
        GuestForm::default(),
        errors,
        vec![],
        None,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn channel_page(
    state: &AppState,
    ctx: Ctx,
    user: &StaffUser,
    channel: Channel,
    query: &ListQuery,
    form: GuestForm,
    errors: Errors,
    bulk_errors: Vec<String>,
    notice: Option<String>,
) -> AppResult<ChannelPage> {
    let mut filter = query.filter();
    filter.channel_id = Some(channel.channel_id.clone());
    let base = links::with(links::STAFF_CHANNEL, "channel", &channel.channel_id);
    let list = GuestList::load(state, filter, base).await?;
    let (default_expiry, max_expiry) = default_expiry(state, &channel);
    let edit = ChannelForm {
        name: channel.name.clone(),
        purpose: channel.purpose.clone(),
        department_id: channel.department_id.clone(),
        ends_on: guests::last_day(channel.ends_at),
    };
    Ok(ChannelPage {
        ctx: with_user(ctx, user),
        messages: crate::messages::store::recent(
            &state.db,
            &channel.channel_id,
            crate::guests::pages::guest::MESSAGES_SHOWN,
        )
        .await?,
        draft: String::new(),
        channel,
        list,
        form,
        edit,
        errors,
        bulk_errors,
        notice,
        default_expiry,
        max_expiry,
    })
}

async fn channel_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(channel): Path<String>,
    Query(query): Query<ListQuery>,
) -> AppResult<Response> {
    let channel = staff_channel_scope(&state, &ctx, &user, &channel).await?;
    let ev = Event::new(user.actor(), "channel.view", Outcome::Success)
        .in_channel(channel.channel_id.clone());
    audit::record_alone(&state.db, state.now(), &ctx.source, &ev).await?;
    let notice = session.remove::<String>("notice").await?.map(|k| ctx.t(&k));
    let page = channel_page(
        &state,
        ctx,
        &user,
        channel,
        &query,
        GuestForm::default(),
        vec![],
        vec![],
        notice,
    )
    .await?;
    render(&page)
}

async fn channel_edit_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(channel): Path<String>,
    Form(form): Form<ChannelForm>,
) -> AppResult<Response> {
    let channel = staff_channel_scope(&state, &ctx, &user, &channel).await?;
    if !channel.is_active() {
        return Err(AppError::NotFound);
    }
    let now = state.now();
    let mut errors = vec![];
    // The owning department does not change here.
    let mut form = form;
    form.department_id = channel.department_id.clone();
    let as_admin = StaffUser {
        role: crate::clerks::Role::Admin,
        ..user.clone()
    };
    if let Some((name, purpose, _, ends_at)) =
        check_channel(&ctx, &as_admin, &form, now, &mut errors)
    {
        let mut tx = state.db.begin().await?;
        channels::update(&mut tx, &channel.channel_id, &name, &purpose, ends_at).await?;
        // No guest may outlast the channel (D5): an earlier end shortens their access too.
        let shortened = sqlx::query(
            "update guest set expires_at = $1 where channel_id = $2 and expires_at > $1",
        )
        .bind(ends_at)
        .bind(&channel.channel_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let ev = Event::new(user.actor(), "channel.edit", Outcome::Success)
            .target(&channel.channel_id)
            .detail(format!("ends_at={ends_at}; guests shortened: {shortened}"))
            .in_channel(channel.channel_id.clone());
        audit::record(&mut tx, now, &ctx.source, &ev).await?;
        tx.commit().await?;
        session.insert("notice", "channel-saved").await?;
        return Ok(Redirect::to(ctx.path.trim_end_matches("/edit")).into_response());
    }
    let mut page = error_page(&state, ctx, &user, channel, errors).await?;
    page.edit = form;
    render_invalid(&page)
}

async fn message_post(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path(channel): Path<String>,
    Form(form): Form<crate::guests::pages::guest::MessageForm>,
) -> AppResult<Response> {
    let channel = staff_channel_scope(&state, &ctx, &user, &channel).await?;
    if !channel.is_active() {
        return Err(AppError::NotFound);
    }
    let body = match text_field(form.body(), crate::guests::pages::guest::MESSAGE_MAX, true) {
        Ok(b) => b,
        Err(key) => {
            let errors = vec![("body".to_string(), ctx.t(key))];
            let mut page = error_page(&state, ctx, &user, channel, errors).await?;
            page.draft = form
                .body()
                .chars()
                .take(crate::guests::pages::guest::MESSAGE_MAX * 2)
                .collect();
            return render_invalid(&page);
        }
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let id =
        crate::messages::store::insert(&mut tx, &channel.channel_id, &user.account_id, &body, now)
            .await?;
    let ev = Event::new(user.actor(), "message.post", Outcome::Success)
        .target(id)
        .in_channel(channel.channel_id.clone());
    audit::record(&mut tx, now, &ctx.source, &ev).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!(
        "{}#latest",
        links::with(links::STAFF_CHANNEL, "channel", &channel.channel_id)
    ))
    .into_response())
}

#[derive(Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
}

impl ReasonForm {
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Reads the reason every ending action asks for; it is kept in the audit trail.
pub fn reason(ctx: &Ctx, form_reason: &str) -> Result<String, String> {
    text_field(form_reason, REASON_MAX, true).map_err(|k| ctx.t(k))
}

/// Ends every live guest of a channel, inside the caller's transaction.
async fn end_all_guests(
    tx: &mut Tx,
    channel: &Channel,
    user: &StaffUser,
    why: &str,
    source: &crate::audit::Source,
    now: i64,
) -> AppResult<usize> {
    let mut n = 0;
    for id in guest_db::live_in_channel(tx, &channel.channel_id).await? {
        if let Some(g) = guest_db::get(tx, &id).await?
            && guests::end(tx, &g, "revoked", user.actor(), why, source, now).await?
        {
            n += 1;
        }
    }
    Ok(n)
}

async fn channel_action(
    state: &AppState,
    ctx: Ctx,
    session: &Session,
    user: StaffUser,
    channel: String,
    form: ReasonForm,
    archive: bool,
) -> AppResult<Response> {
    let channel = staff_channel_scope(state, &ctx, &user, &channel).await?;
    if !channel.is_active() {
        return Err(AppError::NotFound);
    }
    let why = match reason(&ctx, &form.reason) {
        Ok(r) => r,
        Err(msg) => {
            let page = error_page(
                state,
                ctx,
                &user,
                channel,
                vec![(if archive { "archive" } else { "revoke_all" }.into(), msg)],
            )
            .await?;
            return render_invalid(&page);
        }
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let ended = end_all_guests(&mut tx, &channel, &user, &why, &ctx.source, now).await?;
    if archive {
        channels::archive(&mut tx, &channel.channel_id, now).await?;
    }
    let ev = Event::new(
        user.actor(),
        if archive {
            "channel.archive"
        } else {
            "channel.revoke_all"
        },
        Outcome::Success,
    )
    .target(&channel.channel_id)
    .detail(format!("reason: {why}; guests ended: {ended}"))
    .in_channel(channel.channel_id.clone());
    audit::record(&mut tx, now, &ctx.source, &ev).await?;
    tx.commit().await?;
    session
        .insert(
            "notice",
            if archive {
                "channel-archived"
            } else {
                "channel-revoked-all"
            },
        )
        .await?;
    Ok(Redirect::to(&links::with(
        links::STAFF_CHANNEL,
        "channel",
        &channel.channel_id,
    ))
    .into_response())
}

async fn archive_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(channel): Path<String>,
    Form(form): Form<ReasonForm>,
) -> AppResult<Response> {
    channel_action(&state, ctx, &session, user, channel, form, true).await
}

async fn revoke_all_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(channel): Path<String>,
    Form(form): Form<ReasonForm>,
) -> AppResult<Response> {
    channel_action(&state, ctx, &session, user, channel, form, false).await
}

/// A guest's details, checked: what the issue form and each CSV row must satisfy.
struct CheckedGuest {
    name: String,
    organisation: String,
    kind: Kind,
    email: Option<String>,
    permission: Permission,
    expires_at: i64,
}

impl CheckedGuest {
    fn input(&self) -> GuestInput<'_> {
        GuestInput {
            name: &self.name,
            organisation: &self.organisation,
            kind: self.kind,
            email: self.email.as_deref(),
            permission: self.permission,
            expires_at: self.expires_at,
        }
    }
}

fn check_guest(
    ctx: &Ctx,
    state: &AppState,
    channel: &Channel,
    form: &GuestForm,
    need_email: bool,
    errors: &mut Errors,
) -> Option<CheckedGuest> {
    let name = PersonName::parse(&form.name)
        .map(|n| n.as_str().to_string())
        .map_err(|k| errors.push(("name".into(), ctx.t(k))))
        .ok();
    let organisation = text_field(&form.organisation, guests::ORGANISATION_MAX, false)
        .map_err(|k| errors.push(("organisation".into(), ctx.t(k))))
        .ok();
    let kind = form.kind.parse::<Kind>().ok();
    if kind.is_none() {
        errors.push(("kind".into(), ctx.t("form-choose")));
    }
    let permission = form.permission.parse::<Permission>().ok();
    if permission.is_none() {
        errors.push(("permission".into(), ctx.t("form-choose")));
    }
    let email = if form.email.trim().is_empty() {
        let resident = form.kind == "resident";
        if need_email || !resident {
            errors.push(("email".into(), ctx.t("guest-email-required")));
        }
        None
    } else {
        match Email::parse(&form.email) {
            Ok(e) => Some(e.as_str().to_string()),
            Err(k) => {
                errors.push(("email".into(), ctx.t(k)));
                None
            }
        }
    };
    let now = state.now();
    let expires_at = match guests::end_of_day(&form.expires_on) {
        None => {
            errors.push(("expires_on".into(), ctx.t("form-date-invalid")));
            None
        }
        Some(t) => match guests::check_expiry(t, now, channel.ends_at, state.config.guest_max_days)
        {
            Ok(()) => Some(t),
            Err(k) => {
                errors.push((
                    "expires_on".into(),
                    ctx.t_with(k, [("max", state.config.guest_max_days.to_string())]),
                ));
                None
            }
        },
    };
    let email_ok = !errors.iter().any(|(f, _)| f == "email");
    if !email_ok {
        return None;
    }
    Some(CheckedGuest {
        name: name?,
        organisation: organisation?,
        kind: kind?,
        email,
        permission: permission?,
        expires_at: expires_at?,
    })
}

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
        expires_on: guests::last_day(guest.expires_at),
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
    let mut conn = state.db.pool.acquire().await?;
    let guest = guest_db::get(&mut conn, guest_id)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    if print || guest.email().is_none() {
        return print_sheet(state, ctx, guest, link);
    }
    let email = guest.email().unwrap_or_default().to_string();
    let mail = guests::invitation_mail(state, &guest, &email, &link)?;
    let notice = match state.mailer.send(&mail).await {
        Ok(()) => "guest-invitation-mailed",
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "invitation not sent");
            "guest-invitation-mail-failed"
        }
    };
    session.insert("notice", notice).await?;
    Ok(Redirect::to(&links::with(links::STAFF_GUEST, "guest", guest_id)).into_response())
}

async fn guest_new_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(channel): Path<String>,
    Form(form): Form<GuestForm>,
) -> AppResult<Response> {
    let channel = staff_channel_scope(&state, &ctx, &user, &channel).await?;
    if !channel.is_active() {
        return Err(AppError::NotFound);
    }
    let print = form.delivery == "print";
    let mut errors = vec![];
    if let Some(g) = check_guest(&ctx, &state, &channel, &form, !print, &mut errors) {
        let mut tx = state.db.begin().await?;
        let issued = guests::issue(
            &mut tx,
            &state,
            &user.account_id,
            &ctx.source,
            &channel,
            &g.input(),
        )
        .await?;
        match issued {
            Ok(issued) => {
                tx.commit().await?;
                return deliver(
                    &state,
                    ctx,
                    &session,
                    &issued.account_id,
                    issued.link,
                    print,
                )
                .await;
            }
            Err(key) => errors.push(("email".into(), ctx.t(key))),
        }
    }
    let mut shown = form.clone();
    for f in [&mut shown.name, &mut shown.organisation, &mut shown.email] {
        *f = f.chars().take(300).collect();
    }
    let page = channel_page(
        &state,
        ctx,
        &user,
        channel,
        &ListQuery::default(),
        shown,
        errors,
        vec![],
        None,
    )
    .await?;
    render_invalid(&page)
}

/// The rows of an uploaded CSV file: UTF-8 (with or without BOM) or Shift_JIS as saved by
/// spreadsheet programs; an optional header row is skipped.
pub fn csv_rows(bytes: &[u8]) -> Result<Vec<Vec<String>>, String> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.trim_start_matches('\u{feff}').to_string(),
        Err(_) => {
            let (decoded, _, bad) = encoding_rs::SHIFT_JIS.decode(bytes);
            if bad {
                return Err("encoding".into());
            }
            decoded.into_owned()
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = vec![];
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        let row: Vec<String> = record.iter().map(|c| c.trim().to_string()).collect();
        if row.iter().all(String::is_empty) {
            continue;
        }
        rows.push(row);
    }
    if rows.first().is_some_and(|first| is_header(first)) {
        rows.remove(0);
    }
    Ok(rows)
}

/// Column titles a header row may use. A first row is a header only when every cell is one of
/// these: a data row that merely mentions "name" (`kaname@…`, "Rename Clinic") is kept.
const CSV_TITLES: &[&str] = &[
    "name",
    "full name",
    "氏名",
    "名前",
    "お名前",
    "organisation",
    "organization",
    "所属",
    "組織",
    "所属先",
    "email",
    "e-mail",
    "mail",
    "メール",
    "メールアドレス",
];

fn is_header(row: &[String]) -> bool {
    row.iter()
        .filter(|c| !c.is_empty())
        .all(|c| CSV_TITLES.contains(&c.to_lowercase().as_str()))
}

#[cfg(test)]
mod csv_tests {
    use super::csv_rows;

    #[test]
    fn a_header_row_of_column_titles_is_skipped() {
        let rows = csv_rows("氏名,所属,メール\n医師 一,市立病院,one@example.jp\n".as_bytes())
            .expect("rows");
        assert_eq!(rows.len(), 1);
        let rows = csv_rows(b"Name,Organisation,E-mail\nA B,C,a@example.jp\n").expect("rows");
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn a_first_data_row_that_mentions_name_or_mail_is_kept() {
        let rows = csv_rows(
            "要 太郎,Rename Clinic,kaname@example.jp\nメール 花子,市立病院,h@example.jp\n"
                .as_bytes(),
        )
        .expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][2], "kaname@example.jp");
    }
}

pub const BULK_MAX_ROWS: usize = 500;
const BULK_MAX_BYTES: usize = 512 * 1024;

async fn bulk_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(channel): Path<String>,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let channel = staff_channel_scope(&state, &ctx, &user, &channel).await?;
    if !channel.is_active() {
        return Err(AppError::NotFound);
    }
    let mut common = GuestForm::default();
    let mut file: Option<Vec<u8>> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| AppError::BadRequest)?
    {
        let name = field.name().unwrap_or("").to_string();
        let bytes = field.bytes().await.map_err(|_| AppError::BadRequest)?;
        if bytes.len() > BULK_MAX_BYTES {
            return Err(AppError::BadRequest);
        }
        // The edge check (E9) cannot read a streamed body: the upload's own text fields get it
        // here, and the file's cells get it in the field checks of each row.
        if name != "file"
            && !std::str::from_utf8(&bytes).is_ok_and(|s| crate::text::is_clean(s, false))
        {
            return Err(AppError::InvalidInput);
        }
        let text = || {
            String::from_utf8_lossy(&bytes)
                .chars()
                .take(100)
                .collect::<String>()
        };
        match name.as_str() {
            "file" => file = Some(bytes.to_vec()),
            "kind" => common.kind = text(),
            "permission" => common.permission = text(),
            "expires_on" => common.expires_on = text(),
            _ => {}
        }
    }
    let mut problems: Vec<String> = vec![];
    let rows = match file.as_deref().map(csv_rows) {
        None | Some(Ok(_)) if file.as_deref().is_none_or(<[u8]>::is_empty) => {
            problems.push(ctx.t("bulk-no-file"));
            vec![]
        }
        Some(Ok(rows)) => rows,
        Some(Err(_)) | None => {
            problems.push(ctx.t("bulk-unreadable"));
            vec![]
        }
    };
    if rows.is_empty() && problems.is_empty() {
        problems.push(ctx.t("bulk-empty"));
    }
    if rows.len() > BULK_MAX_ROWS {
        problems.push(ctx.t_with("bulk-too-many", [("max", BULK_MAX_ROWS.to_string())]));
    }
    let mut checked = vec![];
    let mut seen = std::collections::HashSet::new();
    if problems.is_empty() {
        for (i, row) in rows.iter().enumerate() {
            let line = (i + 1).to_string();
            let form = GuestForm {
                name: row.first().cloned().unwrap_or_default(),
                organisation: row.get(1).cloned().unwrap_or_default(),
                email: row.get(2).cloned().unwrap_or_default(),
                ..common.clone()
            };
            let mut errors = vec![];
            if row.len() < 3 {
                problems.push(ctx.t_with("bulk-row-columns", [("row", line.clone())]));
                continue;
            }
            match check_guest(&ctx, &state, &channel, &form, true, &mut errors) {
                Some(g) if errors.is_empty() => {
                    let email = g.email.clone().unwrap_or_default();
                    // Checked before anything is written: on PostgreSQL a failed insert would
                    // abort the whole transaction.
                    let mut conn = state.db.pool.acquire().await?;
                    let taken =
                        guest_db::name_live_in_channel(&mut conn, &channel.channel_id, &email)
                            .await?;
                    drop(conn);
                    if taken {
                        problems.push(ctx.t_with(
                            "bulk-row-problem",
                            [("row", line), ("problem", ctx.t("form-email-taken"))],
                        ));
                    } else if !seen.insert(email.clone()) {
                        problems.push(ctx.t_with(
                            "bulk-row-problem",
                            [("row", line), ("problem", ctx.t("bulk-duplicate"))],
                        ));
                    } else {
                        checked.push(g);
                    }
                }
                _ => {
                    for (field, msg) in errors {
                        let label = ctx.t(&format!("bulk-field-{field}"));
                        problems.push(ctx.t_with(
                            "bulk-row-problem",
                            [
                                ("row", line.clone()),
                                ("problem", format!("{label}: {msg}")),
                            ],
                        ));
                    }
                }
            }
        }
    }
    // Nothing is issued unless every row is right.
    if problems.is_empty() {
        let mut tx = state.db.begin().await?;
        let mut issued = vec![];
        for (i, g) in checked.iter().enumerate() {
            match guests::issue(
                &mut tx,
                &state,
                &user.account_id,
                &ctx.source,
                &channel,
                &g.input(),
            )
            .await?
            {
                Ok(done) => issued.push(done),
                Err(key) => {
                    // The transaction is spent (PostgreSQL aborts it): stop and report.
                    problems.push(ctx.t_with(
                        "bulk-row-problem",
                        [("row", (i + 1).to_string()), ("problem", ctx.t(key))],
                    ));
                    break;
                }
            }
        }
        if problems.is_empty() {
            tx.commit().await?;
            let mut failed = 0;
            for done in &issued {
                let mut conn = state.db.pool.acquire().await?;
                let guest = guest_db::get(&mut conn, &done.account_id).await?;
                drop(conn);
                if let Some(g) = guest {
                    let mail = guests::invitation_mail(&state, &g, &done.sign_in_name, &done.link)?;
                    if state.mailer.send(&mail).await.is_err() {
                        failed += 1;
                    }
                }
            }
            let notice = if failed == 0 {
                "bulk-done"
            } else {
                "bulk-done-mail-failed"
            };
            session.insert("notice", notice).await?;
            return Ok(Redirect::to(&links::with(
                links::STAFF_CHANNEL,
                "channel",
                &channel.channel_id,
            ))
            .into_response());
        }
    }
    let page = channel_page(
        &state,
        ctx,
        &user,
        channel,
        &ListQuery::default(),
        GuestForm::default(),
        vec![],
        problems,
        None,
    )
    .await?;
    render_invalid(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_in_shift_jis_with_a_header_row_is_read() {
        let text = "氏名,所属,メール\r\n山田 太郎,市立病院,taro@hospital.example.jp\r\n";
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        let rows = csv_rows(&sjis).expect("rows");
        assert_eq!(
            rows,
            vec![vec!["山田 太郎", "市立病院", "taro@hospital.example.jp"]]
        );
        let bom = format!("\u{feff}{text}");
        assert_eq!(csv_rows(bom.as_bytes()).expect("rows").len(), 1);
    }

    #[test]
    fn quoted_fields_keep_their_commas() {
        let rows =
            csv_rows(b"\"Sato, Hanako\",\"School, North\",h@school.example.jp\n").expect("r");
        assert_eq!(rows[0][0], "Sato, Hanako");
        assert_eq!(rows[0][1], "School, North");
    }
}
