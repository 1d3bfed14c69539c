//! Bilingual notices by mail: Japanese first, English below, as text and HTML parts. Every
//! mail Madoguchi sends about guests goes through here.

use askama::Template;

use crate::i18n::Lang;
use crate::mail::Mail;

pub type Args = Vec<(&'static str, String)>;

pub struct Notice {
    pub to_name: String,
    pub to_email: String,
    pub subject_key: &'static str,
    pub paragraphs: Vec<(&'static str, Args)>,
    /// A link and the locale key of its label.
    pub link: Option<(String, &'static str)>,
}

#[derive(Template)]
#[template(path = "mail/notice.txt")]
struct Text<'a> {
    to_name: String,
    langs: [Lang; 2],
    paragraphs: &'a [(&'static str, Args)],
    link: &'a Option<(String, &'static str)>,
}

#[derive(Template)]
#[template(path = "mail/notice.html")]
struct Html<'a> {
    to_name: String,
    langs: [Lang; 2],
    subject_key: &'static str,
    paragraphs: &'a [(&'static str, Args)],
    link: &'a Option<(String, &'static str)>,
}

impl Notice {
    pub fn render(&self) -> anyhow::Result<Mail> {
        let langs = [Lang::Ja, Lang::En];
        let text = Text {
            to_name: self.to_name.clone(),
            langs,
            paragraphs: &self.paragraphs,
            link: &self.link,
        }
        .render()?;
        let html = Html {
            to_name: self.to_name.clone(),
            langs,
            subject_key: self.subject_key,
            paragraphs: &self.paragraphs,
            link: &self.link,
        }
        .render()?;
        Ok(Mail {
            to_name: self.to_name.clone(),
            to_email: self.to_email.clone(),
            subject: format!(
                "{} / {}",
                Lang::Ja.t(self.subject_key),
                Lang::En.t(self.subject_key)
            ),
            text,
            html,
        })
    }
}
