//! The sweeper's work: marking guests whose time has passed as expired, and sending the
//! reminders that are due. Access already ends at `expires_at` on every request; this records
//! it and tells people in time.

use super::mails;
use super::store as guests;
use crate::accounts::Status;
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub expired: usize,
    pub reminders: usize,
    /// "Something new in your channel" mails sent.
    pub notices: usize,
}

/// Marks guests whose time has passed as expired and sends due reminders. Access already
/// ends at `expires_at` on every request; this records it and tidies up.
pub async fn sweep(state: &AppState) -> anyhow::Result<SweepReport> {
    let now = state.now();
    let mut report = SweepReport::default();
    let source = Source::default();
    state.limiter.forget_before(now - 60).await?;
    for id in guests::due_to_expire(&state.db, now).await? {
        let mut tx = state.db.begin().await?;
        if let Some(g) = guests::get(&mut tx, &id).await?
            && super::lifecycle::end(
                &mut tx,
                &g,
                Status::Expired,
                Actor::System,
                "expiry",
                &source,
                now,
            )
            .await?
        {
            report.expired += 1;
        }
        tx.commit().await?;
    }
    // Each reminder has its window: from its own day down to the next smaller reminder day, so a
    // late sweep sends only the reminder that is due now, never two at once.
    let days_list = &state.config.reminder_days;
    for (i, &days) in days_list.iter().enumerate() {
        let lower = days_list.get(i + 1).copied().unwrap_or(0);
        for id in guests::due_for_reminder(&state.db, days, lower, now).await? {
            let mut tx = state.db.begin().await?;
            let Some(g) = guests::get(&mut tx, &id).await? else {
                continue;
            };
            if !guests::claim_reminder(&mut tx, &id, days, now).await? {
                continue;
            }
            let ev = Event::new(Actor::System, "guest.reminder", Outcome::Success)
                .target(&id)
                .detail(format!("{days} days"))
                .in_channel(g.channel_id.clone());
            audit::record(&mut tx, now, &source, &ev).await?;
            tx.commit().await?;
            for mail in mails::reminders(state, &g)? {
                if let Err(e) = state.mailer.send(&mail).await {
                    tracing::warn!(error = format!("{e:#}"), "reminder not sent");
                }
            }
            report.reminders += 1;
        }
    }
    report.notices = crate::messages::notify::send_due(state).await?;
    Ok(report)
}
