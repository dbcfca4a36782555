//! When to look at an object again.
//!
//! - Invalid spec: wait for the user to change it (the watch requeues).
//! - Throttled: wait what the cloud's `Retry-After` says.
//! - Other failures: exponential backoff from 5 s, doubled per consecutive
//!   failure of the same object, capped (`--max-backoff`).
//! - Success: at the account's resync, so drift made outside Kubernetes is
//!   found. One timer serves every account ([`Requeue::Resync`], see
//!   `sharing`): an object is requeued once the resync period plus its
//!   account's jitter (up to 10%, fixed per account) has passed since it
//!   was answered. The objects of one account come back together and share
//!   one cycle; accounts do not resync in lockstep. Requeued one by one,
//!   every object would hold a pending entry in kube-rs's scheduler.
//! - Success without an account to resync with (it does not exist yet):
//!   again after the resync period plus up to 10% jitter.
//!
//! The arithmetic is pure ([`backoff`], [`jittered`], [`resync_tick`]);
//! the jitter's random fraction is passed in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::error::Error;

/// First retry delay after a failure.
pub const BASE_BACKOFF: Duration = Duration::from_secs(5);

/// What to do after a reconcile, before kube-rs turns it into an `Action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// Only a change to the object (or something it watches) brings it back.
    AwaitChange,
    After(Duration),
    /// At the account's next resync: the resync timer requeues it.
    Resync,
}

impl From<Requeue> for kube::runtime::controller::Action {
    fn from(r: Requeue) -> Self {
        match r {
            Requeue::AwaitChange | Requeue::Resync => Self::await_change(),
            Requeue::After(d) => Self::requeue(d),
        }
    }
}

/// `BASE_BACKOFF * 2^(attempt-1)`, capped; `attempt` counts from 1.
pub fn backoff(attempt: u32, cap: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    BASE_BACKOFF.saturating_mul(1u32 << exp).min(cap)
}

/// `period` stretched by `fraction` (0..1) of 10%.
pub fn jittered(period: Duration, fraction: f64) -> Duration {
    period + period.mul_f64(0.1 * fraction.clamp(0.0, 1.0))
}

/// The requeue after a failed reconcile, the `attempt`th in a row.
pub fn after_error(err: &Error, attempt: u32, cap: Duration) -> Requeue {
    match err {
        Error::Invalid(_) => Requeue::AwaitChange,
        Error::Cloud(e) => match e.retry_after() {
            Some(d) => Requeue::After(d),
            None => Requeue::After(backoff(attempt, cap)),
        },
        _ => Requeue::After(backoff(attempt, cap)),
    }
}

/// The requeue after success of an object with no account to resync with.
pub fn after_success_alone(resync: Duration) -> Requeue {
    Requeue::After(jittered(resync, rand::random::<f64>()))
}

/// How often the resync timer looks for due objects: a twentieth of the
/// period, between 100 ms and 10 s. Objects answered within one tick come
/// back in the same batch.
pub fn resync_tick(resync: Duration) -> Duration {
    (resync / 20).clamp(Duration::from_millis(100), Duration::from_secs(10))
}

/// Consecutive failures per object, to grow the backoff.
#[derive(Debug, Default)]
pub struct FailureCounts(Mutex<HashMap<String, u32>>);

impl FailureCounts {
    /// Count one more failure; returns the new count.
    pub fn failed(&self, key: &str) -> u32 {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    pub fn succeeded(&self, key: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{ApiErrorDetail, CloudError};
    use crate::model::FieldError;

    const CAP: Duration = Duration::from_secs(300);

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1, CAP), Duration::from_secs(5));
        assert_eq!(backoff(2, CAP), Duration::from_secs(10));
        assert_eq!(backoff(4, CAP), Duration::from_secs(40));
        assert_eq!(backoff(7, CAP), CAP);
        assert_eq!(backoff(u32::MAX, CAP), CAP);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let p = Duration::from_secs(600);
        assert_eq!(jittered(p, 0.0), p);
        assert_eq!(jittered(p, 1.0), Duration::from_secs(660));
        assert_eq!(jittered(p, 0.5), Duration::from_secs(630));
        for _ in 0..100 {
            let Requeue::After(d) = after_success_alone(p) else {
                panic!("success requeues")
            };
            assert!(d >= p && d <= Duration::from_secs(660), "{d:?}");
        }
    }

    #[test]
    fn the_resync_tick_is_a_twentieth_of_the_period_within_bounds() {
        assert_eq!(
            resync_tick(Duration::from_secs(600)),
            Duration::from_secs(10)
        );
        assert_eq!(resync_tick(Duration::from_secs(60)), Duration::from_secs(3));
        assert_eq!(
            resync_tick(Duration::from_secs(1)),
            Duration::from_millis(100)
        );
        assert_eq!(
            resync_tick(Duration::from_secs(5400)),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn policy_by_error() {
        let invalid = Error::Invalid(vec![FieldError::new(None, "spec.ports", "bad")]);
        assert_eq!(after_error(&invalid, 3, CAP), Requeue::AwaitChange);

        let throttled = Error::Cloud(CloudError::Throttled {
            detail: ApiErrorDetail::default(),
            retry_after: Some(Duration::from_secs(7)),
        });
        assert_eq!(
            after_error(&throttled, 5, CAP),
            Requeue::After(Duration::from_secs(7)),
            "Retry-After wins over the backoff"
        );

        let server = Error::Cloud(CloudError::Server(ApiErrorDetail::default()));
        assert_eq!(
            after_error(&server, 3, CAP),
            Requeue::After(Duration::from_secs(20))
        );
    }

    #[test]
    fn failure_counts_reset_on_success() {
        let c = FailureCounts::default();
        assert_eq!(c.failed("a"), 1);
        assert_eq!(c.failed("a"), 2);
        assert_eq!(c.failed("b"), 1);
        c.succeeded("a");
        assert_eq!(c.failed("a"), 1);
    }
}
