//! Retries: capped exponential backoff with jitter, and only where sending
//! again is safe. Each call site says how safe its call is
//! ([`Idempotency`]); the reason is written next to each call in the
//! providers.
//!
//! Writes get at most [`RetryPolicy::max_attempts`]. Reads change nothing,
//! so with a [`RetryPolicy::read_budget`] they are retried, with the same
//! backoff, until that much time has passed: a one-shot run against a
//! cloud failing half its calls still reads everything it needs (a fixed
//! four tries lost one read in about 25 on every run). Without a budget
//! (the default, which the controller uses: a failed read fails the cycle,
//! which requeues with its own backoff) reads count attempts like writes.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::CloudError;

/// Whether a call may be sent again after an answer was possibly lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads (GET): sending again changes nothing; retried within the
    /// policy's read budget when it has one.
    Read,
    /// Reads, and writes whose repetition changes nothing, by nature (set a
    /// name, delete by id) or by a client token the cloud de-duplicates on.
    Safe,
    /// Writes that could act twice (a create without a token). Sent again
    /// only when the failure proves the first attempt was not acted on: no
    /// connection was made, or the gateway refused it with 429.
    Unsafe,
}

/// How often and how long to retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry); for reads
    /// too unless `read_budget` is set.
    pub max_attempts: u32,
    /// Delay before the first retry (before jitter).
    pub base_delay: Duration,
    /// Cap of the exponential delay.
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited out here: the error
    /// goes back to the caller, who requeues.
    pub max_retry_after: Duration,
    /// Reads are retried until this long after their first attempt (a
    /// retry whose delay would end past it is not made), however many
    /// attempts that takes. `None`: reads get `max_attempts` like writes.
    pub read_budget: Option<Duration>,
    /// Told before each retry is waited for (progress lines).
    pub on_retry: Option<RetryObserver>,
}

/// A retry about to be waited for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryNotice {
    /// The call, as the client names it (`showPort`).
    pub call: &'static str,
    pub idempotency: Idempotency,
    /// Attempts made so far (all failed).
    pub attempts: u32,
    /// Why the last one failed ([`CloudError::reason`]) and its HTTP status.
    pub reason: &'static str,
    pub status: Option<u16>,
    /// Time since the first attempt, and the wait before the next.
    pub elapsed: Duration,
    pub delay: Duration,
    /// The read budget in force, if any.
    pub budget: Option<Duration>,
}

impl fmt::Display for RetryNotice {
    /// `retrying showPort after HTTP 503 (ServerError): attempt 3 failed,
    /// 1.2s of the 60s read budget used, next try in 0.4s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "retrying {} after ", self.call)?;
        match self.status {
            Some(status) if status > 0 => write!(f, "HTTP {status} ({})", self.reason)?,
            _ => f.write_str(self.reason)?,
        }
        write!(f, ": attempt {} failed, ", self.attempts)?;
        match self.budget {
            Some(budget) => write!(
                f,
                "{:.1}s of the {:.0}s read budget used",
                self.elapsed.as_secs_f64(),
                budget.as_secs_f64()
            )?,
            None => write!(f, "{:.1}s so far", self.elapsed.as_secs_f64())?,
        }
        write!(f, ", next try in {:.1}s", self.delay.as_secs_f64())
    }
}

/// A callback for [`RetryNotice`]s. Compares by identity.
#[derive(Clone)]
pub struct RetryObserver(pub Arc<dyn Fn(&RetryNotice) + Send + Sync>);

impl RetryObserver {
    pub fn new(f: impl Fn(&RetryNotice) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

impl fmt::Debug for RetryObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetryObserver")
    }
}

impl PartialEq for RetryObserver {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RetryObserver {}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
            read_budget: None,
            on_retry: None,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

/// One failed attempt.
#[derive(Debug)]
pub struct AttemptError {
    pub error: CloudError,
    /// The request certainly never reached the server (connect failed).
    pub not_sent: bool,
}

impl From<CloudError> for AttemptError {
    fn from(error: CloudError) -> Self {
        Self {
            error,
            not_sent: false,
        }
    }
}

/// Whether the failed attempt may be sent again.
pub fn may_retry(idempotency: Idempotency, failure: &AttemptError) -> bool {
    match idempotency {
        Idempotency::Read | Idempotency::Safe => failure.error.is_retryable(),
        Idempotency::Unsafe => {
            failure.not_sent || matches!(failure.error, CloudError::Throttled { .. })
        }
    }
}

/// Delay before retry number `retry` (0 for the first): the capped
/// exponential delay `d = min(max, base * 2^retry)`, of which the upper
/// half is jittered: `d/2 + jitter * d/2`, `jitter` in `[0, 1)`. Half the
/// delay is kept so retries never bunch up at zero.
pub fn backoff(policy: &RetryPolicy, retry: u32, jitter: f64) -> Duration {
    let exp = policy
        .base_delay
        .saturating_mul(2u32.saturating_pow(retry))
        .min(policy.max_delay);
    let half = exp / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

/// Delay before retry number `retry` after `error`: the backoff, but at
/// least the server's `Retry-After`; `None` when that is longer than the
/// policy waits.
pub fn next_delay(
    policy: &RetryPolicy,
    retry: u32,
    error: &CloudError,
    jitter: f64,
) -> Option<Duration> {
    let delay = backoff(policy, retry, jitter);
    match error.retry_after() {
        Some(after) if after > policy.max_retry_after => None,
        Some(after) => Some(delay.max(after)),
        None => Some(delay),
    }
}

/// Run `attempt` (given the 0-based attempt number) of the call named
/// `call` until it succeeds, the error is not retryable for this
/// `idempotency`, or attempts (or, for a read, the read budget) run out.
pub async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    idempotency: Idempotency,
    call: &'static str,
    mut attempt: F,
) -> Result<T, CloudError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let budget = match idempotency {
        Idempotency::Read => policy.read_budget,
        Idempotency::Safe | Idempotency::Unsafe => None,
    };
    let started = tokio::time::Instant::now();
    let mut n = 0;
    loop {
        let failure = match attempt(n).await {
            Ok(v) => return Ok(v),
            Err(f) => f,
        };
        let last = budget.is_none() && n + 1 >= policy.max_attempts;
        if last || !may_retry(idempotency, &failure) {
            return Err(failure.error);
        }
        let Some(delay) = next_delay(policy, n, &failure.error, rand::random::<f64>()) else {
            return Err(failure.error);
        };
        let elapsed = started.elapsed();
        if budget.is_some_and(|b| elapsed + delay > b) {
            return Err(failure.error);
        }
        if let Some(observer) = &policy.on_retry {
            (observer.0)(&RetryNotice {
                call,
                idempotency,
                attempts: n + 1,
                reason: failure.error.reason(),
                status: failure.error.detail().map(|d| d.status),
                elapsed,
                delay,
                budget,
            });
        }
        tracing::debug!(
            attempt = n + 1,
            delay_ms = delay.as_millis() as u64,
            reason = failure.error.reason(),
            "retrying"
        );
        tokio::time::sleep(delay).await;
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::cloud::ApiErrorDetail;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(10),
            ..RetryPolicy::default()
        }
    }

    fn server() -> CloudError {
        CloudError::Server(ApiErrorDetail::default())
    }

    fn throttled(after: Option<u64>) -> CloudError {
        CloudError::Throttled {
            detail: ApiErrorDetail::default(),
            retry_after: after.map(Duration::from_secs),
        }
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_the_upper_half() {
        let p = policy();
        assert_eq!(backoff(&p, 0, 0.0), Duration::from_millis(50));
        assert_eq!(backoff(&p, 0, 0.5), Duration::from_millis(75));
        assert_eq!(backoff(&p, 1, 0.0), Duration::from_millis(100));
        assert_eq!(backoff(&p, 2, 0.5), Duration::from_millis(300));
        // 100ms * 2^4 = 1600ms, capped at 1000ms.
        assert_eq!(backoff(&p, 4, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(&p, 40, 1.0), Duration::from_millis(1000));
    }

    #[test]
    fn retry_after_is_a_floor_and_too_long_gives_up() {
        let p = policy();
        assert_eq!(
            next_delay(&p, 0, &throttled(Some(2)), 0.0),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            next_delay(&p, 0, &throttled(None), 0.0),
            Some(Duration::from_millis(50))
        );
        assert_eq!(next_delay(&p, 0, &throttled(Some(11)), 0.0), None);
    }

    #[test]
    fn unsafe_calls_retry_only_what_was_not_acted_on() {
        let sent = |error| AttemptError {
            error,
            not_sent: false,
        };
        let transport = || CloudError::Transport("reset".into());
        assert!(may_retry(Idempotency::Safe, &sent(server())));
        assert!(may_retry(Idempotency::Safe, &sent(transport())));
        assert!(!may_retry(Idempotency::Unsafe, &sent(server())));
        assert!(!may_retry(Idempotency::Unsafe, &sent(transport())));
        assert!(may_retry(Idempotency::Unsafe, &sent(throttled(None))));
        assert!(may_retry(
            Idempotency::Unsafe,
            &AttemptError {
                error: transport(),
                not_sent: true
            }
        ));
        let not_found = CloudError::NotFound(ApiErrorDetail::default());
        assert!(!may_retry(Idempotency::Safe, &sent(not_found)));
    }

    #[tokio::test(start_paused = true)]
    async fn run_stops_at_success_at_a_final_error_and_at_the_attempt_limit() {
        let p = policy();
        let calls = AtomicU32::new(0);
        let r: Result<u32, _> = run(&p, Idempotency::Safe, "op", |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { if n < 2 { Err(server().into()) } else { Ok(n) } }
        })
        .await;
        assert_eq!(r.unwrap(), 2);
        assert_eq!(calls.swap(0, Ordering::SeqCst), 3);

        let r: Result<(), _> = run(&p, Idempotency::Safe, "op", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(server().into()) }
        })
        .await;
        assert!(matches!(r, Err(CloudError::Server(_))));
        assert_eq!(calls.swap(0, Ordering::SeqCst), 4);

        let r: Result<(), _> = run(&p, Idempotency::Unsafe, "op", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(server().into()) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.swap(0, Ordering::SeqCst), 1, "unsafe 5xx not retried");
    }

    #[tokio::test(start_paused = true)]
    async fn reads_retry_within_their_budget_and_writes_keep_their_attempts() {
        let notices = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = notices.clone();
        let p = RetryPolicy {
            read_budget: Some(Duration::from_secs(60)),
            on_retry: Some(RetryObserver::new(move |n| {
                seen.lock().unwrap().push(n.clone())
            })),
            ..policy()
        };
        // A read that fails 20 times (far past max_attempts) then works.
        let calls = AtomicU32::new(0);
        let r: Result<u32, _> = run(&p, Idempotency::Read, "showPort", |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { if n < 20 { Err(server().into()) } else { Ok(n) } }
        })
        .await;
        assert_eq!(r.unwrap(), 20);
        assert_eq!(calls.swap(0, Ordering::SeqCst), 21);
        {
            let seen = notices.lock().unwrap();
            assert_eq!(seen.len(), 20, "one notice per retry");
            assert_eq!(seen[0].call, "showPort");
            assert_eq!(seen[0].attempts, 1);
            assert_eq!(seen[0].budget, Some(Duration::from_secs(60)));
            let line = seen[19].to_string();
            assert!(
                line.starts_with("retrying showPort after ServerError: attempt 20 failed, "),
                "{line}"
            );
            assert!(line.contains("of the 60s read budget used"), "{line}");
        }

        // A read that never works stops before the budget runs out.
        let start = tokio::time::Instant::now();
        let r: Result<(), _> = run(&p, Idempotency::Read, "showPort", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(server().into()) }
        })
        .await;
        assert!(matches!(r, Err(CloudError::Server(_))));
        // Paused clock: only the backoff sleeps move it. The last retry
        // whose delay (at most 1 s here) fits is made, then it gives up.
        let took = start.elapsed();
        assert!(took <= Duration::from_secs(60), "{took:?}");
        assert!(took >= Duration::from_secs(59), "{took:?}");
        let tries = calls.swap(0, Ordering::SeqCst);
        assert!(tries > 50, "many more than 4 tries: {tries}");

        // Neither a safe nor an unsafe write gets the read budget.
        for (idempotency, tries) in [(Idempotency::Safe, 4), (Idempotency::Unsafe, 1)] {
            let r: Result<(), _> = run(&p, idempotency, "op", |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(server().into()) }
            })
            .await;
            assert!(r.is_err());
            assert_eq!(calls.swap(0, Ordering::SeqCst), tries, "{idempotency:?}");
        }

        // Without a budget a read counts attempts, as before.
        let r: Result<(), _> = run(&policy(), Idempotency::Read, "op", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(server().into()) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn run_waits_out_retry_after() {
        let p = policy();
        let start = tokio::time::Instant::now();
        let r: Result<u32, _> = run(&p, Idempotency::Safe, "op", |n| async move {
            if n == 0 {
                Err(throttled(Some(3)).into())
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 1);
        // Paused clock: time only moves by the sleeps, so this is exact.
        assert!(start.elapsed() >= Duration::from_secs(3));
        assert!(start.elapsed() < Duration::from_secs(4));
    }
}
