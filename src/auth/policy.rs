//! Lockout policy for failed factors (B5), kept pure so it can be tested without a database.

use crate::clock::Timestamp;

/// Consecutive TOTP failures after which only a clerk can unlock the account.
pub const TOTP_HARD_LIMIT: i64 = 100;
/// Failures between two lockouts.
pub const FAILURES_PER_LOCKOUT: i64 = 5;
/// How long a TOTP pending state lasts after the password step (B8).
pub const TOTP_PENDING_SECS: i64 = 5 * 60;
/// Session limits (C3).
pub const IDLE_TIMEOUT_SECS: i64 = 30 * 60;
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 12 * 60 * 60;

/// Wrong passwords from one address for one sign-in name between two slow-downs (B13).
pub const NAME_FAILURES_PER_SLOWDOWN: i64 = 5;
/// Wrong passwords from one address, whatever the names, between two slow-downs (B13).
pub const ADDRESS_FAILURES_PER_SLOWDOWN: i64 = 20;
/// Password tries at one sign-in name from browsers that are not a known device for it, from
/// any address, in one hour (B14); past it such tries are refused unchecked. Equal to the
/// failures at which the owner's second notice goes out (`tell_owner`), so the owner is mailed
/// when the budget is spent.
pub const UNTRUSTED_TRIES_PER_HOUR: i64 = 20;
/// A throttle counter older than this starts again from zero.
pub const THROTTLE_MEMORY_SECS: i64 = 24 * 60 * 60;
/// Failed passwords on one account, from anywhere, after which its owner is told by mail, and
/// every this-many after that (B13).
pub const OWNER_NOTICE_FAILURES: i64 = 10;

/// Until when a source is slowed after its `failures`-th failure: every `per`-th failure,
/// 1 minute the first time and doubling up to 1 hour.
pub fn slow_down(failures: i64, per: i64, now: Timestamp) -> Option<Timestamp> {
    if failures > 0 && failures % per == 0 {
        let round = (failures / per - 1).min(6) as u32;
        return Some(now + (60i64 << round).min(3600));
    }
    None
}

/// Whether the `failures`-th failed password on an account is one its owner is told about.
pub fn tell_owner(failures: i64) -> bool {
    failures > 0
        && failures % OWNER_NOTICE_FAILURES == 0
        && ((failures / OWNER_NOTICE_FAILURES) as u64).is_power_of_two()
}

#[derive(Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Nothing more to do.
    Count,
    /// Refuse further tries of this factor until then.
    LockUntil(Timestamp),
    /// Lock the account for a clerk to reset.
    Lock,
}

/// What to do after the `failures`-th consecutive failure. Every fifth failure locks for a
/// while, 1 minute the first time and doubling up to 1 hour.
pub fn after_failure(failures: i64, now: Timestamp, hard_limit: Option<i64>) -> AfterFailure {
    if let Some(limit) = hard_limit
        && failures >= limit
    {
        return AfterFailure::Lock;
    }
    if failures > 0 && failures % FAILURES_PER_LOCKOUT == 0 {
        let round = (failures / FAILURES_PER_LOCKOUT - 1).min(6) as u32;
        let secs = (60i64 << round).min(3600);
        return AfterFailure::LockUntil(now + secs);
    }
    AfterFailure::Count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_totp_failure_locks_briefly_and_repeats_lock_longer() {
        // SECURITY B5
        assert_eq!(after_failure(4, 1000, Some(100)), AfterFailure::Count);
        assert_eq!(
            after_failure(5, 1000, Some(100)),
            AfterFailure::LockUntil(1060)
        );
        assert_eq!(
            after_failure(10, 1000, Some(100)),
            AfterFailure::LockUntil(1120)
        );
        assert_eq!(
            after_failure(15, 1000, Some(100)),
            AfterFailure::LockUntil(1240)
        );
        assert_eq!(
            after_failure(95, 1000, Some(100)),
            AfterFailure::LockUntil(4600)
        );
    }

    #[test]
    fn a_source_is_slowed_every_fifth_failure_for_longer_each_time() {
        // SECURITY B13
        assert_eq!(slow_down(4, 5, 1000), None);
        assert_eq!(slow_down(5, 5, 1000), Some(1060));
        assert_eq!(slow_down(10, 5, 1000), Some(1120));
        assert_eq!(slow_down(500, 5, 1000), Some(4600));
    }

    #[test]
    fn the_owner_is_told_at_ten_failures_and_then_ever_more_rarely() {
        // SECURITY B13
        let told: Vec<i64> = (1..=200).filter(|n| tell_owner(*n)).collect();
        assert_eq!(told, vec![10, 20, 40, 80, 160]);
    }

    #[test]
    fn the_hundredth_consecutive_totp_failure_locks_the_account() {
        // SECURITY B5
        assert_eq!(after_failure(99, 0, Some(100)), AfterFailure::Count);
        assert_eq!(after_failure(100, 0, Some(100)), AfterFailure::Lock);
        assert_eq!(after_failure(100, 0, None), AfterFailure::LockUntil(3600));
    }
}
