//! What several pages' forms share: the reason every ending action asks for, and the staff
//! context shown with the sign-out button.

use serde::Deserialize;

use super::ctx::Ctx;
use crate::accounts::StaffUser;
use crate::guests::GuestUser;
use crate::guests::lifecycle::Reason;

#[derive(Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
    /// Set by the confirmation page's button: an irreversible action without it changes nothing.
    #[serde(default)]
    confirm: String,
}

impl ReasonForm {
    pub fn reason(&self) -> &str {
        &self.reason
    }
    /// Whether the clerk pressed the button of the page that said what will happen.
    pub fn confirmed(&self) -> bool {
        self.confirm == "yes"
    }
}

/// Reads the reason every ending action asks for, or the message to show beside its field.
pub fn reason(ctx: &Ctx, typed: &str) -> Result<Reason, String> {
    Reason::parse(typed).map_err(|k| ctx.t(k))
}

/// The page context of a signed-in clerk: their name with the sign-out button, and the admin
/// menu for admins.
/// Takes a value the previous request left in the session (a notice), if there is one. Reading
/// first matters: removing marks the session changed, and a changed session is written back to
/// the store, so an unconditional remove would cost every page view a database write.
pub async fn take<T: serde::de::DeserializeOwned>(
    session: &tower_sessions::Session,
    key: &str,
) -> Result<Option<T>, tower_sessions::session::Error> {
    match session.get::<T>(key).await? {
        Some(value) => {
            session.remove_value(key).await?;
            Ok(Some(value))
        }
        None => Ok(None),
    }
}

pub fn with_user(mut ctx: Ctx, user: &StaffUser) -> Ctx {
    ctx.user = Some(user.name.clone());
    ctx.is_admin = user.is_admin();
    ctx
}

/// The page context of a signed-in guest: their name and the guest menu.
pub fn with_guest(mut ctx: Ctx, user: &GuestUser) -> Ctx {
    ctx.user = Some(user.guest.name.clone());
    ctx.guest = true;
    ctx
}

#[derive(Deserialize)]
pub struct MessageForm {
    #[serde(default)]
    body: String,
    /// A clerk's 確認依頼: "1" when asked, with an optional last day.
    #[serde(default)]
    ack: String,
    #[serde(default)]
    due: String,
}

impl MessageForm {
    pub fn body(&self) -> &str {
        &self.body
    }
    pub fn asks_ack(&self) -> bool {
        self.ack == "1"
    }
    pub fn due(&self) -> &str {
        self.due.trim()
    }
}

/// Which page of a channel's conversation to show: the newest, or the one before a message.
#[derive(Deserialize, Default)]
pub struct MessagesQuery {
    #[serde(default)]
    pub before: Option<String>,
}

/// What a refused message or file says to its author, in their language.
pub fn refusal(ctx: &Ctx, refused: &crate::messages::Refused) -> String {
    use crate::messages::Refused;
    match refused {
        Refused::MyNumber { masked } => {
            ctx.t_with("message-my-number", [("masked", masked.clone())])
        }
        Refused::NoFile => ctx.t("file-none"),
        Refused::FileTooLarge { max_mb } => {
            ctx.t_with("file-too-large", [("max", max_mb.to_string())])
        }
        Refused::FileType => ctx.t("file-type"),
        Refused::FileName => ctx.t("file-name-program"),
        Refused::Quota => ctx.t("file-quota"),
        Refused::TooLate => ctx.t("message-too-late"),
        Refused::Ended => ctx.t("channel-ended-no-change"),
        Refused::RemindedRecently { hours } => {
            ctx.t_with("ack-reminded-recently", [("hours", hours.to_string())])
        }
    }
}
