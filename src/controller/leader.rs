//! Leader election on a `coordination.k8s.io/v1` Lease, so two replicas
//! never reconcile at once. The holder renews every period; a standby takes
//! the Lease over once `renewTime + leaseDurationSeconds` has passed. Every
//! write is a `replace` carrying the read `resourceVersion`, so two replicas
//! racing for an expired Lease cannot both win: the loser gets a 409.
//!
//! The decision is a pure function of the Lease, this replica's identity and
//! the time ([`decide`]); the I/O around it is in [`LeaderElector`].
//!
//! Fencing: a leader cut off from the API server cannot know when a
//! standby takes over, but it knows that no standby can before
//! `leaseDurationSeconds` have passed since the renewal it last wrote. It
//! stops writing to the cloud ([`Fence`]) a renew deadline after the start
//! of its last successful renewal, which is shorter than the lease
//! duration by a margin that covers a write already on the wire.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};

/// What to do with the Lease as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No Lease yet: create it holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Free or expired: take it over.
    TakeOver,
    /// Someone else holds a valid Lease.
    Wait { holder: String },
}

/// Decide from the Lease as read at `now`.
pub fn decide(lease: Option<&Lease>, identity: &str, now: Timestamp) -> Decision {
    let Some(lease) = lease else {
        return Decision::Create;
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.unwrap_or_default();
    if holder == identity {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::TakeOver;
    }
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    let expired = match spec.renew_time.or(spec.acquire_time) {
        Some(MicroTime(renewed)) => renewed + duration <= now,
        // A held Lease with no time at all cannot be judged live.
        None => true,
    };
    if expired {
        Decision::TakeOver
    } else {
        Decision::Wait { holder }
    }
}

/// Whether this replica may write to the cloud: until a deadline that each
/// successful Lease renewal moves forward. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Fence(Arc<Mutex<Option<tokio::time::Instant>>>);

impl Fence {
    /// Open for good: leader election is off, this replica is the only one.
    pub fn open() -> Self {
        Self(Arc::new(Mutex::new(None)))
    }

    /// Closed until [`Fence::extend_until`] opens it.
    pub fn closed() -> Self {
        let fence = Self::open();
        fence.extend_until(tokio::time::Instant::now());
        fence
    }

    /// Writes are permitted until `deadline`.
    pub fn extend_until(&self, deadline: tokio::time::Instant) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(deadline);
    }

    /// Whether a write may start now.
    pub fn permits(&self) -> bool {
        match *self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            None => true,
            Some(deadline) => tokio::time::Instant::now() < deadline,
        }
    }
}

/// Acquires, renews and releases one Lease for one identity.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    lease_duration: Duration,
}

impl LeaderElector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        lease_duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            lease_duration,
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn lease_name(&self) -> &str {
        &self.name
    }

    fn duration_secs(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// One election round: `Ok(true)` when this replica holds the Lease
    /// afterwards. Losing a write race is `Ok(false)`, not an error.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let current = self.api.get_opt(&self.name).await?;
        let decision = decide(current.as_ref(), &self.identity, now);
        let result = match (decision, current) {
            (Decision::Wait { holder }, _) => {
                tracing::debug!(%holder, lease = %self.name, "lease held by another replica");
                return Ok(false);
            }
            (Decision::Create, _) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.identity.clone()),
                        lease_duration_seconds: Some(self.duration_secs()),
                        acquire_time: Some(MicroTime(now)),
                        renew_time: Some(MicroTime(now)),
                        lease_transitions: Some(0),
                        ..LeaseSpec::default()
                    }),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            (decision, Some(mut lease)) => {
                let mut spec = lease.spec.take().unwrap_or_default();
                if decision == Decision::TakeOver {
                    spec.holder_identity = Some(self.identity.clone());
                    spec.acquire_time = Some(MicroTime(now));
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                }
                spec.renew_time = Some(MicroTime(now));
                spec.lease_duration_seconds = Some(self.duration_secs());
                lease.spec = Some(spec);
                // `replace` sends the read resourceVersion: a concurrent
                // writer makes this fail with 409 instead of both winning.
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
            (_, None) => return Ok(false),
        };
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Give the Lease up (on shutdown) so a standby takes over at once
    /// instead of waiting for it to expire. Does nothing if not the holder.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let mut spec = lease.spec.take().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        lease.spec = Some(spec);
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            // Someone else wrote it meanwhile: it is not ours to release.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Try every `period` until this replica leads, then open `fence` for
    /// `renew_deadline` from the start of the winning attempt. Transient
    /// API errors are logged and retried.
    pub async fn acquire(&self, period: Duration, renew_deadline: Duration, fence: &Fence) {
        loop {
            let attempt = tokio::time::Instant::now();
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    fence.extend_until(attempt + renew_deadline);
                    tracing::info!(lease = %self.name, identity = %self.identity, "became leader");
                    return;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, lease = %self.name, "leader election failed"),
            }
            tokio::time::sleep(period).await;
        }
    }

    /// Renew every `period` while leading, moving `fence` to
    /// `renew_deadline` after the start of each successful renewal. Returns
    /// when leadership is lost: another replica holds the Lease, or no
    /// renewal succeeded within `renew_deadline` (the fence is closed by
    /// then, before a standby may take over).
    pub async fn hold(&self, period: Duration, renew_deadline: Duration, fence: &Fence) {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(period).await;
            let attempt = tokio::time::Instant::now();
            // A renewal that hangs must not outlive the deadline unnoticed.
            let remaining = (last_renewed + renew_deadline).saturating_duration_since(attempt);
            let renewed = tokio::time::timeout(remaining, self.try_acquire_or_renew()).await;
            match renewed {
                Ok(Ok(true)) => {
                    last_renewed = attempt;
                    fence.extend_until(attempt + renew_deadline);
                }
                Ok(Ok(false)) => {
                    tracing::warn!(lease = %self.name, "another replica holds the lease");
                    fence.extend_until(tokio::time::Instant::now());
                    return;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, lease = %self.name, "lease renewal failed");
                }
                Err(_) => tracing::warn!(lease = %self.name, "lease renewal timed out"),
            }
            if last_renewed.elapsed() >= renew_deadline {
                tracing::error!(
                    lease = %self.name,
                    "no lease renewal within the renew deadline; cloud writes stopped"
                );
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_fence_closes_at_its_deadline_unless_moved() {
        assert!(Fence::open().permits(), "no leader election: always open");
        let fence = Fence::closed();
        assert!(!fence.permits(), "closed until the Lease is won");
        let now = tokio::time::Instant::now();
        fence.extend_until(now + Duration::from_secs(10));
        assert!(fence.permits());
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(fence.permits());
        fence.extend_until(now + Duration::from_secs(19));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(fence.permits(), "a renewal moved the deadline");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(!fence.permits(), "no renewal in time: closed");
    }

    fn lease(holder: Option<&str>, renewed: Option<Timestamp>, secs: i32) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                lease_duration_seconds: Some(secs),
                renew_time: renewed.map(MicroTime),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn decisions() {
        let now: Timestamp = "2026-01-01T00:00:30Z".parse().unwrap();
        let t20: Timestamp = "2026-01-01T00:00:20Z".parse().unwrap();
        let t10: Timestamp = "2026-01-01T00:00:10Z".parse().unwrap();
        assert_eq!(decide(None, "a", now), Decision::Create);
        assert_eq!(
            decide(Some(&lease(Some("a"), Some(t10), 15)), "a", now),
            Decision::Renew,
            "our own lease is renewed even when expired"
        );
        assert_eq!(
            decide(Some(&lease(Some("b"), Some(t20), 15)), "a", now),
            Decision::Wait { holder: "b".into() }
        );
        assert_eq!(
            decide(Some(&lease(Some("b"), Some(t10), 15)), "a", now),
            Decision::TakeOver,
            "renewed 20s ago with a 15s duration: expired"
        );
        assert_eq!(
            decide(Some(&lease(None, Some(t20), 15)), "a", now),
            Decision::TakeOver,
            "released lease"
        );
        assert_eq!(
            decide(Some(&lease(Some("b"), None, 15)), "a", now),
            Decision::TakeOver
        );
    }
}
