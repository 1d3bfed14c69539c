//! Staff sign-in: e-mail and password, then a TOTP code; sign-out.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::accounts::store::{self as accounts, Factor};
use crate::accounts::{logins, throttle};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome};
use crate::auth::policy::{self, AfterFailure, TOTP_HARD_LIMIT, TOTP_PENDING_SECS};
use crate::auth::{password, totp};
use crate::guests::store as guests;
use crate::links;
use crate::web::Routes;
use crate::web::ctx::{CSRF_KEY, Ctx, new_csrf_token, render, render_invalid};
use crate::web::error::{AppError, AppResult};
use crate::web::guard::{LOGIN_KEY, PENDING_KEY, Pending};

pub fn router() -> Routes {
    Routes::new()
        .route(
            links::STAFF_SIGN_IN,
            get(|c, s| sign_in_get(c, s, Audience::Staff))
                .post(|st, c, s, f| sign_in_post(st, c, s, f, Audience::Staff)),
        )
        .route(
            links::STAFF_SIGN_IN_CODE,
            get(|st, c, s| code_get(st, c, s, Audience::Staff))
                .post(|st, c, s, f| code_post(st, c, s, f, Audience::Staff)),
        )
        .route(
            links::STAFF_SIGN_OUT,
            post(|st, c, s| sign_out_post(st, c, s, Audience::Staff)),
        )
        .route(
            links::GUEST_SIGN_IN,
            get(|c, s| sign_in_get(c, s, Audience::Guest))
                .post(|st, c, s, f| sign_in_post(st, c, s, f, Audience::Guest)),
        )
        .route(
            links::GUEST_SIGN_IN_CHOOSE,
            get(choose_get).post(choose_post),
        )
        .route(
            links::GUEST_SIGN_IN_CODE,
            get(|st, c, s| code_get(st, c, s, Audience::Guest))
                .post(|st, c, s, f| code_post(st, c, s, f, Audience::Guest)),
        )
        .route(
            links::GUEST_SIGN_OUT,
            post(|st, c, s| sign_out_post(st, c, s, Audience::Guest)),
        )
}

/// Who a sign-in page is for: clerks on the staff console, or guests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    Staff,
    Guest,
}

impl Audience {
    pub fn kind(self) -> crate::accounts::Kind {
        match self {
            Audience::Staff => crate::accounts::Kind::Clerk,
            Audience::Guest => crate::accounts::Kind::Guest,
        }
    }
    pub fn sign_in(self) -> &'static str {
        match self {
            Audience::Staff => links::STAFF_SIGN_IN,
            Audience::Guest => links::GUEST_SIGN_IN,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Audience::Staff => links::STAFF_SIGN_IN_CODE,
            Audience::Guest => links::GUEST_SIGN_IN_CODE,
        }
    }
    pub fn is_staff(self) -> bool {
        self == Audience::Staff
    }
    pub fn home(self) -> &'static str {
        match self {
            Audience::Staff => links::STAFF_HOME,
            Audience::Guest => links::GUEST_HOME,
        }
    }
    fn actor(self, id: String) -> Actor {
        match self {
            Audience::Staff => Actor::Clerk(id),
            Audience::Guest => Actor::Guest(id),
        }
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    ctx: Ctx,
    audience: Audience,
    email: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "signin_code.html")]
struct CodePage {
    ctx: Ctx,
    audience: Audience,
    error: Option<String>,
    locked: bool,
}

/// Longest e-mail address accepted anywhere (RFC 5321 path limit).
pub const EMAIL_MAX: usize = 254;
/// Longest password read at sign-in; longer input cannot be anyone's password.
const PASSWORD_READ_MAX: usize = 1024;

async fn sign_in_get(ctx: Ctx, session: Session, audience: Audience) -> AppResult<Response> {
    let notice = session
        .remove::<String>("notice")
        .await?
        .map(|key| ctx.t(&key));
    render(&SignInPage {
        ctx,
        audience,
        email: String::new(),
        error: None,
        notice,
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
}

pub fn normalise_email(s: &str) -> String {
    s.trim().to_lowercase()
}

async fn sign_in_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    Form(form): Form<SignInForm>,
    audience: Audience,
) -> AppResult<Response> {
    let now = state.now();
    if let Some(addr) = ctx.address
        && !state.limiter.allow(addr, "sign_in", now)
    {
        return Err(AppError::TooManyRequests);
    }
    let email = normalise_email(&form.email);
    let wrong = |ctx: Ctx, email: String| {
        let error = Some(ctx.t(match audience {
            Audience::Staff => "signin-wrong",
            Audience::Guest => "guest-signin-wrong",
        }));
        render_invalid(&SignInPage {
            ctx,
            audience,
            email,
            error,
            notice: None,
        })
    };
    if email.chars().count() > EMAIL_MAX || form.password.len() > PASSWORD_READ_MAX {
        return wrong(ctx, String::new());
    }
    // Wrong passwords slow down where they come from, never the account itself (B13): the
    // owner's correct password from another address always goes through.
    let keys = throttle::Keys::new(ctx.address, &email);
    if throttle::is_slowed(&state.db, &keys, now).await? {
        audit::record_alone(
            &state.db,
            now,
            &ctx.source,
            &Event::new(Actor::Anonymous, "sign_in.password", Outcome::Denied)
                .detail("address slowed down"),
        )
        .await?;
        let error = Some(ctx.t("signin-slowed"));
        let page = SignInPage {
            ctx,
            audience,
            email,
            error,
            notice: None,
        };
        return Ok((
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            axum::response::Html(page.render()?),
        )
            .into_response());
    }
    // A clerk's address names one account; a guest's sign-in name may name one in each of
    // several channels (D7), and the password then tells which.
    let candidates = match audience {
        Audience::Staff => accounts::by_email(&state.db, &email)
            .await?
            .filter(|a| a.kind == crate::accounts::Kind::Clerk)
            .into_iter()
            .collect(),
        Audience::Guest => accounts::guests_by_sign_in_name(&state.db, &email).await?,
    };
    let mut usable = vec![];
    for a in &candidates {
        if a.status.may_try_sign_in()
            && (audience == Audience::Staff || guest_in_time(&state, &a.account_id).await?)
        {
            usable.push(a.clone());
        }
    }
    // Accounts that could sign in now are tried; only when none can is the newest tried, so
    // its owner hears "not active" as before. At least one argon2 verification runs, account or
    // not, so an unknown name answers as slowly as a wrong password (B7).
    let tried: Vec<accounts::Account> = if usable.is_empty() {
        candidates.into_iter().take(1).collect()
    } else {
        usable.clone()
    };
    let mut matching = vec![];
    if tried.is_empty() {
        password::verify(form.password.clone(), None).await?;
    }
    for a in &tried {
        if password::verify(form.password.clone(), a.password_hash.clone()).await? {
            matching.push(a.clone());
        }
    }
    if tried.is_empty() {
        let mut tx = state.db.begin().await?;
        let slowed = throttle::record_failure(&mut tx, &keys, now).await?;
        audit::record(
            &mut tx,
            now,
            &ctx.source,
            &Event::new(Actor::Anonymous, "sign_in.password", Outcome::Failure)
                .detail("unknown account"),
        )
        .await?;
        record_slowdown(&mut tx, &ctx, slowed, now).await?;
        tx.commit().await?;
        return wrong(ctx, email);
    }
    let matching_usable: Vec<accounts::Account> = matching
        .iter()
        .filter(|a| usable.iter().any(|u| u.account_id == a.account_id))
        .cloned()
        .collect();
    if matching_usable.is_empty() {
        let mut tx = state.db.begin().await?;
        let slowed = throttle::record_failure(&mut tx, &keys, now).await?;
        let mut told = vec![];
        for account in &tried {
            let actor = Actor::Claimed(account.account_id.clone());
            let ok = matching.iter().any(|m| m.account_id == account.account_id);
            let reason = if !ok {
                "wrong password"
            } else {
                "account not active"
            };
            if !ok {
                let failures =
                    accounts::record_failure(&mut tx, &account.account_id, Factor::Password)
                        .await?;
                if policy::tell_owner(failures) {
                    audit::record(
                        &mut tx,
                        now,
                        &ctx.source,
                        &Event::new(actor.clone(), "account.failures_notified", Outcome::Success)
                            .target(&account.account_id)
                            .detail(format!("{failures} failed passwords")),
                    )
                    .await?;
                    told.push(account.clone());
                }
            }
            audit::record(
                &mut tx,
                now,
                &ctx.source,
                &Event::new(actor, "sign_in.password", Outcome::Failure).detail(reason),
            )
            .await?;
        }
        record_slowdown(&mut tx, &ctx, slowed, now).await?;
        tx.commit().await?;
        for account in &told {
            notify_failures(&state, account).await;
        }
        return wrong(ctx, email);
    }
    let mut tx = state.db.begin().await?;
    throttle::forget_name(&mut tx, &keys).await?;
    for account in &matching_usable {
        accounts::reset_password_failures(&mut tx, &account.account_id).await?;
        audit::record(
            &mut tx,
            now,
            &ctx.source,
            &Event::new(
                Actor::Claimed(account.account_id.clone()),
                "sign_in.password",
                Outcome::Success,
            ),
        )
        .await?;
    }
    tx.commit().await?;
    // A new id for the new privilege (C1); the pending state opens only the code form (B8).
    session.cycle_id().await?;
    session.remove::<String>(LOGIN_KEY).await?;
    if let [account] = &matching_usable[..] {
        session
            .insert(
                PENDING_KEY,
                Pending {
                    account_id: account.account_id.clone(),
                    at: now,
                },
            )
            .await?;
        return Ok(Redirect::to(audience.code()).into_response());
    }
    // The same name and password open guest accounts in several channels: the person says
    // which channel, then gives that account's code (D7).
    session
        .insert(
            CHOICE_KEY,
            Choice {
                account_ids: matching_usable.into_iter().map(|a| a.account_id).collect(),
                at: now,
            },
        )
        .await?;
    Ok(Redirect::to(links::GUEST_SIGN_IN_CHOOSE).into_response())
}

/// Guest accounts that one name and password opened, while the person picks a channel (D7).
/// Like the pending state it lasts five minutes and opens nothing else.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Choice {
    account_ids: Vec<String>,
    at: i64,
}

const CHOICE_KEY: &str = "choice";

#[derive(Template)]
#[template(path = "signin_choose.html")]
struct ChoosePage {
    ctx: Ctx,
    channels: Vec<(String, String, String)>,
}

async fn choice(state: &AppState, session: &Session) -> AppResult<Option<Choice>> {
    let c = session.get::<Choice>(CHOICE_KEY).await?;
    Ok(c.filter(|c| state.now() - c.at <= TOTP_PENDING_SECS))
}

async fn choose_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
) -> AppResult<Response> {
    let Some(c) = choice(&state, &session).await? else {
        return Ok(Redirect::to(links::GUEST_SIGN_IN).into_response());
    };
    let mut channels = vec![];
    let mut conn = state.db.pool.acquire().await?;
    for id in &c.account_ids {
        if let Some(g) = guests::get(&mut conn, id).await? {
            channels.push((g.account_id, g.channel_name, g.department_name));
        }
    }
    render(&ChoosePage { ctx, channels })
}

#[derive(Deserialize)]
pub struct ChooseForm {
    account: String,
}

async fn choose_post(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<ChooseForm>,
) -> AppResult<Response> {
    let Some(c) = choice(&state, &session).await? else {
        return Ok(Redirect::to(links::GUEST_SIGN_IN).into_response());
    };
    // Only an account the password opened can be chosen (D4: never from the form alone).
    if !c.account_ids.contains(&form.account) {
        return Err(AppError::BadRequest);
    }
    session.remove::<Choice>(CHOICE_KEY).await?;
    session
        .insert(
            PENDING_KEY,
            Pending {
                account_id: form.account,
                at: c.at,
            },
        )
        .await?;
    Ok(Redirect::to(links::GUEST_SIGN_IN_CODE).into_response())
}

/// A guest may sign in only before their expiry and while their channel is open — whether or
/// not the sweeper has recorded the expiry yet (C5).
async fn guest_in_time(state: &AppState, account_id: &str) -> AppResult<bool> {
    let mut conn = state.db.pool.acquire().await?;
    let guest = guests::get(&mut conn, account_id).await?;
    Ok(guest.is_some_and(|g| g.access_open(state.now())))
}

/// The pending state, if it is still fresh.
async fn pending(state: &AppState, session: &Session) -> AppResult<Option<Pending>> {
    let p = session.get::<Pending>(PENDING_KEY).await?;
    Ok(p.filter(|p| state.now() - p.at <= TOTP_PENDING_SECS))
}

async fn code_get(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    audience: Audience,
) -> AppResult<Response> {
    if pending(&state, &session).await?.is_none() {
        // Only someone whose sign-in lapsed is told so; a bare visit stores nothing (C8).
        if !session.is_empty().await {
            session.remove::<Pending>(PENDING_KEY).await?;
            session.insert("notice", "signin-expired").await?;
        }
        return Ok(Redirect::to(audience.sign_in()).into_response());
    }
    render(&CodePage {
        ctx,
        audience,
        error: None,
        locked: false,
    })
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

async fn code_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    Form(form): Form<CodeForm>,
    audience: Audience,
) -> AppResult<Response> {
    let now = state.now();
    if let Some(addr) = ctx.address
        && !state.limiter.allow(addr, "sign_in_code", now)
    {
        return Err(AppError::TooManyRequests);
    }
    let Some(p) = pending(&state, &session).await? else {
        session.remove::<Pending>(PENDING_KEY).await?;
        session.insert("notice", "signin-expired").await?;
        return Ok(Redirect::to(audience.sign_in()).into_response());
    };
    let mut conn = state.db.pool.acquire().await?;
    let account = accounts::by_id(&mut conn, &p.account_id).await?;
    drop(conn);
    let Some(account) = account.filter(|a| a.kind == audience.kind() && a.status.may_try_sign_in())
    else {
        session.remove::<Pending>(PENDING_KEY).await?;
        return Ok(Redirect::to(audience.sign_in()).into_response());
    };
    let actor = Actor::Claimed(account.account_id.clone());
    if audience == Audience::Guest && !guest_in_time(&state, &account.account_id).await? {
        session.remove::<Pending>(PENDING_KEY).await?;
        return Ok(Redirect::to(audience.sign_in()).into_response());
    }
    if account.status == crate::accounts::Status::Locked || account.totp_locked_until > now {
        audit::record_alone(
            &state.db,
            now,
            &ctx.source,
            &Event::new(actor, "sign_in.totp", Outcome::Denied).detail("locked"),
        )
        .await?;
        let error = Some(ctx.t(if account.status == crate::accounts::Status::Locked {
            "signin-locked"
        } else {
            "signin-throttled"
        }));
        return render_invalid(&CodePage {
            ctx,
            audience,
            error,
            locked: account.status == crate::accounts::Status::Locked,
        });
    }
    // Each attempt is counted before its code is checked, so parallel attempts cannot exceed
    // the window (B5): once an attempt fills it, every later one finds the factor locked.
    let mut tx = state.db.begin().await?;
    let Some(failures) = accounts::claim_totp_attempt(&mut tx, &account.account_id, now).await?
    else {
        drop(tx);
        audit::record_alone(
            &state.db,
            now,
            &ctx.source,
            &Event::new(actor, "sign_in.totp", Outcome::Denied).detail("locked"),
        )
        .await?;
        let error = Some(ctx.t("signin-throttled"));
        return render_invalid(&CodePage {
            ctx,
            audience,
            error,
            locked: false,
        });
    };
    let lockout = apply_lockout(&mut tx, &account.account_id, Factor::Totp, failures, now).await?;
    tx.commit().await?;
    let secret = match &account.totp_secret {
        Some(sealed) => state.secrets.open(&account.account_id, sealed)?,
        None => {
            return Err(AppError::Internal(anyhow::anyhow!(
                "active account without TOTP"
            )));
        }
    };
    let step = totp::matching_step(&secret, &form.code, now)?;
    let mut tx = state.db.begin().await?;
    // Guests may use a one-time recovery code instead of the app (B9).
    let recovery = step.is_none()
        && audience == Audience::Guest
        && totp::normalise_code(&form.code).is_none()
        && guests::use_recovery_code(
            &mut tx,
            &account.account_id,
            &crate::guests::seal_recovery_code(&state.secrets, &form.code),
            now,
        )
        .await?;
    let accepted = recovery
        || match step {
            Some(step) => {
                accounts::accept_totp_step(&mut tx, &account.account_id, step, None).await?
            }
            None => false,
        };
    if accepted {
        if recovery {
            sqlx::query(
                "update account set totp_failures = 0, totp_locked_until = 0 where account_id = $1",
            )
            .bind(&account.account_id)
            .execute(&mut *tx)
            .await?;
        }
        let login_id = logins::insert(&mut tx, &account.account_id, now).await?;
        let who = audience.actor(account.account_id.clone());
        let factor = if recovery {
            "sign_in.recovery_code"
        } else {
            "sign_in.totp"
        };
        audit::record(
            &mut tx,
            now,
            &ctx.source,
            &Event::new(who.clone(), factor, Outcome::Success),
        )
        .await?;
        audit::record(
            &mut tx,
            now,
            &ctx.source,
            &Event::new(who, "session.start", Outcome::Success),
        )
        .await?;
        tx.commit().await?;
        if recovery {
            notify_recovery_code_used(&state, &account).await;
        }
        session.cycle_id().await?;
        session.remove::<Pending>(PENDING_KEY).await?;
        session.insert(LOGIN_KEY, &login_id).await?;
        session.insert(CSRF_KEY, new_csrf_token()).await?;
        return Ok(Redirect::to(audience.home()).into_response());
    }
    // The failure was counted when the attempt was claimed.
    // A replayed code is its own audit event, but the person sees a wrong code (B4).
    let action = if step.is_some() {
        "totp.replay"
    } else {
        "sign_in.totp"
    };
    audit::record(
        &mut tx,
        now,
        &ctx.source,
        &Event::new(actor.clone(), action, Outcome::Failure),
    )
    .await?;
    if let Some(detail) = lockout {
        audit::record(
            &mut tx,
            now,
            &ctx.source,
            &Event::new(actor, "account.lockout", Outcome::Success)
                .target(&account.account_id)
                .detail(detail),
        )
        .await?;
    }
    tx.commit().await?;
    let error = Some(ctx.t("signin-code-wrong"));
    render_invalid(&CodePage {
        ctx,
        audience,
        error,
        locked: false,
    })
}

/// Counts one failed factor and applies the lockout policy to the account row (B5); returns
/// what to record when the failure locked the factor or the account. Password failures only
/// slow down (never lock for good), so a stranger cannot lock someone out.
pub async fn count_failure(
    tx: &mut crate::db::Tx,
    account_id: &str,
    factor: Factor,
    now: i64,
) -> AppResult<Option<String>> {
    let failures = accounts::record_failure(tx, account_id, factor).await?;
    apply_lockout(tx, account_id, factor, failures, now).await
}

/// Applies the lockout policy after the `failures`-th counted failure of a factor (B5).
async fn apply_lockout(
    tx: &mut crate::db::Tx,
    account_id: &str,
    factor: Factor,
    failures: i64,
    now: i64,
) -> AppResult<Option<String>> {
    let hard_limit = (factor == Factor::Totp).then_some(TOTP_HARD_LIMIT);
    let name = match factor {
        Factor::Password => "password",
        Factor::Totp => "totp",
    };
    Ok(match policy::after_failure(failures, now, hard_limit) {
        AfterFailure::Count => None,
        AfterFailure::LockUntil(until) => {
            accounts::lock_until(tx, account_id, factor, until).await?;
            Some(format!("{name}, until {until}"))
        }
        AfterFailure::Lock => {
            accounts::set_status(tx, account_id, "locked").await?;
            logins::end_all(tx, account_id, None, "account_locked", now).await?;
            Some(format!("{name}, locked until reset"))
        }
    })
}

/// Records that a source has just been slowed down (B13).
async fn record_slowdown(
    tx: &mut crate::db::Tx,
    ctx: &Ctx,
    slowed: bool,
    now: i64,
) -> AppResult<()> {
    if slowed {
        audit::record(
            tx,
            now,
            &ctx.source,
            &Event::new(Actor::Anonymous, "sign_in.slowed_down", Outcome::Success),
        )
        .await?;
    }
    Ok(())
}

/// Tells the owner that their account draws many failed sign-ins, so that someone guessing
/// their password does not go unnoticed (B13). The account stays open to them.
async fn notify_failures(state: &AppState, account: &accounts::Account) {
    let (name, email) = if account.kind == crate::accounts::Kind::Guest {
        let mut conn = match state.db.pool.acquire().await {
            Ok(c) => c,
            Err(_) => return,
        };
        let Ok(Some(g)) = guests::get(&mut conn, &account.account_id).await else {
            return;
        };
        let Some(email) = g.email().map(str::to_string) else {
            return;
        };
        (g.name.clone(), email)
    } else {
        (account.name.clone(), account.email.clone())
    };
    let mail = crate::guests::simple_mail(
        &name,
        &email,
        "mail-failures-subject",
        vec![(
            "mail-failures-body",
            vec![("time", crate::i18n::Lang::Ja.datetime(state.now()))],
        )],
        None,
    );
    state.mailer.send_notice(mail, "sign-in failures").await;
}

/// Tells the owner that a recovery code was used, so a stolen one does not go unnoticed (B9).
async fn notify_recovery_code_used(state: &AppState, account: &accounts::Account) {
    let mut conn = match state.db.pool.acquire().await {
        Ok(c) => c,
        Err(_) => return,
    };
    let Ok(Some(g)) = guests::get(&mut conn, &account.account_id).await else {
        return;
    };
    drop(conn);
    let Some(email) = g.email() else { return };
    let left = guests::recovery_codes_left(&state.db, &g.account_id)
        .await
        .unwrap_or(0);
    let mail = crate::guests::simple_mail(
        &g.name,
        email,
        "mail-recovery-used-subject",
        vec![(
            "mail-recovery-used-body",
            vec![
                ("time", crate::i18n::Lang::Ja.datetime(state.now())),
                ("left", left.to_string()),
            ],
        )],
        None,
    );
    state.mailer.send_notice(mail, "recovery code used").await;
}

async fn sign_out_post(
    State(state): State<AppState>,
    ctx: Ctx,
    session: Session,
    audience: Audience,
) -> AppResult<Response> {
    if let Some(login_id) = session.get::<String>(LOGIN_KEY).await? {
        let now = state.now();
        let account = logins::open(&state.db, &login_id)
            .await?
            .map(|l| l.account_id);
        let mut tx = state.db.begin().await?;
        if logins::end(&mut tx, &login_id, "sign_out", now).await? {
            let actor = account
                .map(|a| audience.actor(a))
                .unwrap_or(Actor::Anonymous);
            audit::record(
                &mut tx,
                now,
                &ctx.source,
                &Event::new(actor, "session.end", Outcome::Success).detail("sign_out"),
            )
            .await?;
        }
        tx.commit().await?;
    }
    session.flush().await?;
    Ok(Redirect::to(audience.sign_in()).into_response())
}
