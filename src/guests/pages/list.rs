//! A page of a guest list with its filter, sort and paging, shared by the channel page and
//! the department's guest list.

use std::sync::Arc;

use askama::Template;
use serde::Deserialize;

use crate::app::AppState;
use crate::guests::store::{self as guest_db, Filter, Listed, Sort};
use crate::links;
use crate::web::ctx::{Ctx, Words};
use crate::web::error::AppResult;

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub page: i64,
    /// On the channel page: show the conversation's page just older than this message.
    #[serde(default)]
    pub before: Option<String>,
}

impl ListQuery {
    pub fn filter(&self) -> Filter {
        let status = [
            "invited", "opened", "enrolled", "active", "expired", "revoked", "closed", "locked",
        ]
        .contains(&self.status.as_str())
        .then(|| self.status.clone());
        Filter {
            status,
            search: Some(self.q.chars().take(100).collect()),
            sort: Sort::parse(&self.sort),
            page: self.page.clamp(0, 10_000),
            ..Filter::default()
        }
    }
}

/// One page of a guest list, with what its filter form and paging links need.
pub struct GuestList {
    pub rows: Arc<Vec<Listed>>,
    /// The rows drawn as the table's body, kept with the rows for every clerk who reads them
    /// in the same language.
    pub drawn: Arc<str>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub status: String,
    pub q: String,
    pub sort: &'static str,
    pub base: String,
}

impl GuestList {
    /// `channel_version` is the guest list version of the channel whose guests `f` lists, if
    /// the request read it with the channel.
    pub async fn load(
        state: &AppState,
        ctx: &Ctx,
        mut f: Filter,
        channel_version: Option<i64>,
        base: String,
    ) -> AppResult<Self> {
        let known = channel_version.map(|v| (0, v));
        let (rows, total) = state.guest_lists.list(&state.db, &f, known).await?;
        // Kept for every clerk who reads the list: drawn with the language alone (C9).
        let words = ctx.words();
        let drawn = state
            .guest_lists
            .drawn(&f, words.lang().code(), &rows, || {
                GuestRows {
                    ctx: words,
                    rows: &rows,
                }
                .render()
            })?;
        let pages = ((total + guest_db::PAGE_SIZE - 1) / guest_db::PAGE_SIZE).max(1);
        f.page = f.page.min(pages - 1);
        Ok(Self {
            rows,
            drawn,
            total,
            page: f.page,
            pages,
            status: f.status.unwrap_or_default(),
            q: f.search.unwrap_or_default(),
            sort: f.sort.as_str(),
            base,
        })
    }
    /// A link to another page of the same list (query values are URL-encoded).
    pub fn status_is(&self, s: &str) -> bool {
        self.status == s
    }
    pub fn sort_is(&self, s: &str) -> bool {
        self.sort == s
    }
    pub fn page_link(&self, page: i64) -> String {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("status", &self.status)
            .append_pair("q", &self.q)
            .append_pair("sort", self.sort)
            .append_pair("page", &page.to_string())
            .finish();
        format!("{}?{q}", self.base)
    }
    pub fn has_prev(&self) -> bool {
        self.page > 0
    }
    pub fn has_next(&self) -> bool {
        self.page + 1 < self.pages
    }
    pub fn prev(&self) -> i64 {
        self.page - 1
    }
    pub fn next(&self) -> i64 {
        self.page + 1
    }
    pub fn shown_page(&self) -> i64 {
        self.page + 1
    }
}

/// A list's rows as the table's body shows them.
#[derive(Template)]
#[template(path = "staff/_guest_rows.html")]
struct GuestRows<'a> {
    ctx: Words,
    rows: &'a [Listed],
}

impl GuestRows<'_> {
    fn day(&self, t: &i64) -> String {
        self.ctx.last_day(t)
    }
    fn status_label(&self, g: &Listed) -> String {
        self.ctx.t(&format!("guest-status-{}", g.display_status()))
    }
    fn guest_link(&self, g: &Listed) -> String {
        links::staff_guest(&g.account_id)
    }
}
