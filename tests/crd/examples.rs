//! examples/: every file parses, each cloud's set covers every kind, the
//! move variants differ from their base by exactly the move, and the
//! simulator seed holds what the examples refer to.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use secgroup_controller::cli::credentials::SecretStore;
use secgroup_controller::cli::manifest::{self, Document};
use serde_json::Value;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn load(dir: &str) -> Vec<Document> {
    manifest::load(&[examples().join(dir)], "default")
        .unwrap_or_else(|e| panic!("examples/{dir}: {e:?}"))
}

fn sim_state() -> Value {
    let text = std::fs::read_to_string(examples().join("sim-state.yaml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

const SETS: [&str; 4] = ["huawei", "huawei-move", "baidu", "baidu-move"];

#[test]
fn every_yaml_file_under_examples_parses() {
    let mut files = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }
    walk(&examples(), &mut files);
    assert!(files.len() >= 17, "{files:?}");
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // The CLI's reader: syntax, limits, and no key given twice.
        let stream = secgroup_controller::cli::yaml::read_stream(&text);
        assert_eq!(stream.error, None, "{}", f.display());
        for doc in &stream.documents {
            assert_eq!(
                doc.duplicates,
                [],
                "{} (document {})",
                f.display(),
                doc.index
            );
        }
    }
    for set in SETS {
        assert!(!load(set).is_empty());
    }
}

#[test]
fn each_cloud_covers_every_kind() {
    for set in SETS {
        let kinds: BTreeSet<String> = load(set).iter().map(|d| d.kind.clone()).collect();
        for (_, kind) in manifest::KNOWN_KINDS {
            assert!(kinds.contains(*kind), "examples/{set} has no {kind}");
        }
    }
}

#[test]
fn move_variants_differ_by_one_port_moving_from_web_to_app() {
    for cloud in ["huawei", "baidu"] {
        let base: BTreeMap<String, Value> = load(cloud)
            .iter()
            .map(|d| (d.object(), d.body().clone()))
            .collect();
        let moved: BTreeMap<String, Value> = load(&format!("{cloud}-move"))
            .iter()
            .map(|d| (d.object(), d.body().clone()))
            .collect();
        assert_eq!(
            base.keys().collect::<Vec<_>>(),
            moved.keys().collect::<Vec<_>>()
        );
        let changed: Vec<&String> = base.keys().filter(|k| base[*k] != moved[*k]).collect();
        assert_eq!(changed, ["PortSecurityGroups default/web-3"], "{cloud}");
        let k = changed[0];
        assert_eq!(base[k]["spec"]["securityGroups"][0]["name"], "web");
        assert_eq!(moved[k]["spec"]["securityGroups"][0]["name"], "app");
        assert_eq!(
            base[k]["spec"]["securityGroups"][1],
            moved[k]["spec"]["securityGroups"][1]
        );
    }
}

#[test]
fn app_fleet_lists_45_distinct_ports_that_the_simulator_has() {
    let state = sim_state();
    for (cloud, list) in [("huawei", "ports"), ("baidu", "instances")] {
        let known: BTreeSet<&str> = state[cloud][list]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["id"].as_str())
            .collect();
        let docs = load(cloud);
        let fleet = docs
            .iter()
            .find(|d| d.kind == "SecurityGroupMembership" && d.name == "app-fleet")
            .expect("app-fleet");
        let ports: Vec<&str> = fleet.body()["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let distinct: BTreeSet<&str> = ports.iter().copied().collect();
        assert_eq!((ports.len(), distinct.len()), (45, 45), "{cloud}");
        assert!(
            distinct.is_subset(&known),
            "{cloud}: ports missing from sim-state"
        );
        // Every port any example names exists in the simulator.
        for d in docs.iter().filter(|d| d.kind == "PortSecurityGroups") {
            let id = d.body()["spec"]["portId"].as_str().unwrap();
            assert!(known.contains(id), "{}: {id}", d.object());
        }
    }
}

#[test]
fn sim_state_is_a_valid_simulator_state() {
    let state = secgroup_controller::sim::SimState::from_path(&examples().join("sim-state.yaml"))
        .expect("parses as SimState");
    state.validate().expect("valid");
    assert_eq!(state.huawei.ports.len(), 50);
    assert_eq!(state.baidu.instances.len(), 50);
    // Every port starts with at least one group, as in both clouds.
    assert!(
        state
            .huawei
            .ports
            .iter()
            .all(|p| !p.security_groups.is_empty())
    );
    assert!(
        state
            .baidu
            .instances
            .iter()
            .all(|i| !i.security_group_ids.is_empty())
    );
}

#[test]
fn example_secrets_hold_the_simulator_keys_and_adopted_groups_exist() {
    let state = sim_state();
    for (cloud, secret) in [
        ("huawei", "huawei-credentials"),
        ("baidu", "baidu-credentials"),
    ] {
        let docs = load(cloud);
        let store = SecretStore::from_documents(&docs);
        let creds = store
            .get("default", secret)
            .expect("secret given")
            .expect("secret usable");
        let account = state["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["provider"] == cloud)
            .expect("sim account");
        assert_eq!(account["accessKey"], creds.access_key.as_str());
        assert_eq!(account["secretKey"], creds.secret_key());
        let groups: BTreeSet<&str> = state[cloud]["securityGroups"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|g| g["id"].as_str())
            .collect();
        for d in docs.iter().filter(|d| d.kind == "SecurityGroup") {
            if let Some(id) = d.body()["spec"]["groupId"].as_str() {
                assert!(groups.contains(id), "{}: groupId {id}", d.object());
            }
        }
        if cloud == "huawei" {
            let account_doc = docs.iter().find(|d| d.kind == "CloudAccount").unwrap();
            assert_eq!(
                account_doc.body()["spec"]["projectId"],
                account["projectId"]
            );
        }
    }
}

#[test]
fn every_example_object_passes_the_crd_schema_with_cel() {
    use secgroup_controller::crd::schema_check::check_against_schema;
    let mut checked = 0;
    for set in SETS {
        for d in load(set)
            .iter()
            .filter(|d| d.api_version == manifest::API_VERSION)
        {
            let problems = check_against_schema(d.body());
            assert!(
                problems.is_empty(),
                "{}: {}: {problems:?}",
                d.origin,
                d.object()
            );
            checked += 1;
        }
    }
    assert!(checked >= 4 * 10, "{checked}");
}

#[test]
fn every_example_set_resolves_with_no_problem() {
    use secgroup_controller::cli::accounts::resolve_documents;
    for set in SETS {
        let accounts =
            resolve_documents(&load(set)).unwrap_or_else(|e| panic!("examples/{set}: {e:#?}"));
        assert_eq!(accounts.len(), 1, "{set}");
        let desired = &accounts[0].desired;
        assert_eq!(desired.groups.len(), 4, "{set}");
        assert_eq!(desired.ports.len(), 3, "{set}");
        assert_eq!(desired.memberships.len(), 2, "{set}");
        let fleet = desired
            .memberships
            .iter()
            .find(|m| m.intent.owner.name == "app-fleet")
            .unwrap();
        assert_eq!(fleet.ports.len(), 45);
    }
}
