//! examples/gitops/: the Argo CD Application and the Flux Kustomizations
//! point at paths that exist and order things as their comments say (CRDs,
//! then the controller, then the team's namespace and credentials, then the
//! objects); the objects are valid and plan-able; credentials come from
//! External Secrets or SOPS, never as plaintext in Git.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::RoleBinding;
use secgroup_controller::cli::manifest;
use secgroup_controller::crd::schema_check::check_against_schema;
use serde_json::Value;

use super::tools;

fn gitops() -> PathBuf {
    tools::repo().join("examples/gitops")
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// Every object of the YAML files directly in `dir`.
fn objects_in(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files.iter().flat_map(|f| documents(f)).collect()
}

fn wave(o: &Value) -> i64 {
    o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        .as_str()
        .map(|w| w.parse().expect("a wave is an integer"))
        .unwrap_or(0)
}

fn key(o: &Value) -> String {
    format!(
        "{}/{}/{}",
        o["kind"].as_str().unwrap_or_default(),
        o["metadata"]["namespace"].as_str().unwrap_or_default(),
        o["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// No file under examples/gitops holds a Secret with values.
#[test]
fn no_plaintext_credentials_in_git() {
    let files = tools::yaml_files(&gitops());
    assert!(files.len() >= 9, "{files:?}");
    for f in &files {
        for d in documents(f) {
            assert_ne!(d["kind"], "Secret", "{}: a Secret in Git", f.display());
        }
        let text = std::fs::read_to_string(f).unwrap();
        for key in ["AKSIMHUAWEIEXAMPLE01", "sim-huawei-secret-key"] {
            assert!(!text.contains(key), "{}: holds a key", f.display());
        }
    }
}

/// The objects are what `plan -f` takes (only secgroup.io kinds), valid
/// under the CRD schema, and resolve without a problem.
#[test]
fn security_group_objects_are_valid_and_plannable() {
    use secgroup_controller::cli::accounts::resolve_documents;
    let dir = gitops().join("security-groups");
    let docs =
        manifest::load(std::slice::from_ref(&dir), "default").unwrap_or_else(|e| panic!("{e:?}"));
    assert!(docs.len() >= 3);
    for d in &docs {
        assert_eq!(d.api_version, manifest::API_VERSION, "{}", d.object());
        assert_eq!(d.namespace, "team-a", "{}", d.object());
        let problems = check_against_schema(d.body());
        assert!(problems.is_empty(), "{}: {problems:?}", d.object());
    }
    let accounts = resolve_documents(&docs).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(accounts.len(), 1);
}

/// The ExternalSecret writes the Secret the CloudAccount names, in its
/// namespace, with exactly the keys the controller reads; the namespace
/// and the Secret-reader RoleBinding are there for it.
#[test]
fn credentials_and_rbac_match_the_account() {
    let objects = objects_in(&gitops().join("security-groups"));
    let account = objects
        .iter()
        .find(|o| o["kind"] == "CloudAccount")
        .expect("a CloudAccount");
    let ns = account["metadata"]["namespace"].as_str().unwrap();
    let secret = account["spec"]["credentialsSecretRef"]["name"]
        .as_str()
        .unwrap();

    let es = objects_in(&gitops().join("external-secrets"));
    assert_eq!(es.len(), 1);
    let es = &es[0];
    assert_eq!(es["apiVersion"], "external-secrets.io/v1");
    assert_eq!(es["kind"], "ExternalSecret");
    assert_eq!(es["metadata"]["namespace"], ns);
    assert_eq!(es["spec"]["target"]["name"], secret);
    let keys: BTreeSet<&str> = es["spec"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["secretKey"].as_str())
        .collect();
    assert_eq!(keys, BTreeSet::from(["accessKey", "secretKey"]));

    let cluster = objects_in(&gitops().join("cluster"));
    let namespace: Namespace = serde_json::from_value(
        cluster
            .iter()
            .find(|o| o["kind"] == "Namespace")
            .expect("a Namespace")
            .clone(),
    )
    .unwrap();
    assert_eq!(namespace.metadata.name.as_deref(), Some(ns));
    let rb: RoleBinding = serde_json::from_value(
        cluster
            .iter()
            .find(|o| o["kind"] == "RoleBinding")
            .expect("a RoleBinding")
            .clone(),
    )
    .unwrap();
    assert_eq!(rb.metadata.namespace.as_deref(), Some(ns));
    assert_eq!(rb.role_ref.kind, "ClusterRole");
    assert_eq!(rb.role_ref.name, "secgroup-controller-secret-reader");
    let deploy_rbac = documents(&tools::repo().join("deploy/rbac.yaml"));
    assert!(
        deploy_rbac
            .iter()
            .any(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == rb.role_ref.name),
        "the ClusterRole is in deploy/rbac.yaml"
    );
    let sa = &rb.subjects.unwrap()[0];
    assert_eq!(
        (sa.name.as_str(), sa.namespace.as_deref()),
        ("secgroup-controller", Some("secgroup-system"))
    );
}

/// SOPS encrypts only `data`/`stringData` of files in cluster/, where the
/// Flux Kustomization that decrypts reads.
#[test]
fn sops_rules_encrypt_secret_values_where_flux_decrypts() {
    let rules = documents(&gitops().join(".sops.yaml"));
    let rule = &rules[0]["creation_rules"][0];
    assert_eq!(rule["encrypted_regex"], "^(data|stringData)$");
    let path = regex::Regex::new(rule["path_regex"].as_str().unwrap()).unwrap();
    assert!(path.is_match("cluster/huawei-credentials.sops.yaml"));
    assert!(!path.is_match("security-groups/account.yaml"));
    let flux = documents(&gitops().join("flux/kustomizations.yaml"));
    let decrypting: Vec<&Value> = flux
        .iter()
        .filter(|k| k["spec"]["decryption"]["provider"] == "sops")
        .collect();
    assert_eq!(decrypting.len(), 1);
    assert_eq!(decrypting[0]["spec"]["path"], "./examples/gitops/cluster");
}

/// Rendered, the Application's objects fall in waves CRDs < controller <
/// namespace and credentials < objects, every deploy/ object has its wave,
/// and every source path exists.
#[test]
fn argocd_application_orders_crds_controller_objects() {
    let app = &documents(&gitops().join("argocd/application.yaml"))[0];
    assert_eq!(app["kind"], "Application");
    let options: Vec<&str> = app["spec"]["syncPolicy"]["syncOptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(options.contains(&"SkipDryRunOnMissingResource=true"));
    let sources = app["spec"]["sources"].as_array().expect("sources");
    let paths: Vec<&str> = sources
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "examples/gitops/argocd/controller",
            "examples/gitops/cluster",
            "examples/gitops/external-secrets",
            "examples/gitops/security-groups"
        ]
    );
    for p in &paths {
        assert!(tools::repo().join(p).is_dir(), "{p}");
    }
    let Some(rendered) = tools::kustomize("examples/gitops/argocd/controller", None) else {
        return;
    };
    let mut waves: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for o in &rendered {
        let w = wave(o);
        if o["kind"] == "CustomResourceDefinition" {
            assert_eq!(w, -3, "{}", key(o));
            assert_eq!(
                o["metadata"]["annotations"]["argocd.argoproj.io/sync-options"],
                "Delete=false,Prune=false"
            );
        } else {
            assert_eq!(w, -2, "{}: the controller's wave", key(o));
        }
        waves.entry(w).or_default().insert(key(o));
    }
    // The overlay keeps what deploy/ says (e.g. the Service's scrape
    // annotations) and adds no object.
    let svc = rendered.iter().find(|o| o["kind"] == "Service").unwrap();
    assert_eq!(
        svc["metadata"]["annotations"]["prometheus.io/scrape"],
        "true"
    );
    for dir in ["cluster", "external-secrets"] {
        for o in objects_in(&gitops().join(dir)) {
            assert_eq!(wave(&o), -1, "{dir}: {}", key(&o));
        }
    }
    for o in objects_in(&gitops().join("security-groups")) {
        assert_eq!(wave(&o), 0, "{}", key(&o));
    }
    assert_eq!(waves.keys().copied().collect::<Vec<_>>(), [-3, -2]);
}

/// The Flux chain: controller, then the team's namespace and credentials,
/// then the objects, each waiting on the one before; health checks name
/// objects that the Kustomization's path really holds.
#[test]
fn flux_kustomizations_depend_in_order_and_check_real_objects() {
    let repo = documents(&gitops().join("flux/gitrepository.yaml"));
    assert_eq!(repo[0]["kind"], "GitRepository");
    let source = repo[0]["metadata"]["name"].as_str().unwrap();
    let ks = documents(&gitops().join("flux/kustomizations.yaml"));
    let names: Vec<&str> = ks
        .iter()
        .map(|k| k["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["secgroup-controller", "secgroup-team-a", "secgroup-objects"]
    );
    for (i, k) in ks.iter().enumerate() {
        assert_eq!(k["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
        assert_eq!(k["spec"]["sourceRef"]["name"], source);
        let deps: Vec<&str> = k["spec"]["dependsOn"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["name"].as_str())
            .collect();
        let want: Vec<&str> = if i == 0 { vec![] } else { vec![names[i - 1]] };
        assert_eq!(deps, want, "{}", names[i]);
        let path = k["spec"]["path"].as_str().unwrap();
        let dir = tools::repo().join(path.trim_start_matches("./"));
        assert!(dir.is_dir(), "{path}");
        let mut here: BTreeSet<String> = objects_in(&dir).iter().map(key).collect();
        if path == "./deploy" {
            // deploy/ is a kustomization; its objects are its resources.
            here = deploy_objects().iter().map(key).collect();
        }
        for h in k["spec"]["healthChecks"].as_array().into_iter().flatten() {
            let want = format!(
                "{}/{}/{}",
                h["kind"].as_str().unwrap(),
                h["namespace"].as_str().unwrap(),
                h["name"].as_str().unwrap()
            );
            assert!(here.contains(&want), "{}: health check of {want}", names[i]);
        }
    }
    let objects = &ks[2]["spec"]["healthChecks"];
    assert!(objects.as_array().is_some_and(|h| h.len() >= 3));
}

fn deploy_objects() -> Vec<Value> {
    let k = &documents(&tools::repo().join("deploy/kustomization.yaml"))[0];
    k["resources"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| documents(&tools::repo().join("deploy").join(r.as_str().unwrap())))
        .collect()
}
