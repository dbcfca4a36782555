//! Fault injection: what can be configured ([`Faults`], serde, settable at
//! start and at runtime) and the engine that applies it to each cloud call
//! ([`FaultEngine`], deterministic from a seed).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Faults to inject into cloud calls (admin endpoints are never affected).
/// An `operation` field takes an operation name (see `sim::ops`) or `"*"`
/// for every cloud operation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Added before every cloud call is processed.
    pub latency_ms: u64,
    /// Fraction (0.0 to 1.0) of cloud calls answered with a 500 instead of
    /// being processed; which ones is decided by a generator seeded with
    /// `seed`, so a run is reproducible.
    pub error_rate: f64,
    pub seed: u64,
    /// Per-account (access key) request rate limit, answered with 429.
    pub rate_limit: Option<RateLimit>,
    /// Fail the next `count` calls of an operation with a chosen answer.
    pub fail_next: Vec<FailNext>,
    /// Huawei batch associate/disassociate: these ports come back in
    /// `fail[]` with the given code, whatever their real outcome.
    pub port_failures: Vec<PortFailure>,
    /// Close the connection without a response.
    pub drop_connections: Vec<DropConnection>,
}

/// At most `requests` calls per `per_seconds` window for each access key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub requests: u32,
    #[serde(default = "one")]
    pub per_seconds: u64,
}

fn one() -> u64 {
    1
}

/// Answer the next `count` calls of `operation` with `status` and `code`
/// (in the cloud's error body shape).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailNext {
    pub operation: String,
    #[serde(default = "one_u32")]
    pub count: u32,
    pub status: u16,
    pub code: String,
    #[serde(default)]
    pub message: String,
}

fn one_u32() -> u32 {
    1
}

/// A port that fails inside a Huawei batch call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortFailure {
    pub port_id: String,
    #[serde(default = "default_port_failure_code")]
    pub error_code: String,
    #[serde(default)]
    pub error_msg: String,
}

fn default_port_failure_code() -> String {
    "VPC.0608".into()
}

/// When a dropped connection happens relative to the change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DropWhen {
    /// Nothing is applied; the client sees the connection close.
    Before,
    /// The call is fully applied, then the response is lost.
    After,
}

/// Drop the connection for the next `count` calls of `operation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DropConnection {
    pub operation: String,
    pub when: DropWhen,
    #[serde(default = "one_u32")]
    pub count: u32,
}

fn op_matches(pattern: &str, op: &str) -> bool {
    pattern == "*" || pattern == op
}

/// The faults in force plus the runtime they need (generator, counters,
/// rate-limit windows).
#[derive(Debug)]
pub struct FaultEngine {
    faults: Faults,
    rng: SplitMix64,
    windows: HashMap<String, (Instant, u32)>,
}

impl FaultEngine {
    pub fn new(faults: Faults) -> Self {
        Self {
            rng: SplitMix64(faults.seed),
            faults,
            windows: HashMap::new(),
        }
    }

    /// The faults as configured now (counts reflect what is left).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replace all faults; restarts the generator and rate windows.
    pub fn set(&mut self, faults: Faults) {
        *self = Self::new(faults);
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.faults.latency_ms)
    }

    /// `Some(retry_after_seconds)` when `access_key` is over its rate.
    pub fn throttle(&mut self, access_key: &str, now: Instant) -> Option<u64> {
        let limit = self.faults.rate_limit.as_ref()?;
        let window = Duration::from_secs(limit.per_seconds.max(1));
        let entry = self
            .windows
            .entry(access_key.to_string())
            .or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        if entry.1 >= limit.requests {
            let left = window.saturating_sub(now.duration_since(entry.0));
            // Round up so a client honouring Retry-After lands in the next window.
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            return Some(secs.max(1));
        }
        entry.1 += 1;
        None
    }

    /// The injected failure for this call of `op`, if any (consumes one).
    pub fn take_fail_next(&mut self, op: &str) -> Option<FailNext> {
        let idx = self
            .faults
            .fail_next
            .iter()
            .position(|f| f.count > 0 && op_matches(&f.operation, op))?;
        let f = &mut self.faults.fail_next[idx];
        f.count -= 1;
        let out = f.clone();
        if f.count == 0 {
            self.faults.fail_next.remove(idx);
        }
        Some(out)
    }

    /// Whether this call is one of the random 5xx (draws only when a rate
    /// is set, so setting none keeps other draws unchanged).
    pub fn random_error(&mut self) -> bool {
        let rate = self.faults.error_rate;
        if rate <= 0.0 {
            return false;
        }
        self.rng.next_f64() < rate
    }

    /// Whether to drop this call of `op` at `when` (consumes one).
    pub fn take_drop(&mut self, op: &str, when: DropWhen) -> bool {
        let Some(idx) = self
            .faults
            .drop_connections
            .iter()
            .position(|d| d.count > 0 && d.when == when && op_matches(&d.operation, op))
        else {
            return false;
        };
        let d = &mut self.faults.drop_connections[idx];
        d.count -= 1;
        if d.count == 0 {
            self.faults.drop_connections.remove(idx);
        }
        true
    }

    /// The configured failure for a port in a Huawei batch call.
    pub fn port_failure(&self, port_id: &str) -> Option<PortFailure> {
        self.faults
            .port_failures
            .iter()
            .find(|p| p.port_id == port_id)
            .cloned()
    }
}

/// A tiny deterministic generator (SplitMix64): enough for reproducible
/// fault decisions, no dependency on a random-number crate's stability.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_f64(&mut self) -> f64 {
        // 53 random bits mapped onto [0, 1).
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rate_is_reproducible_and_roughly_right() {
        let f = Faults {
            error_rate: 0.25,
            seed: 7,
            ..Faults::default()
        };
        let mut a = FaultEngine::new(f.clone());
        let mut b = FaultEngine::new(f);
        let xs: Vec<bool> = (0..1000).map(|_| a.random_error()).collect();
        let ys: Vec<bool> = (0..1000).map(|_| b.random_error()).collect();
        assert_eq!(xs, ys);
        let n = xs.iter().filter(|x| **x).count();
        assert!((180..320).contains(&n), "{n} errors of 1000 at 25%");
        let mut none = FaultEngine::new(Faults::default());
        assert!((0..100).all(|_| !none.random_error()));
    }

    #[test]
    fn fail_next_counts_down_and_matches_star() {
        let mut e = FaultEngine::new(Faults {
            fail_next: vec![FailNext {
                operation: "baidu.authorizeRule".into(),
                count: 2,
                status: 500,
                code: "InternalError".into(),
                message: String::new(),
            }],
            ..Faults::default()
        });
        assert!(e.take_fail_next("baidu.revokeRule").is_none());
        assert!(e.take_fail_next("baidu.authorizeRule").is_some());
        assert!(e.take_fail_next("baidu.authorizeRule").is_some());
        assert!(e.take_fail_next("baidu.authorizeRule").is_none());
        assert!(e.faults().fail_next.is_empty());
        e.set(Faults {
            drop_connections: vec![DropConnection {
                operation: "*".into(),
                when: DropWhen::After,
                count: 1,
            }],
            ..Faults::default()
        });
        assert!(!e.take_drop("x", DropWhen::Before));
        assert!(e.take_drop("x", DropWhen::After));
        assert!(!e.take_drop("x", DropWhen::After));
    }

    #[test]
    fn rate_limit_per_key_with_retry_after() {
        let mut e = FaultEngine::new(Faults {
            rate_limit: Some(RateLimit {
                requests: 2,
                per_seconds: 10,
            }),
            ..Faults::default()
        });
        let t0 = Instant::now();
        assert_eq!(e.throttle("a", t0), None);
        assert_eq!(e.throttle("a", t0), None);
        assert_eq!(e.throttle("a", t0), Some(10));
        assert_eq!(
            e.throttle("b", t0),
            None,
            "other keys have their own budget"
        );
        assert_eq!(e.throttle("a", t0 + Duration::from_millis(2500)), Some(8));
        assert_eq!(e.throttle("a", t0 + Duration::from_secs(10)), None);
    }
}
