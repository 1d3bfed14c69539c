//! The staff console's channels: create, edit, archive, revoke all guests, issue guests one by
//! one (e-mail or printed sheet) or from a CSV file (`invite`).

pub mod invite;
pub mod page;
pub mod tasks;

use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tower_sessions::Session;

use crate::accounts::StaffUser;
use crate::app::AppState;
use crate::channels::store::{self as channels, Channel};
use crate::channels::{self as ops, ChannelInput, NAME_MAX, PURPOSE_MAX};
use crate::clock::end_of_day;
use crate::guests::pages::list::ListQuery;
use crate::links;
use crate::messages::{self, Body};
use crate::web::ctx::{Ctx, render, render_invalid};
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{take, with_user};
use crate::web::guard::{self, GuardRejection, admit_staff, staff_session};
use crate::web::routes::Routes;
use page::{ChannelForm, Errors, channel_page, error_page, staff_channel_scope};

pub fn router() -> Routes {
    Routes::new()
        .route(links::STAFF_CHANNELS, get(channels_get).post(channels_post))
        .route(links::STAFF_CHANNEL, get(channel_get))
        .route(links::STAFF_CHANNEL_MESSAGES, post(message_post))
        .merge(invite::router())
        .merge(tasks::router())
}

#[derive(Template)]
#[template(path = "staff/channels.html")]
struct ChannelsPage {
    ctx: Ctx,
    channels: Vec<Channel>,
    /// Unread messages per active channel, for this clerk.
    unread: std::collections::HashMap<String, i64>,
    departments: Vec<crate::clerks::store::Department>,
    form: ChannelForm,
    errors: Errors,
}

impl ChannelsPage {
    fn unread_of(&self, channel_id: &str) -> i64 {
        self.unread.get(channel_id).copied().unwrap_or(0)
    }
    fn error_for(&self, f: &str) -> Option<String> {
        crate::web::ctx::field_error(&self.errors, f)
    }
    fn attrs(&self, f: &str, hint: bool) -> String {
        crate::web::ctx::field_attrs(&self.errors, f, hint)
    }
    fn day(&self, t: &i64) -> String {
        self.ctx.last_day(t)
    }
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
    let unread = messages::unread_counts(state, &user.account_id, dept.as_deref())
        .await?
        .into_iter()
        .map(|u| (u.channel_id, u.unread))
        .collect();
    Ok(ChannelsPage {
        ctx: with_user(ctx, user),
        unread,
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
pub(super) fn check_channel(
    ctx: &Ctx,
    user: &StaffUser,
    form: &ChannelForm,
    now: i64,
    errors: &mut Errors,
) -> Option<ChannelInput> {
    let name = crate::text::field(&form.name, NAME_MAX, false)
        .map_err(|k| errors.push(("channel_name".into(), ctx.t(k))))
        .ok();
    let purpose = crate::text::field(&form.purpose, PURPOSE_MAX, true)
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
    let ends_at = match end_of_day(&form.ends_on) {
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
    Some(ChannelInput {
        name: name?,
        purpose: purpose?,
        department_id: department?,
        ends_at: ends_at?,
    })
}

async fn channels_post(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Form(form): Form<ChannelForm>,
) -> AppResult<Response> {
    let now = state.now();
    let mut errors = vec![];
    if let Some(input) = check_channel(&ctx, &user, &form, now, &mut errors) {
        if let Some(id) = ops::create(&state, &user, &ctx.source, &input).await? {
            return Ok(Redirect::to(&links::staff_channel(&id)).into_response());
        }
        errors.push(("department_id".into(), ctx.t("form-department-required")));
    }
    let mut shown = form.clone();
    shown.name = shown.name.chars().take(NAME_MAX * 2).collect();
    shown.purpose = shown.purpose.chars().take(PURPOSE_MAX * 2).collect();
    render_invalid(&channels_page(&state, ctx, &user, shown, errors).await?)
}

/// A clerk and the channel their request's path names, read with their login in one query
/// (`channels::login_viewing`): the clerk's channel page. The login is checked and admitted
/// exactly as for every clerk's page; whether the clerk may see the channel is decided after
/// (`channels::viewed_by_clerk`).
struct StaffViewing {
    user: StaffUser,
    viewed: Option<ops::Viewed>,
}

impl FromRequestParts<AppState> for StaffViewing {
    type Rejection = GuardRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (session, login_id) = staff_session(parts, state).await?;
        let Path(channel) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::NotFound)?;
        let source = guard::source(parts);
        let (checked, viewed) =
            ops::login_viewing(state, &source, &login_id, &channel, parts.uri.path()).await?;
        let user = admit_staff(parts, checked, &session, &login_id).await?;
        Ok(StaffViewing { user, viewed })
    }
}

async fn channel_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    StaffViewing { user, viewed }: StaffViewing,
    Path(channel): Path<String>,
    Query(query): Query<ListQuery>,
) -> AppResult<Response> {
    let viewed =
        ops::viewed_by_clerk(&state, &user, &ctx.source, &channel, &ctx.path, viewed).await?;
    let channel = viewed.channel;
    let seen = messages::Seen {
        version: viewed.version,
        mark: viewed.read_mark,
    };
    ops::record_view(&state, user.actor(), &ctx.source, &channel.channel_id).await?;
    let notice = told(&session, &ctx).await?;
    let page = channel_page(
        &state,
        ctx,
        &user,
        channel,
        Some(seen),
        &query,
        vec![],
        notice,
    )
    .await?;
    render(&page)
}

async fn message_post(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path(channel): Path<String>,
    Form(form): Form<crate::web::forms::MessageForm>,
) -> AppResult<Response> {
    let channel = staff_channel_scope(&state, &ctx, &user, &channel).await?;
    if !channel.is_active() {
        return Err(AppError::NotFound);
    }
    let body = match Body::parse(form.body()) {
        Ok(b) => b,
        Err(key) => {
            let errors = vec![("body".to_string(), ctx.t(key))];
            let mut page = error_page(&state, ctx, &user, channel, errors).await?;
            page.draft = form.body().chars().take(messages::BODY_MAX * 2).collect();
            return render_invalid(&page);
        }
    };
    let ack = if form.asks_ack() {
        let due = if form.due().is_empty() {
            None
        } else {
            match end_of_day(form.due()) {
                Some(t) if t > state.now() => Some(t),
                _ => {
                    let errors = vec![("due".to_string(), ctx.t("form-date-invalid"))];
                    let mut page = error_page(&state, ctx, &user, channel, errors).await?;
                    page.draft = form.body().to_string();
                    return render_invalid(&page);
                }
            }
        };
        Some(messages::AckRequest { due })
    } else {
        None
    };
    if let Err(refused) = messages::post_asking(
        &state,
        &ctx.source,
        user.actor(),
        &user.account_id,
        &channel.channel_id,
        &body,
        ack,
    )
    .await?
    {
        let errors = vec![(
            "body".to_string(),
            crate::web::forms::refusal(&ctx, &refused),
        )];
        let mut page = error_page(&state, ctx, &user, channel, errors).await?;
        page.draft = form.body().to_string();
        return render_invalid(&page);
    }
    Ok(Redirect::to(&format!(
        "{}#latest",
        links::staff_channel(&channel.channel_id)
    ))
    .into_response())
}

/// Leaves a notice for the next page: a locale key and the number of people it concerns.
pub(super) async fn tell(session: &Session, key: &str, count: usize) -> AppResult<()> {
    session.insert("notice", key).await?;
    session.insert("notice_count", count).await?;
    Ok(())
}

/// The notice the previous action left, in the reader's language.
async fn told(session: &Session, ctx: &Ctx) -> AppResult<Option<String>> {
    let count = take::<usize>(session, "notice_count")
        .await?
        .unwrap_or_default();
    Ok(take::<String>(session, "notice")
        .await?
        .map(|k| ctx.t_with(&k, [("count", count.to_string())])))
}
