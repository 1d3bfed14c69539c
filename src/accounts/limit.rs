//! Per-address rate limiting of the sign-in and link endpoints (A9), on the injected clock so
//! tests can move time. Per-account limits live in the database (see `auth::policy`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::clock::Timestamp;

/// Per (address, endpoint): the minute being counted and the count so far.
type Windows = HashMap<(String, &'static str), (Timestamp, u32)>;

#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<Windows>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `bucket` from `addr`; false once the minute's allowance is spent.
    pub fn allow(&self, addr: IpAddr, bucket: &'static str, now: Timestamp) -> bool {
        self.allow_key(addr.to_string(), bucket, self.per_minute, now)
    }

    /// The same for any key (an account, a link), with its own allowance per minute.
    pub fn allow_key(
        &self,
        key: String,
        bucket: &'static str,
        per_minute: u32,
        now: Timestamp,
    ) -> bool {
        let minute = now.div_euclid(60);
        let Ok(mut windows) = self.windows.lock() else {
            return false;
        };
        if windows.len() > 100_000 {
            windows.retain(|_, (m, _)| *m == minute);
        }
        let entry = windows.entry((key, bucket)).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
        entry.1 <= per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_limited_per_minute_and_per_endpoint() {
        let l = RateLimiter::new(3);
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        assert!((0..3).all(|_| l.allow(a, "sign_in", 120)));
        assert!(!l.allow(a, "sign_in", 121));
        assert!(l.allow(b, "sign_in", 121));
        assert!(l.allow(a, "link", 121));
        assert!(l.allow(a, "sign_in", 180));
    }
}
