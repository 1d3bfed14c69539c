//! Outgoing mail through lettre: `.eml` files in the outbox folder by default, or SMTP with
//! rustls. Addresses are parsed, never pasted into headers, so CR/LF cannot add headers (E6).
//!
//! Operations say what a mail says (`Mail`: to whom, and which `Content`); the words are laid out
//! by the renderer the edge hands the mailer (`web::mail::render`, from the mail templates), so nothing
//! below the edge uses a template engine.

pub mod notice;

use std::str::FromStr;

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailConfig;

#[derive(Clone)]
enum Transport {
    Outbox(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    render: Renderer,
    signature: Signature,
}

/// Who a mail is from, in words people recognise: the municipality and whom to contact.
#[derive(Clone, Debug, Default)]
pub struct Signature {
    pub municipality: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
}

/// A mail an operation decided to send: to whom, and what it says.
pub struct Mail {
    pub to_name: String,
    pub to_email: String,
    pub content: Content,
}

/// What a mail says, before it is laid out in words.
pub enum Content {
    /// A bilingual notice (`notice::Notice`).
    Notice(notice::Notice),
    /// A clerk's one-time setup link, valid until `until`.
    ClerkSetup { link: String, until: i64 },
    /// Plain text for a technical reader (the auditor's checkpoint copy).
    Plain { subject: String, text: String },
}

/// A mail laid out: subject and both bodies, localised.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Lays a mail out in words; given by the edge.
pub type Renderer = fn(&Mail, &Signature) -> anyhow::Result<Rendered>;

impl Mailer {
    pub fn new(config: &MailConfig, from: &str, render: Renderer) -> anyhow::Result<Self> {
        let from = Mailbox::from_str(from).context("MADOGUCHI_MAIL_FROM is not an address")?;
        let transport = match config {
            MailConfig::Outbox(dir) => {
                crate::files::private_dir(dir)
                    .with_context(|| format!("creating outbox {}", dir.display()))?;
                Transport::Outbox(AsyncFileTransport::new(dir))
            }
            MailConfig::Smtp(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .context("MADOGUCHI_MAIL is not a valid smtp:// or smtps:// URL")?
                    .build(),
            ),
        };
        Ok(Self {
            transport,
            from,
            render,
            signature: Signature::default(),
        })
    }

    /// Signs every mail with the municipality and its contact; a sender address without a name
    /// gets the municipality's (「窓口市 窓口(Madoguchi)」), so the mail is recognisable.
    pub fn with_signature(mut self, signature: Signature) -> Self {
        if self.from.name.is_none()
            && let Some(m) = &signature.municipality
        {
            self.from = Mailbox::new(
                Some(format!("{m} 窓口(Madoguchi)")),
                self.from.email.clone(),
            );
        }
        self.signature = signature;
        self
    }

    /// A mailer for tests that talk to an SMTP sink without TLS.
    pub fn plain_smtp(host: &str, port: u16, from: &str, render: Renderer) -> anyhow::Result<Self> {
        Ok(Self {
            transport: Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .port(port)
                    .build(),
            ),
            from: Mailbox::from_str(from)?,
            render,
            signature: Signature::default(),
        })
    }

    pub fn build(&self, mail: &Mail) -> anyhow::Result<Message> {
        let rendered = (self.render)(mail, &self.signature)?;
        let address = mail
            .to_email
            .parse()
            .context("recipient address is not valid")?;
        // The display name is passed as data; lettre encodes it, so CR/LF stay inside it.
        let name = mail.to_name.replace(['\r', '\n'], " ");
        let to = Mailbox::new(Some(name), address);
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject.replace(['\r', '\n'], " "))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        lettre::message::SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(rendered.text),
                    )
                    .singlepart(
                        lettre::message::SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(rendered.html),
                    ),
            )
            .context("building a message")
    }

    /// Sends a notice whose failure must not undo what it tells of (a recovery code used, many
    /// failed sign-ins): a mail that cannot be built or sent is logged, not returned.
    pub async fn send_notice(&self, mail: anyhow::Result<Mail>, what: &'static str) {
        let sent = match mail {
            Ok(m) => self.send(&m).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            tracing::warn!(error = format!("{e:#}"), notice = what, "notice not sent");
        }
    }

    pub async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        let message = self.build(mail)?;
        match &self.transport {
            Transport::Outbox(t) => {
                t.send(message).await.context("writing to the outbox")?;
            }
            Transport::Smtp(t) => {
                t.send(message).await.context("sending by SMTP")?;
            }
        }
        Ok(())
    }
}
