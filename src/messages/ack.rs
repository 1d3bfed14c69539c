//! 確認依頼: members acknowledge what a clerk asked them to, and the clerk reminds the others —
//! at most once a day per message, never in an ended channel (D8, D9).

use super::{Refused, ack_store, detail, store};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};
use crate::error::Result;

/// Records an attempt to change an ended channel (D8) and says why it was refused.
pub(super) async fn refuse_ended(
    state: &AppState,
    source: &Source,
    actor: Actor,
    action: &'static str,
    channel_id: &str,
    message_id: &str,
) -> Result<Refused> {
    let ev = Event::new(actor, action, Outcome::Denied)
        .target(message_id)
        .detail("channel ended".to_string())
        .in_channel(channel_id.to_string());
    state.audit.record(state.now(), source, &ev).await?;
    Ok(Refused::Ended)
}

/// A member acknowledges a message that asks for it (確認しました); audited. Acknowledging
/// twice, from two devices, is one acknowledgement. An ended channel takes none (D8).
pub async fn acknowledge(
    state: &AppState,
    source: &Source,
    actor: Actor,
    account_id: &str,
    channel_id: &str,
    message_id: &str,
) -> Result<std::result::Result<bool, Refused>> {
    let Some(m) = store::one(&state.db, channel_id, message_id, account_id).await? else {
        return Err(crate::error::Error::NotFound);
    };
    if m.ack_requested == 0 || m.withdrawn_at.is_some() {
        return Err(crate::error::Error::NotFound);
    }
    if !store::channel_active(&state.db, channel_id).await? {
        let refused =
            refuse_ended(state, source, actor, "message.ack", channel_id, message_id).await?;
        return Ok(Err(refused));
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let new = ack_store::acknowledge(&mut tx, message_id, account_id, now).await?;
    if new {
        let ev = Event::new(actor, "message.ack", Outcome::Success)
            .target(message_id)
            .in_channel(channel_id.to_string());
        audit::record(&mut tx, now, source, &ev).await?;
    }
    tx.commit().await?;
    Ok(Ok(new))
}

/// Mails a reminder to every member who has not acknowledged the message and has an address;
/// the mail names the channel and links to it, without the message's text. Returns how many
/// were reminded. At most one reminder per message in `ack_reminder_every_secs` (D9), none
/// in an ended channel (D8); the reminder is audited before any mail goes out.
pub async fn remind(
    state: &AppState,
    source: &Source,
    clerk: Actor,
    channel: &crate::channels::store::Channel,
    message_id: &str,
) -> Result<std::result::Result<usize, Refused>> {
    let Some(d) = detail(state, "", &channel.channel_id, message_id).await? else {
        return Err(crate::error::Error::NotFound);
    };
    if d.message.ack_requested == 0 || d.message.withdrawn_at.is_some() {
        return Err(crate::error::Error::NotFound);
    }
    let channel_id = channel.channel_id.as_str();
    // The channel was read by the page's guard; the reminder's turn re-checks it when taken.
    if !channel.is_active() {
        let refused = refuse_ended(
            state,
            source,
            clerk,
            "message.ack_reminder",
            channel_id,
            message_id,
        )
        .await?;
        return Ok(Err(refused));
    }
    let every = state.config.ack_reminder_every_secs;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let turn = ack_store::take_reminder_turn(&mut tx, channel_id, message_id, now, every).await?;
    if !turn {
        drop(tx);
        let ev = Event::new(clerk, "message.ack_reminder", Outcome::Denied)
            .target(message_id)
            .detail("reminded recently".to_string())
            .in_channel(channel_id.to_string());
        state.audit.record(now, source, &ev).await?;
        return Ok(Err(Refused::RemindedRecently {
            hours: (every + 3599) / 3600,
        }));
    }
    let ev = Event::new(clerk, "message.ack_reminder", Outcome::Success)
        .target(message_id)
        .in_channel(channel_id.to_string());
    audit::record(&mut tx, now, source, &ev).await?;
    tx.commit().await?;
    let mut sent = 0;
    // Only members whose access is open now: an ended or revoked guest is not mailed.
    for m in d.not_acked().filter(|m| m.live == 1) {
        let Some(email) = m.email.clone() else {
            continue;
        };
        let link = if m.kind == "clerk" {
            crate::links::staff_channel(&channel.channel_id)
        } else {
            crate::links::guest_channel(&channel.channel_id)
        };
        let mut paragraphs = vec![("mail-ack-reminder", vec![("channel", channel.name.clone())])];
        if let Some(due) = d.message.ack_due_at {
            paragraphs.push((
                "mail-ack-reminder-due",
                vec![
                    ("due_ja", crate::i18n::Lang::Ja.last_day(due)),
                    ("due_en", crate::i18n::Lang::En.last_day(due)),
                ],
            ));
        }
        let mail = crate::mail::notice::Notice {
            to_name: m.name.clone(),
            to_email: email,
            subject_key: "mail-ack-reminder-subject",
            lead: crate::i18n::Lang::Ja,
            paragraphs,
            link: Some((state.link(&link), "mail-open-channel")),
        }
        .into_mail()?;
        if let Err(e) = state.mailer.send(&mail).await {
            tracing::warn!(
                error = format!("{e:#}"),
                "acknowledgement reminder not sent"
            );
            continue;
        }
        sent += 1;
    }
    Ok(Ok(sent))
}

/// A clerk's 確認依頼 in active channels, newest first.
pub async fn open_requests(
    state: &AppState,
    clerk_id: &str,
) -> Result<Vec<ack_store::OpenRequest>> {
    Ok(ack_store::open_requests(&state.db, clerk_id).await?)
}
