//! "Something new in your channel" by mail (issue 9, item 6). The sweeper asks, at most once
//! per interval for each member and channel, whether messages by others arrived since the
//! member last read the channel and since their last notice; if so, one mail names the channel
//! and the municipality and links to it — never the text. The claim on `channel_notice` makes
//! it once even with several instances sweeping at the same time. A member may switch the
//! mails off on their account page.

use sqlx::FromRow;

use crate::app::AppState;
use crate::clock::Timestamp;
use crate::db::Db;
use crate::links;
use crate::mail::notice::Notice;

/// How far back a new message can still cause a notice.
const LOOK_BACK_SECS: i64 = 2 * 86_400;

#[derive(Debug, FromRow)]
struct Due {
    account_id: String,
    name: String,
    kind: String,
    email: Option<String>,
    channel_id: String,
    channel_name: String,
    newest: Option<i64>,
    mark: Option<i64>,
    notified_seq: Option<i64>,
    notified_at: Option<i64>,
}

/// Members of channels with recent messages by others: live guests with an address and the
/// active clerks of the channel's department, who have not switched notices off.
async fn candidates(db: &Db, since: Timestamp, now: Timestamp) -> Result<Vec<Due>, sqlx::Error> {
    let per_member = "(select max(m.seq) from message m where m.channel_id = ch.channel_id \
         and m.author_id <> a.account_id and m.created_at > $1 and m.withdrawn_at is null) \
         as newest, \
         (select max(cr.last_seq) from channel_read cr where cr.channel_id = ch.channel_id \
          and cr.account_id = a.account_id) as mark, \
         n.notified_seq, n.notified_at";
    let recent = "ch.status = 'active' and a.notify_mail = 1 and ch.channel_id in \
         (select distinct m.channel_id from message m where m.created_at > $1)";
    let guests = format!(
        "select a.account_id, a.name, a.kind, g.sign_in_name as email, ch.channel_id, \
         ch.name as channel_name, {per_member} from guest g \
         join account a on a.account_id = g.account_id \
         join channel ch on ch.channel_id = g.channel_id \
         left join channel_notice n on n.channel_id = ch.channel_id \
              and n.account_id = a.account_id \
         where {recent} and g.has_email = 1 and a.status in ('active', 'locked') \
         and g.expires_at > $2"
    );
    let clerks = format!(
        "select a.account_id, a.name, a.kind, a.email, ch.channel_id, \
         ch.name as channel_name, {per_member} from clerk c \
         join account a on a.account_id = c.account_id \
         join channel ch on ch.department_id = c.department_id \
         left join channel_notice n on n.channel_id = ch.channel_id \
              and n.account_id = a.account_id \
         where {recent} and a.status = 'active'"
    );
    let mut rows = sqlx::query_as::<_, Due>(&guests)
        .bind(since)
        .bind(now)
        .fetch_all(&db.pool)
        .await?;
    rows.extend(
        sqlx::query_as::<_, Due>(&clerks)
            .bind(since)
            .fetch_all(&db.pool)
            .await?,
    );
    Ok(rows)
}

/// Claims the notice for this member and channel up to `newest`, if the last one is older than
/// the interval; false if another sweep (or instance) already sent it.
async fn claim(
    db: &Db,
    channel_id: &str,
    account_id: &str,
    newest: i64,
    now: Timestamp,
    interval: i64,
) -> Result<bool, sqlx::Error> {
    let _turn = db.turn().await;
    let done = sqlx::query(
        "insert into channel_notice (channel_id, account_id, notified_seq, notified_at) \
         values ($1, $2, $3, $4) on conflict (channel_id, account_id) do update \
         set notified_seq = excluded.notified_seq, notified_at = excluded.notified_at \
         where channel_notice.notified_at <= $5 and channel_notice.notified_seq < $3",
    )
    .bind(channel_id)
    .bind(account_id)
    .bind(newest)
    .bind(now)
    .bind(now - interval)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sends the notices that are due; returns how many went out.
pub async fn send_due(state: &AppState) -> anyhow::Result<usize> {
    let now = state.now();
    let interval = state.config.notify_secs;
    let mut sent = 0;
    for d in candidates(&state.db, now - LOOK_BACK_SECS, now).await? {
        let Some(newest) = d.newest else { continue };
        let seen = d.mark.unwrap_or(0).max(d.notified_seq.unwrap_or(0));
        let waited = d.notified_at.is_none_or(|t| now - t >= interval);
        let Some(email) = d.email.clone().filter(|_| newest > seen && waited) else {
            continue;
        };
        if !claim(
            &state.db,
            &d.channel_id,
            &d.account_id,
            newest,
            now,
            interval,
        )
        .await?
        {
            continue;
        }
        let link = if d.kind == "clerk" {
            links::staff_channel(&d.channel_id)
        } else {
            links::guest_channel(&d.channel_id)
        };
        let city = state.config.municipality.clone().unwrap_or_default();
        let mail = Notice {
            to_name: d.name.clone(),
            to_email: email,
            subject_key: "mail-new-subject",
            lead: crate::i18n::Lang::Ja,
            paragraphs: vec![
                (
                    "mail-new-body",
                    vec![("channel", d.channel_name.clone()), ("city", city)],
                ),
                ("mail-new-privacy", vec![]),
                ("mail-new-off", vec![]),
            ],
            link: Some((state.link(&format!("{link}#new")), "mail-open-channel")),
        }
        .into_mail()?;
        if let Err(e) = state.mailer.send(&mail).await {
            tracing::warn!(error = format!("{e:#}"), "channel notice not sent");
            continue;
        }
        sent += 1;
    }
    Ok(sent)
}

/// Switches a member's notices on or off; recorded.
pub async fn set_enabled(
    state: &AppState,
    source: &crate::audit::Source,
    actor: crate::audit::Actor,
    account_id: &str,
    on: bool,
) -> crate::error::Result<()> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    sqlx::query("update account set notify_mail = $1 where account_id = $2")
        .bind(i64::from(on))
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
    let ev = crate::audit::Event::new(actor, "account.notices", crate::audit::Outcome::Success)
        .target(account_id)
        .detail(if on { "on" } else { "off" });
    crate::audit::record(&mut tx, now, source, &ev).await?;
    tx.commit().await?;
    Ok(())
}

/// Whether a member gets notices.
pub async fn enabled(state: &AppState, account_id: &str) -> crate::error::Result<bool> {
    let on: i64 = sqlx::query_scalar("select notify_mail from account where account_id = $1")
        .bind(account_id)
        .fetch_one(&state.db.pool)
        .await?;
    Ok(on == 1)
}
