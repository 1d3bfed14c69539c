//! Accounts: sign-in, sessions (logins) and credentials.

pub mod credentials;
pub mod device;
pub mod limit;
pub mod lockout;
pub mod logins;
pub mod pages;
pub mod session;
pub mod sign_in_name;
pub mod signin;
pub mod store;
pub mod throttle;

use lettre::Address;

use crate::audit::Actor;
use crate::vocab::text_enum;

/// The live statuses (`Status::LIVE`) as an SQL list, for `concat!` into query text.
#[macro_export]
macro_rules! live_statuses {
    () => {
        "('invited', 'active', 'locked')"
    };
}

text_enum!(
    /// Who an account belongs to.
    Kind, "account kind" { Clerk = "clerk", Guest = "guest" }
);

text_enum!(
    /// Where an account is in its life. Clerks are invited, active, disabled or locked; guests
    /// are invited, active or locked while live, then expired, revoked or closed for good.
    Status, "account status" {
        Invited = "invited",
        Active = "active",
        Locked = "locked",
        Disabled = "disabled",
        Expired = "expired",
        Revoked = "revoked",
        Closed = "closed",
    }
);

impl Status {
    /// The statuses of an account that still exists for its owner: it can be extended, reset,
    /// revoked, and it counts as a channel's member.
    pub const LIVE: [Status; 3] = [Status::Invited, Status::Active, Status::Locked];

    /// `LIVE` as SQL, for queries over `account a`.
    pub const LIVE_SQL: &'static str = concat!("a.status in ", live_statuses!());

    pub fn is_live(self) -> bool {
        Self::LIVE.contains(&self)
    }

    /// Whether a password may be tried: active, or locked (the password step then tells why).
    pub fn may_try_sign_in(self) -> bool {
        matches!(self, Status::Active | Status::Locked)
    }
}

crate::vocab::text_enum!(
    /// What a clerk may do: an admin also manages departments and clerks and sees every channel.
    Role, "role" { Admin = "admin", Clerk = "clerk" }
);

/// Longest e-mail address accepted anywhere (RFC 5321 path limit).
pub const EMAIL_MAX: usize = 254;

pub const NAME_MAX: usize = 100;

/// A clerk's name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(s: &str) -> std::result::Result<Self, &'static str> {
        crate::text::field(s, NAME_MAX, false).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address that lettre can parse, stored lower-case.
#[derive(Debug, Clone)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> std::result::Result<Self, &'static str> {
        // As people type it: full-width forms from a Japanese IME become plain (NFKC).
        let s = unicode_normalization::UnicodeNormalization::nfkc(s)
            .collect::<String>()
            .trim()
            .to_lowercase();
        if s.is_empty() {
            return Err("form-required");
        }
        if s.chars().count() > EMAIL_MAX {
            return Err("form-too-long");
        }
        s.parse::<Address>().map_err(|_| "form-email-invalid")?;
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A signed-in clerk or admin with both factors, re-checked on this request.
#[derive(Clone, Debug)]
pub struct StaffUser {
    pub login_id: String,
    pub account_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub department_id: Option<String>,
    pub department_name: Option<String>,
}

impl StaffUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
    pub fn actor(&self) -> Actor {
        Actor::Clerk(self.account_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn the_live_sql_names_exactly_the_live_statuses() {
        let named: Vec<&str> = Status::ALL
            .iter()
            .filter(|s| Status::LIVE_SQL.contains(&format!("'{}'", s.as_str())))
            .map(|s| s.as_str())
            .collect();
        let live: Vec<&str> = Status::LIVE.iter().map(|s| s.as_str()).collect();
        assert_eq!(named, live);
    }
}
