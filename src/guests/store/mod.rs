//! Guests, their recovery codes, reminders and extension requests.

pub mod kept;
mod list;
mod requests;

pub use list::{Filter, Listed, PAGE_SIZE, Sort, expiring_for_sponsor, list};
pub use requests::*;

use sqlx::{AnyConnection, FromRow};

use crate::accounts::Status;
use crate::audit::writer::Statement;
use crate::channels::store::Status as ChannelStatus;
use crate::clock::Timestamp;
use crate::db::{Db, new_id};
use crate::guests::{Kind, Permission};

/// What a guest row shows. The opened, unused invitation is looked up with exactly the
/// conditions of the `invitation_opened` partial index (migration 0007), so it is one look-up
/// in a small index per guest instead of a walk of the guest's invitations.
pub(super) const COLUMNS: &str = "a.account_id, g.sign_in_name, a.name, a.status, g.channel_id, \
     ch.name as channel_name, ch.department_id, d.name as department_name, g.organisation, \
     g.guest_kind, g.has_email, g.permission, g.sponsor_id, s.name as sponsor_name, \
     s.email as sponsor_email, ch.status as channel_status, ch.ends_at as channel_ends_at, ch.purpose as channel_purpose, g.expires_at, g.enrolled_at, g.last_access_at, a.created_at, g.lang, \
     (select max(i.opened_at) from invitation i where i.account_id = a.account_id \
      and i.opened_at is not null and i.used_at is null and i.revoked_at is null) \
      as invitation_opened_at";

pub(super) const FROM: &str = "from guest g join account a on a.account_id = g.account_id \
     join channel ch on ch.channel_id = g.channel_id \
     join department d on d.department_id = ch.department_id \
     join account s on s.account_id = g.sponsor_id";

#[derive(Clone, Debug, FromRow)]
pub struct Guest {
    pub account_id: String,
    pub sign_in_name: String,
    pub name: String,
    pub status: Status,
    pub channel_id: String,
    pub channel_name: String,
    pub department_id: String,
    pub department_name: String,
    pub organisation: String,
    pub guest_kind: Kind,
    pub has_email: i64,
    pub permission: Permission,
    pub sponsor_id: String,
    pub sponsor_name: String,
    pub sponsor_email: String,
    pub channel_status: ChannelStatus,
    pub channel_ends_at: i64,
    pub channel_purpose: String,
    pub expires_at: i64,
    pub enrolled_at: Option<i64>,
    pub last_access_at: Option<i64>,
    pub created_at: i64,
    pub invitation_opened_at: Option<i64>,
    /// The language the guest was invited in (`ja`, `en`).
    pub lang: String,
}

impl Guest {
    /// The language of the guest's mails and printed sheet.
    pub fn lang(&self) -> crate::i18n::Lang {
        crate::i18n::Lang::parse(&self.lang).unwrap_or(crate::i18n::Lang::Ja)
    }
    /// What a clerk sees: invited, opened, enrolled, active, expired, revoked (or closed, locked).
    pub fn display_status(&self) -> &'static str {
        display_status(self.status, self.invitation_opened_at, self.last_access_at)
    }
    /// Whether this guest's access is open at `now`: before their expiry, in a channel that
    /// is active and not past its end — whether or not the sweeper has recorded the expiry yet
    /// (C5). The account's status is checked beside it. The one place this rule is written.
    pub fn access_open(&self, now: Timestamp) -> bool {
        self.expires_at > now
            && self.channel_status == ChannelStatus::Active
            && self.channel_ends_at > now
    }

    pub fn email(&self) -> Option<&str> {
        (self.has_email == 1).then_some(self.sign_in_name.as_str())
    }
}

/// A guest's status as clerks see it, from the account's status, the opening of their
/// invitation and their last access.
pub(super) fn display_status(
    status: Status,
    invitation_opened_at: Option<i64>,
    last_access_at: Option<i64>,
) -> &'static str {
    match status {
        Status::Invited if invitation_opened_at.is_some() => "opened",
        Status::Active if last_access_at.is_none() => "enrolled",
        other => other.as_str(),
    }
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Guest>, sqlx::Error> {
    sqlx::query_as::<_, Guest>(&format!("select {COLUMNS} {FROM} where g.account_id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub struct NewGuest<'a> {
    pub channel_id: &'a str,
    pub sign_in_name: &'a str,
    pub has_email: bool,
    pub name: &'a str,
    pub organisation: &'a str,
    pub kind: Kind,
    pub permission: Permission,
    pub sponsor_id: &'a str,
    pub expires_at: Timestamp,
    pub lang: crate::i18n::Lang,
}

pub async fn insert(
    conn: &mut AnyConnection,
    g: &NewGuest<'_>,
    now: Timestamp,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "insert into account (account_id, kind, email, name, status, created_at) \
         values ($1, 'guest', $2, $3, 'invited', $4)",
    )
    .bind(&id)
    .bind(format!("g:{id}"))
    .bind(g.name)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "insert into guest (account_id, channel_id, organisation, guest_kind, has_email, \
         permission, sponsor_id, expires_at, sign_in_name, lang) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(g.channel_id)
    .bind(g.organisation)
    .bind(g.kind)
    .bind(i64::from(g.has_email))
    .bind(g.permission)
    .bind(g.sponsor_id)
    .bind(g.expires_at)
    .bind(g.sign_in_name)
    .bind(g.lang.code())
    .execute(conn)
    .await?;
    Ok(id)
}

/// Whether this sign-in name already belongs to a live guest (invited, active or locked) of
/// this channel. A person may be a guest of several channels, and again after an ending (D7),
/// but holds one live account per channel.
pub async fn name_live_in_channel(
    conn: &mut AnyConnection,
    channel_id: &str,
    sign_in_name: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(concat!(
        "select count(*) from guest g join account a on a.account_id = g.account_id \
         where g.channel_id = $1 and g.sign_in_name = $2 and a.status in ",
        crate::live_statuses!()
    ))
    .bind(channel_id)
    .bind(sign_in_name)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

pub async fn set_expiry(
    conn: &mut AnyConnection,
    id: &str,
    expires_at: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("update guest set expires_at = $1 where account_id = $2")
        .bind(expires_at)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    // A new expiry earns new reminders.
    sqlx::query("delete from reminder where account_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn mark_enrolled(
    conn: &mut AnyConnection,
    id: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("update guest set enrolled_at = $1 where account_id = $2")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub fn touch(id: &str, now: Timestamp) -> Statement {
    Statement::new(
        "update guest set last_access_at = $1 where account_id = $2 \
         and (last_access_at is null or last_access_at < $3)",
    )
    .int(now)
    .text(id)
    .int(now - 60)
}

/// Wipes the credentials so the guest enrols again through a new link — only while the guest
/// is enrolled; a guest revoked or expired meanwhile stays ended (false).
pub async fn reset_credentials(conn: &mut AnyConnection, id: &str) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "update account set status = 'invited', password_hash = null, totp_secret = null, \
         totp_last_step = null, totp_failures = 0, totp_locked_until = 0, password_failures = 0, \
         password_locked_until = 0 where account_id = $1 and status in ('active', 'locked')",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("delete from recovery_code where account_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(true)
}

/// Takes the account row's lock if its status is one of `statuses`; false otherwise. Lets a
/// transaction act on what it checked, whatever commits meanwhile.
pub async fn lock_in_status(
    conn: &mut AnyConnection,
    id: &str,
    statuses: &[Status],
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "update account set status = status where account_id = $1 \
         and status in ($2, $3, $4)",
    )
    .bind(id)
    .bind(statuses.first().map_or("", |s| s.as_str()))
    .bind(statuses.get(1).map_or("", |s| s.as_str()))
    .bind(statuses.get(2).map_or("", |s| s.as_str()))
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Revokes every unused link of an account.
pub async fn revoke_invitations(
    conn: &mut AnyConnection,
    id: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update invitation set revoked_at = $1 where account_id = $2 and used_at is null \
         and revoked_at is null",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Live guests (invited or active) of a channel.
pub async fn live_in_channel(
    conn: &mut AnyConnection,
    channel_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(concat!(
        "select g.account_id from guest g join account a on a.account_id = g.account_id \
         where g.channel_id = $1 and a.status in ",
        crate::live_statuses!()
    ))
    .bind(channel_id)
    .fetch_all(conn)
    .await
}

/// Guests whose time has passed but who are not yet marked expired.
pub async fn due_to_expire(db: &Db, now: Timestamp) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(concat!(
        "select g.account_id from guest g join account a on a.account_id = g.account_id \
         where g.expires_at <= $1 and a.status in ",
        crate::live_statuses!()
    ))
    .bind(now)
    .fetch_all(&db.pool)
    .await
}

/// Live guests whose expiry is between `lower_days` and `days` away and who have not had
/// this reminder (or a later one).
pub async fn due_for_reminder(
    db: &Db,
    days: i64,
    lower_days: i64,
    now: Timestamp,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(concat!(
        "select g.account_id from guest g join account a on a.account_id = g.account_id \
         where a.status in ",
        crate::live_statuses!(),
        " and g.expires_at > $1 and g.expires_at <= $2 \
         and not exists (select 1 from reminder r where r.account_id = g.account_id \
         and r.days <= $3)",
    ))
    .bind(now + lower_days * 86_400)
    .bind(now + days * 86_400)
    .bind(days)
    .fetch_all(&db.pool)
    .await
}

/// Records a reminder; false if another instance sent it already.
pub async fn claim_reminder(
    conn: &mut AnyConnection,
    id: &str,
    days: i64,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "insert into reminder (account_id, days, sent_at) values ($1, $2, $3) \
         on conflict (account_id, days) do nothing",
    )
    .bind(id)
    .bind(days)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Brings every guest of a channel whose access ends after `ends_at` down to it (D5); returns
/// how many.
pub async fn shorten_to(
    conn: &mut AnyConnection,
    channel_id: &str,
    ends_at: Timestamp,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("update guest set expires_at = $1 where channel_id = $2 and expires_at > $1")
            .bind(ends_at)
            .bind(channel_id)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Moves a live guest to an ended status; false if they had already ended.
pub async fn end_if_live(
    conn: &mut AnyConnection,
    id: &str,
    status: Status,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(concat!(
        "update account set status = $1 where account_id = $2 and status in ",
        crate::live_statuses!()
    ))
    .bind(status)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A guest's open login with the guest, read together (the guard's one query per request).
#[derive(Debug, FromRow)]
pub struct SignedIn {
    pub login_id: String,
    pub login_created_at: i64,
    pub login_last_seen_at: i64,
    /// The channel's version and the guest's read mark in it, for the conversation.
    pub channel_version: i64,
    pub read_mark: Option<i64>,
    /// Raised with every write of the session record that names this login (migration 0019).
    pub session_rev: i64,
    #[sqlx(flatten)]
    pub guest: Guest,
}

/// The guest behind an open login, if the login is open and a guest's.
pub async fn signed_in(
    conn: &mut AnyConnection,
    login_id: &str,
) -> Result<Option<SignedIn>, sqlx::Error> {
    sqlx::query_as::<_, SignedIn>(&format!(
        "select l.login_id, l.created_at as login_created_at, \
         l.last_seen_at as login_last_seen_at, l.session_rev, ch.version as channel_version, \
         (select max(cr.last_seq) from channel_read cr where cr.channel_id = g.channel_id \
          and cr.account_id = g.account_id) as read_mark, {COLUMNS} {FROM} \
         join login l on l.account_id = g.account_id \
         where l.login_id = $1 and l.ended_at is null"
    ))
    .bind(login_id)
    .fetch_optional(conn)
    .await
}
