//! The end-to-end scenarios, run against the API emulator
//! (`tests/e2e_controller.rs`) or a real cluster
//! (`tests/e2e/cluster.rs`): the controller runs in-process with
//! an in-memory cloud; objects are applied through the Kubernetes API and
//! every wait polls a condition with a deadline.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use secgroup_controller::controller::RunArgs;
use secgroup_controller::controller::testing::run_with_providers;
use secgroup_controller::crd::{
    CloudAccount, PortSecurityGroups, SecurityGroup, SecurityGroupMembership,
};
use secgroup_controller::model::{PortRange, Ports};

use super::Emulator;
use super::fake_cloud::{FakeCloud, FakeFactory};

const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

/// Apply the CRDs (server-side) and wait until the API serves them.
async fn install_crds(client: &kube::Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in secgroup_controller::crd::all_crds() {
        let name = crd.name_any();
        api.patch(
            &name,
            &PatchParams::apply("secgroup-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
        let start = tokio::time::Instant::now();
        loop {
            let established = api
                .get(&name)
                .await
                .unwrap()
                .status
                .and_then(|s| s.conditions)
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
            if established {
                break;
            }
            assert!(start.elapsed() < DEADLINE, "CRD {name} not established");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn remove_finalizers<K>(client: &kube::Client, ns: &str)
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let Ok(list) = api.list(&Default::default()).await else {
        return;
    };
    let patch = json!({"metadata": {"finalizers": null}});
    for o in list.items {
        let _ = api
            .patch(
                &o.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await;
    }
}

/// Where the Kubernetes API comes from.
pub enum Backend {
    /// The in-process emulator.
    Emulator,
    /// The cluster of the current kubeconfig, in a fresh namespace, with
    /// the CRDs applied.
    Cluster,
}

pub struct Harness {
    /// Kept alive for the test (the emulator stops when dropped).
    _emu: Option<Emulator>,
    ns: String,
    pub cloud: Arc<FakeCloud>,
    client: kube::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), secgroup_controller::controller::Error>>>,
}

impl Harness {
    /// The API and the cloud, with the controller running (resync 1 s).
    pub async fn start(backend: Backend) -> Harness {
        let mut h = Harness::new(backend).await;
        h.run(&["--resync-period", "1s"]);
        h
    }

    /// The API and the cloud, without the controller yet.
    pub async fn new(backend: Backend) -> Harness {
        let (emu, client, ns) = match backend {
            Backend::Emulator => {
                let emu = Emulator::start().await;
                let client = emu.client();
                (Some(emu), client, "team".to_string())
            }
            Backend::Cluster => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let client = kube::Client::try_default()
                    .await
                    .expect("a kubeconfig for a real cluster");
                let ns = format!(
                    "secgroup-e2e-{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..8]
                );
                install_crds(&client).await;
                let namespace: Namespace =
                    serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
                Api::<Namespace>::all(client.clone())
                    .create(&PostParams::default(), &namespace)
                    .await
                    .unwrap();
                (None, client, ns)
            }
        };
        Harness {
            _emu: emu,
            ns,
            cloud: FakeCloud::new(),
            client,
            stop: None,
            task: None,
        }
    }

    /// Start the controller with `extra` flags.
    pub fn run(&mut self, extra: &[&str]) {
        let mut argv = vec![
            "test",
            "--disable-leader-election",
            "--metrics-addr",
            "127.0.0.1:0",
            "--namespace",
            &self.ns,
        ];
        argv.extend_from_slice(extra);
        let args = Cli::parse_from(argv).run;
        let providers = Arc::new(FakeFactory {
            cloud: self.cloud.clone(),
            access_key: "AK-TEST".into(),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.task = Some(tokio::spawn(run_with_providers(
            args,
            self.client.clone(),
            providers,
            async {
                let _ = rx.await;
            },
        )));
        self.stop = Some(tx);
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn create<K>(&self, manifest: Value) -> K
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let obj: K = serde_json::from_value(manifest).unwrap();
        self.api::<K>()
            .create(&PostParams::default(), &obj)
            .await
            .unwrap()
    }

    /// Poll `check` on the object until it returns `Some`, or fail with
    /// the object's last state.
    async fn wait_for<K, T>(&self, name: &str, what: &str, check: impl Fn(&K) -> Option<T>) -> T
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let api = self.api::<K>();
        let start = tokio::time::Instant::now();
        loop {
            let obj = api.get_opt(name).await.unwrap();
            if let Some(found) = obj.as_ref().and_then(&check) {
                return found;
            }
            if start.elapsed() > DEADLINE {
                panic!(
                    "timed out waiting for {what} on {name}; last state: {}",
                    serde_json::to_string_pretty(&obj).unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_gone<K>(&self, name: &str)
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let api = self.api::<K>();
        let start = tokio::time::Instant::now();
        while let Some(obj) = api.get_opt(name).await.unwrap() {
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {name} to go; last state: {}",
                serde_json::to_string_pretty(&obj).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_cloud(&self, what: &str, check: impl Fn(&FakeCloud) -> bool) {
        let start = tokio::time::Instant::now();
        while !check(&self.cloud) {
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for the cloud: {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Account cycles so far: each reads the group `web` once.
    fn cycles(&self) -> u64 {
        self.cloud.calls("getGroup")
    }

    async fn events(&self) -> Vec<K8sEvent> {
        Api::<K8sEvent>::namespaced(self.client.clone(), &self.ns)
            .list(&Default::default())
            .await
            .unwrap()
            .items
    }

    async fn setup_account(&self) {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "creds"},
            "data": {"accessKey": "QUstVEVTVA==", "secretKey": "c2VjcmV0"}
        }))
        .unwrap();
        Api::<Secret>::namespaced(self.client.clone(), &self.ns)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
        self.create::<CloudAccount>(json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "CloudAccount",
            "metadata": {"name": "acct"},
            "spec": {
                "provider": "huawei",
                "region": "cn-north-4",
                "projectId": "proj1",
                "credentialsSecretRef": {"name": "creds"}
            }
        }))
        .await;
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(DEADLINE, task)
                .await
                .expect("controller stops on shutdown");
            result.unwrap().unwrap();
        }
        if self._emu.is_none() {
            // Real cluster: remove what the test made. Objects still
            // carrying our finalizer would hold the namespace, so drop it.
            remove_finalizers::<SecurityGroup>(&self.client, &self.ns).await;
            remove_finalizers::<PortSecurityGroups>(&self.client, &self.ns).await;
            remove_finalizers::<SecurityGroupMembership>(&self.client, &self.ns).await;
            let _ = Api::<Namespace>::all(self.client.clone())
                .delete(&self.ns, &DeleteParams::default())
                .await;
        }
    }
}

fn condition<S: serde::Serialize>(status: &Option<S>, type_: &str) -> Option<Value> {
    let v = serde_json::to_value(status.as_ref()?).ok()?;
    v["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

fn ready_reason<S: serde::Serialize>(status: &Option<S>) -> Option<(String, String)> {
    let c = condition(status, "Ready")?;
    Some((
        format!("{}:{}", c["status"].as_str()?, c["reason"].as_str()?),
        c["message"].as_str().unwrap_or("").to_string(),
    ))
}

fn web_group() -> Value {
    json!({
        "apiVersion": "secgroup.io/v1alpha1",
        "kind": "SecurityGroup",
        "metadata": {"name": "web"},
        "spec": {
            "accountRef": {"name": "acct"},
            "vpcId": "vpc-1",
            "rules": [
                {"direction": "ingress", "protocol": "tcp", "ports": "443", "remoteIpPrefix": "10.0.0.0/8"}
            ]
        }
    })
}

pub async fn lifecycle_create_drift_and_cleanup(backend: Backend) {
    let h = Harness::start(backend).await;
    h.cloud.add_group("sg-default");
    h.cloud.add_port("p1", &["sg-default"]);
    h.setup_account().await;
    let web: SecurityGroup = h.create(web_group()).await;
    h.create::<SecurityGroupMembership>(json!({
        "apiVersion": "secgroup.io/v1alpha1",
        "kind": "SecurityGroupMembership",
        "metadata": {"name": "web-members"},
        "spec": {"securityGroupRef": {"name": "web"}, "ports": ["p1"], "deletionPolicy": "Delete"}
    }))
    .await;

    // Created, tagged with the owner, rules applied, port attached.
    let group_id = h
        .wait_for::<SecurityGroup, _>("web", "Ready with a groupId", |sg| {
            let (ready, _) = ready_reason(&sg.status)?;
            (ready == "True:Synced").then(|| sg.status.as_ref()?.group_id.clone())?
        })
        .await;
    let group = h.cloud.group(&group_id).expect("group exists in the cloud");
    assert_eq!(
        group.tags.get("secgroup-owner").map(String::as_str),
        web.uid().as_deref()
    );
    assert_eq!(group.rules.len(), 1);
    h.wait_for::<SecurityGroupMembership, _>("web-members", "Ready", |m| {
        (ready_reason(&m.status)?.0 == "True:Synced").then_some(())
    })
    .await;
    assert_eq!(h.cloud.port("p1"), ["sg-default", group_id.as_str()]);
    assert_eq!(h.cloud.calls("createGroup"), 1, "exactly one group created");

    // Drift: someone revokes our rule in the console; it comes back.
    h.cloud
        .state
        .lock()
        .unwrap()
        .groups
        .get_mut(&group_id)
        .unwrap()
        .rules
        .clear();
    h.wait_cloud("revoked rule restored", |c| {
        let g = c.group(&group_id).unwrap();
        g.rules.len() == 1 && g.rules[0].rule.ports.to_string() == "443"
    })
    .await;
    // Someone adds a rule the spec does not list; it is revoked (one of
    // two rules: within the blast-radius guard).
    {
        let mut s = h.cloud.state.lock().unwrap();
        let g = s.groups.get_mut(&group_id).unwrap();
        let mut stray = g.rules[0].clone();
        stray.id = "console-rule".into();
        stray.rule.ports = Ports::Ranges(vec![PortRange {
            first: 22,
            last: 22,
        }]);
        g.rules.push(stray);
    }
    h.wait_cloud("stray rule revoked", |c| {
        let g = c.group(&group_id).unwrap();
        g.rules.len() == 1 && g.rules[0].rule.ports.to_string() == "443"
    })
    .await;
    let start = tokio::time::Instant::now();
    loop {
        let events = h.events().await;
        if events.iter().any(|e| {
            e.reason.as_deref() == Some("DriftRepaired")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web")
        }) {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no DriftRepaired event: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A port attached outside Kubernetes holds the group: deletion waits
    // and says which port.
    h.cloud.add_port("p9", &["sg-default", group_id.as_str()]);
    h.api::<SecurityGroupMembership>()
        .delete("web-members", &DeleteParams::default())
        .await
        .unwrap();
    h.wait_gone::<SecurityGroupMembership>("web-members").await;
    assert_eq!(
        h.cloud.port("p1"),
        ["sg-default"],
        "membership cleanup detached p1"
    );
    h.api::<SecurityGroup>()
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    let message = h
        .wait_for::<SecurityGroup, _>("web", "GroupInUse", |sg| {
            let (ready, message) = ready_reason(&sg.status)?;
            ready.ends_with(":GroupInUse").then_some(message)
        })
        .await;
    assert!(message.contains("p9"), "{message}");
    assert!(h.cloud.group(&group_id).is_some());

    // Freed: the retry deletes the group and releases the object.
    h.cloud
        .state
        .lock()
        .unwrap()
        .ports
        .get_mut("p9")
        .unwrap()
        .retain(|g| g == "sg-default");
    h.wait_gone::<SecurityGroup>("web").await;
    assert!(
        h.cloud.group(&group_id).is_none(),
        "group deleted in the cloud"
    );
    h.stop().await;
}

pub async fn conflict_is_reported_on_both_objects_without_flapping(backend: Backend) {
    let h = Harness::start(backend).await;
    h.cloud.add_group("sg-default");
    h.cloud.add_port("p2", &["sg-default"]);
    h.setup_account().await;
    h.create::<SecurityGroup>(web_group()).await;
    h.wait_for::<SecurityGroup, _>("web", "Ready", |sg| {
        (ready_reason(&sg.status)?.0 == "True:Synced").then_some(())
    })
    .await;
    // The port object says p2 has exactly sg-default; the membership says
    // p2 belongs in web.
    h.create::<PortSecurityGroups>(json!({
        "apiVersion": "secgroup.io/v1alpha1",
        "kind": "PortSecurityGroups",
        "metadata": {"name": "p2"},
        "spec": {"accountRef": {"name": "acct"}, "portId": "p2", "securityGroups": [{"id": "sg-default"}]}
    }))
    .await;
    h.create::<SecurityGroupMembership>(json!({
        "apiVersion": "secgroup.io/v1alpha1",
        "kind": "SecurityGroupMembership",
        "metadata": {"name": "web-p2"},
        "spec": {"securityGroupRef": {"name": "web"}, "ports": ["p2"]}
    }))
    .await;
    let psg_msg = h
        .wait_for::<PortSecurityGroups, _>("p2", "Conflict", |o| {
            let (ready, message) = ready_reason(&o.status)?;
            (ready == "False:Conflict").then_some(message)
        })
        .await;
    let m_msg = h
        .wait_for::<SecurityGroupMembership, _>("web-p2", "Conflict", |o| {
            let (ready, message) = ready_reason(&o.status)?;
            (ready == "False:Conflict").then_some(message)
        })
        .await;
    assert!(
        psg_msg.contains("web-p2"),
        "names the other object: {psg_msg}"
    );
    assert!(m_msg.contains("p2"), "{m_msg}");

    // Quiet: several more cycles run (resync), nothing is written to the
    // cloud and both stay in Conflict.
    let writes = h.cloud.writes();
    let port_before = h.cloud.port("p2");
    let cycles = h.cycles();
    let start = tokio::time::Instant::now();
    while h.cycles() < cycles + 6 {
        assert!(start.elapsed() < DEADLINE, "resync cycles did not run");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        h.cloud.writes(),
        writes,
        "no cloud writes while in conflict"
    );
    assert_eq!(h.cloud.port("p2"), port_before);
    let psg: PortSecurityGroups = h.api().get("p2").await.unwrap();
    let m: SecurityGroupMembership = h.api().get("web-p2").await.unwrap();
    assert_eq!(ready_reason(&psg.status).unwrap().0, "False:Conflict");
    assert_eq!(ready_reason(&m.status).unwrap().0, "False:Conflict");
    h.stop().await;
}

pub async fn blast_radius_guard_blocks_until_the_object_allows_it(backend: Backend) {
    let h = Harness::start(backend).await;
    h.setup_account().await;
    h.create::<SecurityGroup>(web_group()).await;
    let group_id = h
        .wait_for::<SecurityGroup, _>("web", "Ready", |sg| {
            let (ready, _) = ready_reason(&sg.status)?;
            (ready == "True:Synced").then(|| sg.status.as_ref()?.group_id.clone())?
        })
        .await;
    // The console replaces our only rule: restoring the spec would revoke
    // the whole rule set, which the guard withholds.
    {
        let mut s = h.cloud.state.lock().unwrap();
        let g = s.groups.get_mut(&group_id).unwrap();
        g.rules[0].id = "console-rule".into();
        g.rules[0].rule.ports = Ports::Ranges(vec![PortRange {
            first: 22,
            last: 22,
        }]);
    }
    let message = h
        .wait_for::<SecurityGroup, _>("web", "MassChangeBlocked", |sg| {
            let (ready, message) = ready_reason(&sg.status)?;
            (ready == "False:MassChangeBlocked").then_some(message)
        })
        .await;
    assert!(message.contains("allow-mass-change"), "{message}");
    assert_eq!(h.cloud.calls("deleteRule"), 0, "nothing revoked");

    let patch = json!({"metadata": {"annotations": {"secgroup.io/allow-mass-change": "true"}}});
    h.api::<SecurityGroup>()
        .patch(
            "web",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    h.wait_cloud("spec restored once allowed", |c| {
        let g = c.group(&group_id).unwrap();
        g.rules.len() == 1 && g.rules[0].rule.ports.to_string() == "443"
    })
    .await;
    h.wait_for::<SecurityGroup, _>("web", "Ready again", |sg| {
        (ready_reason(&sg.status)?.0 == "True:Synced").then_some(())
    })
    .await;
    h.stop().await;
}

/// Many objects of one account, there before the controller starts: one
/// cycle reads the cloud and joins every port in shared batches; the other
/// objects take their outcome from it instead of each running a cycle
/// (which made reads grow with the square of the objects). More objects
/// than a reflector's broadcast buffer (1,024 events): a subscriber handle
/// nobody read once stalled every controller of the kind at that point.
pub async fn many_objects_share_account_cycles(backend: Backend) {
    const N: usize = 1_100;
    let mut h = Harness::new(backend).await;
    h.cloud.add_group("sg-default");
    h.cloud.add_group("sg-app");
    for i in 1..=N {
        h.cloud.add_port(&format!("p{i}"), &["sg-default"]);
    }
    h.setup_account().await;
    let api = h.api::<PortSecurityGroups>();
    let objects: Vec<PortSecurityGroups> = (1..=N)
        .map(|i| {
            serde_json::from_value(json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "PortSecurityGroups",
            "metadata": {"name": format!("port-{i}")},
            "spec": {
                "accountRef": {"name": "acct"},
                "portId": format!("p{i}"),
                "securityGroups": [{"id": "sg-default"}, {"id": "sg-app"}]
            }
            }))
            .unwrap()
        })
        .collect();
    futures::stream::iter(objects)
        .for_each_concurrent(16, |o| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &o).await.unwrap();
            }
        })
        .await;
    h.run(&["--resync-period", "10m"]);
    let start = tokio::time::Instant::now();
    loop {
        let list = api.list(&Default::default()).await.unwrap();
        let ready = list
            .items
            .iter()
            .filter(|p| ready_reason(&p.status).is_some_and(|(r, _)| r == "True:Synced"))
            .count();
        if ready == N {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{ready} of {N} Ready after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in 1..=N {
        assert_eq!(h.cloud.port(&format!("p{i}")), ["sg-default", "sg-app"]);
    }
    assert_eq!(
        h.cloud.calls("attachPorts"),
        N.div_ceil(20) as u64,
        "{N} ports join sg-app in batches of 20"
    );
    assert_eq!(h.cloud.calls("addPortGroups"), 0, "no per-port calls");
    // Each cycle reads every port once. The account's own first cycle may
    // run before the ports are listed; allow that and one more.
    let reads = h.cloud.calls("getPort");
    assert!(
        reads <= 3 * N as u64,
        "{reads} port reads: more than 3 account cycles for {N} objects"
    );
    h.stop().await;
}

/// An API server that refuses the finalizer (an admission webhook, missing
/// RBAC): the objects are read and planned but nothing reaches the cloud,
/// and each says why. Once the finalizer may be added, they converge.
/// Emulator only: a real cluster cannot be told to refuse.
pub async fn a_refused_finalizer_keeps_objects_out_of_the_cloud() {
    let mut h = Harness::new(Backend::Emulator).await;
    h.cloud.add_group("sg-default");
    h.cloud.add_port("p1", &["sg-default"]);
    let emu = h._emu.as_ref().expect("the emulator backend");
    emu.refuse_finalizers(true);
    h.setup_account().await;
    h.create::<SecurityGroup>(web_group()).await;
    h.create::<PortSecurityGroups>(json!({
        "apiVersion": "secgroup.io/v1alpha1",
        "kind": "PortSecurityGroups",
        "metadata": {"name": "p1"},
        "spec": {"accountRef": {"name": "acct"}, "portId": "p1",
                 "securityGroups": [{"name": "web"}, {"id": "sg-default"}]}
    }))
    .await;
    h.run(&["--resync-period", "1s"]);
    for name in ["web", "p1"] {
        let message = wait_refused(&h, name).await;
        assert!(
            message.contains("cannot add the finalizer") && message.contains("denied"),
            "{name}: {message}"
        );
    }
    // Planned, held: not one write reached the cloud.
    let cycles = h.cycles();
    h.wait_for::<SecurityGroup, _>("web", "another cycle", |_| {
        (h.cycles() > cycles).then_some(())
    })
    .await;
    assert_eq!(h.cloud.writes(), 0, "no cloud write without the finalizer");

    let emu = h._emu.as_ref().expect("the emulator backend");
    emu.refuse_finalizers(false);
    let group_id = h
        .wait_for::<SecurityGroup, _>("web", "Ready once admitted", |sg| {
            let (ready, _) = ready_reason(&sg.status)?;
            (ready == "True:Synced").then(|| sg.status.as_ref()?.group_id.clone())?
        })
        .await;
    h.wait_for::<PortSecurityGroups, _>("p1", "Ready", |p| {
        (ready_reason(&p.status)?.0 == "True:Synced").then_some(())
    })
    .await;
    assert_eq!(h.cloud.port("p1"), [group_id.as_str(), "sg-default"]);
    assert_eq!(h.cloud.calls("createGroup"), 1);
    h.stop().await;
}

async fn wait_refused(h: &Harness, name: &str) -> String {
    let check = |status: Option<(String, String)>| {
        let (ready, message) = status?;
        (ready == "False:FinalizerMissing").then_some(message)
    };
    if name == "web" {
        h.wait_for::<SecurityGroup, _>(name, "FinalizerMissing", |o| check(ready_reason(&o.status)))
            .await
    } else {
        h.wait_for::<PortSecurityGroups, _>(name, "FinalizerMissing", |o| {
            check(ready_reason(&o.status))
        })
        .await
    }
}

/// Drift on the incremental path: a rule revoked in the console is not
/// seen by a cycle that reads only what a changed object touches, and is
/// found and repaired by the next resync's full read, with its Event.
pub async fn drift_is_found_at_the_resync_while_changes_read_only_what_they_touch(
    backend: Backend,
) {
    let mut h = Harness::new(backend).await;
    h.cloud.add_group("sg-default");
    h.cloud.add_port("p1", &["sg-default"]);
    h.cloud.add_port("p2", &["sg-default"]);
    h.setup_account().await;
    h.create::<SecurityGroup>(web_group()).await;
    h.run(&["--resync-period", "6s"]);
    let group_id = h
        .wait_for::<SecurityGroup, _>("web", "Ready with a groupId", |sg| {
            let (ready, _) = ready_reason(&sg.status)?;
            (ready == "True:Synced").then(|| sg.status.as_ref()?.group_id.clone())?
        })
        .await;
    let restored = |c: &FakeCloud| c.group(&group_id).is_some_and(|g| g.rules.len() == 1);
    // After a write the next cycle reads back what it wrote.
    h.wait_cloud("the new group read back", |c| c.calls("getGroup") >= 1)
        .await;

    // Console edit: the rule goes.
    h.cloud
        .state
        .lock()
        .unwrap()
        .groups
        .get_mut(&group_id)
        .unwrap()
        .rules
        .clear();
    // A change elsewhere: a cycle reads the port it names, not the group.
    let group_reads = h.cycles();
    h.create::<PortSecurityGroups>(json!({
        "apiVersion": "secgroup.io/v1alpha1",
        "kind": "PortSecurityGroups",
        "metadata": {"name": "p2"},
        "spec": {"accountRef": {"name": "acct"}, "portId": "p2",
                 "securityGroups": [{"name": "web"}]}
    }))
    .await;
    h.wait_for::<PortSecurityGroups, _>("p2", "Ready", |p| {
        (ready_reason(&p.status)?.0 == "True:Synced").then_some(())
    })
    .await;
    assert_eq!(
        h.cycles(),
        group_reads,
        "the incremental cycle read no group"
    );
    assert!(
        h.cloud.group(&group_id).is_some_and(|g| g.rules.is_empty()),
        "not seen yet"
    );

    // The resync reads everything: the rule comes back, with its Event.
    h.wait_cloud("revoked rule restored at the resync", restored)
        .await;
    let start = tokio::time::Instant::now();
    while !h.events().await.iter().any(|e| {
        e.reason.as_deref() == Some("DriftRepaired")
            && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web")
    }) {
        assert!(start.elapsed() < DEADLINE, "no DriftRepaired event");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.stop().await;
}
