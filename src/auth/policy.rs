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
    fn the_hundredth_consecutive_totp_failure_locks_the_account() {
        // SECURITY B5
        assert_eq!(after_failure(99, 0, Some(100)), AfterFailure::Count);
        assert_eq!(after_failure(100, 0, Some(100)), AfterFailure::Lock);
        assert_eq!(after_failure(100, 0, None), AfterFailure::LockUntil(3600));
    }
}
