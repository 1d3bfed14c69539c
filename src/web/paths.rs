//! Route paths, defined once for handlers, redirects and templates.

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

pub fn setup(token: &str) -> String {
    SETUP.replace("{token}", token)
}

pub fn clerk_action(template: &str, id: &str) -> String {
    template.replace("{id}", id)
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
