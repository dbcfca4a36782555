//! `SecurityGroupRules` through `plan` and `apply`: rules of several
//! objects share a group's create calls; two objects wanting one rule with
//! different attributes are a conflict that applies nothing.

use secgroup_test_support::cli_harness;

use std::collections::BTreeMap;

use cli_harness::{example_sim, examples, run_sim, write_calls};
use secgroup_controller::cli::Exit;

/// A copy of examples/huawei plus `extra` files.
fn workspace(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(examples().join("huawei")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    for (name, text) in extra {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

const SCRAPE_PRIO_50: &str = "apiVersion: secgroup.io/v1alpha1
kind: SecurityGroupRules
metadata:
  name: other-scraper
spec:
  securityGroupRef:
    name: web
  rules:
    - direction: ingress
      protocol: tcp
      ports: \"9100\"
      remoteIpPrefix: 10.0.0.0/8
      priority: 50
";

#[tokio::test]
async fn the_examples_rules_of_two_objects_share_one_create_call() {
    let sim = example_sim().await;
    let dir = examples().join("huawei").display().to_string();
    let r = run_sim(&["plan", "-f", &dir, "--cloud", "sim", "-o", "json"], &sim).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    let doc: serde_json::Value = serde_json::from_str(&r.out).expect("one JSON document");
    let steps = doc["accounts"][0]["steps"].as_array().expect("steps");
    let web: Vec<&serde_json::Value> = steps
        .iter()
        .filter(|s| s["kind"] == "createRules" && s["target"] == "<new web>")
        .collect();
    assert_eq!(web.len(), 1, "{web:#?}");
    assert_eq!(
        web[0]["owners"],
        serde_json::json!([
            {"kind": "SecurityGroup", "namespace": "default", "name": "web"},
            {"kind": "SecurityGroupRules", "namespace": "default", "name": "web-monitoring"}
        ])
    );
    assert_eq!(
        web[0]["operation"]["rules"].as_array().map(Vec::len),
        Some(7)
    );
}

#[tokio::test]
async fn two_objects_wanting_one_rule_differently_conflict_and_nothing_is_applied() {
    let dir = workspace(&[("other.yaml", SCRAPE_PRIO_50)]);
    let d = dir.path().display().to_string();
    let sim = example_sim().await;
    let r = run_sim(&["apply", "-f", &d, "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Error, "{}", r.all());
    assert!(
        r.out.contains("Conflicts (neither side is changed):"),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains("SecurityGroupRules/web-monitoring: group <new web> rule"),
        "{}",
        r.out
    );
    assert!(
        r.err.contains("error: conflict (not applied):"),
        "{}",
        r.err
    );
    assert!(r.err.contains("prio 50"), "{}", r.err);
    assert_eq!(write_calls(&sim), BTreeMap::new());

    let r = run_sim(&["plan", "-f", &d, "--cloud", "sim", "-o", "json"], &sim).await;
    assert_eq!(r.exit, Exit::Error, "{}", r.all());
    let doc: serde_json::Value = serde_json::from_str(&r.out).expect("one JSON document");
    let objects = doc["accounts"][0]["objects"].as_array().expect("objects");
    let mine = objects
        .iter()
        .find(|o| o["object"]["name"] == "other-scraper")
        .expect("the object's report");
    assert_eq!(mine["ruleConflicts"][0]["with"]["name"], "web-monitoring");
    // Neither variant is in the plan.
    let steps = doc["accounts"][0]["steps"].as_array().expect("steps");
    let web_rules: usize = steps
        .iter()
        .filter(|s| s["kind"] == "createRules" && s["target"] == "<new web>")
        .filter_map(|s| s["operation"]["rules"].as_array().map(Vec::len))
        .sum();
    assert_eq!(web_rules, 6, "web's own rules only");
}
