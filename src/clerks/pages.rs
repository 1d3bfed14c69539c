//! The staff console: home, departments and clerks (admins).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::accounts::StaffUser;
use crate::app::AppState;
use crate::clerks::store::{self, ClerkRow, Department};
use crate::clerks::{
    self, AddClerkError, DEPARTMENT_NAME_MAX, DepartmentName, Email, NewClerkInput, PersonName,
    Role,
};
use crate::links;
use crate::web::ctx::{Ctx, render, render_invalid};
use crate::web::error::AppResult;
use crate::web::forms::take;
use crate::web::guard::AdminUser;
use crate::web::routes::Routes;

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
    /// This clerk's 確認依頼 in active channels, with how many have acknowledged.
    acks: Vec<crate::messages::ack_store::OpenRequest>,
    /// The department's channels with what this clerk has not read yet.
    unread: Vec<crate::messages::store::Unread>,
    notices_on: bool,
    /// For an administrator while no audit witness is configured: the trail's limit, said
    /// plainly (G7).
    no_witness: bool,
}

impl HomePage {
    fn role_key(&self) -> String {
        format!("role-{}", self.user.role)
    }
}

impl HomePage {
    fn day(&self, t: &i64) -> String {
        self.ctx.last_day(t)
    }
    fn excerpt(&self, body: &str) -> String {
        let mut s: String = body.chars().take(40).collect();
        if body.chars().count() > 40 {
            s.push('…');
        }
        s
    }
}

async fn home_get(State(state): State<AppState>, ctx: Ctx, user: StaffUser) -> AppResult<Response> {
    let requests = store::open_requests_for_sponsor(&state.db, &user.account_id).await?;
    let expiring = crate::guests::store::expiring_for_sponsor(
        &state.db,
        &user.account_id,
        state.now() + 7 * 86_400,
    )
    .await?;
    let acks = crate::messages::open_requests(&state, &user.account_id).await?;
    let department = if user.is_admin() {
        None
    } else {
        Some(user.department_id.clone().unwrap_or_default())
    };
    let unread =
        crate::messages::unread_counts(&state, &user.account_id, department.as_deref()).await?;
    let notices_on = crate::messages::notify::enabled(&state, &user.account_id).await?;
    let no_witness = user.is_admin()
        && state.config.witness_email.is_none()
        && state.config.witness_url.is_none();
    render(&HomePage {
        no_witness,
        notices_on,
        ctx: with_user(ctx, &user),
        user,
        requests,
        expiring,
        acks,
        unread,
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
        departments: store::departments(&state.db).await?,
        name: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct DepartmentForm {
    name: String,
}

async fn departments_post(
    State(state): State<AppState>,
    ctx: Ctx,
    AdminUser(user): AdminUser,
    Form(form): Form<DepartmentForm>,
) -> AppResult<Response> {
    let name = form.name.trim().to_string();
    let outcome = match DepartmentName::parse(&name) {
        Err(key) => Err(key),
        Ok(name) => clerks::add_department(&state, &user.actor(), &ctx.source, &name)
            .await?
            .map(|_| ())
            .map_err(|_| "form-department-taken"),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(links::STAFF_DEPARTMENTS).into_response()),
        Err(key) => {
            let error = Some(ctx.t(key));
            render_invalid(&DepartmentsPage {
                ctx: with_user(ctx, &user),
                departments: store::departments(&state.db).await?,
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
    fn attrs(&self, field: &str, hint: bool) -> String {
        crate::web::ctx::field_attrs(&self.errors, field, hint)
    }
    fn status_label(&self, status: &crate::accounts::Status) -> String {
        self.ctx.t(&format!("status-{status}"))
    }
    fn role_label(&self, role: &crate::accounts::Role) -> String {
        self.ctx.t(&format!("role-{role}"))
    }
}

/// A clerk form parsed into what `clerks::invite_clerk` accepts, or each field's problem as a
/// locale key.
impl TryFrom<&ClerkForm> for NewClerkInput {
    type Error = Vec<(&'static str, &'static str)>;

    fn try_from(form: &ClerkForm) -> Result<Self, Self::Error> {
        let mut problems = vec![];
        let email = Email::parse(&form.email).map_err(|k| problems.push(("email", k)));
        let name = PersonName::parse(&form.name).map_err(|k| problems.push(("name", k)));
        let role = form
            .role
            .parse::<Role>()
            .map_err(|_| problems.push(("role", "form-required")));
        let department_id = Some(form.department_id.trim().to_string()).filter(|d| !d.is_empty());
        if role == Ok(Role::Clerk) && department_id.is_none() {
            problems.push(("department_id", "form-department-required"));
        }
        match (email, name, role) {
            (Ok(email), Ok(name), Ok(role)) if problems.is_empty() => Ok(NewClerkInput {
                email,
                name,
                role,
                department_id,
            }),
            _ => Err(problems),
        }
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
        clerks: store::clerks(&state.db).await?,
        departments: store::departments(&state.db).await?,
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
    let notice = take::<String>(&session, "notice")
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
    let mut errors: Vec<(String, String)> = vec![];
    match NewClerkInput::try_from(&form) {
        Err(problems) => {
            errors.extend(problems.into_iter().map(|(f, k)| (f.to_string(), ctx.t(k))));
        }
        Ok(input) => match clerks::invite_clerk(&state, &user, &ctx.source, &input).await? {
            Ok(mailed) => {
                session.insert("notice", mailed.notice_key()).await?;
                return Ok(Redirect::to(links::STAFF_CLERKS).into_response());
            }
            Err(AddClerkError::EmailTaken) => {
                errors.push(("email".into(), ctx.t("form-email-taken")))
            }
            Err(AddClerkError::NoSuchDepartment) => {
                errors.push(("department_id".into(), ctx.t("form-department-required")))
            }
        },
    }
    let mut shown = form.clone();
    shown.email = shown.email.chars().take(300).collect();
    shown.name = shown.name.chars().take(200).collect();
    let page = clerks_page(&state, ctx, &user, shown, errors, None).await?;
    render_invalid(&page)
}

async fn clerk_disable_post(
    State(state): State<AppState>,
    ctx: Ctx,
    AdminUser(user): AdminUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    clerks::set_clerk_enabled(&state, &user, &ctx.source, &id, false).await?;
    Ok(Redirect::to(links::STAFF_CLERKS).into_response())
}

async fn clerk_enable_post(
    State(state): State<AppState>,
    ctx: Ctx,
    AdminUser(user): AdminUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    clerks::set_clerk_enabled(&state, &user, &ctx.source, &id, true).await?;
    Ok(Redirect::to(links::STAFF_CLERKS).into_response())
}

async fn clerk_resend_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    AdminUser(user): AdminUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    if let Some(mailed) = clerks::resend_setup(&state, &user, &ctx.source, &id).await? {
        session.insert("notice", mailed.notice_key()).await?;
    }
    Ok(Redirect::to(links::STAFF_CLERKS).into_response())
}
