//! `plan` and `apply` over the examples against the simulator: the plan the
//! examples should produce, the cloud state they end in, the port move, and
//! a second apply that finds nothing to do.

use secgroup_test_support::cli_harness;

use std::collections::{BTreeMap, BTreeSet};

use cli_harness::{example, example_sim, run_sim, write_calls};
use secgroup_controller::cli::Exit;
use secgroup_controller::sim::SimHandle;
use serde_json::Value;

const HW_BASTION: &str = "8e2f4a6c-1b3d-4e5f-a7b9-c1d3e5f7a902";
const HW_LEGACY_DB: &str = "b7d9f1a3-5c6e-4a8b-9d0f-e2a4c6e8a003";
const HW_DEFAULT: &str = "3c5e8b1a-7d24-4f6a-9b0e-2a1c4d6e8f01";
const BD_BASTION: &str = "g-ops8h3n5r1vx";
const BD_LEGACY_DB: &str = "g-ldb2c6j8p4sw";
const BD_DEFAULT: &str = "g-dflt4e7k2m9q";

fn hw_port(n: u32) -> String {
    format!("5d3f9c2a-0b6e-4f1a-9c7d-2e8b4a6c10{n:02}")
}

/// Baidu instance ids of the example, in sim-state order (web-1 first).
fn bd_instances(sim: &SimHandle) -> Vec<String> {
    sim.snapshot()
        .baidu
        .instances
        .iter()
        .map(|i| i.id.clone())
        .collect()
}

fn hw_group_id(sim: &SimHandle, name: &str) -> String {
    let found: Vec<String> = sim
        .snapshot()
        .huawei
        .security_groups
        .iter()
        .filter(|g| g.name == name)
        .map(|g| g.id.clone())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one Huawei group named {name}: {found:?}"
    );
    found[0].clone()
}

fn bd_group_id(sim: &SimHandle, name: &str) -> String {
    let found: Vec<String> = sim
        .snapshot()
        .baidu
        .security_groups
        .iter()
        .filter(|g| g.name == name)
        .map(|g| g.id.clone())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one Baidu group named {name}: {found:?}"
    );
    found[0].clone()
}

async fn plan_json(dir: &str, sim: &SimHandle) -> Value {
    let r = run_sim(
        &["plan", "-f", &example(dir), "--cloud", "sim", "-o", "json"],
        sim,
    )
    .await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    serde_json::from_str(&r.out).unwrap_or_else(|e| panic!("{e}: {}", r.out))
}

fn steps(plan: &Value) -> Vec<Value> {
    assert_eq!(plan["accounts"].as_array().map(Vec::len), Some(1));
    plan["accounts"][0]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn count(steps: &[Value], kind: &str) -> usize {
    steps.iter().filter(|s| s["kind"] == kind).count()
}

/// Port counts of the attachPorts steps whose target is the new group `name`.
fn attach_sizes(steps: &[Value], target: &str) -> Vec<usize> {
    let mut sizes: Vec<usize> = steps
        .iter()
        .filter(|s| s["kind"] == "attachPorts" && s["target"] == target)
        .map(|s| s["operation"]["ports"].as_array().map_or(0, Vec::len))
        .collect();
    sizes.sort();
    sizes
}

#[tokio::test]
async fn huawei_plan_shows_the_expected_operations_and_writes_nothing() {
    let sim = example_sim().await;
    let plan = plan_json("huawei", &sim).await;
    assert_eq!(plan["changesPending"], true);
    let steps = steps(&plan);
    assert_eq!(count(&steps, "createGroup"), 2, "web and app: {steps:#?}");
    // 45 ports join `app` in ceil(45/20) = 3 batch calls.
    assert_eq!(attach_sizes(&steps, "<new app>"), [5, 20, 20]);
    // The stale rule of the adopted db group, revoked after its replacement.
    assert_eq!(count(&steps, "deleteRule"), 1);
    let first_delete = steps.iter().position(|s| s["kind"] == "deleteRule");
    let last_create_rules = steps.iter().rposition(|s| s["kind"] == "createRules");
    assert!(last_create_rules < first_delete, "make before break");
    // Nothing written by a plan.
    assert!(write_calls(&sim).is_empty(), "{:?}", write_calls(&sim));
    assert!(sim.snapshot().huawei.security_groups.len() == 3);

    // The table says the same, with batches and rules spelled out.
    let r = run_sim(&["plan", "-f", &example("huawei"), "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    assert!(
        r.out.contains(
            "CloudAccount default/huawei-prod (huawei cn-north-4, simulator http://127.0.0.1:"
        ),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains("credentials from Secret default/huawei-credentials"),
        "{}",
        r.out
    );
    assert_eq!(r.out.matches("+ 20 ports:").count(), 2, "{}", r.out);
    assert_eq!(r.out.matches("+ 5 ports:").count(), 1, "{}", r.out);
    assert!(
        r.out.contains("+ ingress IPv4 tcp 80,443 from 0.0.0.0/0"),
        "{}",
        r.out
    );
    assert!(
        r.out.contains("- ingress IPv4 tcp 5432 from 10.0.0.0/8"),
        "{}",
        r.out
    );
    assert!(r.out.contains("  Plan: "), "{}", r.out);
}

#[tokio::test]
async fn huawei_apply_converges_to_the_manifests() {
    let sim = example_sim().await;
    let r = run_sim(&["apply", "-f", &example("huawei"), "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    assert!(
        r.out
            .contains("Verified: a fresh read of the cloud plans no further changes."),
        "{}",
        r.out
    );
    let total = r
        .out
        .lines()
        .filter(|l| l.starts_with('[') && l.contains(" ok ("))
        .count();
    assert!(
        r.out
            .contains(&format!("{total} of {total} operations succeeded")),
        "{}",
        r.out
    );
    assert!(r.out.contains("attachPorts"), "{}", r.out);

    let web = hw_group_id(&sim, "web");
    let app = hw_group_id(&sim, "app");
    // Port-centric: exactly [web, bastion], in that order; `default` gone.
    for n in 1..=3 {
        assert_eq!(
            sim.huawei_port_groups(&hw_port(n)),
            Some(vec![web.clone(), HW_BASTION.to_string()]),
            "port {n}"
        );
    }
    // Additive: the 45 fleet ports are in `app` and keep `default`.
    for n in 4..=48 {
        let groups = sim.huawei_port_groups(&hw_port(n)).unwrap();
        assert!(groups.contains(&app), "port {n}: {groups:?}");
        assert!(
            groups.contains(&HW_DEFAULT.to_string()),
            "port {n}: {groups:?}"
        );
    }
    // Exclusive: legacy-db holds exactly ports 49 and 50 (48 was removed).
    let db_members: BTreeSet<String> = (1..=50)
        .map(hw_port)
        .filter(|p| {
            sim.huawei_port_groups(p)
                .is_some_and(|g| g.contains(&HW_LEGACY_DB.to_string()))
        })
        .collect();
    assert_eq!(db_members, BTreeSet::from([hw_port(49), hw_port(50)]));
    // Authoritative rules: the stale one is gone, 5432 comes from app.
    let rules = sim.huawei_group_rules(HW_LEGACY_DB).unwrap();
    assert!(
        !rules
            .iter()
            .any(|r| r.remote_ip_prefix.as_deref() == Some("10.0.0.0/8"))
    );
    assert!(
        rules
            .iter()
            .any(|r| r.remote_group_id.as_deref() == Some(app.as_str())
                && r.multiport.as_deref() == Some("5432"))
    );
    assert_eq!(rules.len(), 3, "{rules:#?}");
    // app's rules reference web by its new id.
    let app_rules = sim.huawei_group_rules(&app).unwrap();
    assert!(
        app_rules
            .iter()
            .any(|r| r.remote_group_id.as_deref() == Some(web.as_str()))
    );
    // Never a port without a group on the way.
    assert!(sim.refused_log().is_empty(), "{:?}", sim.refused_log());
    let calls = write_calls(&sim);
    assert_eq!(
        calls.get("huawei.createSecurityGroup"),
        Some(&2),
        "{calls:?}"
    );

    // A second apply finds nothing to do and writes nothing.
    sim.reset_logs();
    let again = run_sim(&["apply", "-f", &example("huawei"), "--cloud", "sim"], &sim).await;
    assert_eq!(again.exit, Exit::Success, "{}", again.all());
    assert!(again.out.contains("No changes"), "{}", again.out);
    assert!(
        again.out.contains("found by its owner tag"),
        "{}",
        again.out
    );
    assert!(write_calls(&sim).is_empty(), "{:?}", write_calls(&sim));
}

#[tokio::test]
async fn huawei_port_moves_from_web_to_app_joining_first() {
    let sim = example_sim().await;
    let first = run_sim(&["apply", "-f", &example("huawei"), "--cloud", "sim"], &sim).await;
    assert_eq!(first.exit, Exit::Success, "{}", first.all());
    let web = hw_group_id(&sim, "web");
    let app = hw_group_id(&sim, "app");
    let port3 = hw_port(3);

    let plan = plan_json("huawei-move", &sim).await;
    let steps = steps(&plan);
    let touches_port3 = |s: &&Value| {
        s["target"] == port3.as_str()
            || s["operation"]["ports"]
                .as_array()
                .is_some_and(|p| p.iter().any(|x| x == port3.as_str()))
    };
    let moves: Vec<&Value> = steps.iter().filter(touches_port3).collect();
    assert_eq!(moves.len(), 2, "one add, one remove: {steps:#?}");
    assert!(
        ["addPortGroups", "attachPorts"].contains(&moves[0]["kind"].as_str().unwrap()),
        "{moves:#?}"
    );
    assert!(
        ["removePortGroups", "detachPorts"].contains(&moves[1]["kind"].as_str().unwrap()),
        "{moves:#?}"
    );
    assert_eq!(steps.len(), 2, "nothing else changes: {steps:#?}");

    let r = run_sim(
        &["apply", "-f", &example("huawei-move"), "--cloud", "sim"],
        &sim,
    )
    .await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    assert_eq!(
        sim.huawei_port_groups(&port3),
        Some(vec![app.clone(), HW_BASTION.to_string()])
    );
    assert_eq!(
        sim.huawei_port_groups(&hw_port(2)),
        Some(vec![web, HW_BASTION.to_string()])
    );
    assert!(sim.refused_log().is_empty());
}

#[tokio::test]
async fn baidu_plan_apply_and_move() {
    let sim = example_sim().await;
    let inst = bd_instances(&sim);
    let plan = plan_json("baidu", &sim).await;
    let steps = steps(&plan);
    assert_eq!(count(&steps, "createGroup"), 2, "{steps:#?}");
    assert_eq!(attach_sizes(&steps, "<new app>"), [5, 20, 20]);
    assert_eq!(count(&steps, "deleteRule"), 1);
    assert!(write_calls(&sim).is_empty());

    let r = run_sim(&["apply", "-f", &example("baidu"), "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    assert!(r.out.contains("Verified"), "{}", r.out);
    let web = bd_group_id(&sim, "web");
    let app = bd_group_id(&sim, "app");
    let set = |v: Option<Vec<String>>| v.unwrap_or_default().into_iter().collect::<BTreeSet<_>>();
    for i in &inst[0..3] {
        assert_eq!(
            set(sim.baidu_instance_groups(i)),
            BTreeSet::from([web.clone(), BD_BASTION.to_string()]),
            "{i}"
        );
    }
    for i in &inst[3..48] {
        let g = set(sim.baidu_instance_groups(i));
        assert!(g.contains(&app) && g.contains(BD_DEFAULT), "{i}: {g:?}");
    }
    let db: BTreeSet<&String> = inst
        .iter()
        .filter(|i| set(sim.baidu_instance_groups(i)).contains(BD_LEGACY_DB))
        .collect();
    assert_eq!(db, BTreeSet::from([&inst[48], &inst[49]]));
    let rules = sim.baidu_group_rules(BD_LEGACY_DB).unwrap();
    assert!(
        !rules.iter().any(|r| r.source_ip == "192.168.0.0/16"),
        "{rules:#?}"
    );
    assert!(
        rules
            .iter()
            .any(|r| r.source_group_id == app && r.port_range == "3306")
    );
    assert!(sim.refused_log().is_empty());

    let r = run_sim(
        &["apply", "-f", &example("baidu-move"), "--cloud", "sim"],
        &sim,
    )
    .await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    assert_eq!(
        set(sim.baidu_instance_groups(&inst[2])),
        BTreeSet::from([app, BD_BASTION.to_string()])
    );
    assert!(sim.refused_log().is_empty());
}

#[tokio::test]
async fn both_clouds_in_one_run_in_two_namespaces() {
    // The two example sets use the same object names; put Baidu's in its
    // own namespace, as two teams would.
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(cli_harness::examples().join("baidu")).unwrap() {
        let p = entry.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap().replace(
            "metadata:\n  name:",
            "metadata:\n  namespace: team-b\n  name:",
        );
        std::fs::write(dir.path().join(p.file_name().unwrap()), text).unwrap();
    }
    let sim = example_sim().await;
    let baidu = dir.path().display().to_string();
    let r = run_sim(
        &[
            "apply",
            "-f",
            &example("huawei"),
            "-f",
            &baidu,
            "--cloud",
            "sim",
            "-o",
            "json",
        ],
        &sim,
    )
    .await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    let doc: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(doc["success"], true);
    let names: BTreeMap<String, bool> = doc["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                format!(
                    "{}/{}",
                    a["account"]["namespace"].as_str().unwrap(),
                    a["account"]["name"].as_str().unwrap()
                ),
                a["converged"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        BTreeMap::from([
            ("default/huawei-prod".to_string(), true),
            ("team-b/baidu-prod".to_string(), true)
        ])
    );
    // Progress went to stderr so stdout stays one JSON document.
    assert!(r.err.contains("attachPorts"), "{}", r.err);
    for account in doc["accounts"].as_array().unwrap() {
        let results = account["results"].as_array().unwrap();
        assert!(!results.is_empty() && results.iter().all(|x| x["status"] == "ok"));
    }
}

/// A changed rule of a Baidu group is one `updateSecurityGroupRule` call:
/// no authorize and revoke, no moment with both rules or neither.
#[tokio::test]
async fn baidu_rule_edit_is_one_update_in_place() {
    let sim = example_sim().await;
    let r = run_sim(&["apply", "-f", &example("baidu"), "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    let web = bd_group_id(&sim, "web");
    let before = write_calls(&sim);

    // The https rule moves to 8443 and gets another remark.
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(example("baidu")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap();
        let text = if name == "security-groups.yaml" {
            let edited = text.replacen(
                "      ports: \"443\"\n      remoteIpPrefix: 0.0.0.0/0\n      description: https\n",
                "      ports: \"8443\"\n      remoteIpPrefix: 0.0.0.0/0\n      description: https-alt\n",
                1,
            );
            assert_ne!(edited, text, "the example's https rule");
            edited
        } else {
            text
        };
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let edited = dir.path().to_str().unwrap();
    let r = run_sim(
        &["plan", "-f", edited, "--cloud", "sim", "-o", "json"],
        &sim,
    )
    .await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    let plan: Value = serde_json::from_str(&r.out).unwrap();
    let steps = steps(&plan);
    assert_eq!(steps.len(), 1, "{steps:#?}");
    assert_eq!(steps[0]["kind"], "updateRule");
    assert_eq!(steps[0]["target"], web.as_str());
    assert_eq!(steps[0]["operation"]["to"]["description"], "https-alt");

    let r = run_sim(&["apply", "-f", edited, "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    assert!(r.out.contains("Verified"), "{}", r.out);
    let mut after = write_calls(&sim);
    for (op, n) in &before {
        if let Some(m) = after.get_mut(op) {
            *m -= n;
        }
    }
    after.retain(|_, n| *n > 0);
    assert_eq!(
        after,
        BTreeMap::from([("baidu.updateRule".to_string(), 1)]),
        "one call"
    );
    let rules = sim.baidu_group_rules(&web).unwrap_or_default();
    assert!(
        rules
            .iter()
            .any(|r| r.port_range == "8443" && r.remark == "https-alt"),
        "{rules:#?}"
    );
    assert!(!rules.iter().any(|r| r.port_range == "443"), "{rules:#?}");
}
