//! The staff console: home, departments and clerks (admins).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::accounts::logins;
use crate::accounts::store::{self as accounts, ClerkRow, Department};
use crate::app::AppState;
use crate::audit::{self, Event, Outcome};
use crate::clerks::{self, AddClerkError, Email, PersonName};
use crate::links;
use crate::web::Routes;
use crate::web::ctx::{Ctx, render, render_invalid};
use crate::web::error::{AppError, AppResult};
use crate::web::guard::{AdminUser, StaffUser};

pub fn router() -> Routes {
    Routes::new()
        .route(links::STAFF_HOME, get(home_get))
        .route(
            links::STAFF_DEPARTMENTS,
            get(departments_get).post(departments_post),
        )
        .route(links::STAFF_CLERKS, get(clerks_get).post(clerks_post))
        .route(links::STAFF_CLERK_DISABLE, post(clerk_disable_post))
        .route(links::STAFF_CLERK_ENABLE, post(clerk_enable_post))
        .route(links::STAFF_CLERK_RESEND, post(clerk_resend_post))
}

fn with_user(mut ctx: Ctx, user: &StaffUser) -> Ctx {
    ctx.user = Some(user.name.clone());
    ctx.is_admin = user.is_admin();
    ctx
}

#[derive(Template)]
#[template(path = "staff/home.html")]
struct HomePage {
    ctx: Ctx,
    user: StaffUser,
    /// Extension requests from guests this clerk sponsors, still unanswered.
    requests: Vec<(String, String, String)>,
    /// Guests this clerk sponsors whose access ends within a week.
    expiring: Vec<crate::guests::store::Guest>,
}

impl HomePage {
    fn role_key(&self) -> String {
        format!("role-{}", self.user.role)
    }
}

impl HomePage {
    fn day(&self, t: &i64) -> String {
        crate::guests::last_day(*t)
    }
}

async fn home_get(State(state): State<AppState>, ctx: Ctx, user: StaffUser) -> AppResult<Response> {
    let requests: Vec<(String, String, String)> = sqlx::query_as(
        "select a.account_id, a.name, g.organisation from extension_request r \
         join guest g on g.account_id = r.account_id join account a on a.account_id = g.account_id \
         where g.sponsor_id = $1 and r.decided_at is null order by r.created_at",
    )
    .bind(&user.account_id)
    .fetch_all(&state.db.pool)
    .await?;
    let expiring = crate::guests::store::expiring_for_sponsor(
        &state.db,
        &user.account_id,
        state.now() + 7 * 86_400,
    )
    .await?;
    render(&HomePage {
        ctx: with_user(ctx, &user),
        user,
        requests,
        expiring,
    })
}

#[derive(Template)]
#[template(path = "staff/departments.html")]
struct DepartmentsPage {
    ctx: Ctx,
    departments: Vec<Department>,
    name: String,
    error: Option<String>,
}

async fn departments_get(
    State(state): State<AppState>,
    ctx: Ctx,
    AdminUser(user): AdminUser,
) -> AppResult<Response> {
    render(&DepartmentsPage {
        ctx: with_user(ctx, &user),
        departments: accounts::departments(&state.db).await?,
        name: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct DepartmentForm {
    name: String,
}

pub const DEPARTMENT_NAME_MAX: usize = 100;

async fn departments_post(
    State(state): State<AppState>,
    ctx: Ctx,
    AdminUser(user): AdminUser,
    Form(form): Form<DepartmentForm>,
) -> AppResult<Response> {
    let name = form.name.trim().to_string();
    let problem = if name.is_empty() {
        Some("form-required")
    } else if name.chars().count() > DEPARTMENT_NAME_MAX {
        Some("form-too-long")
    } else if !crate::text::is_clean(&name, false) {
        Some("form-invalid-chars")
    } else {
        None
    };
    let now = state.now();
    let outcome = match problem {
        Some(p) => Err(p),
        None => {
            let mut tx = state.db.begin().await?;
            match accounts::insert_department(&mut tx, &name, now).await {
                Ok(id) => {
                    audit::record(
                        &mut tx,
                        now,
                        &ctx.source,
                        &Event::new(user.actor(), "department.add", Outcome::Success)
                            .target(id)
                            .detail(name.clone()),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }
                Err(e) if crate::db::is_unique_violation(&e) => Err("form-department-taken"),
                Err(e) => return Err(e.into()),
            }
        }
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(links::STAFF_DEPARTMENTS).into_response()),
        Err(key) => {
            let error = Some(ctx.t(key));
            render_invalid(&DepartmentsPage {
                ctx: with_user(ctx, &user),
                departments: accounts::departments(&state.db).await?,
                name: name.chars().take(DEPARTMENT_NAME_MAX * 2).collect(),
                error,
            })
        }
    }
}

#[derive(Template)]
#[template(path = "staff/clerks.html")]
struct ClerksPage {
    ctx: Ctx,
    me: String,
    clerks: Vec<ClerkRow>,
    departments: Vec<Department>,
    form: ClerkForm,
    errors: Vec<(String, String)>,
    notice: Option<String>,
}

impl ClerksPage {
    fn error_for(&self, field: &str) -> Option<String> {
        crate::web::ctx::field_error(&self.errors, field)
    }
    fn status_label(&self, status: &crate::accounts::Status) -> String {
        self.ctx.t(&format!("status-{status}"))
    }
    fn role_label(&self, role: &crate::clerks::Role) -> String {
        self.ctx.t(&format!("role-{role}"))
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct ClerkForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    department_id: String,
}

async fn clerks_page(
    state: &AppState,
    ctx: Ctx,
    user: &StaffUser,
    form: ClerkForm,
    errors: Vec<(String, String)>,
    notice: Option<String>,
) -> AppResult<ClerksPage> {
    Ok(ClerksPage {
        ctx: with_user(ctx, user),
        me: user.account_id.clone(),
        clerks: accounts::clerks(&state.db).await?,
        departments: accounts::departments(&state.db).await?,
        form,
        errors,
        notice,
    })
}

async fn clerks_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    AdminUser(user): AdminUser,
) -> AppResult<Response> {
    let notice = session
        .remove::<String>("notice")
        .await?
        .map(|key| ctx.t(&key));
    let page = clerks_page(&state, ctx, &user, ClerkForm::default(), vec![], notice).await?;
    render(&page)
}

async fn clerks_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    AdminUser(user): AdminUser,
    Form(form): Form<ClerkForm>,
) -> AppResult<Response> {
    let mut errors = Vec::new();
    let email = Email::parse(&form.email).map_err(|k| errors.push(("email".into(), ctx.t(k))));
    let name = PersonName::parse(&form.name).map_err(|k| errors.push(("name".into(), ctx.t(k))));
    let admin = form.role == "admin";
    if !admin && form.role != "clerk" {
        errors.push(("role".into(), ctx.t("form-required")));
    }
    let department = Some(form.department_id.trim()).filter(|d| !d.is_empty());
    if !admin && department.is_none() {
        errors.push(("department_id".into(), ctx.t("form-department-required")));
    }
    if let (Ok(email), Ok(name), true) = (&email, &name, errors.is_empty()) {
        match clerks::add_clerk(
            &state,
            &user.actor(),
            &ctx.source,
            email,
            name,
            admin,
            department,
        )
        .await?
        {
            Ok(added) => {
                let mail = clerks::setup_mail(&state, name.as_str(), email.as_str(), &added.link)?;
                let notice = match state.mailer.send(&mail).await {
                    Ok(()) => "clerks-added-mailed",
                    Err(e) => {
                        tracing::warn!(error = format!("{e:#}"), "setup mail not sent");
                        "clerks-added-mail-failed"
                    }
                };
                session.insert("notice", notice).await?;
                return Ok(Redirect::to(links::STAFF_CLERKS).into_response());
            }
            Err(AddClerkError::EmailTaken) => {
                errors.push(("email".into(), ctx.t("form-email-taken")))
            }
            Err(AddClerkError::NoSuchDepartment) => {
                errors.push(("department_id".into(), ctx.t("form-department-required")))
            }
        }
    }
    let mut shown = form.clone();
    shown.email = shown.email.chars().take(300).collect();
    shown.name = shown.name.chars().take(200).collect();
    let page = clerks_page(&state, ctx, &user, shown, errors, None).await?;
    render_invalid(&page)
}

async fn clerk_status_change(
    state: &AppState,
    ctx: &Ctx,
    user: &StaffUser,
    id: &str,
    to: &str,
) -> AppResult<()> {
    if id == user.account_id {
        return Err(AppError::Forbidden);
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let Some(clerk) = accounts::clerk(&mut tx, id).await? else {
        return Err(AppError::NotFound);
    };
    let (action, allowed) = match to {
        "disabled" => (
            "clerk.disable",
            clerk.status != crate::accounts::Status::Disabled,
        ),
        _ => (
            "clerk.enable",
            clerk.status == crate::accounts::Status::Disabled
                || clerk.status == crate::accounts::Status::Locked,
        ),
    };
    if !allowed {
        return Ok(());
    }
    if to == "active" && clerk.status == crate::accounts::Status::Locked {
        accounts::unlock(&mut tx, id).await?;
    } else {
        // An enabled clerk who never finished setup goes back to waiting for it.
        let new_status = if to == "active" {
            let account = accounts::by_id(&mut tx, id).await?;
            if account.is_some_and(|a| a.totp_secret.is_some()) {
                "active"
            } else {
                "invited"
            }
        } else {
            to
        };
        accounts::set_status(&mut tx, id, new_status).await?;
    }
    if to == "disabled" {
        // Their sessions end now (C5); the guard would refuse them anyway.
        logins::end_all(&mut tx, id, None, "account_disabled", now).await?;
        // A setup link must not outlive the decision either (A7); re-enabling needs a new one.
        crate::guests::store::revoke_invitations(&mut tx, id, now).await?;
    }
    audit::record(
        &mut tx,
        now,
        &ctx.source,
        &Event::new(user.actor(), action, Outcome::Success).target(id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn clerk_disable_post(
    State(state): State<AppState>,
    ctx: Ctx,
    AdminUser(user): AdminUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    clerk_status_change(&state, &ctx, &user, &id, "disabled").await?;
    Ok(Redirect::to(links::STAFF_CLERKS).into_response())
}

async fn clerk_enable_post(
    State(state): State<AppState>,
    ctx: Ctx,
    AdminUser(user): AdminUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    clerk_status_change(&state, &ctx, &user, &id, "active").await?;
    Ok(Redirect::to(links::STAFF_CLERKS).into_response())
}

async fn clerk_resend_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    AdminUser(user): AdminUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let Some(clerk) = accounts::clerk(&mut tx, &id).await? else {
        return Err(AppError::NotFound);
    };
    if clerk.status != crate::accounts::Status::Invited {
        return Ok(Redirect::to(links::STAFF_CLERKS).into_response());
    }
    let link = clerks::issue_link(
        &mut tx,
        &state,
        "clerk_setup",
        Some(&id),
        &user.actor(),
        &ctx.source,
    )
    .await?;
    tx.commit().await?;
    let mail = clerks::setup_mail(&state, &clerk.name, &clerk.email, &link)?;
    let notice = match state.mailer.send(&mail).await {
        Ok(()) => "clerks-added-mailed",
        Err(_) => "clerks-added-mail-failed",
    };
    session.insert("notice", notice).await?;
    Ok(Redirect::to(links::STAFF_CLERKS).into_response())
}
