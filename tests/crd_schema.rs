//! The committed CRD YAML matches the code, and objects are checked against
//! the generated schemas (CEL rules included).

use secgroup_controller::crd;

const COMMITTED: &str = "crds/secgroup.io.yaml";

/// Fails when `crds/secgroup.io.yaml` differs from what the code generates.
/// Regenerate with `cargo run -- crdgen > crds/secgroup.io.yaml`, or
/// `UPDATE_CRDS=1 cargo test --test crd_schema`.
#[test]
fn committed_crds_match_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    let generated = crd::crds_yaml();
    if std::env::var_os("UPDATE_CRDS").is_some() {
        std::fs::write(&path, &generated).expect("write crds/secgroup.io.yaml");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{COMMITTED} is out of date with the code; regenerate it with \
         `cargo run -- crdgen > {COMMITTED}` (or `UPDATE_CRDS=1 cargo test --test crd_schema`) \
         and commit the result"
    );
}
