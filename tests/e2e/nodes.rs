//! Node selectors end to end: the controller as `run` builds it (real
//! Huawei client) against the API emulator and the cloud simulator. Two
//! node pools of 100; a `SecurityGroupMembership` selects pool `a`, a
//! `NodeSecurityGroups` pool `b`. Each step (both created, pool `a` out
//! by 50, pool `b` in by 50, 10 Nodes relabelled from `b` to `a`, whose
//! ports then lose both groups the `NodeSecurityGroups` lists)
//! converges with writes at the lower bound, ceil(new ports / 20) per
//! group, and the simulator refuses nothing. A selector that suddenly
//! matches nothing (a typo) is held by the blast-radius guard.

use std::time::Duration;

use clap::Parser;
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use secgroup_controller::controller::{RunArgs, run_with};
use secgroup_controller::crd::{
    NodeSecurityGroups, NodeSecurityGroupsStatus, SecurityGroupMembership,
    SecurityGroupMembershipStatus,
};
use secgroup_controller::sim::{
    self, Account, Provider, SimHandle, SimOptions, SimSettings, SimState,
};
use secgroup_test_support::emulator::Emulator;

const NS: &str = "team";
const AK: &str = "HWTESTAK0000000000001";
const SK: &str = "hw-test-secret-key";
const PROJECT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const DEADLINE: Duration = Duration::from_secs(60);
/// Servers 1..=150 for pool `a` (100, then 50 more), 151..=250 for `b`.
const SERVERS: u32 = 250;

fn uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}
fn server(i: u32) -> String {
    uuid(10_000 + i)
}
fn port(i: u32) -> String {
    uuid(20_000 + i)
}
fn ip(i: u32) -> String {
    format!("10.0.{}.{}", i / 200, i % 200 + 1)
}
/// The groups: every port starts in `default`; the membership adds
/// `members`; the NodeSecurityGroups wants `default` then `pool-b`.
fn default_group() -> String {
    uuid(1)
}
fn members_group() -> String {
    uuid(2)
}
fn pool_b_group() -> String {
    uuid(3)
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

fn state() -> SimState {
    let mut s = SimState::new()
        .with_account(Account::huawei(AK, SK, PROJECT))
        .with_settings(SimSettings {
            huawei_default_rules: false,
            ..SimSettings::default()
        })
        .with_huawei_group(PROJECT, &default_group(), "default")
        .with_huawei_group(PROJECT, &members_group(), "members")
        .with_huawei_group(PROJECT, &pool_b_group(), "pool-b");
    for i in 1..=SERVERS {
        s = s.with_huawei_port(PROJECT, &port(i), &[&default_group()]);
        if let Some(p) = s.huawei.ports.last_mut() {
            p.device_id = server(i);
            p.ip_address = ip(i);
        }
    }
    s
}

fn node_manifest(i: u32, pool: &str) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": format!("node-{i}"), "labels": {"pool": pool}},
        "spec": {"providerID": format!("huaweicloud://{}", server(i))},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip(i)},
                          {"type": "Hostname", "address": format!("node-{i}")}],
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    }))
    .expect("a Node")
}

struct Setup {
    _emu: Emulator,
    sim: SimHandle,
    client: kube::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), secgroup_controller::controller::Error>>,
}

impl Setup {
    async fn start() -> Setup {
        let sim = sim::start(state(), SimOptions::default())
            .await
            .expect("simulator starts");
        let emu = Emulator::start().await;
        let client = emu.client();
        // A window wide enough for a test's burst of Node writes to share
        // one cycle, as a node pool's Nodes registering together do.
        let args = Cli::parse_from([
            "test",
            "--disable-leader-election",
            "--metrics-addr",
            "127.0.0.1:0",
            "--coalesce-window",
            "1s",
        ])
        .run;
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run_with(args, client.clone(), async {
            let _ = rx.await;
        }));
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "creds"},
            "stringData": {"accessKey": AK, "secretKey": SK}
        }))
        .unwrap();
        Api::<Secret>::namespaced(client.clone(), NS)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
        let s = Setup {
            _emu: emu,
            sim,
            client,
            stop,
            task,
        };
        s.create(json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "CloudAccount",
            "metadata": {"name": "acct"},
            "spec": {
                "provider": "huawei",
                "region": "cn-north-4",
                "projectId": PROJECT,
                "endpoint": s.sim.url(),
                "credentialsSecretRef": {"name": "creds"}
            }
        }))
        .await;
        s
    }

    async fn create(&self, manifest: Value) {
        let kind = manifest["kind"].as_str().unwrap().to_string();
        let plural = match kind.as_str() {
            "CloudAccount" => "cloudaccounts",
            "NodeSecurityGroups" => "nodesecuritygroups",
            _ => "securitygroupmemberships",
        };
        let ar = kube::api::ApiResource {
            group: "secgroup.io".into(),
            version: "v1alpha1".into(),
            api_version: "secgroup.io/v1alpha1".into(),
            kind,
            plural: plural.into(),
        };
        let obj: kube::api::DynamicObject = serde_json::from_value(manifest).unwrap();
        Api::<kube::api::DynamicObject>::namespaced_with(self.client.clone(), NS, &ar)
            .create(&PostParams::default(), &obj)
            .await
            .unwrap();
    }

    fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    async fn add_nodes(&self, range: std::ops::RangeInclusive<u32>, pool: &str) {
        for i in range {
            self.nodes()
                .create(&PostParams::default(), &node_manifest(i, pool))
                .await
                .unwrap();
        }
    }

    fn writes(&self) -> u64 {
        self.sim.read_write_counts(Provider::Huawei).1
    }

    /// Wait until both objects are Ready and Synced with these counts,
    /// and the cloud shows every port of each pool as wanted.
    async fn converged(&self, pool_a: &[u32], pool_b: &[u32]) {
        let memberships: Api<SecurityGroupMembership> = Api::namespaced(self.client.clone(), NS);
        let node_groups: Api<NodeSecurityGroups> = Api::namespaced(self.client.clone(), NS);
        let start = tokio::time::Instant::now();
        loop {
            let m = memberships.get("pool-a").await.unwrap();
            let n = node_groups.get("pool-b").await.unwrap();
            let m_ok = m.status.as_ref().is_some_and(|s| {
                ready(&s.conditions) == "True:Synced"
                    && s.matched_nodes == Some(pool_a.len() as u32)
                    && s.resolved_ports == Some(pool_a.len() as u32)
                    && s.managed_ports.len() == pool_a.len()
                    && s.unresolved_nodes.is_empty()
            });
            let n_ok = n.status.as_ref().is_some_and(|s| {
                ready(&s.conditions) == "True:Synced"
                    && s.matched_nodes == Some(pool_b.len() as u32)
                    && s.resolved_ports == Some(pool_b.len() as u32)
                    && s.managed_ports.len() == pool_b.len()
            });
            let cloud_ok = pool_a.iter().all(|i| {
                self.sim
                    .huawei_port_groups(&port(*i))
                    .is_some_and(|g| g.contains(&members_group()))
            }) && pool_b.iter().all(|i| {
                self.sim.huawei_port_groups(&port(*i))
                    == Some(vec![default_group(), pool_b_group()])
            });
            if m_ok && n_ok && cloud_ok {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "not converged: membership {:#?}\nnode groups {:#?}",
                m.status,
                n.status
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The cycles have gone quiet: no write for a while.
    async fn settled(&self) -> u64 {
        let mut last = self.writes();
        loop {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let now = self.writes();
            if now == last {
                return now;
            }
            last = now;
        }
    }
}

impl Setup {
    /// Wait until the `pool-a` membership, the `pool-b` NodeSecurityGroups
    /// and the cloud satisfy `ok`.
    async fn until(
        &self,
        what: &str,
        ok: impl Fn(&SecurityGroupMembershipStatus, &NodeSecurityGroupsStatus, &SimHandle) -> bool,
    ) {
        let memberships: Api<SecurityGroupMembership> = Api::namespaced(self.client.clone(), NS);
        let node_groups: Api<NodeSecurityGroups> = Api::namespaced(self.client.clone(), NS);
        let start = tokio::time::Instant::now();
        loop {
            let m = memberships.get("pool-a").await.unwrap();
            let n = node_groups.get("pool-b").await.unwrap();
            let (m, n) = (m.status.unwrap_or_default(), n.status.unwrap_or_default());
            if ok(&m, &n, &self.sim) {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{what}: membership {m:#?}\nnode groups {n:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The simulator refused nothing; the controller stops on shutdown.
    async fn finish(self) {
        assert!(
            self.sim.refused_log().is_empty(),
            "{:?}",
            self.sim.refused_log()
        );
        let _ = self.stop.send(());
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("stops on shutdown")
            .unwrap()
            .unwrap();
    }

    /// The `pool-a` membership of `members`, selecting pool `a`.
    async fn create_pool_a(&self, policy: &str) {
        self.create(json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "SecurityGroupMembership",
            "metadata": {"name": "pool-a"},
            "spec": {
                "accountRef": {"name": "acct"},
                "securityGroupId": members_group(),
                "policy": policy,
                "nodeSelector": {"matchLabels": {"pool": "a"}}
            }
        }))
        .await;
    }

    async fn relabel(&self, i: u32, pool: &str) {
        let patch = json!({"metadata": {"labels": {"pool": pool}}});
        self.nodes()
            .patch(
                &format!("node-{i}"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .unwrap();
    }
}

fn ready(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> String {
    conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| format!("{}:{}", c.status, c.reason))
        .unwrap_or_default()
}

fn batches(ports: usize) -> u64 {
    ports.div_ceil(20) as u64
}

#[tokio::test]
async fn node_pools_scale_and_relabel_with_writes_at_the_lower_bound() {
    let s = Setup::start().await;
    s.add_nodes(1..=100, "a").await;
    s.add_nodes(151..=250, "b").await;
    s.create_pool_a("Additive").await;
    s.create(json!({
        "apiVersion": "secgroup.io/v1alpha1",
        "kind": "NodeSecurityGroups",
        "metadata": {"name": "pool-b"},
        "spec": {
            "accountRef": {"name": "acct"},
            "nodeSelector": {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["b"]}]},
            "securityGroups": [{"id": default_group()}, {"id": pool_b_group()}]
        }
    }))
    .await;
    let mut pool_a: Vec<u32> = (1..=100).collect();
    let mut pool_b: Vec<u32> = (151..=250).collect();
    s.converged(&pool_a, &pool_b).await;
    let mut writes = s.settled().await;
    assert_eq!(
        writes,
        2 * batches(100),
        "100 ports join each of two groups: {:?}",
        s.sim.call_counts()
    );

    // Pool a scales out by 50: only the new ports are written.
    s.add_nodes(101..=150, "a").await;
    pool_a.extend(101..=150);
    s.converged(&pool_a, &pool_b).await;
    let now = s.settled().await;
    assert_eq!(now - writes, batches(50), "{:?}", s.sim.call_counts());
    writes = now;

    // Pool b scales in by 50: the Nodes go from status; their servers
    // are not touched.
    for i in 201..=250 {
        s.nodes()
            .delete(&format!("node-{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    pool_b.retain(|i| *i <= 200);
    s.converged(&pool_a, &pool_b).await;
    let now = s.settled().await;
    assert_eq!(now, writes, "a deleted Node's server is not touched");
    assert_eq!(
        s.sim.huawei_port_groups(&port(250)),
        Some(vec![default_group(), pool_b_group()])
    );

    // A typo in the selector matches nothing: removing 150 ports from
    // `members` is held until the typo is fixed.
    let patch = json!({"spec": {"nodeSelector": {"matchLabels": {"pool": "aa"}}}});
    Api::<SecurityGroupMembership>::namespaced(s.client.clone(), NS)
        .patch("pool-a", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    let message = loop {
        let m = Api::<SecurityGroupMembership>::namespaced(s.client.clone(), NS)
            .get("pool-a")
            .await
            .unwrap();
        let status = m.status.unwrap_or_default();
        if ready(&status.conditions) == "False:MassChangeBlocked" {
            assert_eq!(status.matched_nodes, Some(0));
            break status
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")
                .map(|c| c.message.clone())
                .unwrap_or_default();
        }
        assert!(start.elapsed() < DEADLINE, "not held: {status:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(message.contains("allow-mass-change"), "{message}");
    assert_eq!(s.settled().await, writes, "nothing removed");

    let patch = json!({"spec": {"nodeSelector": {"matchLabels": {"pool": "a"}}}});
    Api::<SecurityGroupMembership>::namespaced(s.client.clone(), NS)
        .patch("pool-a", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    s.converged(&pool_a, &pool_b).await;
    assert_eq!(s.settled().await, writes, "fixed: nothing to do");

    // Ten Nodes move from pool b to pool a: their ports join `members`
    // (one batch), then lose the groups the NodeSecurityGroups lists
    // (one batch per group).
    for i in 151..=160 {
        s.relabel(i, "a").await;
    }
    pool_b.retain(|i| *i > 160);
    pool_a.extend(151..=160);
    s.converged(&pool_a, &pool_b).await;
    for i in 151..=160 {
        assert_eq!(
            s.sim.huawei_port_groups(&port(i)),
            Some(vec![members_group()])
        );
    }
    let now = s.settled().await;
    assert_eq!(now - writes, 3 * batches(10), "{:?}", s.sim.call_counts());

    s.finish().await;
}

/// An `Exclusive` membership holds its group to the ports of the Nodes that
/// match, but a deleted Node's server is not touched; a Node leaving a
/// `NodeSecurityGroups` whose port would keep no group holds that port
/// (the object says so) until the port holds another group.
#[tokio::test]
async fn deleted_nodes_are_not_touched_and_a_last_group_is_held() {
    let s = Setup::start().await;
    s.add_nodes(1..=20, "a").await;
    s.add_nodes(151..=160, "b").await;
    s.create_pool_a("Exclusive").await;
    // Pool b's ports end with `pool-b` only: it is their last group.
    s.create(json!({
        "apiVersion": "secgroup.io/v1alpha1",
        "kind": "NodeSecurityGroups",
        "metadata": {"name": "pool-b"},
        "spec": {
            "accountRef": {"name": "acct"},
            "nodeSelector": {"matchLabels": {"pool": "b"}},
            "securityGroups": [{"id": pool_b_group()}]
        }
    }))
    .await;
    let groups = |sim: &SimHandle, i: u32| sim.huawei_port_groups(&port(i)).unwrap_or_default();
    s.until("created", |m, n, sim| {
        ready(&m.conditions) == "True:Synced"
            && m.matched_nodes == Some(20)
            && ready(&n.conditions) == "True:Synced"
            && n.matched_nodes == Some(10)
            && (1..=20).all(|i| groups(sim, i).contains(&members_group()))
            && (151..=160).all(|i| groups(sim, i) == [pool_b_group()])
    })
    .await;
    let mut writes = s.settled().await;
    assert_eq!(writes, 3, "one attach, then one attach and one detach");

    // Five Nodes of pool a are deleted: the membership drops them, their
    // servers keep the group (still tracked, so never taken for strays).
    for i in 1..=5 {
        s.nodes()
            .delete(&format!("node-{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    s.until("deleted Nodes dropped", |m, _, _| {
        ready(&m.conditions) == "True:Synced" && m.matched_nodes == Some(15)
    })
    .await;
    assert_eq!(
        s.settled().await,
        writes,
        "a deleted Node's server is not touched"
    );

    // A Node that stops matching leaves, in a later cycle than the
    // deletions: the deleted Nodes' ports are still left alone.
    s.relabel(6, "c").await;
    s.until("node-6 left", |m, _, sim| {
        m.matched_nodes == Some(14) && !groups(sim, 6).contains(&members_group())
    })
    .await;
    let now = s.settled().await;
    assert_eq!(now - writes, 1, "{:?}", s.sim.call_counts());
    writes = now;
    for i in 1..=5 {
        assert!(groups(&s.sim, i).contains(&members_group()), "port {i}");
    }

    // node-151 leaves pool b; `pool-b` is its port's only group: held.
    s.relabel(151, "c").await;
    s.until("node-151 held", |_, n, _| {
        ready(&n.conditions) == "False:PortHeld" && n.matched_nodes == Some(9)
    })
    .await;
    let n = Api::<NodeSecurityGroups>::namespaced(s.client.clone(), NS)
        .get("pool-b")
        .await
        .unwrap()
        .status
        .unwrap_or_default();
    let message = n
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(message.contains(&port(151)), "{message}");
    assert!(n.managed_ports.contains(&port(151)), "still tracked");
    assert_eq!(s.settled().await, writes, "the held port is not written");
    assert_eq!(groups(&s.sim, 151), [pool_b_group()]);

    // It joins pool a: it gets `members`, then leaves `pool-b`.
    s.relabel(151, "a").await;
    s.until("node-151 moved", |m, n, sim| {
        ready(&n.conditions) == "True:Synced"
            && m.matched_nodes == Some(15)
            && groups(sim, 151) == [members_group()]
    })
    .await;
    let now = s.settled().await;
    assert_eq!(now - writes, 2, "{:?}", s.sim.call_counts());

    s.finish().await;
}
