//! Client-side rate limit: a token bucket per cloud account
//! (`CloudAccount.maxRequestsPerSecond`), so the controller throttles itself
//! before the cloud's gateway does. Every attempt, retries included, takes
//! a token.
//!
//! The bucket holds one token: requests are paced evenly, `1/n` s apart.
//! A bucket of `n` would let `2n` requests into one gateway window (a full
//! bucket spent at the window's end plus a refill), which is exactly the
//! burst that gets an account throttled.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, Weak};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// `n` requests a second, evenly paced (no bursts).
pub fn quota(max_requests_per_second: NonZeroU32) -> Quota {
    Quota::per_second(max_requests_per_second).allow_burst(NonZeroU32::MIN)
}

/// One account's bucket. Share it (`Arc`) between every client of the account.
#[derive(Debug)]
pub struct AccountLimiter<C: Clock = DefaultClock> {
    bucket: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
    per_second: NonZeroU32,
}

impl AccountLimiter {
    pub fn per_second(max_requests_per_second: NonZeroU32) -> Self {
        Self {
            bucket: RateLimiter::direct(quota(max_requests_per_second)),
            per_second: max_requests_per_second,
        }
    }

    /// Wait for a token.
    pub async fn acquire(&self) {
        self.bucket.until_ready().await;
    }
}

/// The bucket of one account, shared by every client built for it in this
/// process (so calling `connect` twice for one account does not double its
/// rate). `account` identifies the account, e.g. provider, endpoint and
/// access key. A changed rate replaces the bucket.
pub fn shared_limiter(account: &str, rate: NonZeroU32) -> Arc<AccountLimiter> {
    static BUCKETS: Mutex<Option<HashMap<String, Weak<AccountLimiter>>>> = Mutex::new(None);
    // A poisoned lock only means another thread panicked mid-insert; the
    // map is still usable.
    let mut guard = BUCKETS.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    map.retain(|_, weak| weak.strong_count() > 0);
    if let Some(existing) = map.get(account).and_then(Weak::upgrade)
        && existing.rate() == rate
    {
        return existing;
    }
    let fresh = Arc::new(AccountLimiter::per_second(rate));
    map.insert(account.to_string(), Arc::downgrade(&fresh));
    fresh
}

impl<C: Clock> AccountLimiter<C> {
    /// The configured rate.
    pub fn rate(&self) -> NonZeroU32 {
        self.per_second
    }

    /// Take a token if one is free now, without waiting.
    pub fn try_acquire(&self) -> bool {
        self.bucket.check().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::*;

    fn with_clock(n: u32, clock: &FakeRelativeClock) -> AccountLimiter<FakeRelativeClock> {
        let n = NonZeroU32::new(n).unwrap();
        AccountLimiter {
            bucket: RateLimiter::direct_with_clock(quota(n), clock.clone()),
            per_second: n,
        }
    }

    #[test]
    fn one_bucket_per_account_and_rate() {
        let five = NonZeroU32::new(5).unwrap();
        let a = shared_limiter("test|a", five);
        let again = shared_limiter("test|a", five);
        assert!(Arc::ptr_eq(&a, &again));
        let other = shared_limiter("test|b", five);
        assert!(!Arc::ptr_eq(&a, &other));
        let faster = shared_limiter("test|a", NonZeroU32::new(6).unwrap());
        assert!(!Arc::ptr_eq(&a, &faster));
        assert_eq!(faster.rate().get(), 6);
    }

    #[test]
    fn paces_requests_evenly_at_the_rate() {
        let clock = FakeRelativeClock::default();
        let limiter = with_clock(4, &clock);
        assert!(limiter.try_acquire());
        assert!(!limiter.try_acquire(), "no burst");
        clock.advance(Duration::from_millis(249));
        assert!(!limiter.try_acquire(), "no token before 1/4 s");
        clock.advance(Duration::from_millis(1));
        assert!(limiter.try_acquire(), "one token every 1/4 s");
        assert!(!limiter.try_acquire());
        // However long it idles, it never saves up more than one.
        clock.advance(Duration::from_secs(10));
        let saved = (0..10).filter(|_| limiter.try_acquire()).count();
        assert_eq!(saved, 1);
        // Over any one second, at most 4 requests.
        let mut granted = 0;
        for _ in 0..100 {
            clock.advance(Duration::from_millis(10));
            granted += usize::from(limiter.try_acquire());
        }
        assert_eq!(granted, 4);
    }
}
