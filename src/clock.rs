//! The injectable clock: every rule that depends on time asks this, never the system directly,
//! so tests move time instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Seconds since the Unix epoch, UTC.
pub type Timestamp = i64;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The wall clock, used in production.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to. Built by code (tests), never from configuration.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Timestamp) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(start)))
    }
    pub fn set(&self, t: Timestamp) {
        self.0.store(t, Ordering::SeqCst);
    }
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}

pub type SharedClock = Arc<dyn Clock>;

pub const JST_OFFSET: i64 = 9 * 3600;

/// The instant a day ends in Japan (24:00 JST of `date`), from `YYYY-MM-DD`.
pub fn end_of_day(date: &str) -> Option<Timestamp> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(date.trim(), &fmt).ok()?;
    let midnight_utc = d.midnight().assume_utc().unix_timestamp();
    Some(midnight_utc + 86_400 - JST_OFFSET)
}

/// The JST date on which an instant falls, `YYYY-MM-DD` (for `end_of_day` values: the last day).
pub fn last_day(t: Timestamp) -> String {
    let shifted = t - 1 + JST_OFFSET;
    match time::OffsetDateTime::from_unix_timestamp(shifted) {
        Ok(dt) => format!(
            "{:04}-{:02}-{:02}",
            dt.year(),
            u8::from(dt.month()),
            dt.day()
        ),
        Err(_) => String::new(),
    }
}
