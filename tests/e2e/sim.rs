//! The controller as `run` builds it (real Huawei client, CRD resolver,
//! metrics server) against the API emulator and the in-process cloud
//! simulator: create, attach, drift repaired, a conflict that stays quiet,
//! a group in use that cannot be deleted.

use secgroup_test_support::emulator;

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use emulator::Emulator;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use secgroup_controller::controller::{RunArgs, run_with};
use secgroup_controller::crd::{PortSecurityGroups, SecurityGroup, SecurityGroupMembership};
use secgroup_controller::sim::{self, Account, SimHandle, SimOptions, SimSettings, SimState};

const NS: &str = "team";
const AK: &str = "HWTESTAK0000000000001";
const SK: &str = "hw-test-secret-key";
const PROJECT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const DEADLINE: Duration = Duration::from_secs(60);

fn uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

struct Setup {
    emu: Emulator,
    sim: SimHandle,
    client: kube::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), secgroup_controller::controller::Error>>,
}

async fn start(state: SimState) -> Setup {
    let sim = sim::start(state, SimOptions::default())
        .await
        .expect("simulator starts");
    let emu = Emulator::start().await;
    let client = emu.client();
    let args = Cli::parse_from([
        "test",
        "--disable-leader-election",
        "--metrics-addr",
        "127.0.0.1:0",
        "--resync-period",
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
    create(
        &client,
        json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "CloudAccount",
            "metadata": {"name": "acct"},
            "spec": {
                "provider": "huawei",
                "region": "cn-north-4",
                "projectId": PROJECT,
                "endpoint": sim.url(),
                "credentialsSecretRef": {"name": "creds"}
            }
        }),
    )
    .await;
    Setup {
        emu,
        sim,
        client,
        stop,
        task,
    }
}

async fn create(client: &kube::Client, manifest: Value) {
    let kind = manifest["kind"].as_str().unwrap().to_string();
    let obj: kube::api::DynamicObject = serde_json::from_value(manifest).unwrap();
    let plural = match kind.as_str() {
        "CloudAccount" => "cloudaccounts",
        "SecurityGroup" => "securitygroups",
        "PortSecurityGroups" => "portsecuritygroups",
        _ => "securitygroupmemberships",
    };
    let ar = kube::api::ApiResource {
        group: "secgroup.io".into(),
        version: "v1alpha1".into(),
        api_version: "secgroup.io/v1alpha1".into(),
        kind,
        plural: plural.into(),
    };
    Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), NS, &ar)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();
}

async fn wait_for<K, T>(
    client: &kube::Client,
    name: &str,
    what: &str,
    check: impl Fn(&K) -> Option<T>,
) -> T
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), NS);
    let start = tokio::time::Instant::now();
    loop {
        let obj = api.get_opt(name).await.unwrap();
        if let Some(v) = obj.as_ref().and_then(&check) {
            return v;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out waiting for {what} on {name}: {}",
            serde_json::to_string_pretty(&obj).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let start = tokio::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `Ready` as `status:reason` and its message.
fn ready<S: serde::Serialize>(status: &Option<S>) -> Option<(String, String)> {
    let v = serde_json::to_value(status.as_ref()?).ok()?;
    let c = v["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?
        .clone();
    Some((
        format!("{}:{}", c["status"].as_str()?, c["reason"].as_str()?),
        c["message"].as_str().unwrap_or("").to_string(),
    ))
}

/// Calls that change the simulated cloud, by operation.
fn writes(sim: &SimHandle) -> BTreeMap<String, u64> {
    sim.call_counts()
        .into_iter()
        .filter(|(op, _)| {
            let verb = op.split('.').nth(1).unwrap_or("");
            !(verb.starts_with("show") || verb.starts_with("list") || verb.starts_with("get"))
        })
        .collect()
}

fn base_state() -> SimState {
    SimState::new()
        .with_account(Account::huawei(AK, SK, PROJECT))
        .with_settings(SimSettings {
            huawei_default_rules: false,
            ..SimSettings::default()
        })
        .with_huawei_group(PROJECT, &uuid(1), "default")
        .with_huawei_port(PROJECT, &uuid(201), &[&uuid(1)])
        .with_huawei_port(PROJECT, &uuid(202), &[&uuid(1)])
}

fn web() -> Value {
    json!({
        "apiVersion": "secgroup.io/v1alpha1",
        "kind": "SecurityGroup",
        "metadata": {"name": "web"},
        "spec": {
            "accountRef": {"name": "acct"},
            "rules": [
                {"direction": "ingress", "protocol": "tcp", "ports": "443", "remoteIpPrefix": "10.0.0.0/8"},
                {"direction": "ingress", "protocol": "tcp", "ports": "80", "remoteIpPrefix": "10.0.0.0/8"}
            ]
        }
    })
}

#[tokio::test]
async fn huawei_group_created_attached_repaired_and_held_while_in_use() {
    let s = start(base_state()).await;
    let port = uuid(201);
    create(&s.client, web()).await;
    create(
        &s.client,
        json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "PortSecurityGroups",
            "metadata": {"name": "port-201"},
            "spec": {
                "accountRef": {"name": "acct"},
                "portId": port,
                "securityGroups": [{"name": "web"}, {"id": uuid(1)}]
            }
        }),
    )
    .await;

    let group_id = wait_for::<SecurityGroup, _>(&s.client, "web", "Ready", |sg| {
        (ready(&sg.status)?.0 == "True:Synced").then(|| sg.status.as_ref()?.group_id.clone())?
    })
    .await;
    assert_eq!(s.sim.huawei_group_rules(&group_id).unwrap().len(), 2);
    wait_for::<PortSecurityGroups, _>(&s.client, "port-201", "Ready", |p| {
        (ready(&p.status)?.0 == "True:Synced").then_some(())
    })
    .await;
    assert_eq!(
        s.sim.huawei_port_groups(&port).unwrap(),
        [group_id.clone(), uuid(1)],
        "exactly these groups, in this order"
    );
    assert_eq!(s.sim.call_count("huawei.createSecurityGroup"), 1);

    // Drift: the port loses our group in the console; it is put back first.
    let mut state = s.sim.snapshot();
    for p in state.huawei.ports.iter_mut().filter(|p| p.id == port) {
        p.security_groups = vec![uuid(1)];
    }
    s.sim.replace_state(state).unwrap();
    wait_until("port repaired", || {
        s.sim.huawei_port_groups(&port).unwrap() == [group_id.clone(), uuid(1)]
    })
    .await;

    // Drift: a rule is disabled in the console. It filters nothing, so it
    // is deleted and created again, enabled.
    let rules = s.sim.huawei_group_rules(&group_id).unwrap();
    let disabled = rules[0].id.clone();
    assert!(s.sim.set_huawei_rule_enabled(&disabled, false));
    wait_until("rule enabled again", || {
        s.sim
            .huawei_group_rules(&group_id)
            .is_some_and(|now| now.len() == 2 && now.iter().all(|r| r.enabled && r.id != disabled))
    })
    .await;

    // Deleting the group while the port holds it: held, says which port.
    Api::<PortSecurityGroups>::namespaced(s.client.clone(), NS)
        .delete("port-201", &DeleteParams::default())
        .await
        .unwrap();
    Api::<SecurityGroup>::namespaced(s.client.clone(), NS)
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    let message = wait_for::<SecurityGroup, _>(&s.client, "web", "GroupInUse", |sg| {
        let (r, m) = ready(&sg.status)?;
        r.ends_with(":GroupInUse").then_some(m)
    })
    .await;
    assert!(message.contains(&port), "{message}");
    assert!(s.sim.huawei_group(&group_id).is_some());

    let _ = s.stop.send(());
    tokio::time::timeout(DEADLINE, s.task)
        .await
        .expect("stops on shutdown")
        .unwrap()
        .unwrap();
    drop(s.emu);
}

#[tokio::test]
async fn conflict_between_port_object_and_membership_stays_quiet() {
    let s = start(base_state()).await;
    let port = uuid(202);
    create(&s.client, web()).await;
    wait_for::<SecurityGroup, _>(&s.client, "web", "Ready", |sg| {
        (ready(&sg.status)?.0 == "True:Synced").then_some(())
    })
    .await;
    create(
        &s.client,
        json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "PortSecurityGroups",
            "metadata": {"name": "port-202"},
            "spec": {"accountRef": {"name": "acct"}, "portId": port, "securityGroups": [{"id": uuid(1)}]}
        }),
    )
    .await;
    create(
        &s.client,
        json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "SecurityGroupMembership",
            "metadata": {"name": "web-202"},
            "spec": {"securityGroupRef": {"name": "web"}, "ports": [port]}
        }),
    )
    .await;
    wait_for::<PortSecurityGroups, _>(&s.client, "port-202", "Conflict", |o| {
        (ready(&o.status)?.0 == "False:Conflict").then_some(())
    })
    .await;
    wait_for::<SecurityGroupMembership, _>(&s.client, "web-202", "Conflict", |o| {
        (ready(&o.status)?.0 == "False:Conflict").then_some(())
    })
    .await;

    // Several more resync cycles read the cloud; none writes to it.
    let before = writes(&s.sim);
    let reads = || s.sim.call_count("huawei.listSecurityGroups");
    let start_reads = reads();
    wait_until("more cycles", || reads() >= start_reads + 6).await;
    assert_eq!(writes(&s.sim), before, "the simulator saw no more writes");
    assert_eq!(s.sim.huawei_port_groups(&port).unwrap(), [uuid(1)]);
    let m: SecurityGroupMembership = Api::namespaced(s.client.clone(), NS)
        .get("web-202")
        .await
        .unwrap();
    assert_eq!(ready(&m.status).unwrap().0, "False:Conflict");
    assert!(m.name_any() == "web-202");

    let _ = s.stop.send(());
    tokio::time::timeout(DEADLINE, s.task)
        .await
        .expect("stops on shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn rejected_credentials_show_on_the_account_and_its_objects_until_the_secret_is_fixed() {
    let s = start(base_state()).await;
    // Rotate to a wrong secret key: the simulator rejects the signature.
    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), NS);
    let wrong = json!({"stringData": {"accessKey": AK, "secretKey": "not-the-key"}});
    secrets
        .patch(
            "creds",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&wrong),
        )
        .await
        .unwrap();
    create(&s.client, web()).await;
    let message = wait_for::<SecurityGroup, _>(&s.client, "web", "CredentialsInvalid", |sg| {
        let (r, m) = ready(&sg.status)?;
        (r == "False:CredentialsInvalid").then_some(m)
    })
    .await;
    assert!(
        !message.contains("not-the-key"),
        "no secret in status: {message}"
    );
    wait_for::<secgroup_controller::crd::CloudAccount, _>(
        &s.client,
        "acct",
        "CredentialsInvalid",
        |a| (ready(&a.status)?.0 == "False:CredentialsInvalid").then_some(()),
    )
    .await;
    assert_eq!(s.sim.call_count("huawei.createSecurityGroup"), 0);

    // Fixed Secret: a new client is built and the group is created.
    let right = json!({"stringData": {"accessKey": AK, "secretKey": SK}});
    secrets
        .patch(
            "creds",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&right),
        )
        .await
        .unwrap();
    wait_for::<SecurityGroup, _>(&s.client, "web", "Ready", |sg| {
        (ready(&sg.status)?.0 == "True:Synced").then_some(())
    })
    .await;
    wait_for::<secgroup_controller::crd::CloudAccount, _>(&s.client, "acct", "Ready", |a| {
        (ready(&a.status)?.0 == "True:Synced").then_some(())
    })
    .await;
    let events = s.emu.objects("events.k8s.io/events");
    assert!(
        events
            .iter()
            .all(|e| !e.to_string().contains("not-the-key")),
        "no secret in events"
    );
    let _ = s.stop.send(());
    tokio::time::timeout(DEADLINE, s.task)
        .await
        .expect("stops on shutdown")
        .unwrap()
        .unwrap();
}
