//! The end-to-end scenarios against a real Kubernetes cluster (the current
//! kubeconfig): each test makes its own namespace, applies the CRDs,
//! runs the controller in-process with an in-memory cloud, and deletes the
//! namespace at the end. Ignored by default; compiled in CI.
//!
//! Run: `cargo test --test e2e cluster -- --ignored --test-threads=1`

use secgroup_test_support::emulator;

use emulator::harness::{self, Backend};

#[tokio::test]
#[ignore = "needs a real Kubernetes cluster: a kubeconfig with rights to create CRDs and namespaces"]
async fn lifecycle_create_drift_and_cleanup() {
    harness::lifecycle_create_drift_and_cleanup(Backend::Cluster).await;
}

#[tokio::test]
#[ignore = "needs a real Kubernetes cluster: a kubeconfig with rights to create CRDs and namespaces"]
async fn conflict_is_reported_on_both_objects_without_flapping() {
    harness::conflict_is_reported_on_both_objects_without_flapping(Backend::Cluster).await;
}

#[tokio::test]
#[ignore = "needs a real Kubernetes cluster: a kubeconfig with rights to create CRDs and namespaces"]
async fn blast_radius_guard_blocks_until_the_object_allows_it() {
    harness::blast_radius_guard_blocks_until_the_object_allows_it(Backend::Cluster).await;
}

#[tokio::test]
#[ignore = "needs a real Kubernetes cluster: a kubeconfig with rights to create CRDs and namespaces"]
async fn many_objects_share_account_cycles() {
    harness::many_objects_share_account_cycles(Backend::Cluster).await;
}
