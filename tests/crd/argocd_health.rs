//! deploy/argocd/: the Argo CD health check. health.lua runs under Lua 5.1
//! (Argo CD's dialect) in a sandbox like Argo CD's (base and table
//! libraries, no string library) on every status sample in
//! deploy/argocd/testdata, and must give the health health_test.yaml
//! expects. The samples are checked against the crate's own status types
//! and CRD schema, so they cannot drift from what the controller writes.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use secgroup_controller::crd::schema_check::check_against_schema;
use secgroup_controller::crd::{
    CloudAccount, CloudAccountStatus, NodeSecurityGroupsStatus, PortSecurityGroups,
    PortSecurityGroupsStatus, SecurityGroup, SecurityGroupMembership,
    SecurityGroupMembershipStatus, SecurityGroupStatus,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::tools;

fn argocd_dir() -> PathBuf {
    tools::repo().join("deploy/argocd")
}

#[derive(Deserialize)]
struct HealthTests {
    tests: Vec<HealthTest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthTest {
    health_status: Health,
    input_path: String,
}

#[derive(Deserialize, Debug, PartialEq, Eq, Clone)]
struct Health {
    status: String,
    message: String,
}

struct Case {
    file: PathBuf,
    object: Value,
    want: Health,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(argocd_dir().join("health_test.yaml")).unwrap();
    let tests: HealthTests = serde_saphyr::from_str(&text).expect("health_test.yaml");
    tests
        .tests
        .into_iter()
        .map(|t| {
            let file = argocd_dir().join(&t.input_path);
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let object: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            Case {
                file,
                object,
                want: t.health_status,
            }
        })
        .collect()
}

/// `value` as a Lua 5.1 expression, the way Argo CD hands an object to a
/// health script: objects become tables with string keys, arrays tables
/// indexed from 1, null nil.
fn lua_literal(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => lua_string(s, out),
        Value::Array(items) => {
            out.push('{');
            for item in items {
                lua_literal(item, out);
                out.push(',');
            }
            out.push('}');
        }
        Value::Object(map) => {
            out.push('{');
            for (k, v) in map {
                out.push('[');
                lua_string(k, out);
                out.push_str("]=");
                lua_literal(v, out);
                out.push(',');
            }
            out.push('}');
        }
    }
}

fn lua_string(s: &str, out: &mut String) {
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            // Lua 5.1 strings are bytes; decimal escapes cover controls
            // and keep multi-byte UTF-8 intact.
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b}");
            }
        }
    }
    out.push('"');
}

/// A Lua 5.1 program that runs `script` on each object and prints one
/// `status<TAB>message` line per object, in order. The script's
/// environment holds what Argo CD opens: the base and table libraries and
/// os.time/os.date; strings lose their methods while it runs.
fn harness(script: &Path, objects: &[&Value]) -> String {
    let mut lua = String::new();
    lua.push_str("local objects = {\n");
    for o in objects {
        lua_literal(o, &mut lua);
        lua.push_str(",\n");
    }
    lua.push_str("}\n");
    lua.push_str("local chunk = assert(loadfile(");
    lua_string(&script.display().to_string(), &mut lua);
    lua.push_str("))\n");
    lua.push_str(
        r#"
local stringMeta = getmetatable("")
local stringIndex = stringMeta.__index
local valid = {Healthy=true, Progressing=true, Degraded=true, Suspended=true, Missing=true, Unknown=true}
for i, o in ipairs(objects) do
  setfenv(chunk, {
    obj = o, ipairs = ipairs, pairs = pairs, next = next, type = type,
    tostring = tostring, tonumber = tonumber, select = select, error = error,
    assert = assert, pcall = pcall, unpack = unpack, rawget = rawget,
    rawset = rawset, rawequal = rawequal, setmetatable = setmetatable,
    getmetatable = getmetatable, print = print, table = table,
    os = {time = os.time, date = os.date},
  })
  stringMeta.__index = nil
  local ok, hs = pcall(chunk)
  stringMeta.__index = stringIndex
  if not ok then error("object " .. i .. ": " .. tostring(hs)) end
  if type(hs) ~= "table" or not valid[hs.status] then
    error("object " .. i .. ": not a health status: " .. tostring(hs and hs.status))
  end
  io.write(hs.status, "\t", tostring(hs.message or ""), "\n")
end
"#,
    );
    lua
}

/// Health of each object by health.lua under `lua5.1`; `None` when the
/// interpreter is missing outside CI.
fn run_health(objects: &[&Value]) -> Option<Vec<Health>> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let program = dir.path().join("harness.lua");
    std::fs::write(&program, harness(&argocd_dir().join("health.lua"), objects)).unwrap();
    let out = tools::run(
        "lua5.1",
        [&program],
        None,
        "the Argo CD health check (deploy/argocd/health.lua)",
    )?;
    let text = tools::stdout("lua5.1", &out);
    let got: Vec<Health> = text
        .lines()
        .map(|l| {
            let (status, message) = l.split_once('\t').expect("status<TAB>message");
            Health {
                status: status.into(),
                message: message.into(),
            }
        })
        .collect();
    assert_eq!(got.len(), objects.len(), "one line per object:\n{text}");
    Some(got)
}

#[test]
fn health_lua_gives_the_expected_health_for_every_sample() {
    let cases = cases();
    let objects: Vec<&Value> = cases.iter().map(|c| &c.object).collect();
    let Some(got) = run_health(&objects) else {
        return;
    };
    let mut wrong = Vec::new();
    for (case, got) in cases.iter().zip(got) {
        if got != case.want {
            wrong.push(format!(
                "{}: want {:?}, got {:?}",
                case.file.display(),
                case.want,
                got
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Each health appears, so a script that always says one thing fails.
    let seen: BTreeSet<&str> = cases.iter().map(|c| c.want.status.as_str()).collect();
    assert_eq!(
        seen,
        BTreeSet::from(["Degraded", "Healthy", "Progressing", "Suspended"])
    );
}

/// A kind the script has never heard of, and reasons it has no entry for,
/// get kstatus's reading: the conditions decide, not the kind.
#[test]
fn health_lua_reads_any_kind_of_the_group_by_its_conditions() {
    let cases = cases();
    let synced = cases
        .iter()
        .find(|c| c.file.ends_with("security-group-synced.json"))
        .expect("sample");
    let mut future = synced.object.clone();
    future["kind"] = "AddressGroup".into();
    future["spec"] = serde_json::json!({"accountRef": {"name": "huawei-prod"}});
    let mut waiting = future.clone();
    let conditions = waiting["status"]["conditions"].as_array_mut().unwrap();
    for c in conditions.iter_mut() {
        let reconciling = c["type"] == "Reconciling";
        c["status"] = if reconciling { "True" } else { "False" }.into();
        c["reason"] = "Creating".into();
        c["message"] = if reconciling {
            "creating the group"
        } else {
            ""
        }
        .into();
    }
    let mut no_ready = future.clone();
    no_ready["status"]["conditions"] = serde_json::json!([]);
    let Some(got) = run_health(&[&future, &waiting, &no_ready]) else {
        return;
    };
    let status: Vec<&str> = got.iter().map(|h| h.status.as_str()).collect();
    assert_eq!(status, ["Healthy", "Progressing", "Progressing"], "{got:?}");
    assert_eq!(got[1].message, "Creating: creating the group");
    assert_eq!(got[2].message, "Waiting for the Ready condition");
}

fn round_trip<S: DeserializeOwned + serde::Serialize>(file: &Path, status: &Value) {
    let typed: S = serde_json::from_value(status.clone())
        .unwrap_or_else(|e| panic!("{}: status: {e}", file.display()));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        &back,
        status,
        "{}: status does not survive the crate's status type (a field it lacks or spells differently)",
        file.display()
    );
}

fn typed<T: DeserializeOwned>(file: &Path, object: &Value) {
    if let Err(e) = serde_json::from_value::<T>(object.clone()) {
        panic!("{}: not a valid object of its kind: {e}", file.display());
    }
}

/// Every sample is an object the controller could have written: it
/// deserializes into the crate's types, its status round-trips through the
/// kind's status struct unchanged, the CRD schema accepts it, and its
/// conditions are the three kstatus ones with one reason, as the
/// controller writes them.
#[test]
fn samples_are_real_statuses_of_the_crate_types() {
    let cases = cases();
    assert!(cases.len() >= 15, "{}", cases.len());
    let mut kinds = BTreeSet::new();
    let mut reasons = BTreeSet::new();
    for case in &cases {
        let (file, o) = (case.file.as_path(), &case.object);
        assert_eq!(
            o["apiVersion"],
            "secgroup.io/v1alpha1",
            "{}",
            file.display()
        );
        let kind = o["kind"].as_str().expect("kind");
        kinds.insert(kind.to_string());
        match kind {
            "CloudAccount" => typed::<CloudAccount>(file, o),
            "SecurityGroup" => typed::<SecurityGroup>(file, o),
            "PortSecurityGroups" => typed::<PortSecurityGroups>(file, o),
            "SecurityGroupMembership" => typed::<SecurityGroupMembership>(file, o),
            "NodeSecurityGroups" => typed::<secgroup_controller::crd::NodeSecurityGroups>(file, o),
            "SecurityGroupRules" => typed::<secgroup_controller::crd::SecurityGroupRules>(file, o),
            other => panic!("{}: unknown kind {other}", file.display()),
        }
        let problems = check_against_schema(o);
        assert!(problems.is_empty(), "{}: {problems:?}", file.display());
        let Some(status) = o.get("status") else {
            continue;
        };
        match kind {
            "CloudAccount" => round_trip::<CloudAccountStatus>(file, status),
            "SecurityGroup" => round_trip::<SecurityGroupStatus>(file, status),
            "PortSecurityGroups" => round_trip::<PortSecurityGroupsStatus>(file, status),
            "NodeSecurityGroups" => round_trip::<NodeSecurityGroupsStatus>(file, status),
            "SecurityGroupRules" => {
                round_trip::<secgroup_controller::crd::SecurityGroupRulesStatus>(file, status)
            }
            _ => round_trip::<SecurityGroupMembershipStatus>(file, status),
        }
        let conditions = status["conditions"].as_array().expect("conditions");
        let types: Vec<&str> = conditions
            .iter()
            .filter_map(|c| c["type"].as_str())
            .collect();
        assert_eq!(
            types,
            ["Ready", "Reconciling", "Stalled"],
            "{}",
            file.display()
        );
        let true_count = conditions.iter().filter(|c| c["status"] == "True").count();
        assert_eq!(true_count, 1, "{}: one condition True", file.display());
        let reason = conditions[0]["reason"].as_str().expect("reason");
        assert!(
            conditions.iter().all(|c| c["reason"] == reason),
            "{}: one reason on all three",
            file.display()
        );
        reasons.insert(reason.to_string());
    }
    let crd_kinds: BTreeSet<String> = secgroup_controller::crd::all_crds()
        .iter()
        .map(|c| c.spec.names.kind.clone())
        .collect();
    assert_eq!(kinds, crd_kinds, "a sample for every kind");
    for reason in [
        "Synced",
        "Paused",
        "Observing",
        "Pending",
        "InvalidSpec",
        "ReferenceNotFound",
        "AccountInvalid",
        "CredentialsInvalid",
        "Conflict",
        "MassChangeBlocked",
        "PlanFailed",
        "ApplyFailed",
        "KubernetesAPI",
        "GroupInUse",
        "AccountNotFound",
    ] {
        assert!(reasons.contains(reason), "no sample with reason {reason}");
    }
}

/// The Component gives every kind of the CRDs the same script.
#[test]
fn argocd_cm_snippet_has_every_kind() {
    let text = std::fs::read_to_string(argocd_dir().join("kustomization.yaml")).unwrap();
    let k: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(k["kind"], "Component");
    let generator = &k["configMapGenerator"][0];
    assert_eq!(generator["name"], "argocd-cm");
    assert_eq!(generator["behavior"], "merge");
    let files: BTreeSet<String> = generator["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    let want: BTreeSet<String> = secgroup_controller::crd::all_crds()
        .iter()
        .map(|c| {
            format!(
                "resource.customizations.health.{}_{}=health.lua",
                c.spec.group, c.spec.names.kind
            )
        })
        .collect();
    assert_eq!(files, want);
}

/// Rendered into a stand-in for Argo CD's install, the Component adds the
/// script under each key and keeps what argocd-cm held.
#[test]
fn argocd_component_merges_into_argocd_cm() {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(
        dir.path().join("argocd-cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  labels:\n    app.kubernetes.io/part-of: argocd\ndata:\n  url: https://argocd.example.com\n",
    )
    .unwrap();
    let component = tools::relative(dir.path(), &argocd_dir());
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!(
            "namespace: argocd\nresources: [argocd-cm.yaml]\ncomponents: [{}]\n",
            component.display()
        ),
    )
    .unwrap();
    let Some(rendered) = tools::kustomize(".", Some(dir.path())) else {
        return;
    };
    assert_eq!(rendered.len(), 1);
    let rendered = &rendered[0];
    assert_eq!(rendered["metadata"]["name"], "argocd-cm");
    assert_eq!(rendered["metadata"]["namespace"], "argocd");
    let data = rendered["data"].as_object().expect("data");
    assert_eq!(data["url"], "https://argocd.example.com");
    let script = std::fs::read_to_string(argocd_dir().join("health.lua")).unwrap();
    let keys: Vec<&String> = data
        .keys()
        .filter(|k| k.starts_with("resource.customizations.health."))
        .collect();
    assert_eq!(
        keys.len(),
        secgroup_controller::crd::all_crds().len(),
        "{keys:?}"
    );
    for k in keys {
        assert_eq!(data[k], script.as_str(), "{k}");
    }
}
