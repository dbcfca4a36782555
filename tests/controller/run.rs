//! `run` as a process would run it, twice against one API emulator: only
//! the Lease holder leads (both are ready), a standby takes over when the
//! leader shuts down, and a leader that loses its Lease stops.

use secgroup_test_support::emulator;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use emulator::Emulator;
use emulator::fake_cloud::{FakeCloud, FakeFactory};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use secgroup_controller::controller::testing::run_with_providers;
use secgroup_controller::controller::{Error, RunArgs};

const DEADLINE: Duration = Duration::from_secs(30);

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

/// A free loopback port (bound and released; the tiny race is acceptable
/// for a test that needs to know the address in advance).
fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

struct Replica {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), Error>>,
}

fn replica(emu: &Emulator, identity: &str) -> Replica {
    let addr = free_addr();
    let args = Cli::parse_from([
        "test",
        "--identity",
        identity,
        "--lease-namespace",
        "ops",
        "--lease-renew-period",
        "100ms",
        "--metrics-addr",
        &addr.to_string(),
    ])
    .run;
    let providers = Arc::new(FakeFactory {
        cloud: FakeCloud::new(),
        access_key: "unused".into(),
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run_with_providers(args, emu.client(), providers, async {
        let _ = rx.await;
    }));
    Replica {
        addr,
        stop: Some(tx),
        task,
    }
}

async fn status_of(addr: SocketAddr, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.ok()?;
    buf.get(9..12)?.parse().ok()
}

async fn holder(emu: &Emulator) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(emu.client(), "ops");
    api.get_opt("secgroup-controller")
        .await
        .unwrap()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    while !check().await {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_standby_is_ready_but_does_not_lead_and_takes_over() {
    let emu = Emulator::start().await;
    let mut a = replica(&emu, "replica-a");
    eventually("a leads", || async {
        holder(&emu).await.as_deref() == Some("replica-a")
    })
    .await;
    eventually("a ready", || async {
        status_of(a.addr, "/readyz").await == Some(200)
    })
    .await;

    let b = replica(&emu, "replica-b");
    eventually("b serves health", || async {
        status_of(b.addr, "/healthz").await == Some(200)
    })
    .await;
    // Ready (so rolling updates finish) but not leading.
    assert_eq!(status_of(b.addr, "/readyz").await, Some(200), "standby");
    let metrics_up = || async {
        let Ok(mut s) = tokio::net::TcpStream::connect(b.addr).await else {
            return false;
        };
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = s
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf).await;
        buf.contains("secgroup_leader 0")
    };
    eventually("b reports it does not lead", metrics_up).await;

    // a shuts down: it releases the Lease, b takes over at once.
    let _ = a.stop.take().unwrap().send(());
    tokio::time::timeout(DEADLINE, &mut a.task)
        .await
        .expect("a stops")
        .unwrap()
        .unwrap();
    eventually("b leads", || async {
        holder(&emu).await.as_deref() == Some("replica-b")
    })
    .await;
    eventually("b ready", || async {
        status_of(b.addr, "/readyz").await == Some(200)
    })
    .await;
}

#[tokio::test]
async fn a_leader_that_loses_its_lease_stops() {
    let emu = Emulator::start().await;
    let a = replica(&emu, "replica-a");
    eventually("a leads", || async {
        holder(&emu).await.as_deref() == Some("replica-a")
    })
    .await;
    // Another replica took the Lease (as after a long pause of a).
    let api: Api<Lease> = Api::namespaced(emu.client(), "ops");
    let now = jiff::Timestamp::now().to_string();
    let steal =
        json!({"spec": {"holderIdentity": "intruder", "renewTime": now, "acquireTime": now}});
    api.patch(
        "secgroup-controller",
        &PatchParams::default(),
        &Patch::Merge(&steal),
    )
    .await
    .unwrap();
    let result = tokio::time::timeout(DEADLINE, a.task)
        .await
        .expect("a stops by itself")
        .unwrap();
    assert!(
        matches!(result, Err(Error::LeadershipLost(ref name)) if name == "secgroup-controller"),
        "{result:?}"
    );
}
