//! The write gate: a client whose gate is closed sends no write, not even
//! the retry of a write already in progress, and still reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use secgroup_test_support::clients;

use clients::*;
use secgroup_controller::cloud::{
    CloudError, CloudProvider, ConnectOptions, Credentials, ErrorKind, NewGroup, OWNER_TAG,
    ProviderSettings, WriteGate, connect_with,
};
use secgroup_controller::model::ProviderKind;
use secgroup_controller::sim::{FailNext, Faults, SimHandle, SimOptions, SimState};

fn state() -> SimState {
    SimState::new()
        .with_account(huawei_account())
        .with_account(baidu_account())
        .with_huawei_group(PROJECT, &uid(1), "one")
        .with_huawei_group(PROJECT, &uid(2), "two")
        .with_huawei_port(PROJECT, &uid(101), &[&uid(1)])
        .with_baidu_group("g-one", "one", "vpc-1")
        .with_baidu_group("g-two", "two", "vpc-1")
        .with_baidu_instance("i-a", &["g-one"])
}

/// The simulator answering the next call of `operation` with a 503.
async fn start_failing_once(operation: &str) -> SimHandle {
    let faults = Faults {
        fail_next: vec![FailNext {
            operation: operation.into(),
            count: 1,
            status: 503,
            code: "ServiceUnavailable".into(),
            message: "busy".into(),
        }],
        ..Faults::default()
    };
    secgroup_controller::sim::start(
        state(),
        SimOptions {
            faults,
            ..SimOptions::default()
        },
    )
    .await
    .expect("the simulator starts")
}

/// A gate open for its first `open_for` questions and closed after (the
/// Lease's renewal deadline passing between two attempts), and how often
/// it was asked.
fn closing_after(open_for: u32) -> (WriteGate, Arc<AtomicU32>) {
    let asked = Arc::new(AtomicU32::new(0));
    let counter = asked.clone();
    let gate: WriteGate = Arc::new(move || counter.fetch_add(1, Ordering::SeqCst) < open_for);
    (gate, asked)
}

fn log(sim: &SimHandle) -> Vec<String> {
    log_lines(sim)
}

#[tokio::test]
async fn huawei_retry_of_a_write_is_not_sent_once_the_gate_closes() {
    let sim = start_failing_once("huawei.batchInstanceAction").await;
    let (gate, asked) = closing_after(1);
    let hw = huawei(&sim).with_write_gate(gate);

    let err = hw.attach_ports(&uid(2), &[uid(101)]).await.unwrap_err();

    assert!(matches!(err, CloudError::Fenced(_)), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Fenced);
    assert_eq!(err.reason(), "Fenced");
    assert_eq!(
        log(&sim),
        ["huawei.batchInstanceAction 503 injected"],
        "the first attempt only"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 2, "asked before each attempt");
    assert_eq!(sim.huawei_port_groups(&uid(101)).unwrap(), [uid(1)]);
    sim.shutdown().await;
}

#[tokio::test]
async fn huawei_retry_of_a_write_is_sent_while_the_gate_stays_open() {
    // The same fault with an open gate: the retry goes and succeeds, so
    // the test above fails without the gate.
    let sim = start_failing_once("huawei.batchInstanceAction").await;
    let (gate, asked) = closing_after(u32::MAX);
    let hw = huawei(&sim).with_write_gate(gate);
    let outcome = hw.attach_ports(&uid(2), &[uid(101)]).await.unwrap();
    assert!(outcome.failed.is_empty());
    assert_eq!(
        log(&sim),
        [
            "huawei.batchInstanceAction 503 injected",
            "huawei.batchInstanceAction 200 ok"
        ]
    );
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert_eq!(sim.huawei_port_groups(&uid(101)).unwrap(), [uid(1), uid(2)]);
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_retry_of_a_write_is_not_sent_once_the_gate_closes() {
    let sim = start_failing_once("baidu.batchBind").await;
    let (gate, _) = closing_after(1);
    let bd = baidu(&sim).with_write_gate(gate);

    let err = bd.attach_ports("g-two", &["i-a".into()]).await.unwrap_err();

    assert!(matches!(err, CloudError::Fenced(_)), "{err:?}");
    assert_eq!(log(&sim), ["baidu.batchBind 503 injected"]);
    assert_eq!(sim.baidu_instance_groups("i-a").unwrap(), ["g-one"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_closed_gate_sends_no_write_and_every_read() {
    let sim = start(state()).await;
    let closed: WriteGate = Arc::new(|| false);
    let connect = |kind, gate: &WriteGate| {
        connect_with(
            &ProviderSettings {
                kind,
                region: String::new(),
                project_id: Some(PROJECT.into()),
                endpoint: Some(sim.url()),
                max_requests_per_second: None,
            },
            match kind {
                ProviderKind::Huawei => Credentials::new(HW_AK, HW_SK),
                ProviderKind::Baidu => Credentials::new(BD_AK, BD_SK),
            },
            http(),
            ConnectOptions {
                retry: None,
                write_gate: Some(gate.clone()),
            },
        )
        .expect("valid settings")
    };
    let hw = connect(ProviderKind::Huawei, &closed);
    let bd = connect(ProviderKind::Baidu, &closed);
    let group = NewGroup {
        name: "new".into(),
        description: String::new(),
        vpc_id: Some("vpc-1".into()),
        tags: vec![(OWNER_TAG.into(), "uid-new".into())],
    };

    // Writes: fenced, whatever their idempotency.
    for err in [
        hw.create_group(&group).await.unwrap_err(),
        hw.add_port_groups(&uid(101), &[uid(2)], None)
            .await
            .unwrap_err(),
        hw.delete_group(&uid(2)).await.unwrap_err(),
        bd.create_group(&group).await.unwrap_err(),
        bd.add_port_groups("i-a", &["g-two".into()], None)
            .await
            .unwrap_err(),
        bd.detach_ports("g-one", &["i-a".into()]).await.unwrap_err(),
    ] {
        assert!(matches!(err, CloudError::Fenced(_)), "{err:?}");
    }
    assert!(log(&sim).is_empty(), "nothing sent: {:?}", log(&sim));

    // Reads, bulk ones included (listByInstanceId is a POST), still go.
    assert_eq!(
        hw.get_port(&uid(101)).await.unwrap().unwrap().groups,
        [uid(1)]
    );
    assert_eq!(hw.get_groups(&[uid(1)]).await.unwrap().len(), 1);
    assert_eq!(bd.get_ports(&["i-a".into()]).await.unwrap().len(), 1);
    assert_eq!(
        bd.ports_in_groups(&["g-one".into()]).await.unwrap().len(),
        1
    );
    assert_eq!(
        sim.read_write_counts(secgroup_controller::sim::Provider::Huawei)
            .1
            + sim
                .read_write_counts(secgroup_controller::sim::Provider::Baidu)
                .1,
        0,
        "no writes"
    );
    sim.shutdown().await;
}
