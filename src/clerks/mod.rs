//! Clerk administration shared by the command line and the staff console: adding clerks,
//! issuing their one-time setup links, and the first-admin link printed at start.

pub mod pages;
pub mod store;

pub use crate::accounts::{Email, PersonName, Role};
use crate::accounts::{StaffUser, Status, logins};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};
use crate::enrolment::{Purpose, issue_link};
use crate::error::{Error, Result};
use store::NewClerk;

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
) -> Result<std::result::Result<AddedClerk, AddClerkError>> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if let Some(d) = department_id
        && !store::department_exists(&mut tx, d).await?
    {
        return Ok(Err(AddClerkError::NoSuchDepartment));
    }
    let id = match store::insert_clerk(
        &mut tx,
        &NewClerk {
            email: email.as_str(),
            name: name.as_str(),
            role: if admin { Role::Admin } else { Role::Clerk },
            department_id,
            status: Status::Invited,
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
    let link = issue_link(
        &mut tx,
        state,
        Purpose::ClerkSetup,
        Some(&id),
        None,
        actor,
        source,
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(AddedClerk {
        account_id: id,
        link,
    }))
}

/// A department's name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone)]
pub struct DepartmentName(String);

pub const DEPARTMENT_NAME_MAX: usize = 100;

impl DepartmentName {
    pub fn parse(s: &str) -> std::result::Result<Self, &'static str> {
        crate::text::field(s, DEPARTMENT_NAME_MAX, false).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name is already a department's.
#[derive(Debug, PartialEq, Eq)]
pub struct DepartmentTaken;

/// Adds a department, recorded; the console and the command line both come here.
pub async fn add_department(
    state: &AppState,
    actor: &Actor,
    source: &Source,
    name: &DepartmentName,
) -> Result<std::result::Result<String, DepartmentTaken>> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let id = match store::insert_department(&mut tx, name.as_str(), now).await {
        Ok(id) => id,
        Err(e) if crate::db::is_unique_violation(&e) => return Ok(Err(DepartmentTaken)),
        Err(e) => return Err(e.into()),
    };
    audit::record(
        &mut tx,
        now,
        source,
        &Event::new(actor.clone(), "department.add", Outcome::Success)
            .target(&id)
            .detail(name.as_str()),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(id))
}

/// The department with this name, added first if there is none (the command line).
pub async fn department_named(
    state: &AppState,
    actor: &Actor,
    source: &Source,
    name: &DepartmentName,
) -> Result<String> {
    let mut conn = state.db.pool.acquire().await?;
    if let Some(d) = store::department_by_name(&mut conn, name.as_str()).await? {
        return Ok(d.department_id);
    }
    drop(conn);
    match add_department(state, actor, source, name).await? {
        Ok(id) => Ok(id),
        // Added by someone else in the meantime.
        Err(DepartmentTaken) => {
            let mut conn = state.db.pool.acquire().await?;
            store::department_by_name(&mut conn, name.as_str())
                .await?
                .map(|d| d.department_id)
                .ok_or(Error::NotFound)
        }
    }
}

/// Whether a clerk's setup mail went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mailed {
    Yes,
    Failed,
}

impl Mailed {
    /// The notice the console shows after adding a clerk or resending their link.
    pub fn notice_key(self) -> &'static str {
        match self {
            Mailed::Yes => "clerks-added-mailed",
            Mailed::Failed => "clerks-added-mail-failed",
        }
    }
}

async fn mail_setup_link(state: &AppState, name: &str, email: &str, link: &str) -> Result<Mailed> {
    let until = state.now() + state.config.invitation_lifetime_secs;
    let mail = crate::mail::Mail {
        to_name: name.to_string(),
        to_email: email.to_string(),
        content: crate::mail::Content::ClerkSetup {
            link: link.to_string(),
            until,
        },
    };
    Ok(match state.mailer.send(&mail).await {
        Ok(()) => Mailed::Yes,
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "setup mail not sent");
            Mailed::Failed
        }
    })
}

/// A new clerk as the console's form gives them, checked.
pub struct NewClerkInput {
    pub email: Email,
    pub name: PersonName,
    pub role: Role,
    /// Required for a clerk; an admin may have none.
    pub department_id: Option<String>,
}

/// An admin adds a clerk in the console: the clerk is added and mailed their setup link.
pub async fn invite_clerk(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    c: &NewClerkInput,
) -> Result<std::result::Result<Mailed, AddClerkError>> {
    let admin = c.role == Role::Admin;
    let department = c.department_id.as_deref();
    let added = add_clerk(
        state,
        &by.actor(),
        source,
        &c.email,
        &c.name,
        admin,
        department,
    )
    .await?;
    match added {
        Ok(added) => {
            let mailed =
                mail_setup_link(state, c.name.as_str(), c.email.as_str(), &added.link).await?;
            Ok(Ok(mailed))
        }
        Err(e) => Ok(Err(e)),
    }
}

/// A new setup link for a clerk who has not finished setup, mailed to them (the old one dies).
/// `None` when the clerk has already set up.
pub async fn resend_setup(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    id: &str,
) -> Result<Option<Mailed>> {
    let mut tx = state.db.begin().await?;
    let Some(clerk) = store::clerk(&mut tx, id).await? else {
        return Err(Error::NotFound);
    };
    if clerk.status != Status::Invited {
        return Ok(None);
    }
    let link = issue_link(
        &mut tx,
        state,
        Purpose::ClerkSetup,
        Some(id),
        None,
        &by.actor(),
        source,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(
        mail_setup_link(state, &clerk.name, &clerk.email, &link).await?,
    ))
}

/// An admin disables a clerk (their sessions and setup link end at once, C5, A7) or enables
/// them again (a locked clerk is unlocked; one who never finished setup waits for it again).
/// Admins cannot change themselves.
pub async fn set_clerk_enabled(
    state: &AppState,
    by: &StaffUser,
    source: &Source,
    id: &str,
    enable: bool,
) -> Result<()> {
    if id == by.account_id {
        return Err(Error::Forbidden);
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let Some(clerk) = store::clerk(&mut tx, id).await? else {
        return Err(Error::NotFound);
    };
    let (action, allowed) = if enable {
        (
            "clerk.enable",
            clerk.status == Status::Disabled || clerk.status == Status::Locked,
        )
    } else {
        ("clerk.disable", clerk.status != Status::Disabled)
    };
    if !allowed {
        return Ok(());
    }
    if enable && clerk.status == Status::Locked {
        crate::accounts::store::unlock(&mut tx, id).await?;
    } else {
        let new_status = if !enable {
            Status::Disabled
        } else if crate::accounts::store::by_id(&mut tx, id)
            .await?
            .is_some_and(|a| a.totp_secret.is_some())
        {
            Status::Active
        } else {
            Status::Invited
        };
        crate::accounts::store::set_status(&mut tx, id, new_status).await?;
    }
    if !enable {
        logins::end_all(&mut tx, id, None, "account_disabled", now).await?;
        crate::guests::store::revoke_invitations(&mut tx, id, now).await?;
    }
    audit::record(
        &mut tx,
        now,
        source,
        &Event::new(by.actor(), action, Outcome::Success).target(id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// While no admin exists, a fresh first-admin link (earlier ones die) for the console.
pub async fn bootstrap_link(state: &AppState) -> anyhow::Result<Option<String>> {
    if store::admin_exists(&state.db).await? {
        return Ok(None);
    }
    let mut tx = state.db.begin().await?;
    let link = issue_link(
        &mut tx,
        state,
        Purpose::Bootstrap,
        None,
        None,
        &Actor::System,
        &Source::default(),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(link))
}
