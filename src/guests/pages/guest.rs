//! The guest's own channel: the conversation and posting in it (their account page is in
//! `account`).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::app::AppState;
use crate::guests::GuestUser;
use crate::guests::store::Guest;
use crate::links;
use crate::messages::{self, Body};
use crate::web::ctx::{Ctx, render, render_invalid};
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{MessageForm, MessagesQuery, with_guest};
use crate::web::routes::Routes;

pub fn router() -> Routes {
    Routes::new()
        .route(links::GUEST_HOME, get(home_get))
        .route(links::GUEST_CHANNEL, get(channel_get))
        .route(links::GUEST_CHANNEL_MESSAGES, post(message_post))
}

async fn home_get(user: GuestUser) -> Response {
    Redirect::to(&links::guest_channel(&user.guest.channel_id)).into_response()
}

#[derive(Template)]
#[template(path = "guest/channel.html")]
pub struct ChannelPage {
    ctx: Ctx,
    guest: Guest,
    messages: messages::Page,
    draft: String,
    error: Option<String>,
    /// What the file form says after a refused upload.
    pub file_error: Option<String>,
    purpose: String,
    ends_on: String,
    expires_on: String,
}

/// The one shared membership check for a guest's channel-scoped routes (D1): anything but the
/// guest's own channel is the same not-found as a missing id, and the attempt is recorded.
pub async fn guest_channel_scope(
    state: &AppState,
    ctx: &Ctx,
    user: &GuestUser,
    channel: &str,
) -> AppResult<()> {
    Ok(crate::guests::lifecycle::own_channel(state, &ctx.source, user, channel, &ctx.path).await?)
}

impl ChannelPage {
    fn permission_key(&self) -> String {
        format!("permission-{}", self.guest.permission)
    }
    fn may_post(&self) -> bool {
        may_post(&self.guest)
    }
    fn may_send_files(&self) -> bool {
        self.guest.permission.may_send_files()
    }
}

/// What the conversation needs of the guest's channel, read with the login: its version and
/// the guest's read mark.
pub fn seen(user: &GuestUser) -> messages::Seen {
    messages::Seen {
        version: user.channel_version,
        mark: user.read_mark,
    }
}

/// Whether a guest's permission allows writing (D6); decided from the database, never a form.
pub fn may_post(g: &Guest) -> bool {
    g.permission.may_post()
}

pub async fn guest_channel_page(
    state: &AppState,
    ctx: Ctx,
    user: GuestUser,
    draft: String,
    error: Option<String>,
    before: Option<&str>,
) -> AppResult<ChannelPage> {
    let g = &user.guest;
    let mut messages = messages::page(
        state,
        &g.account_id,
        &g.channel_id,
        before,
        Some(seen(&user)),
    )
    .await?;
    messages.base = links::guest_channel(&g.channel_id);
    messages::pages::drawing::draw(state, ctx.words(), &mut messages)?;
    Ok(ChannelPage {
        messages,
        ends_on: ctx.lang.last_day(g.channel_ends_at),
        expires_on: ctx.lang.last_day(user.guest.expires_at),
        ctx: with_guest(ctx, &user),
        draft,
        error,
        file_error: None,
        purpose: g.channel_purpose.clone(),
        guest: user.guest,
    })
}

async fn message_post(
    State(state): State<AppState>,
    ctx: Ctx,
    user: GuestUser,
    Path(channel): Path<String>,
    Form(form): Form<MessageForm>,
) -> AppResult<Response> {
    guest_channel_scope(&state, &ctx, &user, &channel).await?;
    if !may_post(&user.guest) {
        messages::record_refused(&state, &ctx.source, user.actor(), &channel).await?;
        return Err(AppError::Forbidden);
    }
    let body = match Body::parse(form.body()) {
        Ok(b) => b,
        Err(key) => {
            let error = Some(ctx.t(key));
            let draft = form.body().chars().take(messages::BODY_MAX * 2).collect();
            return render_invalid(
                &guest_channel_page(&state, ctx, user, draft, error, None).await?,
            );
        }
    };
    let author = user.guest.account_id.clone();
    if let Err(refused) =
        messages::post(&state, &ctx.source, user.actor(), &author, &channel, &body).await?
    {
        let error = Some(crate::web::forms::refusal(&ctx, &refused));
        let draft = form.body().to_string();
        return render_invalid(&guest_channel_page(&state, ctx, user, draft, error, None).await?);
    }
    Ok(Redirect::to(&format!("{}#latest", links::guest_channel(&channel))).into_response())
}

async fn channel_get(
    State(state): State<AppState>,
    ctx: Ctx,
    user: GuestUser,
    Path(channel): Path<String>,
    Query(query): Query<MessagesQuery>,
) -> AppResult<Response> {
    guest_channel_scope(&state, &ctx, &user, &channel).await?;
    crate::channels::record_view(&state, user.actor(), &ctx.source, &channel).await?;
    render(
        &guest_channel_page(
            &state,
            ctx,
            user,
            String::new(),
            None,
            query.before.as_deref(),
        )
        .await?,
    )
}
