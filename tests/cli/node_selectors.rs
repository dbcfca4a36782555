//! `plan` with node selectors: `kind: Node` manifests in the input stand
//! for the cluster's Nodes (the CLI reads no cluster); without them a
//! selector matches nothing, and the plan says so.

use secgroup_test_support::cli_harness;

use cli_harness::{example_sim, examples, run_sim};
use secgroup_controller::cli::Exit;

const DEFAULT_GROUP: &str = "3c5e8b1a-7d24-4f6a-9b0e-2a1c4d6e8f01";
const LEGACY_DB: &str = "b7d9f1a3-5c6e-4a8b-9d0f-e2a4c6e8a003";

fn server(n: u32) -> String {
    format!("7d3a1f2c-9b4e-4c6d-8e0f-00000000000{n}")
}

fn port(n: u32) -> String {
    format!("5d3f9c2a-0b6e-4f1a-9c7d-2e8b4a6c100{n}")
}

/// The example account and a membership adding pool `web`'s Nodes to the
/// legacy group, plus `nodes` as manifests.
fn manifests(nodes: &[u32]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        examples().join("huawei/account.yaml"),
        dir.path().join("account.yaml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("membership.yaml"),
        format!(
            "apiVersion: secgroup.io/v1alpha1\nkind: SecurityGroupMembership\n\
             metadata: {{name: web-nodes}}\nspec:\n  accountRef: {{name: huawei-prod}}\n  \
             securityGroupId: {LEGACY_DB}\n  nodeSelector:\n    matchLabels: {{pool: web}}\n"
        ),
    )
    .unwrap();
    let mut text = String::new();
    for n in nodes {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: web-{n}\n  labels: {{pool: web}}\n\
             spec: {{providerID: \"huaweicloud://{}\"}}\n\
             status:\n  addresses: [{{type: InternalIP, address: 10.0.0.1{n}}}]\n",
            server(*n)
        ));
    }
    std::fs::write(dir.path().join("nodes.yaml"), text).unwrap();
    dir
}

/// The example simulator, with ports 1001 and 1002 on servers 1 and 2.
async fn sim() -> secgroup_controller::sim::SimHandle {
    let sim = example_sim().await;
    let mut state = sim.snapshot();
    for n in [1, 2] {
        let p = state
            .huawei
            .ports
            .iter_mut()
            .find(|p| p.id == port(n))
            .expect("an example port");
        p.device_id = server(n);
        assert!(p.security_groups.contains(&DEFAULT_GROUP.to_string()));
    }
    sim.replace_state(state).unwrap();
    sim
}

#[tokio::test]
async fn node_manifests_preview_the_ports_a_selector_stands_for() {
    let sim = sim().await;
    let dir = manifests(&[1, 2, 3]);
    let path = dir.path().display().to_string();
    let r = run_sim(&["plan", "-f", &path, "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    assert!(r.out.contains("attachPorts"), "{}", r.out);
    assert!(
        r.out.contains(&port(1)) && r.out.contains(&port(2)),
        "{}",
        r.out
    );
    // Node 3's server is not in the cloud: said, and nothing planned.
    assert!(
        r.out.contains("Node \"web-3\" changes nothing") && r.out.contains("not found"),
        "{}",
        r.out
    );
}

#[tokio::test]
async fn without_node_manifests_a_selector_matches_nothing_and_says_so() {
    let sim = sim().await;
    let dir = manifests(&[]);
    let path = dir.path().display().to_string();
    let r = run_sim(&["plan", "-f", &path, "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    assert!(
        r.out.contains("nodeSelector matched no Node")
            && r.out.contains("no `kind: Node` manifests"),
        "{}",
        r.out
    );
    assert!(!r.out.contains("attachPorts"), "{}", r.out);

    let json = run_sim(&["plan", "-f", &path, "--cloud", "sim", "-o", "json"], &sim).await;
    let doc: serde_json::Value = serde_json::from_str(&json.out).expect("one JSON document");
    let text = doc.to_string();
    assert!(text.contains("nodeSelector matched no Node"), "{text}");
}
