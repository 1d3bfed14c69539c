//! Clerk administration shared by the command line and the staff console: adding clerks,
//! issuing their one-time setup links, and the first-admin link printed at start.

pub mod pages;

use askama::Template;
use lettre::Address;
use sqlx::AnyConnection;

use crate::accounts::store::{self as accounts, NewClerk};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};
use crate::auth::token::LinkToken;
use crate::enrolment::store::{self as invitations, NewInvitation};
use crate::i18n::Lang;
use crate::links;
use crate::mail::Mail;

pub const NAME_MAX: usize = 100;

/// A clerk's name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let s = s.trim();
        if s.is_empty() {
            return Err("form-required");
        }
        if s.chars().count() > NAME_MAX {
            return Err("form-too-long");
        }
        if !crate::text::is_clean(s, false) {
            return Err("form-invalid-chars");
        }
        Ok(Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address that lettre can parse, stored lower-case.
#[derive(Debug, Clone)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let s = s.trim().to_lowercase();
        if s.is_empty() {
            return Err("form-required");
        }
        if s.chars().count() > crate::accounts::pages::EMAIL_MAX {
            return Err("form-too-long");
        }
        s.parse::<Address>().map_err(|_| "form-email-invalid")?;
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Issues a setup link for an account (killing any earlier one) and records it.
pub async fn issue_link(
    conn: &mut AnyConnection,
    state: &AppState,
    purpose: &str,
    account_id: Option<&str>,
    actor: &Actor,
    source: &Source,
) -> anyhow::Result<String> {
    let token = LinkToken::generate();
    let now = state.now();
    let created_by = match actor {
        Actor::Clerk(id) => Some(id.as_str()),
        _ => None,
    };
    let id = invitations::insert(
        conn,
        &NewInvitation {
            token_hash: &token.hash(),
            purpose,
            account_id,
            created_by,
            expires_at: now + state.config.invitation_lifetime_secs,
        },
        now,
    )
    .await?;
    let mut ev = Event::new(actor.clone(), "invitation.issued", Outcome::Success).detail(purpose);
    ev.target = Some(account_id.unwrap_or(&id).to_string());
    audit::record(conn, now, source, &ev).await?;
    Ok(state.link(&links::setup(token.as_str())))
}

pub struct AddedClerk {
    pub account_id: String,
    pub link: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AddClerkError {
    EmailTaken,
    NoSuchDepartment,
}

/// Adds a clerk in the `invited` state with a setup link; the caller mails or prints the link.
#[allow(clippy::too_many_arguments)]
pub async fn add_clerk(
    state: &AppState,
    actor: &Actor,
    source: &Source,
    email: &Email,
    name: &PersonName,
    admin: bool,
    department_id: Option<&str>,
) -> anyhow::Result<Result<AddedClerk, AddClerkError>> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if let Some(d) = department_id
        && !accounts::department_exists(&mut tx, d).await?
    {
        return Ok(Err(AddClerkError::NoSuchDepartment));
    }
    let id = match accounts::insert_clerk(
        &mut tx,
        &NewClerk {
            email: email.as_str(),
            name: name.as_str(),
            role: if admin { "admin" } else { "clerk" },
            department_id,
            status: "invited",
        },
        now,
    )
    .await
    {
        Ok(id) => id,
        Err(e) if crate::db::is_unique_violation(&e) => return Ok(Err(AddClerkError::EmailTaken)),
        Err(e) => return Err(e.into()),
    };
    audit::record(
        &mut tx,
        now,
        source,
        &Event::new(actor.clone(), "clerk.add", Outcome::Success)
            .target(&id)
            .detail(if admin { "admin" } else { "clerk" }),
    )
    .await?;
    let link = issue_link(&mut tx, state, "clerk_setup", Some(&id), actor, source).await?;
    tx.commit().await?;
    Ok(Ok(AddedClerk {
        account_id: id,
        link,
    }))
}

#[derive(Template)]
#[template(path = "mail/clerk_setup.txt")]
struct SetupText<'a> {
    name: &'a str,
    link: &'a str,
    hours: i64,
    ja: Lang,
    en: Lang,
}

#[derive(Template)]
#[template(path = "mail/clerk_setup.html")]
struct SetupHtml<'a> {
    name: &'a str,
    link: &'a str,
    hours: i64,
    ja: Lang,
    en: Lang,
}

/// The setup mail: Japanese first, English below; text and HTML parts.
pub fn setup_mail(state: &AppState, name: &str, email: &str, link: &str) -> anyhow::Result<Mail> {
    let hours = state.config.invitation_lifetime_secs / 3600;
    let text = SetupText {
        name,
        link,
        hours,
        ja: Lang::Ja,
        en: Lang::En,
    }
    .render()?;
    let html = SetupHtml {
        name,
        link,
        hours,
        ja: Lang::Ja,
        en: Lang::En,
    }
    .render()?;
    Ok(Mail {
        to_name: name.to_string(),
        to_email: email.to_string(),
        subject: format!(
            "{} / {}",
            Lang::Ja.t("mail-setup-subject"),
            Lang::En.t("mail-setup-subject")
        ),
        text,
        html,
    })
}

/// While no admin exists, a fresh first-admin link (earlier ones die) for the console.
pub async fn bootstrap_link(state: &AppState) -> anyhow::Result<Option<String>> {
    if accounts::admin_exists(&state.db).await? {
        return Ok(None);
    }
    let mut tx = state.db.begin().await?;
    let link = issue_link(
        &mut tx,
        state,
        "bootstrap",
        None,
        &Actor::System,
        &Source::default(),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(link))
}

crate::vocab::text_enum!(
    /// What a clerk may do: an admin also manages departments and clerks and sees every channel.
    Role, "role" { Admin = "admin", Clerk = "clerk" }
);
