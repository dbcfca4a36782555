//! deploy/: the kustomize base parses into typed Kubernetes objects, is
//! hardened and least-privilege as documented, carries the current CRDs,
//! and renders with `kubectl kustomize` where kubectl is installed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::de::DeserializeOwned;
use serde_json::Value;

const NS: &str = "secgroup-system";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

use super::tools::documents;

/// The resource files listed in deploy/kustomization.yaml.
fn kustomization_resources() -> Vec<PathBuf> {
    let text = std::fs::read_to_string(deploy_dir().join("kustomization.yaml")).unwrap();
    let k: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(k["kind"], "Kustomization");
    k["resources"]
        .as_array()
        .expect("resources list")
        .iter()
        .map(|r| deploy_dir().join(r.as_str().expect("resource path")))
        .collect()
}

/// All objects of the base, with the file each came from.
fn objects() -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    for file in kustomization_resources() {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{} listed in kustomization.yaml: {e}", file.display()));
        for doc in documents(&text) {
            out.push((file.clone(), doc));
        }
    }
    out
}

fn typed<T: DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("{} {}: {e}", v["kind"], v["metadata"]["name"]))
}

fn one<T: DeserializeOwned>(kind: &str, name: &str) -> T {
    let all = objects();
    let found: Vec<_> = all
        .iter()
        .filter(|(_, v)| v["kind"] == kind && v["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "{kind}/{name} in the base");
    typed(&found[0].1)
}

#[test]
fn every_resource_parses_as_its_kubernetes_type() {
    let all = objects();
    let mut kinds = BTreeSet::new();
    for (file, v) in &all {
        let kind = v["kind"].as_str().unwrap_or_default();
        kinds.insert(kind.to_string());
        match kind {
            "Namespace" => drop(typed::<Namespace>(v)),
            "ServiceAccount" => drop(typed::<ServiceAccount>(v)),
            "ClusterRole" => drop(typed::<ClusterRole>(v)),
            "ClusterRoleBinding" => drop(typed::<ClusterRoleBinding>(v)),
            "Role" => drop(typed::<Role>(v)),
            "RoleBinding" => drop(typed::<RoleBinding>(v)),
            "Deployment" => drop(typed::<Deployment>(v)),
            "Service" => drop(typed::<Service>(v)),
            "CustomResourceDefinition" => drop(typed::<CustomResourceDefinition>(v)),
            other => panic!("{}: unexpected kind {other}", file.display()),
        }
        if kind != "Namespace" && !kind.starts_with("Cluster") && kind != "CustomResourceDefinition"
        {
            assert!(
                v["metadata"]["namespace"].is_string(),
                "{}: {kind} {} names its namespace",
                file.display(),
                v["metadata"]["name"]
            );
        }
    }
    for k in [
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "Role",
        "Deployment",
        "Service",
    ] {
        assert!(kinds.contains(k), "the base has a {k}");
    }
}

#[test]
fn every_yaml_file_under_deploy_parses() {
    let files = super::tools::yaml_files(&deploy_dir());
    assert!(files.len() >= 8, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !documents(&text).is_empty(),
            "{} has a document",
            f.display()
        );
    }
}

#[test]
fn deployment_is_hardened_and_probed() {
    let d: Deployment = one("Deployment", "secgroup-controller");
    assert_eq!(d.metadata.namespace.as_deref(), Some(NS));
    let spec = d.spec;
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("secgroup-controller")
    );
    let psc = pod.security_context.unwrap();
    assert_eq!(psc.run_as_non_root, Some(true));
    assert!(psc.run_as_user.is_some_and(|u| u != 0));
    assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
    assert_eq!(pod.containers.len(), 1);
    let c = &pod.containers[0];
    assert_eq!(c.args.as_deref(), Some(&["run".to_string()][..]));
    let sc = c.security_context.clone().unwrap();
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.capabilities.unwrap().drop, Some(vec!["ALL".to_string()]));
    let res = c.resources.clone().unwrap();
    for key in ["cpu", "memory"] {
        assert!(
            res.requests.as_ref().unwrap().contains_key(key),
            "request {key}"
        );
        assert!(
            res.limits.as_ref().unwrap().contains_key(key),
            "limit {key}"
        );
    }
    let path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    assert_eq!(path(&c.liveness_probe).as_deref(), Some("/healthz"));
    assert_eq!(path(&c.readiness_probe).as_deref(), Some("/readyz"));
    let env: Vec<_> = c.env.iter().flatten().map(|e| e.name.as_str()).collect();
    assert!(
        env.contains(&"POD_NAME") && env.contains(&"POD_NAMESPACE"),
        "{env:?}"
    );
    let port = c
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("metrics"));
    assert_eq!(port.map(|p| p.container_port), Some(8080));
}

#[test]
fn metrics_service_selects_the_pods() {
    let s: Service = one("Service", "secgroup-controller-metrics");
    let d: Deployment = one("Deployment", "secgroup-controller");
    let spec = s.spec.unwrap();
    let labels = d.spec.template.metadata.unwrap().labels.unwrap();
    for (k, v) in spec.selector.unwrap() {
        assert_eq!(labels.get(&k), Some(&v), "selector {k}");
    }
    let port = &spec.ports.unwrap()[0];
    assert_eq!(port.port, 8080);
    assert_eq!(
        port.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("metrics".into()))
    );
}

#[test]
fn rbac_is_least_privilege() {
    let all = objects();
    // No wildcard anywhere, and Secrets only in the reader role.
    for (_, v) in &all {
        let kind = v["kind"].as_str().unwrap_or_default();
        if kind != "ClusterRole" && kind != "Role" {
            continue;
        }
        let name = v["metadata"]["name"].as_str().unwrap_or_default();
        for rule in v["rules"].as_array().unwrap() {
            for field in ["apiGroups", "resources", "verbs"] {
                for item in rule[field].as_array().unwrap() {
                    assert_ne!(item, "*", "{kind} {name}: wildcard in {field}");
                }
            }
            let resources: Vec<_> = rule["resources"].as_array().unwrap().iter().collect();
            let verbs: Vec<_> = rule["verbs"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if resources.iter().any(|r| *r == "secrets") {
                assert_eq!(name, "secgroup-controller-secret-reader");
                assert_eq!(verbs, ["get"], "Secrets: get by name only");
            }
            if resources.iter().any(|r| *r == "leases") {
                assert_eq!(
                    kind, "Role",
                    "the Lease is only in the controller's namespace"
                );
                assert_eq!(v["metadata"]["namespace"], NS);
            }
            for verb in [
                "delete",
                "deletecollection",
                "escalate",
                "bind",
                "impersonate",
            ] {
                assert!(!verbs.contains(&verb), "{kind} {name} may not {verb}");
            }
        }
    }
    // The Secret reader is never bound cluster-wide, and is bound in the
    // examples' namespace by a RoleBinding.
    for (_, v) in &all {
        if v["kind"] == "ClusterRoleBinding" {
            assert_ne!(v["roleRef"]["name"], "secgroup-controller-secret-reader");
        }
    }
    let rb: RoleBinding = one("RoleBinding", "secgroup-controller-secret-reader");
    assert_eq!(rb.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(rb.role_ref.kind, "ClusterRole");
    let subject = &rb.subjects.unwrap()[0];
    assert_eq!(
        (subject.name.as_str(), subject.namespace.as_deref()),
        ("secgroup-controller", Some(NS))
    );
}

#[test]
fn every_rbac_rule_carries_a_comment() {
    let text = std::fs::read_to_string(deploy_dir().join("rbac.yaml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut rules = 0;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if t.starts_with("- apiGroups:") {
            rules += 1;
            let above = lines[..i].last().map(|l| l.trim_start());
            assert!(
                above.is_some_and(|l| l.starts_with('#')),
                "rbac.yaml line {}: rule without a comment above it",
                i + 1
            );
        }
    }
    assert!(rules >= 6, "found {rules} rules");
}

/// Render with kubectl's built-in kustomize, offline. Under CI the tool must
/// be there (scripts/test.sh installs it); elsewhere its absence is said.
#[test]
fn kubectl_kustomize_renders_the_base() {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(deploy_dir())
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("kubectl not runnable here ({e}); `kubectl kustomize deploy/` not checked");
            return;
        }
        Err(e) => panic!("kubectl is required under CI: {e}"),
    };
    assert!(
        out.status.success(),
        "kubectl kustomize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = documents(&String::from_utf8(out.stdout).unwrap());
    let key = |v: &Value| {
        format!(
            "{}/{}/{}",
            v["kind"].as_str().unwrap_or_default(),
            v["metadata"]["namespace"].as_str().unwrap_or_default(),
            v["metadata"]["name"].as_str().unwrap_or_default()
        )
    };
    let got: BTreeSet<String> = rendered.iter().map(key).collect();
    let want: BTreeSet<String> = objects().iter().map(|(_, v)| key(v)).collect();
    assert_eq!(got, want);
    let image = rendered
        .iter()
        .find(|v| v["kind"] == "Deployment")
        .map(|d| d["spec"]["template"]["spec"]["containers"][0]["image"].clone());
    assert_eq!(image, Some(Value::from("secgroup-controller:0.1.0")));
}

/// kustomize cannot reference ../crds, so deploy/ carries a copy. It must
/// be the generated CRDs, byte for byte. `UPDATE_CRDS=1` (local runs only,
/// as for crds/) rewrites the copy.
#[test]
fn deploy_crds_are_the_generated_crds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("deploy/crds/secgroup.io.yaml");
    let generated = secgroup_controller::crd::crds_yaml();
    if std::env::var_os("UPDATE_CRDS").is_some() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "UPDATE_CRDS is for local use; CI compares the committed YAML"
        );
        std::fs::write(&path, &generated).expect("write deploy/crds/secgroup.io.yaml");
    }
    let copy = std::fs::read_to_string(&path).unwrap();
    let committed = std::fs::read_to_string(root.join("crds/secgroup.io.yaml")).unwrap();
    assert!(
        copy == generated && copy == committed,
        "deploy/crds/secgroup.io.yaml is not the generated CRDs: \
         `UPDATE_CRDS=1 cargo test --test crd` and commit"
    );
    let crds: Vec<CustomResourceDefinition> = documents(&copy).iter().map(typed).collect();
    let kinds: BTreeSet<&str> = crds.iter().map(|c| c.spec.names.kind.as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "CloudAccount",
            "NodeSecurityGroups",
            "PortSecurityGroups",
            "SecurityGroup",
            "SecurityGroupMembership",
            "SecurityGroupRules"
        ])
    );
}
