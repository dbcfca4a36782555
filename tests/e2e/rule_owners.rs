//! Rules owned by several objects, end to end: the controller as `run`
//! builds it (real Huawei client) against the API emulator and the cloud
//! simulator. A `SecurityGroup` adopts a group that already has a rule
//! nobody owns (tcp 22) and lists no rules, so it is `Additive`; two
//! `SecurityGroupRules` add 80 + 443 and 443 + 9100. Their rules go in
//! one create call (the lower bound, ceil(3/200)), each records what it
//! owns, and deleting the first revokes exactly the rule it alone owned
//! (80): 443 stays for the second, 22 stays as nobody's.

use std::collections::BTreeSet;
use std::time::Duration;

use clap::Parser;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

use secgroup_controller::controller::{RunArgs, run_with};
use secgroup_controller::crd::SecurityGroupRules;
use secgroup_controller::sim::{
    self, Account, Provider, SimHandle, SimOptions, SimSettings, SimState,
};
use secgroup_test_support::emulator::Emulator;
use secgroup_test_support::wire::{hw_rule, uuid};

const NS: &str = "team";
const AK: &str = "HWTESTAK0000000000001";
const SK: &str = "hw-test-secret-key";
const PROJECT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

fn group() -> String {
    uuid(1)
}

fn ar(kind: &str, plural: &str) -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: "secgroup.io".into(),
        version: "v1alpha1".into(),
        api_version: "secgroup.io/v1alpha1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

async fn create(client: &kube::Client, manifest: Value) {
    let kind = manifest["kind"].as_str().unwrap_or_default().to_string();
    let plural = match kind.as_str() {
        "CloudAccount" => "cloudaccounts",
        "SecurityGroup" => "securitygroups",
        _ => "securitygrouprules",
    };
    let obj: kube::api::DynamicObject = serde_json::from_value(manifest).unwrap();
    Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), NS, &ar(&kind, plural))
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();
}

fn rules_object(name: &str, ports: &[&str]) -> Value {
    let rules: Vec<Value> = ports
        .iter()
        .map(|p| {
            json!({"direction": "ingress", "protocol": "tcp", "ports": p,
                   "remoteIpPrefix": "10.0.0.0/8"})
        })
        .collect();
    json!({
        "apiVersion": "secgroup.io/v1alpha1",
        "kind": "SecurityGroupRules",
        "metadata": {"name": name},
        "spec": {"securityGroupRef": {"name": "web"}, "rules": rules}
    })
}

/// The group's rules in the simulator, by their ports.
fn cloud_ports(sim: &SimHandle) -> BTreeSet<String> {
    sim.huawei_group_rules(&group())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.multiport)
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn ready(o: &SecurityGroupRules) -> String {
    o.status
        .iter()
        .flat_map(|s| s.conditions.iter())
        .find(|c| c.type_ == "Ready")
        .map(|c| format!("{}:{}", c.status, c.reason))
        .unwrap_or_default()
}

/// Wait until every named object is Ready and Synced, owning `owned`
/// rules each, and the cloud has exactly `cloud`.
async fn converged(
    api: &Api<SecurityGroupRules>,
    sim: &SimHandle,
    owners: &[(&str, usize)],
    cloud: &BTreeSet<String>,
) {
    let start = tokio::time::Instant::now();
    loop {
        let mut ok = cloud_ports(sim) == *cloud;
        let mut seen = Vec::new();
        for (name, owned) in owners {
            let o = api.get(name).await.unwrap();
            let s = o.status.clone().unwrap_or_default();
            ok &= ready(&o) == "True:Synced"
                && s.rule_count == Some(*owned as u32)
                && s.managed_rules.len() == *owned
                && s.security_group_id.as_deref() == Some(group().as_str());
            seen.push(o.status);
        }
        if ok {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "not converged: cloud {:?}, statuses {seen:#?}",
            cloud_ports(sim)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Cloud writes once they stopped changing.
async fn settled(sim: &SimHandle) -> u64 {
    let mut last = sim.read_write_counts(Provider::Huawei).1;
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now = sim.read_write_counts(Provider::Huawei).1;
        if now == last {
            return now;
        }
        last = now;
    }
}

#[tokio::test]
async fn two_owners_share_a_group_and_deleting_one_revokes_only_its_own_rules() {
    let state = SimState::new()
        .with_account(Account::huawei(AK, SK, PROJECT))
        .with_settings(SimSettings {
            huawei_default_rules: false,
            ..SimSettings::default()
        })
        .with_huawei_group(PROJECT, &group(), "web")
        .with_huawei_rule(&group(), hw_rule(&uuid(100)));
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
    create(
        &client,
        json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "CloudAccount",
            "metadata": {"name": "acct"},
            "spec": {"provider": "huawei", "region": "cn-north-4", "projectId": PROJECT,
                     "endpoint": sim.url(), "credentialsSecretRef": {"name": "creds"}}
        }),
    )
    .await;
    create(
        &client,
        json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "SecurityGroup",
            "metadata": {"name": "web"},
            "spec": {"accountRef": {"name": "acct"}, "groupId": group()}
        }),
    )
    .await;
    create(&client, rules_object("a", &["80", "443"])).await;
    create(&client, rules_object("b", &["443", "9100"])).await;

    let api: Api<SecurityGroupRules> = Api::namespaced(client.clone(), NS);
    converged(
        &api,
        &sim,
        &[("a", 2), ("b", 2)],
        &set(&["22", "80", "443", "9100"]),
    )
    .await;
    let writes = settled(&sim).await;
    assert_eq!(
        writes,
        1,
        "the rules of both objects in one create call: {:?}",
        sim.call_counts()
    );
    let a = api.get("a").await.unwrap();
    assert!(
        a.finalizers().iter().any(|f| f == "secgroup.io/cleanup"),
        "{:?}",
        a.metadata.finalizers
    );

    api.delete("a", &DeleteParams::default()).await.unwrap();
    let start = tokio::time::Instant::now();
    while api.get_opt("a").await.unwrap().is_some() {
        assert!(start.elapsed() < DEADLINE, "a is never released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    converged(&api, &sim, &[("b", 2)], &set(&["22", "443", "9100"])).await;
    let now = settled(&sim).await;
    assert_eq!(now - writes, 1, "one revoke (80): {:?}", sim.call_counts());

    let _ = stop.send(());
    let _ = task.await;
}
