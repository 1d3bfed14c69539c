//! Issuing guests into a channel, each way on a page of its own: one by one (by mail or a
//! printed sheet) or from a CSV file, all or nothing.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tower_sessions::Session;

use super::page::{Errors, GuestForm, default_expiry};
use super::tasks::active_channel;
use crate::accounts::StaffUser;
use crate::app::AppState;
use crate::channels::store::Channel;
use crate::clerks::{Email, PersonName};
use crate::clock::end_of_day;
use crate::guests::issue::AddressTaken;
use crate::guests::pages::sheet::deliver;
use crate::guests::store as guest_db;
use crate::guests::{self, GuestInput, Kind, Permission, csv, issue};
use crate::i18n::Lang;
use crate::links;
use crate::web::ctx::{Ctx, field_attrs, field_error, render, render_invalid};
use crate::web::error::{AppError, AppResult};
use crate::web::forms::with_user;
use crate::web::routes::Routes;

pub fn router() -> Routes {
    Routes::new()
        .route(
            links::STAFF_CHANNEL_GUEST_NEW,
            get(guest_new_get).post(guest_new_post),
        )
        .route(
            links::STAFF_CHANNEL_GUEST_BULK,
            get(bulk_get)
                .post(bulk_post)
                .layer(axum::extract::DefaultBodyLimit::max(
                    BULK_MAX_BYTES + 16 * 1024,
                )),
        )
}

/// The kinds and permissions the issue and import forms offer, labelled in the reader's language.
struct Choices {
    kinds: Vec<(&'static str, String)>,
    permissions: Vec<(&'static str, String)>,
}

impl Choices {
    fn new(ctx: &Ctx) -> Self {
        Self {
            kinds: Kind::ALL
                .iter()
                .map(|k| (k.as_str(), ctx.t(&format!("kind-{k}"))))
                .collect(),
            permissions: Permission::ALL
                .iter()
                .map(|p| (p.as_str(), ctx.t(&format!("permission-{p}"))))
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "staff/guest_new.html")]
struct GuestNewPage {
    ctx: Ctx,
    channel: Channel,
    form: GuestForm,
    errors: Errors,
    choices: Choices,
    default_expiry: String,
    max_expiry: String,
}

impl GuestNewPage {
    fn new(state: &AppState, ctx: Ctx, user: &StaffUser, channel: Channel) -> Self {
        let (default_expiry, max_expiry) = default_expiry(state, &channel);
        Self {
            choices: Choices::new(&ctx),
            ctx: with_user(ctx, user),
            channel,
            form: GuestForm::default(),
            errors: vec![],
            default_expiry,
            max_expiry,
        }
    }
    fn error_for(&self, f: &str) -> Option<String> {
        field_error(&self.errors, f)
    }
    fn attrs(&self, f: &str, hint: bool) -> String {
        field_attrs(&self.errors, f, hint)
    }
}

#[derive(Template)]
#[template(path = "staff/guest_bulk.html")]
struct BulkPage {
    ctx: Ctx,
    channel: Channel,
    form: GuestForm,
    /// What is wrong with the file, by line; nothing was issued when there is any.
    problems: Vec<String>,
    choices: Choices,
    default_expiry: String,
    max_expiry: String,
}

impl BulkPage {
    fn new(state: &AppState, ctx: Ctx, user: &StaffUser, channel: Channel) -> Self {
        let (default_expiry, max_expiry) = default_expiry(state, &channel);
        Self {
            choices: Choices::new(&ctx),
            ctx: with_user(ctx, user),
            channel,
            form: GuestForm::default(),
            problems: vec![],
            default_expiry,
            max_expiry,
        }
    }
}

async fn guest_new_get(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path(channel): Path<String>,
) -> AppResult<Response> {
    let channel = active_channel(&state, &ctx, &user, &channel).await?;
    render(&GuestNewPage::new(&state, ctx, &user, channel))
}

async fn bulk_get(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path(channel): Path<String>,
) -> AppResult<Response> {
    let channel = active_channel(&state, &ctx, &user, &channel).await?;
    render(&BulkPage::new(&state, ctx, &user, channel))
}

/// A guest's details, checked: what the issue form and each CSV row must satisfy.
struct CheckedGuest {
    name: String,
    organisation: String,
    kind: Kind,
    email: Option<String>,
    permission: Permission,
    expires_at: i64,
    lang: Lang,
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
            lang: self.lang,
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
    let organisation = crate::text::field(&form.organisation, guests::ORGANISATION_MAX, false)
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
    let expires_at = match end_of_day(&form.expires_on) {
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
        lang: Lang::parse(&form.lang).unwrap_or(Lang::Ja),
    })
}

async fn guest_new_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(channel): Path<String>,
    Form(form): Form<GuestForm>,
) -> AppResult<Response> {
    let channel = active_channel(&state, &ctx, &user, &channel).await?;
    let print = form.delivery == "print";
    let mut errors = vec![];
    if let Some(g) = check_guest(&ctx, &state, &channel, &form, !print, &mut errors) {
        match issue::invite_one(&state, &user, &ctx.source, &channel, &g.input()).await? {
            Ok(issued) => {
                return deliver(&state, &session, &issued.account_id, issued.link, print).await;
            }
            Err(AddressTaken) => errors.push(("email".into(), ctx.t("form-email-taken"))),
        }
    }
    let mut shown = form.clone();
    for f in [&mut shown.name, &mut shown.organisation, &mut shown.email] {
        *f = f.chars().take(300).collect();
    }
    let mut page = GuestNewPage::new(&state, ctx, &user, channel);
    page.form = shown;
    page.errors = errors;
    render_invalid(&page)
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
    let channel = active_channel(&state, &ctx, &user, &channel).await?;
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
            "lang" => common.lang = text(),
            _ => {}
        }
    }
    let mut problems: Vec<String> = vec![];
    let rows = match file.as_deref().map(csv::numbered_rows) {
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
        for (line, row) in &rows {
            let line = line.to_string();
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
        let inputs: Vec<_> = checked.iter().map(CheckedGuest::input).collect();
        match issue::invite_many(&state, &user, &ctx.source, &channel, &inputs).await? {
            Ok(failed) => {
                let notice = if failed == 0 {
                    "bulk-done"
                } else {
                    "bulk-done-mail-failed"
                };
                super::tell(&session, notice, inputs.len()).await?;
                return Ok(Redirect::to(&links::staff_channel(&channel.channel_id)).into_response());
            }
            Err((row, AddressTaken)) => {
                let line = rows.get(row - 1).map_or(row as u64, |(line, _)| *line);
                problems.push(ctx.t_with(
                    "bulk-row-problem",
                    [
                        ("row", line.to_string()),
                        ("problem", ctx.t("form-email-taken")),
                    ],
                ))
            }
        }
    }
    let mut page = BulkPage::new(&state, ctx, &user, channel);
    page.form = common;
    page.problems = problems;
    render_invalid(&page)
}
