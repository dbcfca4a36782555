//! The whole controller loop against the in-process API emulator and an
//! in-memory cloud: apply objects, wait for Ready, check the cloud, repair
//! drift, clean up on delete, report a conflict without flapping, hold a
//! mass change until allowed. Scenarios: `crates/test-support/src/emulator/harness.rs`.

use secgroup_test_support::emulator;

use emulator::harness::{self, Backend};

#[tokio::test]
async fn lifecycle_create_drift_and_cleanup() {
    harness::lifecycle_create_drift_and_cleanup(Backend::Emulator).await;
}

#[tokio::test]
async fn conflict_is_reported_on_both_objects_without_flapping() {
    harness::conflict_is_reported_on_both_objects_without_flapping(Backend::Emulator).await;
}

#[tokio::test]
async fn blast_radius_guard_blocks_until_the_object_allows_it() {
    harness::blast_radius_guard_blocks_until_the_object_allows_it(Backend::Emulator).await;
}

#[tokio::test]
async fn many_objects_share_account_cycles() {
    harness::many_objects_share_account_cycles(Backend::Emulator).await;
}

#[tokio::test]
async fn a_refused_finalizer_keeps_objects_out_of_the_cloud() {
    harness::a_refused_finalizer_keeps_objects_out_of_the_cloud().await;
}

#[tokio::test]
async fn drift_is_found_at_the_resync_while_changes_read_only_what_they_touch() {
    harness::drift_is_found_at_the_resync_while_changes_read_only_what_they_touch(
        Backend::Emulator,
    )
    .await;
}
