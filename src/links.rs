//! Route paths, defined once for handlers, redirects and templates.

pub const ROOT: &str = "/";
pub const STAFF_HOME: &str = "/staff";
pub const STAFF_SIGN_IN: &str = "/staff/signin";
pub const STAFF_SIGN_IN_CODE: &str = "/staff/signin/code";
pub const STAFF_SIGN_OUT: &str = "/staff/signout";
pub const STAFF_DEPARTMENTS: &str = "/staff/departments";
pub const STAFF_CLERKS: &str = "/staff/clerks";
pub const STAFF_CLERK_DISABLE: &str = "/staff/clerks/{id}/disable";
pub const STAFF_CLERK_ENABLE: &str = "/staff/clerks/{id}/enable";
pub const STAFF_CLERK_RESEND: &str = "/staff/clerks/{id}/resend";
pub const SETUP: &str = "/setup/{token}";
pub const SETUP_APP: &str = "/setup/authenticator";
pub const LANG: &str = "/lang";
pub const INVITE: &str = "/invite/{token}";
pub const SETUP_RECOVERY: &str = "/setup/recovery-codes";
pub const SETUP_RECOVERY_TEXT: &str = "/setup/recovery-codes.txt";
pub const GUEST_SIGN_IN: &str = "/signin";
pub const GUEST_SIGN_IN_CODE: &str = "/signin/code";
pub const GUEST_SIGN_IN_CHOOSE: &str = "/signin/choose";
pub const GUEST_SIGN_OUT: &str = "/signout";
pub const GUEST_HOME: &str = "/channel";
pub const GUEST_CHANNEL: &str = "/c/{channel}";
pub const GUEST_CHANNEL_MESSAGES: &str = "/c/{channel}/messages";
pub const GUEST_CHANNEL_FILES: &str = "/c/{channel}/files";
pub const SIGN_IN_ENDED: &str = "/signin/ended";
pub const GUEST_NOTICES: &str = "/account/notices";
pub const GUEST_CHANNEL_LIVE: &str = "/c/{channel}/live";
pub const GUEST_CHANNEL_SEARCH: &str = "/c/{channel}/search";
pub const STAFF_CHANNEL_SEARCH: &str = "/staff/channels/{channel}/search";
pub const STAFF_CHANNEL_LIVE: &str = "/staff/channels/{channel}/live";
pub const STAFF_NOTICES: &str = "/staff/notices";
pub const GUEST_MESSAGE: &str = "/c/{channel}/messages/{message}";
pub const GUEST_MESSAGE_ACK: &str = "/c/{channel}/messages/{message}/ack";
pub const GUEST_MESSAGE_EDIT: &str = "/c/{channel}/messages/{message}/edit";
pub const GUEST_MESSAGE_WITHDRAW: &str = "/c/{channel}/messages/{message}/withdraw";
pub const GUEST_CHANNEL_FILE: &str = "/c/{channel}/files/{file}";
pub const GUEST_ACCOUNT: &str = "/account";
pub const GUEST_ACCOUNT_EXTENSION: &str = "/account/extension";
pub const GUEST_ACCOUNT_END_OTHERS: &str = "/account/sessions/end-others";
pub const GUEST_ACCOUNT_PASSWORD: &str = "/account/password";
pub const GUEST_ACCOUNT_CLOSE: &str = "/account/close";
pub const GUEST_ACCOUNT_AUTHENTICATOR: &str = "/account/authenticator";
pub const GUEST_ACCOUNT_AUTHENTICATOR_CONFIRM: &str = "/account/authenticator/confirm";
pub const STAFF_CHANNELS: &str = "/staff/channels";
pub const STAFF_CHANNEL: &str = "/staff/channels/{channel}";
pub const STAFF_CHANNEL_MESSAGES: &str = "/staff/channels/{channel}/messages";
pub const STAFF_CHANNEL_FILES: &str = "/staff/channels/{channel}/files";
pub const STAFF_MESSAGE: &str = "/staff/channels/{channel}/messages/{message}";
pub const STAFF_MESSAGE_ACK: &str = "/staff/channels/{channel}/messages/{message}/ack";
pub const STAFF_MESSAGE_EDIT: &str = "/staff/channels/{channel}/messages/{message}/edit";
pub const STAFF_MESSAGE_WITHDRAW: &str = "/staff/channels/{channel}/messages/{message}/withdraw";
pub const STAFF_MESSAGE_EXPORT: &str = "/staff/channels/{channel}/messages/{message}/people.csv";
pub const STAFF_MESSAGE_REMIND: &str = "/staff/channels/{channel}/messages/{message}/remind";
pub const STAFF_CHANNEL_FILE: &str = "/staff/channels/{channel}/files/{file}";
pub const STAFF_CHANNEL_EDIT: &str = "/staff/channels/{channel}/edit";
pub const STAFF_CHANNEL_ARCHIVE: &str = "/staff/channels/{channel}/archive";
pub const STAFF_CHANNEL_REVOKE_ALL: &str = "/staff/channels/{channel}/revoke-all";
pub const STAFF_CHANNEL_GUEST_NEW: &str = "/staff/channels/{channel}/guests/new";
pub const STAFF_CHANNEL_GUEST_BULK: &str = "/staff/channels/{channel}/guests/bulk";
pub const STAFF_GUESTS: &str = "/staff/guests";
pub const STAFF_GUEST: &str = "/staff/guests/{guest}";
pub const STAFF_GUEST_EXTEND: &str = "/staff/guests/{guest}/extend";
pub const STAFF_GUEST_REVOKE: &str = "/staff/guests/{guest}/revoke";
pub const STAFF_GUEST_REISSUE: &str = "/staff/guests/{guest}/reissue";
pub const STAFF_GUEST_RESET: &str = "/staff/guests/{guest}/reset-authenticator";
pub const STAFF_GUEST_SHEET: &str = "/staff/guests/{guest}/sheet";
pub const STAFF_GUEST_END_SESSIONS: &str = "/staff/guests/{guest}/end-sessions";
pub const STAFF_EXTENSION_DECIDE: &str = "/staff/extension-requests/{request}/decide";

pub const STATIC: &str = "/static";
pub const STYLE: &str = "/static/style.css";

/// Builders for the paths that carry an id, one per route, so handlers, templates and mails
/// write no path by hand.
macro_rules! builders {
    ($($name:ident: $route:ident, $key:literal;)+) => {
        $(
            pub fn $name(id: &str) -> String {
                with($route, $key, id)
            }
        )+
    };
}

builders! {
    staff_channel: STAFF_CHANNEL, "channel";
    staff_channel_messages: STAFF_CHANNEL_MESSAGES, "channel";
    staff_channel_files: STAFF_CHANNEL_FILES, "channel";
    staff_channel_edit: STAFF_CHANNEL_EDIT, "channel";
    staff_channel_archive: STAFF_CHANNEL_ARCHIVE, "channel";
    staff_channel_revoke_all: STAFF_CHANNEL_REVOKE_ALL, "channel";
    staff_channel_guest_new: STAFF_CHANNEL_GUEST_NEW, "channel";
    staff_channel_guest_bulk: STAFF_CHANNEL_GUEST_BULK, "channel";
    staff_guest: STAFF_GUEST, "guest";
    staff_guest_extend: STAFF_GUEST_EXTEND, "guest";
    staff_guest_revoke: STAFF_GUEST_REVOKE, "guest";
    staff_guest_reissue: STAFF_GUEST_REISSUE, "guest";
    staff_guest_reset: STAFF_GUEST_RESET, "guest";
    staff_guest_sheet: STAFF_GUEST_SHEET, "guest";
    staff_guest_end_sessions: STAFF_GUEST_END_SESSIONS, "guest";
    staff_extension_decide: STAFF_EXTENSION_DECIDE, "request";
    staff_clerk_enable: STAFF_CLERK_ENABLE, "id";
    staff_clerk_disable: STAFF_CLERK_DISABLE, "id";
    staff_clerk_resend: STAFF_CLERK_RESEND, "id";
    guest_channel: GUEST_CHANNEL, "channel";
    guest_channel_messages: GUEST_CHANNEL_MESSAGES, "channel";
    guest_channel_files: GUEST_CHANNEL_FILES, "channel";
}

pub fn with(template: &str, key: &str, value: &str) -> String {
    template.replace(&format!("{{{key}}}"), value)
}

pub fn setup(token: &str) -> String {
    SETUP.replace("{token}", token)
}

/// The invitation link a guest opens (the token is the only secret in it).
pub fn invite(token: &str) -> String {
    INVITE.replace("{token}", token)
}

/// A redirect target from a form: only a local absolute path, never another site.
pub fn local_path(p: &str) -> Option<&str> {
    let ok = p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && !p.chars().any(|c| c.is_control());
    ok.then_some(p)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_local_paths_are_redirect_targets() {
        use super::local_path;
        assert_eq!(local_path("/staff"), Some("/staff"));
        assert_eq!(local_path("//evil.example"), None);
        assert_eq!(local_path("https://evil.example"), None);
        assert_eq!(local_path("/\\evil.example"), None);
        assert_eq!(local_path("/a\r\nb"), None);
    }
}
