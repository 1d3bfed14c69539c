//! The channel's tasks that have a page of their own: editing the channel, and the two endings
//! that cannot be undone (every guest's access, the channel itself), which first say what will
//! happen and to how many people. A post that did not come from that page changes nothing.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tower_sessions::Session;

use super::check_channel;
use super::page::{ChannelForm, Errors, staff_channel_scope};
use crate::accounts::StaffUser;
use crate::app::AppState;
use crate::channels::store::Channel;
use crate::channels::{self as ops, NAME_MAX, PURPOSE_MAX};
use crate::clock::last_day;
use crate::guests::store as guest_db;
use crate::links;
use crate::web::confirm::ConfirmPage;
use crate::web::ctx::{Ctx, field_attrs, field_error, render, render_invalid};
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{ReasonForm, reason, with_user};
use crate::web::routes::Routes;

pub fn router() -> Routes {
    Routes::new()
        .route(links::STAFF_CHANNEL_EDIT, get(edit_get).post(edit_post))
        .route(
            links::STAFF_CHANNEL_ARCHIVE,
            get(archive_get).post(archive_post),
        )
        .route(
            links::STAFF_CHANNEL_REVOKE_ALL,
            get(revoke_all_get).post(revoke_all_post),
        )
}

/// The channel a clerk may manage, while it is still open.
pub async fn active_channel(
    state: &AppState,
    ctx: &Ctx,
    user: &StaffUser,
    channel: &str,
) -> AppResult<Channel> {
    let channel = staff_channel_scope(state, ctx, user, channel).await?;
    if !channel.is_active() {
        return Err(AppError::NotFound);
    }
    Ok(channel)
}

#[derive(Template)]
#[template(path = "staff/channel_edit.html")]
struct EditPage {
    ctx: Ctx,
    channel: Channel,
    edit: ChannelForm,
    errors: Errors,
}

impl EditPage {
    fn error_for(&self, f: &str) -> Option<String> {
        field_error(&self.errors, f)
    }
    fn attrs(&self, f: &str, hint: bool) -> String {
        field_attrs(&self.errors, f, hint)
    }
}

async fn edit_get(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path(channel): Path<String>,
) -> AppResult<Response> {
    let channel = active_channel(&state, &ctx, &user, &channel).await?;
    let edit = ChannelForm {
        name: channel.name.clone(),
        purpose: channel.purpose.clone(),
        department_id: channel.department_id.clone(),
        ends_on: last_day(channel.ends_at),
    };
    render(&EditPage {
        ctx: with_user(ctx, &user),
        channel,
        edit,
        errors: vec![],
    })
}

async fn edit_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(channel): Path<String>,
    Form(form): Form<ChannelForm>,
) -> AppResult<Response> {
    let channel = active_channel(&state, &ctx, &user, &channel).await?;
    let now = state.now();
    let mut errors = vec![];
    // The owning department does not change here.
    let mut form = form;
    form.department_id = channel.department_id.clone();
    let as_admin = StaffUser {
        role: crate::accounts::Role::Admin,
        ..user.clone()
    };
    if let Some(input) = check_channel(&ctx, &as_admin, &form, now, &mut errors) {
        ops::edit(&state, &user, &ctx.source, &channel, &input).await?;
        session.insert("notice", "channel-saved").await?;
        return Ok(Redirect::to(&links::staff_channel(&channel.channel_id)).into_response());
    }
    form.name = form.name.chars().take(NAME_MAX * 2).collect();
    form.purpose = form.purpose.chars().take(PURPOSE_MAX * 2).collect();
    render_invalid(&EditPage {
        ctx: with_user(ctx, &user),
        channel,
        edit: form,
        errors,
    })
}

/// What ending every guest's access (and, when archiving, the channel) will do.
async fn ending_page(
    state: &AppState,
    ctx: Ctx,
    user: &StaffUser,
    channel: &Channel,
    archive: bool,
    reason: String,
    errors: Errors,
) -> AppResult<Response> {
    let mut conn = state.db.pool.acquire().await?;
    let live = guest_db::live_in_channel(&mut conn, &channel.channel_id)
        .await?
        .len();
    drop(conn);
    let mut consequences = vec![ctx.t_with("confirm-guests-ended", [("count", live.to_string())])];
    let (heading, button, action) = if archive {
        consequences.push(ctx.t("confirm-archive-closed"));
        (
            "channel-archive-title",
            "channel-archive",
            links::staff_channel_archive(&channel.channel_id),
        )
    } else {
        consequences.push(ctx.t("confirm-revoke-all-open"));
        (
            "channel-revoke-all-title",
            "channel-revoke-all",
            links::staff_channel_revoke_all(&channel.channel_id),
        )
    };
    consequences.push(ctx.t("confirm-mail-none"));
    ConfirmPage {
        heading: format!("{} — {}", ctx.t(heading), channel.name),
        button: ctx.t(button),
        back_label: ctx.t("back-to-channel"),
        back: links::staff_channel(&channel.channel_id),
        ctx: with_user(ctx, user),
        consequences,
        action,
        reason,
        errors,
    }
    .respond()
}

async fn ending_get(
    state: AppState,
    ctx: Ctx,
    user: StaffUser,
    channel: String,
    archive: bool,
) -> AppResult<Response> {
    let channel = active_channel(&state, &ctx, &user, &channel).await?;
    ending_page(&state, ctx, &user, &channel, archive, String::new(), vec![]).await
}

async fn ending_post(
    state: AppState,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    channel: String,
    form: ReasonForm,
    archive: bool,
) -> AppResult<Response> {
    let channel = active_channel(&state, &ctx, &user, &channel).await?;
    let typed: String = form.reason().chars().take(1000).collect();
    if !form.confirmed() {
        return ending_page(&state, ctx, &user, &channel, archive, typed, vec![]).await;
    }
    let why = match reason(&ctx, form.reason()) {
        Ok(r) => r,
        Err(msg) => {
            let errors = vec![("reason".into(), msg)];
            return ending_page(&state, ctx, &user, &channel, archive, typed, errors).await;
        }
    };
    let ended = ops::end_all_guests(&state, &user, &ctx.source, &channel, &why, archive).await?;
    let notice = if archive {
        "channel-archived"
    } else {
        "channel-revoked-all"
    };
    super::tell(&session, notice, ended).await?;
    Ok(Redirect::to(&links::staff_channel(&channel.channel_id)).into_response())
}

async fn archive_get(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path(channel): Path<String>,
) -> AppResult<Response> {
    ending_get(state, ctx, user, channel, true).await
}

async fn revoke_all_get(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path(channel): Path<String>,
) -> AppResult<Response> {
    ending_get(state, ctx, user, channel, false).await
}

async fn archive_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(channel): Path<String>,
    Form(form): Form<ReasonForm>,
) -> AppResult<Response> {
    ending_post(state, ctx, session, user, channel, form, true).await
}

async fn revoke_all_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    user: StaffUser,
    Path(channel): Path<String>,
    Form(form): Form<ReasonForm>,
) -> AppResult<Response> {
    ending_post(state, ctx, session, user, channel, form, false).await
}
