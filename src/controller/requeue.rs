//! When to run an account's cycle again, and when to look at an object
//! again.
//!
//! An account's next cycle comes at the earliest time any of its objects
//! asks for (see [`after_cycle`]):
//! - throttled: what the cloud's `Retry-After` says;
//! - failed, waiting on an earlier step, or rejected credentials:
//!   exponential backoff from 5 s, doubled per consecutive cycle that
//!   needed one, capped (`--max-backoff`);
//! - otherwise at the resync, so drift made outside Kubernetes is found:
//!   the period plus up to 10% jitter, fixed per account, so accounts do
//!   not resync in lockstep.
//!
//! A change to any object of the account brings the cycle earlier (the
//! watches trigger it). An invalid spec only waits for such a change.
//!
//! The arithmetic is pure; the jitter's random fraction is passed in.

use std::time::Duration;

use super::outcome::{CycleResult, Reason, Verdict};

/// First retry delay after a failure.
pub const BASE_BACKOFF: Duration = Duration::from_secs(5);

/// `BASE_BACKOFF * 2^(attempt-1)`, capped; `attempt` counts from 1.
pub fn backoff(attempt: u32, cap: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    BASE_BACKOFF.saturating_mul(1u32 << exp).min(cap)
}

/// `period` stretched by `fraction` (0..1) of 10%.
pub fn jittered(period: Duration, fraction: f64) -> Duration {
    period + period.mul_f64(0.1 * fraction.clamp(0.0, 1.0))
}

/// What one object's verdict asks of its account's next cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Nothing sooner than the resync.
    Resync,
    /// Retry after this long (the cloud said so).
    After(Duration),
    /// Retry with the account's backoff.
    Backoff,
}

/// What `verdict` asks for.
pub fn want(verdict: &Verdict) -> Want {
    match verdict {
        Verdict::Ready { .. } | Verdict::Progressing { retry: false, .. } => Want::Resync,
        Verdict::Stalled {
            reason: Reason::CredentialsInvalid | Reason::AccountInvalid,
            ..
        } => Want::Backoff,
        Verdict::Stalled { .. } => Want::Resync,
        Verdict::Failed {
            retry_after: Some(d),
            ..
        } => Want::After(*d),
        Verdict::Failed { .. } | Verdict::Progressing { retry: true, .. } => Want::Backoff,
    }
}

/// Whether a cycle's result needs a retry before the resync (the account's
/// backoff counts such cycles in a row).
pub fn needs_retry(result: &CycleResult) -> bool {
    result.iter().any(|o| want(&o.verdict) != Want::Resync)
}

/// How long after `result`'s cycle started the next one should run: the
/// earliest of what its objects ask, `attempt` being the number of cycles
/// in a row (this one included) that needed a retry.
pub fn after_cycle(
    result: &CycleResult,
    attempt: u32,
    resync: Duration,
    cap: Duration,
    jitter: f64,
) -> Duration {
    result
        .iter()
        .map(|o| match want(&o.verdict) {
            Want::Resync => jittered(resync, jitter),
            Want::After(d) => d,
            Want::Backoff => backoff(attempt.max(1), cap),
        })
        .min()
        .unwrap_or_else(|| jittered(resync, jitter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::ErrorKind;
    use crate::model::ObjectKey;

    const CAP: Duration = Duration::from_secs(300);
    const RESYNC: Duration = Duration::from_secs(600);

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
        assert_eq!(jittered(p, 7.0), Duration::from_secs(660), "clamped");
    }

    fn result(verdicts: &[Verdict]) -> CycleResult {
        let keys: Vec<ObjectKey> = (0..verdicts.len())
            .map(|i| ObjectKey::new("PortSecurityGroups", "ns", &format!("p{i}")))
            .collect();
        let mut r = CycleResult::all(
            ObjectKey::new("CloudAccount", "ns", "acct"),
            &keys,
            Verdict::synced(""),
        );
        for (o, v) in r.objects.values_mut().zip(verdicts) {
            o.verdict = v.clone();
        }
        r
    }

    #[test]
    fn the_earliest_want_of_any_object_wins() {
        let synced = Verdict::synced("in sync");
        let invalid = Verdict::stalled(Reason::InvalidSpec, "spec.ports: bad");
        let waiting = Verdict::waiting(Reason::ReferenceNotFound, "", false);
        let throttled = Verdict::failed(
            Reason::Cloud(ErrorKind::Throttled),
            "",
            Some(Duration::from_secs(7)),
        );
        let server = Verdict::failed(Reason::Cloud(ErrorKind::Server), "", None);
        let pending = Verdict::waiting(Reason::Pending, "", true);
        let creds = Verdict::stalled(Reason::CredentialsInvalid, "");

        let settled = result(&[synced.clone(), invalid.clone(), waiting.clone()]);
        assert!(!needs_retry(&settled));
        assert_eq!(
            after_cycle(&settled, 1, RESYNC, CAP, 0.5),
            RESYNC.mul_f64(1.05)
        );

        let r = result(&[synced.clone(), throttled.clone()]);
        assert!(needs_retry(&r));
        assert_eq!(
            after_cycle(&r, 3, RESYNC, CAP, 0.0),
            Duration::from_secs(7),
            "Retry-After wins over the backoff"
        );
        let r = result(&[synced.clone(), server.clone(), throttled]);
        assert_eq!(after_cycle(&r, 1, RESYNC, CAP, 0.0), Duration::from_secs(5));
        assert_eq!(after_cycle(&r, 3, RESYNC, CAP, 0.0), Duration::from_secs(7));
        for v in [server, pending, creds] {
            let r = result(&[synced.clone(), v.clone()]);
            assert_eq!(
                after_cycle(&r, 3, RESYNC, CAP, 0.0),
                Duration::from_secs(20),
                "{v:?}"
            );
        }
        assert_eq!(
            after_cycle(&result(&[]), 1, RESYNC, CAP, 0.0),
            RESYNC,
            "an account with no objects resyncs"
        );
    }
}
