//! Issuing guests into a channel with their invitation, and delivering the link by mail or
//! as a printed sheet.

use sqlx::AnyConnection;

use super::store::{self as guests, NewGuest};
use super::{GuestInput, Issued, mails, resident_sign_in_id};
use crate::accounts::StaffUser;
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};
use crate::channels::store::Channel;
use crate::enrolment::Purpose;
use crate::error::{Error, Result};
use crate::guests::store::Guest;

/// The address is already a live guest's in this channel (D7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressTaken;

/// Issues one guest and an invitation inside the caller's transaction.
async fn issue(
    conn: &mut AnyConnection,
    state: &AppState,
    sponsor: &str,
    source: &Source,
    channel: &Channel,
    g: &GuestInput<'_>,
) -> Result<std::result::Result<Issued, AddressTaken>> {
    let now = state.now();
    let sign_in_name = match g.email {
        Some(e) => e.to_string(),
        None => resident_sign_in_id(),
    };
    // Only a live guest of this same channel blocks the address: an address used in another
    // channel or department, by a clerk, or by an ended guest looks like a fresh one (D7).
    // Checked before writing: on PostgreSQL a failed insert would abort the transaction.
    if g.email.is_some()
        && guests::name_live_in_channel(conn, &channel.channel_id, &sign_in_name).await?
    {
        return Ok(Err(AddressTaken));
    }
    let id = match guests::insert(
        conn,
        &NewGuest {
            channel_id: &channel.channel_id,
            sign_in_name: &sign_in_name,
            has_email: g.email.is_some(),
            name: g.name,
            organisation: g.organisation,
            kind: g.kind,
            permission: g.permission,
            sponsor_id: sponsor,
            expires_at: g.expires_at,
            lang: g.lang,
        },
        now,
    )
    .await
    {
        Ok(id) => id,
        Err(e) if crate::db::is_unique_violation(&e) => return Ok(Err(AddressTaken)),
        Err(e) => return Err(e.into()),
    };
    let ev = Event::new(
        Actor::Clerk(sponsor.to_string()),
        "guest.issue",
        Outcome::Success,
    )
    .target(&id)
    .detail(format!(
        "kind={} permission={} expires_at={}",
        g.kind, g.permission, g.expires_at
    ))
    .in_channel(channel.channel_id.clone());
    audit::record(conn, now, source, &ev).await?;
    let link = invite(conn, state, &id, &channel.channel_id, sponsor, source).await?;
    Ok(Ok(Issued {
        account_id: id,
        sign_in_name,
        link,
    }))
}

/// A new invitation link for a guest (the previous one dies), recorded.
pub async fn invite(
    conn: &mut AnyConnection,
    state: &AppState,
    guest_id: &str,
    channel_id: &str,
    clerk: &str,
    source: &Source,
) -> Result<String> {
    crate::enrolment::issue_link(
        conn,
        state,
        Purpose::Guest,
        Some(guest_id),
        Some(channel_id),
        &Actor::Clerk(clerk.to_string()),
        source,
    )
    .await
}

/// Issues one guest with an invitation, recorded.
pub async fn invite_one(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    channel: &Channel,
    g: &GuestInput<'_>,
) -> Result<std::result::Result<Issued, AddressTaken>> {
    let mut tx = state.db.begin().await?;
    match issue(&mut tx, state, &by.account_id, source, channel, g).await? {
        Ok(issued) => {
            tx.commit().await?;
            Ok(Ok(issued))
        }
        Err(key) => Ok(Err(key)),
    }
}

/// Issues every guest of a checked CSV file in one transaction, or none: the error names the
/// 1-based row that failed. Then mails each their invitation; returns how
/// many mails could not be sent.
pub async fn invite_many(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    channel: &Channel,
    rows: &[GuestInput<'_>],
) -> Result<std::result::Result<usize, (usize, AddressTaken)>> {
    let mut tx = state.db.begin().await?;
    let mut issued = vec![];
    for (i, g) in rows.iter().enumerate() {
        match issue(&mut tx, state, &by.account_id, source, channel, g).await? {
            Ok(done) => issued.push(done),
            // The transaction is spent (PostgreSQL aborts it): stop and report.
            Err(key) => return Ok(Err((i + 1, key))),
        }
    }
    tx.commit().await?;
    let mut failed = 0;
    for done in &issued {
        let mut conn = state.db.pool.acquire().await?;
        let guest = guests::get(&mut conn, &done.account_id).await?;
        drop(conn);
        if let Some(g) = guest {
            let mail = mails::invitation(state, &g, &done.sign_in_name, &done.link)?;
            if state.mailer.send(&mail).await.is_err() {
                failed += 1;
            }
        }
    }
    Ok(Ok(failed))
}

/// How a fresh invitation reaches the guest.
pub enum Delivery {
    /// Mailed (or the mail failed: `false`).
    Mailed(bool),
    /// To be printed at the counter: the guest has no address, or the clerk chose the sheet.
    Print(Box<Guest>),
}

/// Delivers a fresh invitation link: by mail, or as a sheet the page prints.
pub async fn deliver(
    state: &AppState,
    guest_id: &str,
    link: &str,
    print: bool,
) -> Result<Delivery> {
    let mut conn = state.db.pool.acquire().await?;
    let guest = guests::get(&mut conn, guest_id)
        .await?
        .ok_or(Error::NotFound)?;
    drop(conn);
    let Some(email) = guest.email().filter(|_| !print).map(str::to_string) else {
        return Ok(Delivery::Print(Box::new(guest)));
    };
    let mail = mails::invitation(state, &guest, &email, link)?;
    Ok(Delivery::Mailed(match state.mailer.send(&mail).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "invitation not sent");
            false
        }
    }))
}
