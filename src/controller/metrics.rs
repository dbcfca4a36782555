//! Prometheus metrics of the controller, and [`MeteredProvider`], a
//! [`CloudProvider`] wrapper that counts every cloud call so the clients
//! themselves stay free of metrics.
//!
//! Series (all prefixed `secgroup_`):
//! - `reconciles_total{kind}`, `reconcile_failures_total{kind,reason}`
//! - `reconcile_duration_seconds{kind}` (histogram)
//! - `cloud_calls_total{provider,operation,outcome}` (`outcome` is `ok` or a
//!   [`CloudError::reason`]), `cloud_call_duration_seconds{provider,operation}`
//! - `drift_repairs_total{kind}`: reconciles of an unchanged object
//!   (generation already observed) that still had to change the cloud
//! - `queue_depth{kind}`: reconciles running (the kube-rs scheduler's own
//!   queue is not observable)
//! - `account_cycles_total`: account cycles that ran (read the cloud, plan,
//!   apply), not those the last result answered
//! - `account_full_reads_total`: cycles that read everything their objects
//!   name; the others read only what changed objects touch
//! - `objects_stalled{kind,reason}`: objects whose `Stalled` condition is
//!   `True`, as the stores hold them after each account cycle (set by the
//!   leader only)
//! - `account_cycle_failures_total`: account cycles that ran and did not
//!   end with the account in sync (a read, the plan or a step failed)
//! - `leader`: 1 while this replica holds the Lease

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::cloud::{BatchOutcome, CloudError, CloudProvider, NewGroup};
use crate::model::{ObservedGroup, ObservedPort, ProviderKind, Rule};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub kind: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct StalledLabels {
    pub kind: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloudCallLabels {
    pub provider: String,
    pub operation: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloudOpLabels {
    pub provider: String,
    pub operation: String,
}

fn duration_histogram() -> Histogram {
    // 5 ms .. ~80 s: a reconcile spans a few cloud round trips up to a
    // throttled multi-batch plan.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// Every metric the controller records. Cheap to clone (shared inner state).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub reconciles: Family<KindLabels, Counter>,
    pub failures: Family<FailureLabels, Counter>,
    pub reconcile_duration: Family<KindLabels, Histogram, fn() -> Histogram>,
    pub cloud_calls: Family<CloudCallLabels, Counter>,
    pub cloud_call_duration: Family<CloudOpLabels, Histogram, fn() -> Histogram>,
    pub drift_repairs: Family<KindLabels, Counter>,
    pub queue_depth: Family<KindLabels, Gauge>,
    pub account_cycles: Counter,
    pub account_cycle_failures: Counter,
    pub account_full_reads: Counter,
    pub objects_stalled: Family<StalledLabels, Gauge>,
    pub leader: Gauge<i64, std::sync::atomic::AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("secgroup");
        let reconciles = Family::<KindLabels, Counter>::default();
        let failures = Family::<FailureLabels, Counter>::default();
        let reconcile_duration =
            Family::<KindLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                duration_histogram as fn() -> Histogram,
            );
        let cloud_calls = Family::<CloudCallLabels, Counter>::default();
        let cloud_call_duration =
            Family::<CloudOpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                duration_histogram as fn() -> Histogram,
            );
        let drift_repairs = Family::<KindLabels, Counter>::default();
        let queue_depth = Family::<KindLabels, Gauge>::default();
        let leader = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        let account_cycles = Counter::default();
        let account_cycle_failures = Counter::default();
        let account_full_reads = Counter::default();
        let objects_stalled = Family::<StalledLabels, Gauge>::default();

        registry.register("reconciles", "Reconciles started", reconciles.clone());
        registry.register(
            "reconcile_failures",
            "Reconciles that ended in an error, by reason",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took",
            reconcile_duration.clone(),
        );
        registry.register(
            "cloud_calls",
            "Cloud API calls by provider, operation and outcome",
            cloud_calls.clone(),
        );
        registry.register(
            "cloud_call_duration_seconds",
            "Time one cloud API call took",
            cloud_call_duration.clone(),
        );
        registry.register(
            "drift_repairs",
            "Reconciles that changed the cloud although the object had not changed",
            drift_repairs.clone(),
        );
        registry.register("queue_depth", "Reconciles running", queue_depth.clone());
        registry.register(
            "account_cycles",
            "Account cycles run (read the cloud, plan, apply)",
            account_cycles.clone(),
        );
        registry.register(
            "account_cycle_failures",
            "Account cycles that did not end with the account in sync",
            account_cycle_failures.clone(),
        );
        registry.register(
            "account_full_reads",
            "Account cycles that read everything their objects name (first cycle, resync, or what was known proved wrong)",
            account_full_reads.clone(),
        );
        registry.register(
            "objects_stalled",
            "Objects whose Stalled condition is True, by kind and reason",
            objects_stalled.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease",
            leader.clone(),
        );
        Self {
            registry: Arc::new(registry),
            reconciles,
            failures,
            reconcile_duration,
            cloud_calls,
            cloud_call_duration,
            drift_repairs,
            queue_depth,
            account_cycles,
            account_cycle_failures,
            account_full_reads,
            objects_stalled,
            leader,
        }
    }

    /// The Prometheus text exposition of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn kind(kind: &str) -> KindLabels {
        KindLabels {
            kind: kind.to_string(),
        }
    }

    /// Start timing one reconcile; the guard records duration (and the
    /// queue-depth decrement) when dropped.
    pub fn reconcile_started(&self, kind: &str) -> ReconcileTimer {
        self.reconciles.get_or_create(&Self::kind(kind)).inc();
        self.queue_depth.get_or_create(&Self::kind(kind)).inc();
        ReconcileTimer {
            metrics: self.clone(),
            kind: kind.to_string(),
            start: Instant::now(),
        }
    }

    pub fn reconcile_failed(&self, kind: &str, reason: &str) {
        self.failures
            .get_or_create(&FailureLabels {
                kind: kind.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn drift_repaired(&self, kind: &str) {
        self.drift_repairs.get_or_create(&Self::kind(kind)).inc();
    }

    /// Replace the stalled counts with `counts` (a full recount).
    pub fn set_stalled(&self, counts: &std::collections::BTreeMap<StalledLabels, i64>) {
        self.objects_stalled.clear();
        for (labels, n) in counts {
            self.objects_stalled.get_or_create(labels).set(*n);
        }
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    fn cloud_call(&self, provider: ProviderKind, operation: &str, outcome: &str, secs: f64) {
        let provider = provider.to_string();
        self.cloud_calls
            .get_or_create(&CloudCallLabels {
                provider: provider.clone(),
                operation: operation.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.cloud_call_duration
            .get_or_create(&CloudOpLabels {
                provider,
                operation: operation.to_string(),
            })
            .observe(secs);
    }

    /// Count of `cloud_calls_total` for one label set (tests, diagnostics).
    pub fn cloud_call_count(&self, provider: ProviderKind, operation: &str, outcome: &str) -> u64 {
        self.cloud_calls
            .get(&CloudCallLabels {
                provider: provider.to_string(),
                operation: operation.to_string(),
                outcome: outcome.to_string(),
            })
            .map(|c| c.get())
            .unwrap_or(0)
    }
}

/// Records the duration of one reconcile when dropped.
pub struct ReconcileTimer {
    metrics: Metrics,
    kind: String,
    start: Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        let labels = Metrics::kind(&self.kind);
        self.metrics
            .reconcile_duration
            .get_or_create(&labels)
            .observe(self.start.elapsed().as_secs_f64());
        self.metrics.queue_depth.get_or_create(&labels).dec();
    }
}

/// A [`CloudProvider`] that records every call in [`Metrics`] and passes it
/// on unchanged.
pub struct MeteredProvider {
    inner: Arc<dyn CloudProvider>,
    metrics: Metrics,
}

impl MeteredProvider {
    pub fn new(inner: Arc<dyn CloudProvider>, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }

    async fn record<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, CloudError>>,
    ) -> Result<T, CloudError> {
        let start = Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.reason(),
        };
        self.metrics.cloud_call(
            self.inner.kind(),
            operation,
            outcome,
            start.elapsed().as_secs_f64(),
        );
        result
    }
}

#[async_trait]
impl CloudProvider for MeteredProvider {
    fn kind(&self) -> ProviderKind {
        self.inner.kind()
    }

    async fn get_group(&self, id: &str) -> Result<Option<ObservedGroup>, CloudError> {
        self.record("getGroup", self.inner.get_group(id)).await
    }

    async fn find_groups_by_tag(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<ObservedGroup>, CloudError> {
        self.record("findGroupsByTag", self.inner.find_groups_by_tag(key, value))
            .await
    }

    async fn get_port(&self, id: &str) -> Result<Option<ObservedPort>, CloudError> {
        self.record("getPort", self.inner.get_port(id)).await
    }

    async fn get_ports(
        &self,
        ids: &[String],
    ) -> Result<std::collections::BTreeMap<String, ObservedPort>, CloudError> {
        self.record("getPorts", self.inner.get_ports(ids)).await
    }

    async fn list_group_ports(&self, group_id: &str) -> Result<Vec<String>, CloudError> {
        self.record("listGroupPorts", self.inner.list_group_ports(group_id))
            .await
    }

    async fn get_groups(
        &self,
        ids: &[String],
    ) -> Result<std::collections::BTreeMap<String, ObservedGroup>, CloudError> {
        self.record("getGroups", self.inner.get_groups(ids)).await
    }

    async fn ports_in_groups(
        &self,
        group_ids: &[String],
    ) -> Result<std::collections::BTreeMap<String, ObservedPort>, CloudError> {
        self.record("portsInGroups", self.inner.ports_in_groups(group_ids))
            .await
    }

    async fn instance_ports(
        &self,
        instance_ids: &[String],
    ) -> Result<crate::plan::nodes::InstancePorts, CloudError> {
        self.record("instancePorts", self.inner.instance_ports(instance_ids))
            .await
    }

    async fn create_group(&self, group: &NewGroup) -> Result<String, CloudError> {
        self.record("createGroup", self.inner.create_group(group))
            .await
    }

    async fn update_group(
        &self,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<(), CloudError> {
        self.record(
            "updateGroup",
            self.inner.update_group(id, name, description),
        )
        .await
    }

    async fn delete_group(&self, id: &str) -> Result<(), CloudError> {
        self.record("deleteGroup", self.inner.delete_group(id))
            .await
    }

    async fn create_rules(
        &self,
        group_id: &str,
        rules: &[Rule],
        version: Option<u64>,
    ) -> Result<(), CloudError> {
        self.record(
            "createRules",
            self.inner.create_rules(group_id, rules, version),
        )
        .await
    }

    async fn update_rule(
        &self,
        group_id: &str,
        rule_id: &str,
        rule: &Rule,
        version: Option<u64>,
    ) -> Result<(), CloudError> {
        self.record(
            "updateRule",
            self.inner.update_rule(group_id, rule_id, rule, version),
        )
        .await
    }

    async fn delete_rule(
        &self,
        group_id: &str,
        rule_id: &str,
        rule: &Rule,
        version: Option<u64>,
    ) -> Result<(), CloudError> {
        self.record(
            "deleteRule",
            self.inner.delete_rule(group_id, rule_id, rule, version),
        )
        .await
    }

    async fn add_port_groups(
        &self,
        port_id: &str,
        groups: &[String],
        index: Option<u32>,
    ) -> Result<ObservedPort, CloudError> {
        self.record(
            "addPortGroups",
            self.inner.add_port_groups(port_id, groups, index),
        )
        .await
    }

    async fn remove_port_groups(
        &self,
        port_id: &str,
        groups: &[String],
    ) -> Result<ObservedPort, CloudError> {
        self.record(
            "removePortGroups",
            self.inner.remove_port_groups(port_id, groups),
        )
        .await
    }

    async fn attach_ports(
        &self,
        group_id: &str,
        ports: &[String],
    ) -> Result<BatchOutcome, CloudError> {
        self.record("attachPorts", self.inner.attach_ports(group_id, ports))
            .await
    }

    async fn detach_ports(
        &self,
        group_id: &str,
        ports: &[String],
    ) -> Result<BatchOutcome, CloudError> {
        self.record("detachPorts", self.inner.detach_ports(group_id, ports))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cloud::ApiErrorDetail;

    /// Answers `get_group` with "absent" and everything else with a
    /// throttling error.
    struct Throttling;

    fn throttled() -> CloudError {
        CloudError::Throttled {
            detail: ApiErrorDetail::default(),
            retry_after: Some(Duration::from_secs(1)),
        }
    }

    #[async_trait]
    impl CloudProvider for Throttling {
        fn kind(&self) -> ProviderKind {
            ProviderKind::Baidu
        }
        async fn get_group(&self, _: &str) -> Result<Option<ObservedGroup>, CloudError> {
            Ok(None)
        }
        async fn find_groups_by_tag(
            &self,
            _: &str,
            _: &str,
        ) -> Result<Vec<ObservedGroup>, CloudError> {
            Err(throttled())
        }
        async fn get_port(&self, _: &str) -> Result<Option<ObservedPort>, CloudError> {
            Err(throttled())
        }
        async fn list_group_ports(&self, _: &str) -> Result<Vec<String>, CloudError> {
            Err(throttled())
        }
        async fn create_group(&self, _: &NewGroup) -> Result<String, CloudError> {
            Err(throttled())
        }
        async fn update_group(
            &self,
            _: &str,
            _: Option<&str>,
            _: Option<&str>,
        ) -> Result<(), CloudError> {
            Err(throttled())
        }
        async fn delete_group(&self, _: &str) -> Result<(), CloudError> {
            Err(throttled())
        }
        async fn create_rules(
            &self,
            _: &str,
            _: &[Rule],
            _: Option<u64>,
        ) -> Result<(), CloudError> {
            Err(throttled())
        }
        async fn update_rule(
            &self,
            _: &str,
            _: &str,
            _: &Rule,
            _: Option<u64>,
        ) -> Result<(), CloudError> {
            Err(throttled())
        }
        async fn delete_rule(
            &self,
            _: &str,
            _: &str,
            _: &Rule,
            _: Option<u64>,
        ) -> Result<(), CloudError> {
            Err(throttled())
        }
        async fn add_port_groups(
            &self,
            _: &str,
            _: &[String],
            _: Option<u32>,
        ) -> Result<ObservedPort, CloudError> {
            Err(throttled())
        }
        async fn remove_port_groups(
            &self,
            _: &str,
            _: &[String],
        ) -> Result<ObservedPort, CloudError> {
            Err(throttled())
        }
        async fn attach_ports(&self, _: &str, _: &[String]) -> Result<BatchOutcome, CloudError> {
            Err(throttled())
        }
        async fn detach_ports(&self, _: &str, _: &[String]) -> Result<BatchOutcome, CloudError> {
            Err(throttled())
        }
    }

    #[tokio::test]
    async fn every_call_is_counted_by_provider_operation_and_outcome() {
        let metrics = Metrics::new();
        let p = MeteredProvider::new(Arc::new(Throttling), metrics.clone());
        assert_eq!(p.kind(), ProviderKind::Baidu);
        assert!(p.get_group("g").await.unwrap().is_none());
        assert!(p.get_group("g").await.unwrap().is_none());
        let err = p.delete_group("g").await.unwrap_err();
        assert_eq!(
            err.retry_after(),
            Some(Duration::from_secs(1)),
            "passed on unchanged"
        );

        assert_eq!(
            metrics.cloud_call_count(ProviderKind::Baidu, "getGroup", "ok"),
            2
        );
        assert_eq!(
            metrics.cloud_call_count(ProviderKind::Baidu, "deleteGroup", "Throttled"),
            1
        );
        assert_eq!(
            metrics.cloud_call_count(ProviderKind::Baidu, "deleteGroup", "ok"),
            0
        );
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"secgroup_cloud_calls_total{provider="baidu",operation="deleteGroup",outcome="Throttled"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"secgroup_cloud_call_duration_seconds_count{provider="baidu",operation="getGroup"} 2"#
            ),
            "{text}"
        );
    }
}
