//! Leader fencing: two replicas of the controller against one API emulator
//! and one cloud simulator, each replica behind its own TCP proxy to the
//! API server. The leader is partitioned from the API server (its cloud
//! calls still go through) or killed in the middle of a long plan; the
//! cloud must never see writes of both replicas in overlapping windows,
//! and the standby must finish the plan. Each test prints the failover
//! time: from the cut (or the kill) to the standby's first cloud write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};

use secgroup_controller::controller::RunArgs;
use secgroup_controller::controller::testing::{CloudClients, run_with_providers};
use secgroup_controller::model::ProviderKind;
use secgroup_controller::sim::{self, SimHandle, SimOptions};
use secgroup_test_support::emulator::{Emulator, client_at};
use secgroup_test_support::netcut::Proxy;
use secgroup_test_support::recording::{RecordingFactory, Write, WriteLog};
use secgroup_test_support::scenarios::{
    HW_AK, HW_SK, PROJECT, add_port, base_state, group_id, port_id,
};

const NS: &str = "team";
const PORTS: usize = 300;
/// Lease timings of both replicas: a 1.5 s margin between the fence and
/// the earliest takeover.
const LEASE: [&str; 6] = [
    "--lease-duration",
    "3s",
    "--lease-renew-period",
    "250ms",
    "--lease-renew-deadline",
    "1500ms",
];
const RENEW_DEADLINE: Duration = Duration::from_millis(1500);
const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

struct Replica {
    proxy: Proxy,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), secgroup_controller::controller::Error>>,
}

fn replica(identity: &'static str, log: &WriteLog, proxy: Proxy) -> Replica {
    let mut argv = vec![
        "test",
        "--identity",
        identity,
        "--lease-namespace",
        "ops",
        "--metrics-addr",
        "127.0.0.1:0",
        "--coalesce-window",
        "0s",
    ];
    argv.extend(LEASE);
    let args = Cli::parse_from(argv).run;
    let providers = Arc::new(RecordingFactory {
        inner: Arc::new(CloudClients::new().expect("HTTP client")),
        tag: identity,
        log: log.clone(),
    });
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run_with_providers(
        args,
        client_at(&proxy.url()),
        providers,
        async {
            let _ = rx.await;
        },
    ));
    Replica {
        proxy,
        stop: Some(stop),
        task,
    }
}

async fn holder(emu: &Emulator) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(emu.client(), "ops");
    api.get_opt("secgroup-controller")
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn create(client: &kube::Client, plural: &str, manifest: Value) {
    let kind = manifest["kind"].as_str().unwrap_or_default().to_string();
    let ar = kube::api::ApiResource {
        group: "secgroup.io".into(),
        version: "v1alpha1".into(),
        api_version: "secgroup.io/v1alpha1".into(),
        kind,
        plural: plural.into(),
    };
    let obj: DynamicObject = serde_json::from_value(manifest).unwrap();
    Api::<DynamicObject>::namespaced_with(client.clone(), NS, &ar)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();
}

/// A simulator where `PORTS` ports hold g2, and an account whose
/// membership asks them all into g1: 15 batch calls at 4 requests a second.
async fn setup() -> (SimHandle, Emulator) {
    let kind = ProviderKind::Huawei;
    let mut state = base_state(kind, 2);
    for p in 1..=PORTS {
        state = add_port(state, kind, p, &[2]);
    }
    let sim = sim::start(state, SimOptions::default())
        .await
        .expect("simulator starts");
    let emu = Emulator::start().await;
    let client = emu.client();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "creds"},
        "stringData": {"accessKey": HW_AK, "secretKey": HW_SK}
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    create(
        &client,
        "cloudaccounts",
        json!({
            "apiVersion": "secgroup.io/v1alpha1", "kind": "CloudAccount",
            "metadata": {"name": "acct"},
            "spec": {"provider": "huawei", "region": "cn-north-4", "projectId": PROJECT,
                     "endpoint": sim.url(), "credentialsSecretRef": {"name": "creds"},
                     "maxRequestsPerSecond": 4}
        }),
    )
    .await;
    let ports: Vec<String> = (1..=PORTS).map(|p| port_id(kind, p)).collect();
    create(
        &client,
        "securitygroupmemberships",
        json!({
            "apiVersion": "secgroup.io/v1alpha1", "kind": "SecurityGroupMembership",
            "metadata": {"name": "fleet"},
            "spec": {"accountRef": {"name": "acct"}, "securityGroupId": group_id(kind, 1),
                     "policy": "Additive", "ports": ports}
        }),
    )
    .await;
    (sim, emu)
}

fn first(writes: &[Write]) -> Option<&Write> {
    writes.iter().min_by_key(|w| w.started)
}

fn last(writes: &[Write]) -> Option<&Write> {
    writes.iter().max_by_key(|w| w.ended)
}

/// Run the scenario: `a` leads and starts the plan, `stop_a` takes it
/// away, `b` takes over. Returns the writes of each, and when `a` went.
async fn takeover(
    stop_a: impl FnOnce(&mut Replica),
) -> (Vec<Write>, Vec<Write>, Instant, SimHandle) {
    let (sim, emu) = setup().await;
    let log = WriteLog::default();
    let mut a = replica("a", &log, Proxy::start(emu.addr()).await);
    eventually("a leads", || async {
        holder(&emu).await.as_deref() == Some("a")
    })
    .await;
    let b = replica("b", &log, Proxy::start(emu.addr()).await);
    eventually("a writes", || async { log.of("a").len() >= 2 }).await;
    let gone = Instant::now();
    stop_a(&mut a);
    eventually("b writes", || async { !log.of("b").is_empty() }).await;
    let group = group_id(ProviderKind::Huawei, 1);
    eventually("every port joins g1", || async {
        (1..=PORTS).all(|p| {
            sim.huawei_port_groups(&port_id(ProviderKind::Huawei, p))
                .is_some_and(|g| g.contains(&group))
        })
    })
    .await;
    drop(b);
    (log.of("a"), log.of("b"), gone, sim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_api_server_stops_writing_before_the_standby_starts() {
    let (a, b, cut, sim) = takeover(|a| a.proxy.cut()).await;
    let a_last = last(&a).expect("a wrote");
    let b_first = first(&b).expect("b wrote");
    assert!(
        a_last.ended < b_first.started,
        "a's last write ended {:?} after b's first began",
        a_last.ended.saturating_duration_since(b_first.started)
    );
    assert!(
        a.iter().any(|w| w.started > cut),
        "the cloud stayed reachable: a kept writing after the cut until its fence closed"
    );
    assert!(
        a_last.started < cut + RENEW_DEADLINE,
        "a wrote {:?} after the cut, past its renew deadline",
        a_last.started - cut
    );
    assert!(sim.refused_log().is_empty(), "{:?}", sim.refused_log());
    eprintln!(
        "failover after a partition: {:?} from the cut to the standby's first write \
         (a's last write {:?} after the cut, {:?} before b's first)",
        b_first.started - cut,
        a_last.ended.saturating_duration_since(cut),
        b_first.started - a_last.ended
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_once_its_lease_expires() {
    let (a, b, killed, sim) = takeover(|a| {
        a.task.abort();
        a.stop.take();
    })
    .await;
    let a_last = last(&a).expect("a wrote");
    let b_first = first(&b).expect("b wrote");
    assert!(a_last.ended < b_first.started);
    assert!(sim.refused_log().is_empty(), "{:?}", sim.refused_log());
    eprintln!(
        "failover after a kill: {:?} from the kill to the standby's first write",
        b_first.started - killed
    );
}
