//! What `plan` and `apply` show and do for objects whose changes are
//! withheld (observe mode, paused), for objects in conflict, and with a
//! simulator the command starts itself (built-in seed or `--sim-state`).

use secgroup_test_support::cli_harness;

use std::collections::BTreeMap;
use std::path::Path;

use cli_harness::{example, example_sim, examples, run, run_sim, write_calls};
use secgroup_controller::cli::{Exit, SIM_STATE};

const HW_LEGACY_DB: &str = "b7d9f1a3-5c6e-4a8b-9d0f-e2a4c6e8a003";

/// A copy of examples/huawei with `edit(file name, text) -> text` applied.
fn variant(edit: impl Fn(&str, String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(examples().join("huawei")).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let text = edit(&name, std::fs::read_to_string(&p).unwrap());
        std::fs::write(dir.path().join(&name), text).unwrap();
    }
    dir
}

fn d(p: &Path) -> String {
    p.display().to_string()
}

/// The `db` group with one annotation.
fn annotate_db(annotation: &str) -> tempfile::TempDir {
    variant(|name, text| {
        if name == "security-groups.yaml" {
            let from = "    # secgroup.io/mode: observe\n";
            assert!(text.contains(from));
            text.replace(from, &format!("    {annotation}\n"))
        } else {
            text
        }
    })
}

#[tokio::test]
async fn observe_mode_plans_but_applies_nothing_for_that_object() {
    let dir = annotate_db("secgroup.io/mode: observe");
    let sim = example_sim().await;
    let rules_before = sim.huawei_group_rules(HW_LEGACY_DB).unwrap();

    let r = run_sim(&["plan", "-f", &d(dir.path()), "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    assert!(
        r.out.contains("Withheld (planned but not applied):"),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains("SecurityGroup/db: observe only (annotation secgroup.io/mode: observe)"),
        "{}",
        r.out
    );

    let r = run_sim(&["apply", "-f", &d(dir.path()), "--cloud", "sim"], &sim).await;
    assert_eq!(
        r.exit,
        Exit::Success,
        "observe mode is not an error: {}",
        r.all()
    );
    assert_eq!(sim.huawei_group_rules(HW_LEGACY_DB).unwrap(), rules_before);
    assert!(r.out.contains("changes are withheld"), "{}", r.out);

    // The cloud still differs from the manifests: CI sees it.
    let r = run_sim(
        &[
            "plan",
            "-f",
            &d(dir.path()),
            "--cloud",
            "sim",
            "--detailed-exitcode",
        ],
        &sim,
    )
    .await;
    assert_eq!(r.exit, Exit::Changes, "{}", r.all());
}

#[tokio::test]
async fn paused_object_is_left_alone() {
    let dir = annotate_db("secgroup.io/paused: \"true\"");
    let sim = example_sim().await;
    let rules_before = sim.huawei_group_rules(HW_LEGACY_DB).unwrap();
    let r = run_sim(&["apply", "-f", &d(dir.path()), "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    assert!(
        r.out
            .contains("SecurityGroup/db: paused (annotation secgroup.io/paused)"),
        "{}",
        r.out
    );
    assert_eq!(sim.huawei_group_rules(HW_LEGACY_DB).unwrap(), rules_before);
}

#[tokio::test]
async fn conflicting_objects_are_reported_and_exit_1() {
    // web-1 says its port holds exactly [web, ops-bastion]; a membership
    // of `app` also lists that port.
    let dir = variant(|name, text| {
        if name == "memberships.yaml" {
            text + "---\napiVersion: secgroup.io/v1alpha1\nkind: SecurityGroupMembership\n\
                     metadata:\n  name: app-extra\nspec:\n  securityGroupRef:\n    name: app\n  \
                     policy: Additive\n  ports:\n    - 5d3f9c2a-0b6e-4f1a-9c7d-2e8b4a6c1001\n"
        } else {
            text
        }
    });
    let sim = example_sim().await;
    let r = run_sim(&["plan", "-f", &d(dir.path()), "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Error, "{}", r.all());
    assert!(
        r.out.contains("Conflicts (neither side is changed):"),
        "{}",
        r.out
    );
    assert!(r.err.contains("error: conflict:"), "{}", r.err);
    assert!(
        r.err.contains("5d3f9c2a-0b6e-4f1a-9c7d-2e8b4a6c1001"),
        "{}",
        r.err
    );
    assert!(write_calls(&sim).is_empty());

    // In the one-shot CLI a conflict is a plan error: apply shows the plan
    // and the conflict, and applies nothing at all (not even the groups
    // and rules nobody disagrees about).
    let r = run_sim(&["apply", "-f", &d(dir.path()), "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Error, "{}", r.all());
    assert!(
        r.err.contains("error: conflict (not applied):"),
        "{}",
        r.err
    );
    assert!(
        r.err
            .contains("Nothing was applied: objects in the manifests contradict each other"),
        "{}",
        r.err
    );
    assert!(
        r.out.contains("createGroup"),
        "the plan is shown: {}",
        r.out
    );
    assert!(!r.out.contains("Applying CloudAccount"), "{}", r.out);
    assert_eq!(write_calls(&sim), BTreeMap::new());

    let r = run_sim(
        &[
            "apply",
            "-f",
            &d(dir.path()),
            "--cloud",
            "sim",
            "-o",
            "json",
        ],
        &sim,
    )
    .await;
    assert_eq!(r.exit, Exit::Error, "{}", r.all());
    let doc: serde_json::Value = serde_json::from_str(&r.out).expect("one JSON document");
    assert_eq!(doc["success"], false);
    assert_eq!(doc["accounts"][0]["results"], serde_json::json!([]));
    assert_eq!(doc["accounts"][0]["converged"], false);
    assert_eq!(write_calls(&sim), BTreeMap::new());
}

#[tokio::test]
async fn the_command_starts_its_own_simulator_from_the_built_in_seed_or_a_file() {
    // No simulator handed in: --cloud sim starts one from the built-in seed.
    let r = run(
        &[
            "plan",
            "-f",
            &example("huawei"),
            "--cloud",
            "sim",
            "-o",
            "json",
        ],
        &BTreeMap::new(),
        None,
    )
    .await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    let plan: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    let kinds = |p: &serde_json::Value| -> Vec<String> {
        p["accounts"][0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{} {}",
                    s["kind"].as_str().unwrap(),
                    s["target"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert!(kinds(&plan).contains(&format!("detachPorts {HW_LEGACY_DB}")));

    // --sim-state: a seed where the stray port is not in legacy-db, so the
    // Exclusive membership has nothing to remove. Implies --cloud sim.
    let dir = tempfile::tempdir().unwrap();
    let seed = SIM_STATE.replace(
        "securityGroups: [3c5e8b1a-7d24-4f6a-9b0e-2a1c4d6e8f01, b7d9f1a3-5c6e-4a8b-9d0f-e2a4c6e8a003]",
        "securityGroups: [3c5e8b1a-7d24-4f6a-9b0e-2a1c4d6e8f01]",
    );
    assert_ne!(seed, SIM_STATE);
    let file = dir.path().join("state.yaml");
    std::fs::write(&file, seed).unwrap();
    let r = run(
        &[
            "plan",
            "-f",
            &example("huawei"),
            "--sim-state",
            &d(&file),
            "-o",
            "json",
        ],
        &BTreeMap::new(),
        None,
    )
    .await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    let plan: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    assert!(
        !kinds(&plan).contains(&format!("detachPorts {HW_LEGACY_DB}")),
        "{:?}",
        kinds(&plan)
    );

    // A broken state file is an error naming it.
    std::fs::write(&file, "accounts: [oops").unwrap();
    let r = run(
        &["plan", "-f", &example("huawei"), "--sim-state", &d(&file)],
        &BTreeMap::new(),
        None,
    )
    .await;
    assert_eq!(r.exit, Exit::Error);
    assert!(
        r.err.contains("--sim-state") && r.err.contains("state.yaml"),
        "{}",
        r.err
    );
}

/// The example adopts `legacy-db` by id. Without `description` (and
/// `name`) in its spec, the plan must not blank the cloud's description:
/// an adopted group's fields the spec leaves out are not managed.
#[tokio::test]
async fn adopting_without_a_description_leaves_the_clouds_one() {
    let dir = variant(|name, text| {
        if name == "security-groups.yaml" {
            let (name_line, desc_line) = (
                "  name: legacy-db\n",
                "  description: PostgreSQL primary and replica\n",
            );
            assert!(text.contains(name_line) && text.contains(desc_line));
            text.replace(name_line, "").replace(desc_line, "")
        } else {
            text
        }
    });
    let sim = example_sim().await;
    let r = run_sim(&["apply", "-f", &d(dir.path()), "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    assert!(!r.out.contains("updateGroup"), "{}", r.out);
    let group = sim.huawei_group(HW_LEGACY_DB).expect("the adopted group");
    assert_eq!(group.name, "legacy-db");
    assert_eq!(group.description, "PostgreSQL primary and replica");
    sim.shutdown().await;
}
