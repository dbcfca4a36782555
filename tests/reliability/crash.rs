//! Crash and restart: the apply stops after k of its n writes, for every
//! k of each scenario, in two ways: the process dies before sending write
//! k+1, or write k+1 reaches the cloud and is applied but its answer is
//! lost (the simulator drops the connection after acting) and the process
//! dies. A fresh sync (a restarted controller: same desired state, no
//! memory), or the same controller once its link to the cloud is back
//! (reading only what it wrote since), then converges, with no duplicate group or rule, and no port
//! ever left without a group: checked after every write, before and after
//! the restart, and by the simulator's refused-request log.

use secgroup_test_support::scenarios;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use scenarios::{ClientOptions, Cloud, Scenario};
use secgroup_controller::cloud::{BatchOutcome, CloudError, CloudProvider, NewGroup};
use secgroup_controller::model::{ObservedGroup, ObservedPort, ProviderKind, Rule};
use secgroup_controller::reconcile::Session;
use secgroup_controller::sim::{DropConnection, DropWhen, Faults, SimHandle};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Crash {
    /// Die before sending write k+1.
    Before,
    /// Write k+1 is applied, its answer lost, then the process dies.
    AfterApplied,
}

/// What comes after the failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum After {
    /// A restarted controller: nothing known, everything read.
    Restart,
    /// The link to the cloud comes back and the same controller goes on:
    /// its next passes read only what it wrote, or everything when a
    /// failure says what it knew is wrong.
    SameSession,
}

/// A provider that forwards to the real client, counts writes, checks
/// after each write that no port is groupless, and (when armed) dies at
/// write `k+1`: every call from then on fails.
struct Crashing<'a> {
    inner: Arc<dyn CloudProvider>,
    sim: &'a SimHandle,
    kind: ProviderKind,
    crash: Option<(usize, Crash)>,
    writes: AtomicUsize,
    dead: std::sync::atomic::AtomicBool,
    violations: Mutex<Vec<String>>,
}

impl<'a> Crashing<'a> {
    fn new(cloud: &'a Cloud, crash: Option<(usize, Crash)>) -> Self {
        Self {
            inner: cloud.client.clone(),
            sim: &cloud.sim,
            kind: cloud.kind,
            crash,
            writes: AtomicUsize::new(0),
            dead: Default::default(),
            violations: Mutex::default(),
        }
    }

    fn died() -> CloudError {
        CloudError::Transport("the process died (injected crash)".into())
    }

    fn alive(&self) -> Result<(), CloudError> {
        if self.dead.load(Ordering::SeqCst) {
            Err(Self::died())
        } else {
            Ok(())
        }
    }

    fn groupless(&self) -> Vec<String> {
        let s = self.sim.snapshot();
        match self.kind {
            ProviderKind::Huawei => s
                .huawei
                .ports
                .iter()
                .filter(|p| p.security_groups.is_empty())
                .map(|p| p.id.clone())
                .collect(),
            ProviderKind::Baidu => s
                .baidu
                .instances
                .iter()
                .filter(|i| i.security_group_ids.is_empty())
                .map(|i| i.id.clone())
                .collect(),
        }
    }

    /// Run one write, crashing as armed.
    async fn write<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<T, CloudError>>,
    ) -> Result<T, CloudError> {
        self.alive()?;
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        let crash_here = match self.crash {
            Some((k, how)) if n == k => Some(how),
            _ => None,
        };
        let result = match crash_here {
            Some(Crash::Before) => {
                self.dead.store(true, Ordering::SeqCst);
                return Err(Self::died());
            }
            Some(Crash::AfterApplied) => {
                self.sim.set_faults(Faults {
                    drop_connections: vec![DropConnection {
                        operation: "*".into(),
                        when: DropWhen::After,
                        count: 1,
                    }],
                    ..Faults::default()
                });
                let r = call.await;
                self.sim.set_faults(Faults::default());
                self.dead.store(true, Ordering::SeqCst);
                r.and(Err(Self::died()))
            }
            None => call.await,
        };
        let empty = self.groupless();
        if !empty.is_empty() {
            self.violations.lock().expect("not poisoned").push(format!(
                "after write {} ({what}): groupless {empty:?}",
                n + 1
            ));
        }
        result
    }
}

#[async_trait]
impl CloudProvider for Crashing<'_> {
    fn kind(&self) -> ProviderKind {
        self.inner.kind()
    }
    async fn get_group(&self, id: &str) -> Result<Option<ObservedGroup>, CloudError> {
        self.alive()?;
        self.inner.get_group(id).await
    }
    async fn find_groups_by_tag(&self, k: &str, v: &str) -> Result<Vec<ObservedGroup>, CloudError> {
        self.alive()?;
        self.inner.find_groups_by_tag(k, v).await
    }
    async fn get_port(&self, id: &str) -> Result<Option<ObservedPort>, CloudError> {
        self.alive()?;
        self.inner.get_port(id).await
    }
    async fn get_ports(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, ObservedPort>, CloudError> {
        self.alive()?;
        self.inner.get_ports(ids).await
    }
    async fn list_group_ports(&self, g: &str) -> Result<Vec<String>, CloudError> {
        self.alive()?;
        self.inner.list_group_ports(g).await
    }
    async fn create_group(&self, g: &NewGroup) -> Result<String, CloudError> {
        self.write("createGroup", self.inner.create_group(g)).await
    }
    async fn update_group(
        &self,
        id: &str,
        n: Option<&str>,
        d: Option<&str>,
    ) -> Result<(), CloudError> {
        self.write("updateGroup", self.inner.update_group(id, n, d))
            .await
    }
    async fn delete_group(&self, id: &str) -> Result<(), CloudError> {
        self.write("deleteGroup", self.inner.delete_group(id)).await
    }
    async fn create_rules(
        &self,
        g: &str,
        rules: &[Rule],
        v: Option<u64>,
    ) -> Result<(), CloudError> {
        self.write("createRules", self.inner.create_rules(g, rules, v))
            .await
    }
    async fn update_rule(
        &self,
        g: &str,
        id: &str,
        r: &Rule,
        v: Option<u64>,
    ) -> Result<(), CloudError> {
        self.write("updateRule", self.inner.update_rule(g, id, r, v))
            .await
    }
    async fn delete_rule(
        &self,
        g: &str,
        id: &str,
        r: &Rule,
        v: Option<u64>,
    ) -> Result<(), CloudError> {
        self.write("deleteRule", self.inner.delete_rule(g, id, r, v))
            .await
    }
    async fn add_port_groups(
        &self,
        p: &str,
        gs: &[String],
        i: Option<u32>,
    ) -> Result<ObservedPort, CloudError> {
        self.write("addPortGroups", self.inner.add_port_groups(p, gs, i))
            .await
    }
    async fn remove_port_groups(&self, p: &str, gs: &[String]) -> Result<ObservedPort, CloudError> {
        self.write("removePortGroups", self.inner.remove_port_groups(p, gs))
            .await
    }
    async fn attach_ports(&self, g: &str, ps: &[String]) -> Result<BatchOutcome, CloudError> {
        self.write("attachPorts", self.inner.attach_ports(g, ps))
            .await
    }
    async fn detach_ports(&self, g: &str, ps: &[String]) -> Result<BatchOutcome, CloudError> {
        self.write("detachPorts", self.inner.detach_ports(g, ps))
            .await
    }
}

/// Sync through `provider` with `session` until a pass plans nothing;
/// `Err` when a pass fails (the crash) or `max` passes go by.
async fn passes(
    provider: &dyn CloudProvider,
    s: &Scenario,
    max: usize,
    session: &mut Session,
) -> Result<usize, String> {
    let opts = secgroup_controller::plan::PlanOptions::default();
    for pass in 1..=max {
        let scope = session.scope(Default::default(), None);
        let planned = session
            .prepare(provider, s.desired.clone(), scope, &opts)
            .await
            .map_err(|e| format!("pass {pass}: {e}"))?;
        if planned.outcome.plan.is_empty() {
            return Ok(pass);
        }
        let report = session
            .execute(provider, &planned, &|| true, &mut |_| {})
            .await;
        session.settle(&planned, &report);
        if let Some(failed) = report.failed() {
            return Err(format!("pass {pass}: {:?}", failed.result));
        }
    }
    Err(format!("not converged in {max} passes"))
}

fn scenarios(kind: ProviderKind) -> Vec<Scenario> {
    vec![
        scenarios::create_and_join(kind, 25, 3),
        scenarios::move_ports(kind, 25),
        scenarios::leave(kind, 21, 2),
        scenarios::rules_change(kind, 6, 3, 1),
        scenarios::spread(kind, 30, 3, true),
    ]
}

/// Problems with one crash at write k+1, as text.
async fn crash_once(s: &Scenario, k: usize, how: Crash, after: After) -> Vec<String> {
    let label = format!(
        "{} {}: crash {how:?} write {}, then {after:?}",
        s.kind,
        s.name,
        k + 1
    );
    let cloud = Cloud::start(
        s.kind,
        s.state.clone(),
        Faults::default(),
        ClientOptions {
            rate: None,
            retry: Some(scenarios::fast_retry()),
        },
    )
    .await;
    scenarios::prepare(&cloud, s).await;
    let mut problems = Vec::new();

    let crashing = Crashing::new(&cloud, Some((k, how)));
    let mut session = Session::new();
    if passes(&crashing, s, 5, &mut session).await.is_ok() {
        problems.push(format!("{label}: the crash never happened"));
    }
    if after == After::Restart {
        session.reset();
    }
    let restarted = Crashing::new(&cloud, None);
    match passes(&restarted, s, 4, &mut session).await {
        Ok(_) => {}
        Err(e) => problems.push(format!("{label}: restart did not converge: {e}")),
    }
    for p in scenarios::check_end_state(&cloud, s) {
        problems.push(format!("{label}: {p}"));
    }
    for v in crashing
        .violations
        .lock()
        .expect("not poisoned")
        .iter()
        .chain(restarted.violations.lock().expect("not poisoned").iter())
    {
        problems.push(format!("{label}: {v}"));
    }
    let refused = cloud.sim.refused_log();
    if !refused.is_empty() {
        problems.push(format!("{label}: refused unsafe requests {refused:?}"));
    }
    cloud.sim.shutdown().await;
    problems
}

async fn every_k(kind: ProviderKind) {
    let mut problems = Vec::new();
    let mut runs = 0;
    for s in scenarios(kind) {
        // n: the writes of an uninterrupted apply, all passes.
        let cloud = Cloud::start(
            s.kind,
            s.state.clone(),
            Faults::default(),
            ClientOptions {
                rate: None,
                retry: Some(scenarios::fast_retry()),
            },
        )
        .await;
        scenarios::prepare(&cloud, &s).await;
        let counting = Crashing::new(&cloud, None);
        passes(&counting, &s, 4, &mut Session::new())
            .await
            .expect("converges without a crash");
        let n = counting.writes.load(Ordering::SeqCst);
        cloud.sim.shutdown().await;
        assert!(
            n >= 3,
            "{}: only {n} writes; pick a bigger scenario",
            s.name
        );
        eprintln!("{kind} {}: {n} writes, crashing at each", s.name);
        for k in 0..n {
            for how in [Crash::Before, Crash::AfterApplied] {
                for after in [After::Restart, After::SameSession] {
                    runs += 1;
                    problems.extend(crash_once(&s, k, how, after).await);
                }
            }
        }
    }
    assert!(runs >= 60, "{runs} crash points");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_restart_after_a_crash_at_every_write() {
    every_k(ProviderKind::Huawei).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baidu_restart_after_a_crash_at_every_write() {
    every_k(ProviderKind::Baidu).await;
}
