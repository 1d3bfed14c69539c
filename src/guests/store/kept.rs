//! The clerks' guest lists, kept in memory between views.
//!
//! A page of a list (its filter, sort and page) looks the same to every clerk who may see it,
//! so one copy serves them all. A copy is used only while the list's version is the one the
//! request read from the database first. The database raises a channel's version with every
//! change its guests' lists show (migration 0017), whichever instance or tool made it, so an
//! issue, an enrolment, a revocation or an expiry shows on the very next view everywhere; the
//! database stays the truth.

use std::sync::Arc;

use super::list::{Filter, Listed, list};
use crate::db::Db;
use crate::kept::{Drawings, Versioned};

/// About how much memory the kept pages may take, in bytes, and how many fit; as much again
/// for their drawings.
const BUDGET: u64 = 16 * 1024 * 1024;
const PAGES: usize = 1024;

/// What a list's rows were read under: for a channel's list its version; for a department's,
/// the department's own version and the sum of its channels'; for all guests, the number of
/// channels and the sum of their versions. Each part only ever rises (no channel or department
/// is ever deleted), so the same pair means nothing the list shows has changed.
pub type Version = (i64, i64);

pub struct GuestLists {
    /// A page's rows and the total that match.
    pages: Versioned<Filter, Version, (Arc<Vec<Listed>>, i64)>,
    /// A page's rows drawn, per language.
    drawn: Drawings<(Filter, String), Vec<Listed>, Arc<str>>,
}

impl Default for GuestLists {
    fn default() -> Self {
        Self {
            pages: Versioned::new(PAGES, BUDGET),
            drawn: Drawings::new(PAGES, BUDGET),
        }
    }
}

impl GuestLists {
    /// One page of guests and the total that match (see [`list`]), from the kept copy when
    /// nothing the list shows has changed since it was read, else from the database.
    /// `known` is the list's version if the request has read it already, before the list.
    pub async fn list(
        &self,
        db: &Db,
        filter: &Filter,
        known: Option<Version>,
    ) -> Result<(Arc<Vec<Listed>>, i64), sqlx::Error> {
        let version = match known {
            Some(version) => version,
            None => version(db, filter).await?,
        };
        if let Some(kept) = self.pages.get(filter, &version) {
            return Ok(kept);
        }
        // Read after the version, so the rows are at least as new as the version they are
        // kept under.
        let (rows, total) = list(db, filter).await?;
        let rows = Arc::new(rows);
        let bytes = key_bytes(filter) + rows.iter().map(size).sum::<u64>() + 64;
        self.pages
            .keep(filter.clone(), version, (rows.clone(), total), bytes);
        Ok((rows, total))
    }

    /// The drawing of `rows` (a page of `filter` from [`Self::list`]) in `variant` (a
    /// language): the kept one if it was drawn from these very rows, else `draw`'s, kept for
    /// the next clerk.
    pub fn drawn<E>(
        &self,
        filter: &Filter,
        variant: &str,
        rows: &Arc<Vec<Listed>>,
        draw: impl FnOnce() -> Result<String, E>,
    ) -> Result<Arc<str>, E> {
        let key = (filter.clone(), variant.to_string());
        self.drawn.get_or_draw(key, rows, || {
            let html: Arc<str> = Arc::from(draw()?);
            // The rows count too: a drawing keeps them alive after their page may have gone.
            let bytes = key_bytes(filter) + html.len() as u64 + rows.iter().map(size).sum::<u64>();
            Ok((html, bytes))
        })
    }
}

/// About how many bytes a list's filter takes as a key.
fn key_bytes(filter: &Filter) -> u64 {
    filter.search.as_ref().map_or(0, String::len) as u64 + 128
}

/// The version of the guests `filter` lists (see [`Version`]).
///
/// A channel's list is at the channel's version, which also rises when the channel moves to
/// another department: `(0, channel.guests_version)`.
async fn version(db: &Db, filter: &Filter) -> Result<Version, sqlx::Error> {
    let (sql, key) = match (&filter.channel_id, &filter.department_id) {
        (Some(channel), _) => (
            "select 0, guests_version from channel where channel_id = $1",
            Some(channel),
        ),
        (None, Some(department)) => (
            "select d.guests_version, (select cast(coalesce(sum(c.guests_version), 0) as bigint) \
             from channel c where c.department_id = d.department_id) \
             from department d where d.department_id = $1",
            Some(department),
        ),
        (None, None) => (
            "select count(*), cast(coalesce(sum(guests_version), 0) as bigint) from channel",
            None,
        ),
    };
    let mut query = sqlx::query_as::<_, Version>(sql);
    if let Some(key) = key {
        query = query.bind(key);
    }
    let mut conn = db.reader().await?;
    let version = query.fetch_optional(&mut *conn).await?;
    conn.done();
    // A channel or department that does not exist lists no guests, whatever is kept.
    Ok(version.unwrap_or((-1, -1)))
}

fn size(g: &Listed) -> u64 {
    let text = g.account_id.len()
        + g.name.len()
        + g.organisation.len()
        + g.sponsor_name.len()
        + g.channel_name.len();
    (std::mem::size_of::<Listed>() + text) as u64
}
