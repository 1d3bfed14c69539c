//! Project channels: create, edit, archive.

pub mod pages;
pub mod store;

pub use store::{Status, Viewed};

use crate::accounts::StaffUser;
use crate::accounts::session::Checked;
use crate::app::AppState;
use crate::audit::{self, Event, Outcome, Source};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::guests::lifecycle::{self, Reason};
use store::{Channel, NewChannel};

pub const NAME_MAX: usize = 100;
pub const PURPOSE_MAX: usize = 1000;

/// A channel's details as a clerk typed them, checked.
pub struct ChannelInput {
    pub name: String,
    pub purpose: String,
    pub department_id: String,
    pub ends_at: Timestamp,
}

/// Whether a clerk may manage a channel: an admin any, a clerk their department's (D1).
pub fn may_manage(by: &StaffUser, channel: &Channel) -> bool {
    by.is_admin() || by.department_id.as_deref() == Some(channel.department_id.as_str())
}

/// The one membership check for a clerk's channel-scoped actions (D1, D3): another
/// department's channel is the same not-found as a missing one, and the attempt is recorded
/// against `path`.
pub async fn for_clerk(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    channel_id: &str,
    path: &str,
) -> Result<Channel> {
    let mut conn = state.db.pool.acquire().await?;
    let channel = store::get(&mut conn, channel_id).await?;
    drop(conn);
    match channel {
        Some(c) if may_manage(by, &c) => Ok(c),
        _ => Err(denied(state, by, source, channel_id, path).await?),
    }
}

/// A clerk's login checked as every clerk's page checks it (`accounts::session::staff`) and
/// the channel `channel_id` read with it in one query, for the clerk's channel page; the
/// channel still has to pass `viewed_by_clerk` once the login is admitted.
pub async fn login_viewing(
    state: &AppState,
    source: &Source,
    login_id: &str,
    channel_id: &str,
    path: &str,
) -> Result<(Checked<StaffUser>, Option<Viewed>)> {
    let mut conn = state.db.reader().await?;
    let read = store::get_login_viewing(&mut conn, login_id, channel_id).await?;
    conn.done();
    let (login, viewed) = match read {
        Some(r) => (Some(r.login), r.viewed),
        None => (None, None),
    };
    let checked = crate::accounts::session::staff_login(state, source, login, path).await?;
    Ok((checked, viewed))
}

/// The channel a clerk asked to view, if they may manage it (D1, D3); otherwise the refusal is
/// recorded and the answer is the same not-found as for a channel that does not exist.
pub async fn viewed_by_clerk(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    channel_id: &str,
    path: &str,
    viewed: Option<Viewed>,
) -> Result<Viewed> {
    match viewed {
        Some(v) if may_manage(by, &v.channel) => Ok(v),
        _ => Err(denied(state, by, source, channel_id, path).await?),
    }
}

/// Records a clerk's request for a channel they may not manage (D1, D3): the error to answer.
async fn denied(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    channel_id: &str,
    path: &str,
) -> Result<Error> {
    let mut ev = Event::new(by.actor(), "authz.denied", Outcome::Denied).target(path);
    ev.channel_id = Some(channel_id.chars().take(64).collect());
    state.audit.record(state.now(), source, &ev).await?;
    Ok(Error::NotFound)
}

/// Records that someone opened a channel (G1).
pub async fn record_view(
    state: &AppState,
    actor: crate::audit::Actor,
    source: &Source,
    channel_id: &str,
) -> Result<()> {
    let ev = Event::new(actor, "channel.view", Outcome::Success).in_channel(channel_id.to_string());
    state.audit.record(state.now(), source, &ev).await?;
    Ok(())
}

/// Creates a channel; `None` if its department does not exist.
pub async fn create(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    input: &ChannelInput,
) -> Result<Option<String>> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if !crate::clerks::store::department_exists(&mut tx, &input.department_id).await? {
        return Ok(None);
    }
    let id = store::insert(
        &mut tx,
        &NewChannel {
            department_id: &input.department_id,
            name: &input.name,
            purpose: &input.purpose,
            ends_at: input.ends_at,
            created_by: &by.account_id,
        },
        now,
    )
    .await?;
    let ev = Event::new(by.actor(), "channel.create", Outcome::Success)
        .target(&id)
        .detail(input.name.clone())
        .in_channel(id.clone());
    audit::record(&mut tx, now, source, &ev).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Changes a channel's name, purpose and end. No guest may outlast the channel (D5): an
/// earlier end shortens their access too. The owning department does not change.
pub async fn edit(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    channel: &Channel,
    input: &ChannelInput,
) -> Result<()> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    store::update(
        &mut tx,
        &channel.channel_id,
        &input.name,
        &input.purpose,
        input.ends_at,
    )
    .await?;
    let shortened =
        crate::guests::store::shorten_to(&mut tx, &channel.channel_id, input.ends_at).await?;
    let ev = Event::new(by.actor(), "channel.edit", Outcome::Success)
        .target(&channel.channel_id)
        .detail(format!(
            "ends_at={}; guests shortened: {shortened}",
            input.ends_at
        ))
        .in_channel(channel.channel_id.clone());
    audit::record(&mut tx, now, source, &ev).await?;
    tx.commit().await?;
    Ok(())
}

/// Ends every live guest of a channel, and with `archive` closes the channel too.
pub async fn end_all_guests(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    channel: &Channel,
    why: &Reason,
    archive: bool,
) -> Result<usize> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let ended =
        lifecycle::end_all_in_channel(&mut tx, &channel.channel_id, by, why.as_str(), source, now)
            .await?;
    if archive {
        store::archive(&mut tx, &channel.channel_id, now).await?;
    }
    let action = if archive {
        "channel.archive"
    } else {
        "channel.revoke_all"
    };
    let ev = Event::new(by.actor(), action, Outcome::Success)
        .target(&channel.channel_id)
        .detail(format!("reason: {}; guests ended: {ended}", why.as_str()))
        .in_channel(channel.channel_id.clone());
    audit::record(&mut tx, now, source, &ev).await?;
    tx.commit().await?;
    Ok(ended)
}
