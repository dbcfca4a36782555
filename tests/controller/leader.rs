//! Leader election against the API emulator: one holder at a time,
//! takeover of an expired Lease, release on shutdown.

use secgroup_test_support::emulator;

use std::time::Duration;

use emulator::Emulator;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams};
use secgroup_controller::controller::testing::LeaderElector;
use serde_json::json;

fn elector(emu: &Emulator, id: &str) -> LeaderElector {
    LeaderElector::new(
        emu.client(),
        "ops",
        "secgroup-controller",
        id,
        Duration::from_secs(15),
    )
}

async fn holder(emu: &Emulator) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(emu.client(), "ops");
    api.get("secgroup-controller")
        .await
        .unwrap()
        .spec
        .and_then(|s| s.holder_identity)
}

#[tokio::test]
async fn one_leader_at_a_time_and_release_hands_over() {
    let emu = Emulator::start().await;
    let a = elector(&emu, "replica-a");
    let b = elector(&emu, "replica-b");

    assert!(
        a.try_acquire_or_renew().await.unwrap(),
        "first comes, first leads"
    );
    assert!(
        !b.try_acquire_or_renew().await.unwrap(),
        "valid lease held by a"
    );
    assert!(a.try_acquire_or_renew().await.unwrap(), "a renews");
    assert_eq!(holder(&emu).await.as_deref(), Some("replica-a"));

    // b releasing does nothing: it does not hold the lease.
    b.release().await.unwrap();
    assert_eq!(holder(&emu).await.as_deref(), Some("replica-a"));

    a.release().await.unwrap();
    assert_eq!(holder(&emu).await, None);
    assert!(
        b.try_acquire_or_renew().await.unwrap(),
        "released lease is free"
    );
    assert!(!a.try_acquire_or_renew().await.unwrap());
    let api: Api<Lease> = Api::namespaced(emu.client(), "ops");
    let lease = api.get("secgroup-controller").await.unwrap();
    assert_eq!(lease.spec.unwrap().lease_transitions, Some(1));
}

#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let emu = Emulator::start().await;
    let a = elector(&emu, "replica-a");
    let b = elector(&emu, "replica-b");
    assert!(a.try_acquire_or_renew().await.unwrap());

    // a stopped renewing a minute ago.
    let api: Api<Lease> = Api::namespaced(emu.client(), "ops");
    let stale = json!({"spec": {"renewTime": "2020-01-01T00:00:00.000000Z"}});
    api.patch(
        "secgroup-controller",
        &PatchParams::default(),
        &Patch::Merge(&stale),
    )
    .await
    .unwrap();

    assert!(
        b.try_acquire_or_renew().await.unwrap(),
        "expired: b takes over"
    );
    assert_eq!(holder(&emu).await.as_deref(), Some("replica-b"));
    assert!(!a.try_acquire_or_renew().await.unwrap(), "a sees it lost");
}

#[tokio::test]
async fn racing_replicas_cannot_both_win() {
    let emu = Emulator::start().await;
    let electors: Vec<LeaderElector> = (0..6)
        .map(|i| elector(&emu, &format!("replica-{i}")))
        .collect();
    let results =
        futures::future::join_all(electors.iter().map(|e| e.try_acquire_or_renew())).await;
    let winners: Vec<usize> = results
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| r.unwrap().then_some(i))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one winner: {winners:?}");
    assert_eq!(holder(&emu).await, Some(format!("replica-{}", winners[0])));
}
