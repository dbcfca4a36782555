//! The embedded simulator's local state file, usage errors, credentials
//! and missing ports under `--cloud sim`, and the `-o json` document
//! checked against `docs/cli-output.schema.json` for plan, apply and error
//! runs.

use std::collections::BTreeMap;
use std::path::Path;

use secgroup_controller::cli::Exit;
use secgroup_test_support::cli_harness::{example, example_sim, run, run_sim, write_calls};
use secgroup_test_support::json_schema::assert_cli_output;
use serde_json::Value;

fn d(p: &Path) -> String {
    p.display().to_string()
}

fn json(out: &str) -> Value {
    let doc: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_cli_output(&doc);
    doc
}

/// A copy of `examples/DIR` with `from` replaced by `to` in `file`.
fn edited(dir: &str, file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(example(dir)).unwrap() {
        let entry = entry.unwrap();
        let mut text = std::fs::read_to_string(entry.path()).unwrap();
        if entry.file_name() == file {
            assert!(text.contains(from), "{file} has {from:?}");
            text = text.replace(from, to);
        }
        std::fs::write(tmp.path().join(entry.file_name()), text).unwrap();
    }
    tmp
}

/// The README's story: apply, plan again (no changes, exit 0 with
/// `--detailed-exitcode`), then the move example does exactly the port
/// move, joining the new group before leaving the old; `--sim-reset`
/// starts over from the seed.
#[tokio::test]
async fn the_local_state_file_carries_applied_changes_to_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let state = d(&dir.path().join("sim/state.json"));
    let env = BTreeMap::new();
    let huawei = example("huawei");
    let first = run(
        &[
            "apply",
            "-f",
            &huawei,
            "--cloud",
            "sim",
            "--sim-state",
            &state,
            "-o",
            "json",
        ],
        &env,
        None,
    )
    .await;
    assert_eq!(first.exit, Exit::Success, "{}", first.all());
    let doc = json(&first.out);
    assert_eq!(doc["kind"], "ApplyResult");
    assert_eq!(doc["accounts"][0]["converged"], true);
    assert!(Path::new(&state).exists(), "apply saved the state");

    let again = run(
        &[
            "plan",
            "-f",
            &huawei,
            "--sim-state",
            &state,
            "--detailed-exitcode",
        ],
        &env,
        None,
    )
    .await;
    assert_eq!(again.exit, Exit::Success, "{}", again.all());
    assert!(again.out.contains("No changes"), "{}", again.out);

    let moved = run(
        &[
            "apply",
            "-f",
            &example("huawei-move"),
            "--sim-state",
            &state,
            "-o",
            "json",
        ],
        &env,
        None,
    )
    .await;
    assert_eq!(moved.exit, Exit::Success, "{}", moved.all());
    let doc = json(&moved.out);
    let kinds: Vec<&str> = doc["accounts"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["addPortGroups", "detachPorts"], "{doc:#}");

    let plan_reset = run(
        &[
            "plan",
            "-f",
            &huawei,
            "--sim-state",
            &state,
            "--sim-reset",
            "--detailed-exitcode",
        ],
        &env,
        None,
    )
    .await;
    assert_eq!(plan_reset.exit, Exit::Changes, "{}", plan_reset.all());
    // A plan does not write the state: still the moved one.
    let after = run(
        &[
            "plan",
            "-f",
            &example("huawei-move"),
            "--sim-state",
            &state,
            "--detailed-exitcode",
        ],
        &env,
        None,
    )
    .await;
    assert_eq!(after.exit, Exit::Success, "{}", after.all());
}

/// A mistyped flag exits 1, never 2 (which `--detailed-exitcode` uses for
/// changes pending); `--help` still exits 0.
#[test]
fn usage_errors_exit_1() {
    let bin = env!("CARGO_BIN_EXE_secgroup-controller");
    let typo = std::process::Command::new(bin)
        .args([
            "plan",
            "-f",
            "examples/huawei",
            "--clod",
            "sim",
            "--detailed-exitcode",
        ])
        .output()
        .unwrap();
    assert_eq!(typo.status.code(), Some(1), "{typo:?}");
    assert!(String::from_utf8_lossy(&typo.stderr).contains("--clod"));
    let help = std::process::Command::new(bin)
        .args(["plan", "--help"])
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0), "{help:?}");
}

/// `--cloud sim` finds keys exactly as the real path does: a Secret name
/// that is not among the manifests (and no environment keys) is an error
/// naming the object and field, before any call.
#[tokio::test]
async fn a_misspelled_credentials_secret_fails_under_the_simulator_too() {
    let dir = edited(
        "huawei",
        "account.yaml",
        "credentialsSecretRef:\n    name: huawei-credentials",
        "credentialsSecretRef:\n    name: huawei-credentals",
    );
    let sim = example_sim().await;
    let r = run_sim(
        &["plan", "-f", &d(dir.path()), "--cloud", "sim", "-o", "json"],
        &sim,
    )
    .await;
    assert_eq!(r.exit, Exit::Error, "{}", r.all());
    assert!(
        r.err.contains("CloudAccount default/huawei-prod")
            && r.err.contains("spec.credentialsSecretRef.name")
            && r.err.contains("huawei-credentals"),
        "{}",
        r.err
    );
    let doc = json(&r.out);
    assert_eq!(doc["success"], false);
    assert_eq!(
        doc["errors"][0]["object"],
        "CloudAccount default/huawei-prod"
    );
    assert_eq!(doc["errors"][0]["field"], "spec.credentialsSecretRef.name");
    assert!(sim.call_counts().is_empty(), "{:?}", sim.call_counts());
    sim.shutdown().await;
}

/// A port or instance the cloud does not have fails the run before any
/// write, naming the object, the field and the id.
#[tokio::test]
async fn a_port_or_instance_missing_from_the_cloud_fails_before_any_write() {
    const GHOST: &str = "5d3f9c2a-0b6e-4f1a-9c7d-2e8b4a6c9999";
    let dir = edited(
        "huawei",
        "port-security-groups.yaml",
        "portId: 5d3f9c2a-0b6e-4f1a-9c7d-2e8b4a6c1002",
        &format!("portId: {GHOST}"),
    );
    let sim = example_sim().await;
    for cmd in ["plan", "apply"] {
        let r = run_sim(
            &[cmd, "-f", &d(dir.path()), "--cloud", "sim", "-o", "json"],
            &sim,
        )
        .await;
        assert_eq!(r.exit, Exit::Error, "{cmd}: {}", r.all());
        let doc = json(&r.out);
        let e = &doc["errors"][0];
        assert_eq!(e["object"], "PortSecurityGroups default/web-2", "{doc:#}");
        assert_eq!(e["field"], "spec.portId");
        assert!(e["message"].as_str().unwrap().contains(GHOST), "{e}");
        assert!(
            e["file"]
                .as_str()
                .unwrap()
                .ends_with("port-security-groups.yaml")
        );
        assert!(
            r.err.contains(GHOST) && !r.all().contains("Verified"),
            "{}",
            r.all()
        );
    }
    assert_eq!(write_calls(&sim), BTreeMap::new());
    sim.shutdown().await;

    // Baidu: an instance a membership lists.
    let ghost = "i-ghost0001";
    let dir = edited(
        "baidu",
        "memberships.yaml",
        "ports:\n",
        &format!("ports:\n    - {ghost}\n"),
    );
    let sim = example_sim().await;
    let r = run_sim(&["apply", "-f", &d(dir.path()), "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Error, "{}", r.all());
    assert!(
        r.err
            .contains(&format!("instance \"{ghost}\" does not exist")),
        "{}",
        r.err
    );
    assert!(r.err.contains("spec.ports"), "{}", r.err);
    assert_eq!(write_calls(&sim), BTreeMap::new());
    sim.shutdown().await;
}

/// Validation failures print the document too, with every error.
#[tokio::test]
async fn a_validation_failure_prints_a_json_document() {
    let dir = edited(
        "huawei",
        "security-groups.yaml",
        "10.0.0.0/8",
        "10.0.0.300/8",
    );
    let sim = example_sim().await;
    for cmd in ["plan", "apply"] {
        let r = run_sim(
            &[cmd, "-f", &d(dir.path()), "--cloud", "sim", "-o", "json"],
            &sim,
        )
        .await;
        assert_eq!(r.exit, Exit::Error, "{}", r.all());
        let doc = json(&r.out);
        assert_eq!(doc["apiVersion"], "cli.secgroup.io/v1");
        assert_eq!(doc["accounts"], serde_json::json!([]));
        let e = &doc["errors"][0];
        assert!(
            e["field"].as_str().unwrap().starts_with("spec.rules["),
            "{e}"
        );
        assert!(
            e["message"].as_str().unwrap().contains("10.0.0.300/8"),
            "{e}"
        );
        assert_eq!(e["document"].as_u64().map(|n| n >= 1), Some(true), "{e}");
    }
    assert!(sim.call_counts().is_empty());
    sim.shutdown().await;
}

/// Plan documents of both clouds follow the schema, Baidu included.
#[tokio::test]
async fn plan_documents_follow_the_schema() {
    let sim = example_sim().await;
    for dir in ["huawei", "baidu", "huawei-move", "baidu-move"] {
        let r = run_sim(
            &["plan", "-f", &example(dir), "--cloud", "sim", "-o", "json"],
            &sim,
        )
        .await;
        assert_eq!(r.exit, Exit::Success, "{dir}: {}", r.all());
        let doc = json(&r.out);
        assert_eq!(doc["kind"], "PlanResult");
        assert_eq!(doc["changesPending"], true);
    }
    sim.shutdown().await;
}
