//! Mails laid out in words: the askama templates under `templates/mail/`, bilingual, as text
//! and HTML parts. The mailer is given `render` when the application is built.

use askama::Template;

use crate::i18n::Lang;
use crate::mail::notice::{Args, Notice};
use crate::mail::{Content, Mail, Rendered, Signature};

#[derive(Template)]
#[template(path = "mail/notice.txt")]
struct NoticeText<'a> {
    sig: &'a Signature,
    to_name: String,
    langs: [Lang; 2],
    paragraphs: &'a [(&'static str, Args)],
    link: &'a Option<(String, &'static str)>,
}

#[derive(Template)]
#[template(path = "mail/notice.html")]
struct NoticeHtml<'a> {
    sig: &'a Signature,
    to_name: String,
    langs: [Lang; 2],
    subject_key: &'static str,
    paragraphs: &'a [(&'static str, Args)],
    link: &'a Option<(String, &'static str)>,
}

#[derive(Template)]
#[template(path = "mail/clerk_setup.txt")]
struct SetupText<'a> {
    sig: &'a Signature,
    name: &'a str,
    link: &'a str,
    until: i64,
    ja: Lang,
    en: Lang,
}

#[derive(Template)]
#[template(path = "mail/clerk_setup.html")]
struct SetupHtml<'a> {
    sig: &'a Signature,
    name: &'a str,
    link: &'a str,
    until: i64,
    ja: Lang,
    en: Lang,
}

impl SetupText<'_> {
    fn until_ja(&self) -> String {
        Lang::Ja.long_datetime(self.until)
    }
    fn until_en(&self) -> String {
        Lang::En.long_datetime(self.until)
    }
}

impl SetupHtml<'_> {
    fn until_ja(&self) -> String {
        Lang::Ja.long_datetime(self.until)
    }
    fn until_en(&self) -> String {
        Lang::En.long_datetime(self.until)
    }
}

#[derive(Template)]
#[template(source = "<pre>{{ text }}</pre>", ext = "html")]
struct PlainHtml<'a> {
    text: &'a str,
}

/// Both languages' subject, Japanese first, after the municipality (【窓口市】) and the project
/// it is about (「在宅医療 連携」), so the mail is recognised before it is opened.
fn subject(key: &str, sig: &Signature, project: Option<&str>, lead: Lang) -> String {
    let mut s = String::new();
    if let Some(m) = &sig.municipality {
        s.push_str(&format!("【{m}】"));
    }
    if let Some(p) = project {
        s.push_str(&format!("「{p}」"));
    }
    s.push_str(&format!("{} / {}", lead.t(key), lead.other().t(key)));
    s
}

fn notice(n: &Notice, sig: &Signature) -> anyhow::Result<Rendered> {
    let langs = [n.lead, n.lead.other()];
    let project = n
        .paragraphs
        .iter()
        .flat_map(|(_, args)| args.iter())
        .find(|(k, _)| *k == "channel")
        .map(|(_, v)| v.as_str());
    let text = NoticeText {
        sig,
        to_name: n.to_name.clone(),
        langs,
        paragraphs: &n.paragraphs,
        link: &n.link,
    }
    .render()?;
    let html = NoticeHtml {
        sig,
        to_name: n.to_name.clone(),
        langs,
        subject_key: n.subject_key,
        paragraphs: &n.paragraphs,
        link: &n.link,
    }
    .render()?;
    Ok(Rendered {
        subject: subject(n.subject_key, sig, project, n.lead),
        text,
        html,
    })
}

/// Lays a mail out: the renderer `Mailer::new` is given.
pub fn render(mail: &Mail, sig: &Signature) -> anyhow::Result<Rendered> {
    match &mail.content {
        Content::Notice(n) => notice(n, sig),
        Content::ClerkSetup { link, until } => {
            let (name, until) = (mail.to_name.as_str(), *until);
            let (ja, en) = (Lang::Ja, Lang::En);
            Ok(Rendered {
                subject: subject("mail-setup-subject", sig, None, Lang::Ja),
                text: SetupText {
                    sig,
                    name,
                    link,
                    until,
                    ja,
                    en,
                }
                .render()?,
                html: SetupHtml {
                    sig,
                    name,
                    link,
                    until,
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
