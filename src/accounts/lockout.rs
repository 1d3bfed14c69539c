//! What failed sign-ins lead to: counted failures and the lockout policy on the account row
//! (B5), slow-downs recorded (B13), and the owner told (B9, B13).

use super::store::{self as accounts, Account, Factor};
use super::{Kind, Status, logins};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Source};
use crate::auth::policy::{self, AfterFailure, TOTP_HARD_LIMIT};
use crate::clock::Timestamp;
use crate::db::Tx;
use crate::error::Result;
use crate::guests::store as guests;

/// Counts one failed factor and applies the lockout policy to the account row (B5); returns
/// what to record when the failure locked the factor or the account. Password failures only
/// slow down (never lock for good), so a stranger cannot lock someone out.
pub async fn count_failure(
    tx: &mut Tx,
    account_id: &str,
    factor: Factor,
    now: Timestamp,
) -> Result<Option<String>> {
    let failures = accounts::record_failure(tx, account_id, factor).await?;
    apply_lockout(tx, account_id, factor, failures, now).await
}

/// Applies the lockout policy after the `failures`-th counted failure of a factor (B5).
pub(super) async fn apply_lockout(
    tx: &mut Tx,
    account_id: &str,
    factor: Factor,
    failures: i64,
    now: Timestamp,
) -> Result<Option<String>> {
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
            accounts::set_status(tx, account_id, Status::Locked).await?;
            logins::end_all(tx, account_id, None, "account_locked", now).await?;
            Some(format!("{name}, locked until reset"))
        }
    })
}

/// Records that a source has just been slowed down (B13).
pub(super) async fn record_slowdown(
    tx: &mut Tx,
    source: &Source,
    slowed: bool,
    now: Timestamp,
) -> Result<()> {
    if slowed {
        audit::record(
            tx,
            now,
            source,
            &Event::new(Actor::Anonymous, "sign_in.slowed_down", Outcome::Success),
        )
        .await?;
    }
    Ok(())
}

/// Tells the owner that their account draws many failed sign-ins, so that someone guessing
/// their password does not go unnoticed (B13). The account stays open to them.
pub(super) async fn notify_failures(state: &AppState, account: &Account) {
    let (name, email) = if account.kind == Kind::Guest {
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
    let mail = crate::guests::mails::simple(
        &name,
        &email,
        "mail-failures-subject",
        vec![(
            "mail-failures-body",
            crate::guests::mails::until_args(state.now()),
        )],
        None,
    );
    state.mailer.send_notice(mail, "sign-in failures").await;
}

/// Tells the owner that a recovery code was used, so a stolen one does not go unnoticed (B9).
pub(super) async fn notify_recovery_code_used(state: &AppState, account: &Account) {
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
    let mail = crate::guests::mails::simple(
        &g.name,
        email,
        "mail-recovery-used-subject",
        vec![(
            "mail-recovery-used-body",
            [
                crate::guests::mails::until_args(state.now()),
                vec![("left", left.to_string())],
            ]
            .concat(),
        )],
        None,
    );
    state.mailer.send_notice(mail, "recovery code used").await;
}
