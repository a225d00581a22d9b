//! Per-user rate limiting (GCRA, from the `governor` crate): each user may send a burst of
//! `per_minute` requests, refilled evenly over the minute. Kept per process: with several API
//! replicas each enforces its own share.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;
use std::time::Duration;

#[derive(Debug)]
pub struct UserRateLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl UserRateLimiter {
    pub fn per_minute(requests: u32) -> Self {
        let requests = NonZeroU32::new(requests.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(requests)),
            clock: DefaultClock::default(),
        }
    }

    /// `Ok` when the user may proceed, or how long until they may.
    pub fn check(&self, user: &str) -> Result<(), Duration> {
        // Forget idle users now and then so the map stays bounded by active users.
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&user.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}
