//! The mails a guest and their sponsor receive: the invitation, reminders, and short notices.

use super::store::Guest;
use crate::app::AppState;
use crate::links;
use crate::mail::Mail;
use crate::mail::notice::Notice;

/// The invitation mail: who invited the guest, for what, and the link.
pub fn invitation(state: &AppState, g: &Guest, email: &str, link: &str) -> anyhow::Result<Mail> {
    Notice {
        to_name: g.name.clone(),
        to_email: email.to_string(),
        subject_key: "mail-invite-subject",
        lead: g.lang(),
        paragraphs: vec![
            (
                "mail-invite-body",
                vec![
                    ("sponsor", g.sponsor_name.clone()),
                    ("department", g.department_name.clone()),
                    ("channel", g.channel_name.clone()),
                ],
            ),
            (
                "mail-invite-steps",
                until_args(state.now() + state.config.invitation_lifetime_secs),
            ),
            (
                "mail-invite-forgot",
                vec![
                    ("sponsor", g.sponsor_name.clone()),
                    ("department", g.department_name.clone()),
                ],
            ),
            ("mail-setup-ignore", vec![]),
        ],
        link: Some((link.to_string(), "mail-invite-button")),
    }
    .into_mail()
}

/// A short notice to one person, with an optional link.
pub fn simple(
    to_name: &str,
    to_email: &str,
    subject_key: &'static str,
    paragraphs: Vec<(&'static str, Vec<(&'static str, String)>)>,
    link: Option<(String, &'static str)>,
) -> anyhow::Result<Mail> {
    Notice {
        to_name: to_name.to_string(),
        to_email: to_email.to_string(),
        subject_key,
        lead: crate::i18n::Lang::Ja,
        paragraphs,
        link,
    }
    .into_mail()
}

pub fn reminders(state: &AppState, g: &Guest) -> anyhow::Result<Vec<Mail>> {
    let until = last_day_args(g.expires_at);
    let mut mails = vec![];
    if let Some(email) = g.email() {
        mails.push(
            Notice {
                to_name: g.name.clone(),
                to_email: email.to_string(),
                subject_key: "mail-reminder-subject",
                lead: g.lang(),
                paragraphs: vec![
                    (
                        "mail-reminder-guest",
                        [vec![("channel", g.channel_name.clone())], until.clone()].concat(),
                    ),
                    ("mail-reminder-guest-extend", vec![]),
                ],
                link: Some((state.link(links::GUEST_ACCOUNT), "mail-open-account")),
            }
            .into_mail()?,
        );
    }
    mails.push(
        Notice {
            to_name: g.sponsor_name.clone(),
            to_email: g.sponsor_email.clone(),
            subject_key: "mail-reminder-subject",
            lead: crate::i18n::Lang::Ja,
            paragraphs: vec![(
                "mail-reminder-sponsor",
                [
                    vec![
                        ("guest", g.name.clone()),
                        ("organisation", g.organisation.clone()),
                        ("channel", g.channel_name.clone()),
                    ],
                    until,
                ]
                .concat(),
            )],
            link: Some((
                state.link(&format!("{}#extend", links::staff_guest(&g.account_id))),
                "mail-open-extend",
            )),
        }
        .into_mail()?,
    );
    Ok(mails)
}

/// The last day an end time covers, as both languages' mails write it: 2026年12月25日(金) /
/// Fri 25 Dec 2026.
pub fn last_day_args(t: crate::clock::Timestamp) -> Vec<(&'static str, String)> {
    use crate::i18n::Lang;
    vec![
        ("until_ja", Lang::Ja.last_day(t)),
        ("until_en", Lang::En.last_day(t)),
    ]
}

/// A moment as both languages' mails write it: 2026年11月28日(土) 23時42分 / Sat 28 Nov 2026, 23:42.
pub fn until_args(t: crate::clock::Timestamp) -> Vec<(&'static str, String)> {
    use crate::i18n::Lang;
    vec![
        ("until_ja", Lang::Ja.long_datetime(t)),
        ("until_en", Lang::En.long_datetime(t)),
    ]
}
