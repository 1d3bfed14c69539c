//! One message and what members do with it: who has read it (既読) and who has not, the
//! acknowledgements a clerk asked for (確認依頼) and reminders about them, and correcting or
//! withdrawing one's own message within 15 minutes. For guests under their channel guard, for
//! clerks under theirs (D1).

pub mod drawing;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::accounts::StaffUser;
use crate::app::AppState;
use crate::audit::Actor;
use crate::channels::pages::page::staff_channel_scope;
use crate::guests::GuestUser;
use crate::guests::pages::guest::guest_channel_scope;
use crate::links;
use crate::messages::{self, Body, CHANGE_WINDOW_SECS, Detail, Refused};
use crate::web::ctx::{Ctx, render, render_invalid};
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{MessageForm, refusal, with_guest, with_user};
use crate::web::routes::Routes;

pub fn router() -> Routes {
    Routes::new()
        .route(links::GUEST_MESSAGE, get(guest_get))
        .route(links::GUEST_MESSAGE_ACK, post(guest_ack))
        .route(links::GUEST_MESSAGE_EDIT, post(guest_edit))
        .route(links::GUEST_MESSAGE_WITHDRAW, post(guest_withdraw))
        .route(links::STAFF_MESSAGE, get(staff_get))
        .route(links::STAFF_MESSAGE_ACK, post(staff_ack))
        .route(links::STAFF_MESSAGE_EDIT, post(staff_edit))
        .route(links::STAFF_MESSAGE_WITHDRAW, post(staff_withdraw))
        .route(links::STAFF_MESSAGE_REMIND, post(staff_remind))
        .route(links::STAFF_MESSAGE_EXPORT, get(staff_export))
        .route(links::GUEST_NOTICES, post(guest_notices))
        .route(links::GUEST_CHANNEL_LIVE, get(guest_live))
        .route(links::GUEST_CHANNEL_SEARCH, get(guest_search))
        .route(links::STAFF_CHANNEL_SEARCH, get(staff_search))
        .route(links::STAFF_CHANNEL_LIVE, get(staff_live))
        .route(links::STAFF_NOTICES, post(staff_notices))
}

#[derive(serde::Deserialize)]
struct NoticesForm {
    #[serde(default)]
    on: String,
}

async fn guest_notices(
    State(state): State<AppState>,
    ctx: Ctx,
    user: GuestUser,
    Form(form): Form<NoticesForm>,
) -> AppResult<Response> {
    let on = form.on == "1";
    let id = user.guest.account_id.clone();
    messages::notify::set_enabled(&state, &ctx.source, user.actor(), &id, on).await?;
    Ok(Redirect::to(&format!("{}#notices", links::GUEST_ACCOUNT)).into_response())
}

async fn staff_notices(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Form(form): Form<NoticesForm>,
) -> AppResult<Response> {
    let on = form.on == "1";
    messages::notify::set_enabled(&state, &ctx.source, user.actor(), &user.account_id, on).await?;
    Ok(Redirect::to(&format!("{}#notices", links::STAFF_HOME)).into_response())
}

/// Who is looking at a message, after their channel guard.
struct Reader {
    account_id: String,
    actor: Actor,
    /// The channel's page for this reader (`/c/…` or `/staff/channels/…`).
    base: String,
    channel_id: String,
    is_staff: bool,
    /// The channel's version and the reader's mark, when read with the login.
    seen: Option<messages::Seen>,
}

async fn guest_reader(
    state: &AppState,
    ctx: &Ctx,
    user: &GuestUser,
    channel: &str,
) -> AppResult<Reader> {
    guest_channel_scope(state, ctx, user, channel).await?;
    Ok(Reader {
        account_id: user.guest.account_id.clone(),
        actor: user.actor(),
        base: links::guest_channel(channel),
        channel_id: channel.to_string(),
        is_staff: false,
        seen: Some(crate::guests::pages::guest::seen(user)),
    })
}

async fn staff_reader(
    state: &AppState,
    ctx: &Ctx,
    user: &StaffUser,
    channel: &str,
) -> AppResult<(Reader, crate::channels::store::Channel)> {
    let channel = staff_channel_scope(state, ctx, user, channel).await?;
    Ok((
        Reader {
            account_id: user.account_id.clone(),
            actor: user.actor(),
            base: links::staff_channel(&channel.channel_id),
            channel_id: channel.channel_id.clone(),
            is_staff: true,
            seen: None,
        },
        channel,
    ))
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    ctx: Ctx,
    d: Detail,
    base: String,
    me: String,
    is_staff: bool,
    may_change: bool,
    error: Option<String>,
    notice: Option<String>,
    draft: String,
}

impl MessagePage {
    fn who(&self, m: &messages::store::Member) -> String {
        match (&m.organisation, &m.department_name) {
            (Some(o), _) if m.kind == "guest" => format!("{}{}", m.name, self.ctx.paren(o)),
            (_, Some(d)) => format!("{}{}", m.name, self.ctx.paren(d)),
            _ => m.name.clone(),
        }
    }
}

async fn message_page(
    state: &AppState,
    ctx: Ctx,
    reader: &Reader,
    message_id: &str,
    error: Option<String>,
    notice: Option<String>,
) -> AppResult<MessagePage> {
    let Some(d) =
        messages::detail(state, &reader.account_id, &reader.channel_id, message_id).await?
    else {
        return Err(AppError::NotFound);
    };
    let may_change = d.message.author_id == reader.account_id
        && d.message.withdrawn_at.is_none()
        && state.now() - d.message.created_at < CHANGE_WINDOW_SECS;
    Ok(MessagePage {
        draft: d.message.body.clone(),
        ctx,
        d,
        base: reader.base.clone(),
        me: reader.account_id.clone(),
        is_staff: reader.is_staff,
        may_change,
        error,
        notice,
    })
}

fn back_to(reader: &Reader, message_id: &str) -> Response {
    Redirect::to(&format!("{}#m-{message_id}", reader.base)).into_response()
}

async fn guest_get(
    State(state): State<AppState>,
    ctx: Ctx,
    user: GuestUser,
    Path((channel, message)): Path<(String, String)>,
) -> AppResult<Response> {
    let reader = guest_reader(&state, &ctx, &user, &channel).await?;
    let ctx = with_guest(ctx, &user);
    render(&message_page(&state, ctx, &reader, &message, None, None).await?)
}

async fn staff_get(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path((channel, message)): Path<(String, String)>,
) -> AppResult<Response> {
    let (reader, _) = staff_reader(&state, &ctx, &user, &channel).await?;
    let ctx = with_user(ctx, &user);
    render(&message_page(&state, ctx, &reader, &message, None, None).await?)
}

async fn ack(state: &AppState, ctx: Ctx, reader: &Reader, message: &str) -> AppResult<Response> {
    let acked = messages::acknowledge(
        state,
        &ctx.source,
        reader.actor.clone(),
        &reader.account_id,
        &reader.channel_id,
        message,
    )
    .await?;
    match acked {
        Ok(_) => Ok(back_to(reader, message)),
        Err(refused) => {
            let error = Some(refusal(&ctx, &refused));
            render_invalid(&message_page(state, ctx, reader, message, error, None).await?)
        }
    }
}

async fn guest_ack(
    State(state): State<AppState>,
    ctx: Ctx,
    user: GuestUser,
    Path((channel, message)): Path<(String, String)>,
) -> AppResult<Response> {
    let reader = guest_reader(&state, &ctx, &user, &channel).await?;
    let ctx = with_guest(ctx, &user);
    ack(&state, ctx, &reader, &message).await
}

async fn staff_ack(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path((channel, message)): Path<(String, String)>,
) -> AppResult<Response> {
    let (reader, _) = staff_reader(&state, &ctx, &user, &channel).await?;
    let ctx = with_user(ctx, &user);
    ack(&state, ctx, &reader, &message).await
}

/// Corrects (`Some` form) or withdraws (`None`) the reader's own message.
async fn change(
    state: &AppState,
    ctx: Ctx,
    reader: &Reader,
    message: &str,
    form: Option<&MessageForm>,
) -> AppResult<Response> {
    let body = match form.map(|f| Body::parse(f.body())) {
        None => None,
        Some(Ok(b)) => Some(b),
        Some(Err(key)) => {
            let error = Some(ctx.t(key));
            let mut page = message_page(state, ctx, reader, message, error, None).await?;
            page.draft = form.map(|f| f.body().to_string()).unwrap_or_default();
            return render_invalid(&page);
        }
    };
    let changed = messages::change(
        state,
        &ctx.source,
        reader.actor.clone(),
        &reader.account_id,
        &reader.channel_id,
        message,
        body.as_ref(),
    )
    .await?;
    match changed {
        Ok(()) => Ok(back_to(reader, message)),
        Err(refused) => {
            let error = Some(refusal(&ctx, &refused));
            let keep = refused != Refused::TooLate;
            let mut page = message_page(state, ctx, reader, message, error, None).await?;
            if keep {
                page.draft = form.map(|f| f.body().to_string()).unwrap_or_default();
            }
            render_invalid(&page)
        }
    }
}

async fn guest_edit(
    State(state): State<AppState>,
    ctx: Ctx,
    user: GuestUser,
    Path((channel, message)): Path<(String, String)>,
    Form(form): Form<MessageForm>,
) -> AppResult<Response> {
    let reader = guest_reader(&state, &ctx, &user, &channel).await?;
    let ctx = with_guest(ctx, &user);
    change(&state, ctx, &reader, &message, Some(&form)).await
}

async fn guest_withdraw(
    State(state): State<AppState>,
    ctx: Ctx,
    user: GuestUser,
    Path((channel, message)): Path<(String, String)>,
) -> AppResult<Response> {
    let reader = guest_reader(&state, &ctx, &user, &channel).await?;
    let ctx = with_guest(ctx, &user);
    change(&state, ctx, &reader, &message, None).await
}

async fn staff_edit(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path((channel, message)): Path<(String, String)>,
    Form(form): Form<MessageForm>,
) -> AppResult<Response> {
    let (reader, _) = staff_reader(&state, &ctx, &user, &channel).await?;
    let ctx = with_user(ctx, &user);
    change(&state, ctx, &reader, &message, Some(&form)).await
}

async fn staff_withdraw(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path((channel, message)): Path<(String, String)>,
) -> AppResult<Response> {
    let (reader, _) = staff_reader(&state, &ctx, &user, &channel).await?;
    let ctx = with_user(ctx, &user);
    change(&state, ctx, &reader, &message, None).await
}

async fn staff_remind(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path((channel, message)): Path<(String, String)>,
) -> AppResult<Response> {
    let (reader, channel) = staff_reader(&state, &ctx, &user, &channel).await?;
    let sent = messages::remind(&state, &ctx.source, user.actor(), &channel, &message).await?;
    let ctx = with_user(ctx, &user);
    match sent {
        Ok(sent) => {
            let notice = Some(ctx.t_with("ack-reminded", [("count", sent.to_string())]));
            render(&message_page(&state, ctx, &reader, &message, None, notice).await?)
        }
        Err(refused) => {
            let error = Some(refusal(&ctx, &refused));
            render_invalid(&message_page(&state, ctx, &reader, &message, error, None).await?)
        }
    }
}

/// The newest page's messages alone, for the page's live updates: the same guard, the same
/// read marking as opening the page; not recorded as a page view of its own.
#[derive(Template)]
#[template(path = "_conversation.html")]
struct Live {
    ctx: Ctx,
    messages: messages::Page,
}

async fn live(state: &AppState, ctx: Ctx, reader: &Reader) -> AppResult<Response> {
    let mut page = messages::page(
        state,
        &reader.account_id,
        &reader.channel_id,
        None,
        reader.seen,
    )
    .await?;
    page.base = reader.base.clone();
    drawing::draw(state, ctx.words(), &mut page)?;
    render(&Live {
        ctx,
        messages: page,
    })
}

async fn guest_live(
    State(state): State<AppState>,
    ctx: Ctx,
    user: GuestUser,
    Path(channel): Path<String>,
) -> AppResult<Response> {
    let reader = guest_reader(&state, &ctx, &user, &channel).await?;
    let ctx = with_guest(ctx, &user);
    live(&state, ctx, &reader).await
}

async fn staff_live(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path(channel): Path<String>,
) -> AppResult<Response> {
    let (reader, _) = staff_reader(&state, &ctx, &user, &channel).await?;
    let ctx = with_user(ctx, &user);
    live(&state, ctx, &reader).await
}

#[derive(serde::Deserialize, Default)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    ctx: Ctx,
    base: String,
    q: String,
    searched: bool,
    found: Vec<messages::store::Found>,
}

async fn search(
    state: &AppState,
    ctx: Ctx,
    reader: &Reader,
    query: SearchQuery,
) -> AppResult<Response> {
    let q: String = query.q.chars().take(messages::SEARCH_MAX * 2).collect();
    let found = messages::search(state, &reader.channel_id, &q).await?;
    render(&SearchPage {
        ctx,
        base: reader.base.clone(),
        searched: !q.trim().is_empty(),
        q,
        found,
    })
}

async fn guest_search(
    State(state): State<AppState>,
    ctx: Ctx,
    user: GuestUser,
    Path(channel): Path<String>,
    axum::extract::Query(query): axum::extract::Query<SearchQuery>,
) -> AppResult<Response> {
    let reader = guest_reader(&state, &ctx, &user, &channel).await?;
    let ctx = with_guest(ctx, &user);
    search(&state, ctx, &reader, query).await
}

async fn staff_search(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path(channel): Path<String>,
    axum::extract::Query(query): axum::extract::Query<SearchQuery>,
) -> AppResult<Response> {
    let (reader, _) = staff_reader(&state, &ctx, &user, &channel).await?;
    let ctx = with_user(ctx, &user);
    search(&state, ctx, &reader, query).await
}

async fn staff_export(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path((channel, message)): Path<(String, String)>,
) -> AppResult<Response> {
    let (reader, _) = staff_reader(&state, &ctx, &user, &channel).await?;
    let header = [
        ctx.t("export-name"),
        ctx.t("export-place"),
        ctx.t("export-read-at"),
        ctx.t("export-acked-at"),
    ];
    let lang = ctx.lang;
    let csv = messages::export_people(
        &state,
        &ctx.source,
        user.actor(),
        &reader.channel_id,
        &message,
        header,
        |t| lang.datetime(t),
    )
    .await?
    .ok_or(AppError::NotFound)?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                crate::attachments::pages::content_disposition(&format!("{message}.csv")),
            ),
        ],
        csv,
    )
        .into_response())
}
