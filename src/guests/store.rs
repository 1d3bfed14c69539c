//! Guests, their recovery codes, reminders and extension requests.

use sqlx::{AnyConnection, FromRow};

use crate::accounts::Status;
use crate::channels::Status as ChannelStatus;
use crate::clock::Timestamp;
use crate::db::{Db, new_id};
use crate::guests::{Kind, Permission};

const COLUMNS: &str = "a.account_id, g.sign_in_name, a.name, a.status, g.channel_id, \
     ch.name as channel_name, ch.department_id, d.name as department_name, g.organisation, \
     g.guest_kind, g.has_email, g.permission, g.sponsor_id, s.name as sponsor_name, \
     s.email as sponsor_email, ch.status as channel_status, ch.ends_at as channel_ends_at, g.expires_at, g.enrolled_at, g.last_access_at, a.created_at, \
     (select max(i.opened_at) from invitation i where i.account_id = a.account_id \
      and i.used_at is null and i.revoked_at is null) as invitation_opened_at";

const FROM: &str = "from guest g join account a on a.account_id = g.account_id \
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
    pub expires_at: i64,
    pub enrolled_at: Option<i64>,
    pub last_access_at: Option<i64>,
    pub created_at: i64,
    pub invitation_opened_at: Option<i64>,
}

impl Guest {
    /// What a clerk sees: invited, opened, enrolled, active, expired, revoked (or closed, locked).
    pub fn display_status(&self) -> &'static str {
        match self.status {
            Status::Invited if self.invitation_opened_at.is_some() => "opened",
            Status::Active if self.last_access_at.is_none() => "enrolled",
            other => other.as_str(),
        }
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

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Guest>, sqlx::Error> {
    sqlx::query_as::<_, Guest>(&format!("select {COLUMNS} {FROM} where g.account_id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Which guests a list shows, and in which order.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub channel_id: Option<String>,
    pub department_id: Option<String>,
    /// A display status (`invited`, `opened`, `enrolled`, `active`, `expired`, `revoked`).
    pub status: Option<String>,
    pub search: Option<String>,
    pub sort: Sort,
    pub page: i64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Expiry,
    Name,
    Organisation,
    LastAccess,
}

impl Sort {
    pub fn parse(s: &str) -> Self {
        match s {
            "name" => Sort::Name,
            "organisation" => Sort::Organisation,
            "last_access" => Sort::LastAccess,
            _ => Sort::Expiry,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Expiry => "expiry",
            Sort::Name => "name",
            Sort::Organisation => "organisation",
            Sort::LastAccess => "last_access",
        }
    }
    fn order_by(self) -> &'static str {
        match self {
            Sort::Expiry => "g.expires_at, lower(a.name)",
            Sort::Name => "lower(a.name), g.expires_at",
            Sort::Organisation => "lower(g.organisation), lower(a.name)",
            Sort::LastAccess => "coalesce(g.last_access_at, 0) desc, lower(a.name)",
        }
    }
}

pub const PAGE_SIZE: i64 = 50;

/// One page of guests and the total that match.
///
/// Built to stay fast at city size (100,000 guests in one department): only the conditions
/// asked for enter the SQL, so the planner can use the channel and expiry indexes; the count
/// joins the accounts only when a condition needs them; the page is chosen on plain columns
/// first, and only its 50 rows are joined with everything the list shows (the invitation
/// look-up per row then runs 50 times, not once per guest). The planner needs statistics for
/// this (`Db::optimize`).
pub async fn list(db: &Db, f: &Filter) -> Result<(Vec<Guest>, i64), sqlx::Error> {
    let mut conditions: Vec<String> = vec![];
    let mut binds: Vec<String> = vec![];
    let bind = |value: String, binds: &mut Vec<String>| {
        binds.push(value);
        format!("${}", binds.len())
    };
    if let Some(channel) = f.channel_id.clone() {
        let p = bind(channel, &mut binds);
        conditions.push(format!("g.channel_id = {p}"));
    }
    if let Some(department) = f.department_id.clone() {
        let p = bind(department, &mut binds);
        conditions.push(format!(
            "g.channel_id in (select channel_id from channel where department_id = {p})"
        ));
    }
    // The display status is derived; the SQL matches it with the same rules as `display_status`.
    // Open invitations that were opened are few: one list of them beats a look-up per guest.
    let opened = "g.account_id in (select i.account_id from invitation i \
         where i.account_id is not null and i.opened_at is not null and i.used_at is null \
         and i.revoked_at is null)";
    match f.status.as_deref().filter(|s| !s.is_empty()) {
        None => {}
        Some("invited") => conditions.push(format!("a.status = 'invited' and not {opened}")),
        Some("opened") => conditions.push(format!("a.status = 'invited' and {opened}")),
        Some("enrolled") => {
            conditions.push("a.status = 'active' and g.last_access_at is null".into())
        }
        Some("active") => {
            conditions.push("a.status = 'active' and g.last_access_at is not null".into())
        }
        Some(other) => {
            let p = bind(other.to_string(), &mut binds);
            conditions.push(format!("a.status = {p}"));
        }
    }
    let search = f
        .search
        .as_deref()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .map(|s| {
            let escaped = s.replace('\\', "").replace(['%', '_'], "");
            format!("%{escaped}%")
        });
    // Status and search read the account; channel and department do not.
    let account_conditions = search.is_some() || f.status.as_deref().is_some_and(|s| !s.is_empty());
    if let Some(search) = search {
        let p = bind(search, &mut binds);
        conditions.push(format!(
            "(lower(a.name) like {p} or lower(g.organisation) like {p} or g.sign_in_name like {p})"
        ));
    }
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" where {}", conditions.join(" and "))
    };
    let filter =
        format!("from guest g join account a on a.account_id = g.account_id{where_clause}");
    // Counting 100,000 guests of a department needs no account unless a condition reads one.
    let count_sql = if account_conditions {
        format!("select count(*) {filter}")
    } else {
        format!("select count(*) from guest g{where_clause}")
    };
    let mut count = sqlx::query_scalar(&count_sql);
    for b in &binds {
        count = count.bind(b);
    }
    let total: i64 = count.fetch_one(&db.pool).await?;
    let offset = f.page.max(0) * PAGE_SIZE;
    // In the default order the page lies among the guests whose expiry is at most that of the
    // page's last row. That bound is found along the expiry index; then only those guests are
    // joined and ordered by name, not every guest of the department.
    let mut filter = filter;
    if f.sort == Sort::Expiry && !account_conditions {
        let bound_sql = format!(
            "select g.expires_at from guest g{where_clause} order by g.expires_at \
             limit 1 offset {}",
            offset + PAGE_SIZE - 1
        );
        let mut bound = sqlx::query_scalar::<_, i64>(&bound_sql);
        for b in &binds {
            bound = bound.bind(b);
        }
        if let Some(last) = bound.fetch_optional(&db.pool).await? {
            let joiner = if where_clause.is_empty() {
                "where"
            } else {
                "and"
            };
            filter = format!("{filter} {joiner} g.expires_at <= {last}");
        }
    }
    let page_sql = format!(
        "select g.account_id {filter} order by {}, g.account_id limit {PAGE_SIZE} offset {offset}",
        f.sort.order_by(),
    );
    let mut page = sqlx::query_scalar::<_, String>(&page_sql);
    for b in &binds {
        page = page.bind(b);
    }
    let ids: Vec<String> = page.fetch_all(&db.pool).await?;
    if ids.is_empty() {
        return Ok((vec![], total));
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let rows_sql = format!(
        "select {COLUMNS} {FROM} where g.account_id in ({})",
        placeholders.join(", ")
    );
    let mut rows = sqlx::query_as::<_, Guest>(&rows_sql);
    for id in &ids {
        rows = rows.bind(id);
    }
    let mut found = rows.fetch_all(&db.pool).await?;
    // Back into the order the page was chosen in.
    found.sort_by_key(|g| ids.iter().position(|id| *id == g.account_id));
    Ok((found, total))
}

/// Live guests a clerk sponsors whose access ends before `until`, soonest first.
pub async fn expiring_for_sponsor(
    db: &Db,
    sponsor_id: &str,
    until: Timestamp,
) -> Result<Vec<Guest>, sqlx::Error> {
    sqlx::query_as::<_, Guest>(&format!(
        "select {COLUMNS} {FROM} where g.sponsor_id = $1 and {} \
         and g.expires_at <= $2 order by g.expires_at limit 100",
        Status::LIVE_SQL
    ))
    .bind(sponsor_id)
    .bind(until)
    .fetch_all(&db.pool)
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
         permission, sponsor_id, expires_at, sign_in_name) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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

pub async fn touch(db: &Db, id: &str, now: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update guest set last_access_at = $1 where account_id = $2 \
         and (last_access_at is null or last_access_at < $3)",
    )
    .bind(now)
    .bind(id)
    .bind(now - 60)
    .execute(&db.pool)
    .await?;
    Ok(())
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

pub async fn store_recovery_codes(
    conn: &mut AnyConnection,
    id: &str,
    hashes: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from recovery_code where account_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for h in hashes {
        sqlx::query("insert into recovery_code (account_id, code_hash, keyed) values ($1, $2, 1)")
            .bind(id)
            .bind(h)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Uses up one recovery code; true exactly once per code.
pub async fn use_recovery_code(
    conn: &mut AnyConnection,
    id: &str,
    hash: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "update recovery_code set used_at = $1 where account_id = $2 and code_hash = $3 \
         and keyed = 1 and used_at is null and exists (select 1 from account a \
         where a.account_id = $2 and a.status = 'active')",
    )
    .bind(now)
    .bind(id)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Seals recovery codes stored before keyed hashing (plain SHA-256) with the server's key (B9):
/// their digest is replaced by its HMAC, so the codes people hold keep working. Runs at start.
pub async fn seal_legacy_recovery_codes(
    db: &Db,
    secrets: &crate::auth::totp::SecretBox,
) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let legacy: Vec<(String, String)> =
        sqlx::query_as("select account_id, code_hash from recovery_code where keyed = 0")
            .fetch_all(&mut *tx)
            .await?;
    for (account_id, digest) in &legacy {
        sqlx::query(
            "update recovery_code set code_hash = $1, keyed = 1 \
             where account_id = $2 and code_hash = $3 and keyed = 0",
        )
        .bind(secrets.recovery_hash(digest))
        .bind(account_id)
        .bind(digest)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(legacy.len() as u64)
}

pub async fn recovery_codes_left(db: &Db, id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from recovery_code where account_id = $1 and used_at is null",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
}

#[derive(Clone, Debug, FromRow)]
pub struct ExtensionRequest {
    pub extension_request_id: String,
    pub account_id: String,
    pub message: String,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    pub decision: Option<String>,
    pub decision_reason: Option<String>,
    pub new_expires_at: Option<i64>,
}

const REQUEST_COLUMNS: &str = "extension_request_id, account_id, message, created_at, decided_at, \
     decision, decision_reason, new_expires_at";

pub async fn requests(db: &Db, id: &str) -> Result<Vec<ExtensionRequest>, sqlx::Error> {
    sqlx::query_as::<_, ExtensionRequest>(&format!(
        "select {REQUEST_COLUMNS} from extension_request where account_id = $1 \
         order by created_at desc"
    ))
    .bind(id)
    .fetch_all(&db.pool)
    .await
}

pub async fn request(
    conn: &mut AnyConnection,
    request_id: &str,
) -> Result<Option<ExtensionRequest>, sqlx::Error> {
    sqlx::query_as::<_, ExtensionRequest>(&format!(
        "select {REQUEST_COLUMNS} from extension_request where extension_request_id = $1"
    ))
    .bind(request_id)
    .fetch_optional(conn)
    .await
}

pub async fn insert_request(
    conn: &mut AnyConnection,
    id: &str,
    message: &str,
    now: Timestamp,
) -> Result<String, sqlx::Error> {
    let rid = new_id();
    sqlx::query(
        "insert into extension_request (extension_request_id, account_id, message, created_at) \
         values ($1, $2, $3, $4)",
    )
    .bind(&rid)
    .bind(id)
    .bind(message)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(rid)
}

/// Decides an open request; false if it was decided already.
pub async fn decide_request(
    conn: &mut AnyConnection,
    request_id: &str,
    clerk: &str,
    decision: &str,
    reason: &str,
    new_expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "update extension_request set decided_at = $1, decided_by = $2, decision = $3, \
         decision_reason = $4, new_expires_at = $5 where extension_request_id = $6 \
         and decided_at is null",
    )
    .bind(now)
    .bind(clerk)
    .bind(decision)
    .bind(reason)
    .bind(new_expires_at)
    .bind(request_id)
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

pub async fn open_request_count(conn: &mut AnyConnection, id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from extension_request where account_id = $1 and decided_at is null",
    )
    .bind(id)
    .fetch_one(conn)
    .await
}
