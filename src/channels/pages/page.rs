//! The staff channel page and what its forms share: the page itself (messages, guest list, the
//! forms to issue guests and to edit, archive or end the channel), re-drawn with errors by the
//! posts of `mod.rs` and `invite.rs`.

use askama::Template;
use serde::Deserialize;

use crate::accounts::StaffUser;
use crate::app::AppState;
use crate::channels::store::Channel;
use crate::clock::last_day;
use crate::guests::pages::list::{GuestList, ListQuery};
use crate::links;
use crate::messages;
use crate::web::ctx::{Ctx, field_attrs, field_error as error_for};
use crate::web::error::AppResult;
use crate::web::forms::with_user;

/// The channel a clerk's request names, if they may manage it (D1, D3).
pub async fn staff_channel_scope(
    state: &AppState,
    ctx: &Ctx,
    user: &StaffUser,
    channel_id: &str,
) -> AppResult<Channel> {
    Ok(crate::channels::for_clerk(state, user, &ctx.source, channel_id, &ctx.path).await?)
}

pub type Errors = crate::web::ctx::FieldErrors;

#[derive(Deserialize, Default, Clone)]
pub struct ChannelForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub purpose: String,
    #[serde(default)]
    pub department_id: String,
    #[serde(default)]
    pub ends_on: String,
}

#[derive(Template)]
#[template(path = "staff/channel.html")]
pub struct ChannelPage {
    pub ctx: Ctx,
    pub channel: Channel,
    pub messages: messages::Page,
    pub draft: String,
    pub list: GuestList,
    pub errors: Errors,
    pub notice: Option<String>,
}

impl ChannelPage {
    fn error_for(&self, f: &str) -> Option<String> {
        error_for(&self.errors, f)
    }
    fn attrs(&self, f: &str, hint: bool) -> String {
        field_attrs(&self.errors, f, hint)
    }
    fn day(&self, t: &i64) -> String {
        self.ctx.lang.last_day(*t)
    }
}

/// The channel page again, showing a message form's errors.
pub async fn error_page(
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
        None,
        &ListQuery::default(),
        errors,
        None,
    )
    .await
}

/// `seen` is the clerk's view of the conversation if the request read it with the channel.
#[allow(clippy::too_many_arguments)]
pub async fn channel_page(
    state: &AppState,
    ctx: Ctx,
    user: &StaffUser,
    channel: Channel,
    seen: Option<messages::Seen>,
    query: &ListQuery,
    errors: Errors,
    notice: Option<String>,
) -> AppResult<ChannelPage> {
    let mut filter = query.filter();
    filter.channel_id = Some(channel.channel_id.clone());
    let base = links::staff_channel(&channel.channel_id);
    let list = GuestList::load(state, &ctx, filter, Some(channel.guests_version), base).await?;
    let mut messages = messages::page(
        state,
        &user.account_id,
        &channel.channel_id,
        query.before.as_deref(),
        seen,
    )
    .await?;
    messages.base = links::staff_channel(&channel.channel_id);
    messages::pages::drawing::draw(state, ctx.words(), &mut messages)?;
    Ok(ChannelPage {
        ctx: with_user(ctx, user),
        messages,
        draft: String::new(),
        channel,
        list,
        errors,
        notice,
    })
}

#[derive(Deserialize, Default, Clone)]
pub struct GuestForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub organisation: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub permission: String,
    #[serde(default)]
    pub expires_on: String,
    #[serde(default)]
    pub delivery: String,
    /// The guest's language for their mails and sheet: `ja` (the default) or `en`.
    #[serde(default)]
    pub lang: String,
}

impl GuestForm {
    pub fn kind_chosen(&self, k: &str) -> bool {
        self.kind == k
    }
    /// The permission the form shows chosen: the one sent back, else "read and write".
    pub fn permission_chosen(&self, p: &str) -> bool {
        self.permission == p || (self.permission.is_empty() && p == "post")
    }
}

/// The default and the latest expiry a clerk may choose for a new guest of this channel.
pub fn default_expiry(state: &AppState, channel: &Channel) -> (String, String) {
    let now = state.now();
    let default = (now + state.config.guest_default_days * 86_400).min(channel.ends_at);
    let max = (now + state.config.guest_max_days * 86_400).min(channel.ends_at);
    (last_day(default + 1), last_day(max + 1))
}
