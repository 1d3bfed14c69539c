//! Guest lists for clerks: filter, sort and page, at city size (100,000 guests in a
//! department answer in tens of milliseconds; see the `guest_lists_at_city_size` measurement).

use sqlx::FromRow;

use super::{COLUMNS, FROM, Guest};
use crate::accounts::Status;
use crate::clock::Timestamp;
use crate::db::Db;

/// A guest as a clerk's list shows them: a third of a whole guest row's columns, read from the
/// guest row (its copies of the account's name and status, migrations 0012 and 0016), its
/// channel and its sponsor. The opened invitation is looked up as for a whole row (`COLUMNS`).
#[derive(Clone, Debug, FromRow)]
pub struct Listed {
    pub account_id: String,
    pub name: String,
    pub status: Status,
    pub organisation: String,
    pub expires_at: i64,
    pub last_access_at: Option<i64>,
    pub sponsor_name: String,
    pub channel_name: String,
    pub invitation_opened_at: Option<i64>,
}

impl Listed {
    /// What a clerk sees: invited, opened, enrolled, active, expired, revoked (or closed, locked).
    pub fn display_status(&self) -> &'static str {
        super::display_status(self.status, self.invitation_opened_at, self.last_access_at)
    }
}

const LISTED: &str = "select g.account_id, g.account_name as name, g.status, g.organisation, \
     g.expires_at, g.last_access_at, s.name as sponsor_name, ch.name as channel_name, \
     (select max(i.opened_at) from invitation i where i.account_id = g.account_id \
      and i.opened_at is not null and i.used_at is null and i.revoked_at is null) \
      as invitation_opened_at \
     from guest g join channel ch on ch.channel_id = g.channel_id \
     join account s on s.account_id = g.sponsor_id";

/// Which guests a list shows, and in which order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    pub channel_id: Option<String>,
    pub department_id: Option<String>,
    /// A display status (`invited`, `opened`, `enrolled`, `active`, `expired`, `revoked`).
    pub status: Option<String>,
    pub search: Option<String>,
    pub sort: Sort,
    pub page: i64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
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
            Sort::Expiry => "g.expires_at, g.name_key",
            Sort::Name => "g.name_key, g.expires_at",
            Sort::Organisation => "lower(g.organisation), g.name_key",
            Sort::LastAccess => "coalesce(g.last_access_at, 0) desc, g.name_key",
        }
    }
}

pub const PAGE_SIZE: i64 = 50;

/// One page of guests and the total that match.
///
/// Built to stay fast at city size (100,000 guests in one department): only the conditions
/// asked for enter the SQL, so the planner can use the department's and the channel's list
/// indexes; the count and the page join the accounts only when a search needs them; the page is
/// chosen on the guest rows first, and only its 50 rows are joined with everything the list
/// shows (the invitation look-up per row then runs 50 times, not once per guest). The planner
/// needs statistics for this (`Db::optimize`).
pub async fn list(db: &Db, f: &Filter) -> Result<(Vec<Listed>, i64), sqlx::Error> {
    let mut conditions: Vec<String> = vec![];
    let mut binds: Vec<String> = vec![];
    let bind = |value: String, binds: &mut Vec<String>| {
        binds.push(value);
        format!("${}", binds.len())
    };
    // The same conditions on the tally (migration 0015), where the tally can count them.
    let mut tallied: Option<Vec<String>> = Some(vec![]);
    let mut tally = |condition: String| {
        if let Some(t) = tallied.as_mut() {
            t.push(condition);
        }
    };
    if let Some(channel) = f.channel_id.clone() {
        let p = bind(channel, &mut binds);
        conditions.push(format!("g.channel_id = {p}"));
        tally(format!("t.channel_id = {p}"));
    }
    if let Some(department) = f.department_id.clone() {
        let p = bind(department, &mut binds);
        conditions.push(format!("g.department_id = {p}"));
        tally(format!("c.department_id = {p}"));
    }
    // The display status is derived; the SQL matches it with the same rules as `display_status`.
    // Open invitations that were opened are few: one list of them beats a look-up per guest.
    let opened = "g.account_id in (select i.account_id from invitation i \
         where i.account_id is not null and i.opened_at is not null and i.used_at is null \
         and i.revoked_at is null)";
    let mut unopened = false;
    match f.status.as_deref().filter(|s| !s.is_empty()) {
        None => {}
        // The guest row's copy of its account's status (kept by a trigger, migration 0012).
        // Counted as the invited minus the opened among them (below), which reads the index
        // alone instead of looking up every invited guest among the opened invitations.
        Some("invited") => {
            conditions.push("g.status = 'invited'".into());
            tally("t.status = 'invited'".into());
            unopened = true;
        }
        Some("opened") => conditions.push(format!("g.status = 'invited' and {opened}")),
        Some("enrolled") => {
            conditions.push("g.status = 'active' and g.last_access_at is null".into())
        }
        Some("active") => {
            conditions.push("g.status = 'active' and g.last_access_at is not null".into())
        }
        Some(other) => {
            let p = bind(other.to_string(), &mut binds);
            conditions.push(format!("g.status = {p}"));
            tally(format!("t.status = {p}"));
        }
    }
    // Opened, enrolled and active depend on more than the status: those the tally cannot count.
    if matches!(f.status.as_deref(), Some("opened" | "enrolled" | "active")) {
        tallied = None;
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
    // Only the search reads the account; channel, department and status are on the guest row.
    let account_conditions = search.is_some();
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
    // Only a search needs the accounts; the rest is on the guest row (name_key is the name's
    // sort key, migration 0014).
    let from = if account_conditions {
        format!("from guest g join account a on a.account_id = g.account_id{where_clause}")
    } else {
        format!("from guest g{where_clause}")
    };
    // `unopened` always comes with the status condition, so `from` has a `where` to extend.
    let listed = if unopened {
        format!("{from} and not {opened}")
    } else {
        from.clone()
    };
    // Without a search, the tally answers the count: a row per channel, not one per guest.
    let tally_sql = tallied.filter(|_| !account_conditions).map(|t| {
        let join = if f.department_id.is_some() {
            " join channel c on c.channel_id = t.channel_id"
        } else {
            ""
        };
        let where_clause = if t.is_empty() {
            String::new()
        } else {
            format!(" where {}", t.join(" and "))
        };
        format!(
            "select cast(coalesce(sum(t.n), 0) as bigint) from guest_tally t{join}{where_clause}"
        )
    });
    let count_sql = match tally_sql {
        Some(t) if unopened => format!("select ({t}) - (select count(*) {from} and {opened})"),
        Some(t) => t,
        None if unopened && !account_conditions => {
            format!("select (select count(*) {from}) - (select count(*) {from} and {opened})")
        }
        None => format!("select count(*) {listed}"),
    };
    let mut count = sqlx::query_scalar(&count_sql);
    for b in &binds {
        count = count.bind(b);
    }
    let total: i64 = count.fetch_one(&db.pool).await?;
    let offset = f.page.max(0) * PAGE_SIZE;
    // In the default order, a department's or a channel's guests of one status are read along
    // an index already in that order (migration 0014).
    let page_sql = format!(
        "select g.account_id {listed} order by {}, g.account_id limit {PAGE_SIZE} offset {offset}",
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
        "{LISTED} where g.account_id in ({})",
        placeholders.join(", ")
    );
    let mut rows = sqlx::query_as::<_, Listed>(&rows_sql);
    for id in &ids {
        rows = rows.bind(id);
    }
    let found = rows.fetch_all(&db.pool).await?;
    // Back into the order the page was chosen in, each row put at its id's place.
    let place: std::collections::HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut placed: Vec<Option<Listed>> = vec![None; ids.len()];
    for g in found {
        if let Some(&i) = place.get(g.account_id.as_str()) {
            placed[i] = Some(g);
        }
    }
    Ok((placed.into_iter().flatten().collect(), total))
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
