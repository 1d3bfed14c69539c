//! Bilingual notices by mail: Japanese first, English below. Every mail Madoguchi sends about
//! guests is one; `web::mail` lays it out as text and HTML.

use super::{Content, Mail};

pub type Args = Vec<(&'static str, String)>;

pub struct Notice {
    pub to_name: String,
    pub to_email: String,
    pub subject_key: &'static str,
    /// The language written first (and first in the subject): the recipient's.
    pub lead: crate::i18n::Lang,
    pub paragraphs: Vec<(&'static str, Args)>,
    /// A link and the locale key of its label.
    pub link: Option<(String, &'static str)>,
}

impl Notice {
    pub fn into_mail(self) -> anyhow::Result<Mail> {
        Ok(Mail {
            to_name: self.to_name.clone(),
            to_email: self.to_email.clone(),
            content: Content::Notice(self),
        })
    }
}
