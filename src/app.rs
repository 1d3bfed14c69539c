//! The application's state: the database, configuration, clock, mailer and keys that every
//! operation, page and command-line task is given.

use std::sync::Arc;

use crate::accounts::limit::RateLimiter;
use crate::audit::checkpoint::Signer;
use crate::audit::writer::Writer;
use crate::auth::totp::SecretBox;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::mail::Mailer;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub config: Config,
    pub clock: SharedClock,
    pub mailer: Mailer,
    pub secrets: SecretBox,
    pub limiter: RateLimiter,
    /// Signs audit checkpoints (G4).
    pub audit_signer: Signer,
    /// Group commit for the records that page views and refusals cause.
    pub audit: Writer,
    /// The channels' recent conversations, kept between views while current.
    pub conversations: crate::messages::cache::Conversations,
    /// The clerks' guest lists, kept between views while current.
    pub guest_lists: crate::guests::store::kept::GuestLists,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(db: Db, config: Config, clock: SharedClock, mailer: Mailer) -> Self {
        let secrets = SecretBox::new(config.totp_key.expose());
        let limiter = RateLimiter::new(config.sign_in_rate_per_minute, db.clone());
        let audit_signer = Signer::new(config.audit_key.expose());
        let audit = Writer::start(db.clone());
        Self(Arc::new(Inner {
            db,
            config,
            clock,
            mailer,
            secrets,
            limiter,
            audit_signer,
            audit,
            conversations: Default::default(),
            guest_lists: Default::default(),
        }))
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A link people open, always built from the configured public URL (A6).
    pub fn link(&self, path: &str) -> String {
        format!("{}{}", self.config.public_url, path)
    }
}
