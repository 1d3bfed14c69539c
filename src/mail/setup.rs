//! The clerk's setup mail.

use askama::Template;

use super::Mail;
use crate::i18n::Lang;

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
/// `hours`: how long the link lasts.
pub fn clerk_setup(name: &str, email: &str, link: &str, hours: i64) -> anyhow::Result<Mail> {
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
