//! Mails laid out in words: the askama templates under `templates/mail/`, bilingual, as text
//! and HTML parts. The mailer is given `render` when the application is built.

use askama::Template;

use crate::i18n::Lang;
use crate::mail::notice::{Args, Notice};
use crate::mail::{Content, Mail, Rendered};

#[derive(Template)]
#[template(path = "mail/notice.txt")]
struct NoticeText<'a> {
    to_name: String,
    langs: [Lang; 2],
    paragraphs: &'a [(&'static str, Args)],
    link: &'a Option<(String, &'static str)>,
}

#[derive(Template)]
#[template(path = "mail/notice.html")]
struct NoticeHtml<'a> {
    to_name: String,
    langs: [Lang; 2],
    subject_key: &'static str,
    paragraphs: &'a [(&'static str, Args)],
    link: &'a Option<(String, &'static str)>,
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

#[derive(Template)]
#[template(source = "<pre>{{ text }}</pre>", ext = "html")]
struct PlainHtml<'a> {
    text: &'a str,
}

/// Both languages' subject, Japanese first.
fn subject(key: &str) -> String {
    format!("{} / {}", Lang::Ja.t(key), Lang::En.t(key))
}

fn notice(n: &Notice) -> anyhow::Result<Rendered> {
    let langs = [Lang::Ja, Lang::En];
    let text = NoticeText {
        to_name: n.to_name.clone(),
        langs,
        paragraphs: &n.paragraphs,
        link: &n.link,
    }
    .render()?;
    let html = NoticeHtml {
        to_name: n.to_name.clone(),
        langs,
        subject_key: n.subject_key,
        paragraphs: &n.paragraphs,
        link: &n.link,
    }
    .render()?;
    Ok(Rendered {
        subject: subject(n.subject_key),
        text,
        html,
    })
}

/// Lays a mail out: the renderer `Mailer::new` is given.
pub fn render(mail: &Mail) -> anyhow::Result<Rendered> {
    match &mail.content {
        Content::Notice(n) => notice(n),
        Content::ClerkSetup { link, hours } => {
            let (name, hours) = (mail.to_name.as_str(), *hours);
            let (ja, en) = (Lang::Ja, Lang::En);
            Ok(Rendered {
                subject: subject("mail-setup-subject"),
                text: SetupText {
                    name,
                    link,
                    hours,
                    ja,
                    en,
                }
                .render()?,
                html: SetupHtml {
                    name,
                    link,
                    hours,
                    ja,
                    en,
                }
                .render()?,
            })
        }
        Content::Plain { subject, text } => Ok(Rendered {
            subject: subject.clone(),
            html: PlainHtml { text }.render()?,
            text: text.clone(),
        }),
    }
}
