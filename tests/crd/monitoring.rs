//! deploy/monitoring/: the alerts pass `promtool check rules` and their
//! unit tests (`promtool test rules`); alerts and the Grafana dashboard
//! query only metrics and labels the controller exports (read from its
//! own registry) or the ones proposed below; the README lists every
//! exported metric with its type and labels; the ServiceMonitor selects the
//! metrics Service.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Service;
use regex::Regex;
use secgroup_controller::cloud::{ApiErrorDetail, CloudError};
use secgroup_controller::controller::testing::{
    CloudCallLabels, CloudOpLabels, FailureLabels, KindLabels, Metrics, StalledLabels,
};
use serde_json::Value;

use super::tools;

/// Metrics the alerts and the dashboard use that the controller does not
/// export yet: (name as queried, type, labels). When one is exported, this
/// test fails until it moves out of here (and into the README's table).
const PROPOSED: &[(&str, &str, &[&str])] = &[];

/// Labels Prometheus adds to every scraped series (the Operator's
/// ServiceMonitor adds the Kubernetes ones).
const TARGET_LABELS: &[&str] = &[
    "job",
    "instance",
    "namespace",
    "pod",
    "service",
    "endpoint",
    "container",
];

fn monitoring_dir() -> PathBuf {
    tools::repo().join("deploy/monitoring")
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Metric {
    type_: String,
    labels: BTreeSet<String>,
}

/// Every series family the controller registers, by the name a query uses
/// (`_total` for counters), with its type and labels, read from the
/// registry's own exposition after touching every family once.
fn exported() -> BTreeMap<String, Metric> {
    let m = Metrics::new();
    let kind = KindLabels {
        kind: "SecurityGroup".into(),
    };
    m.reconciles.get_or_create(&kind).inc();
    m.reconcile_duration.get_or_create(&kind).observe(0.1);
    m.drift_repairs.get_or_create(&kind).inc();
    m.queue_depth.get_or_create(&kind).set(1);
    m.failures
        .get_or_create(&FailureLabels {
            kind: "SecurityGroup".into(),
            reason: "ApplyFailed".into(),
        })
        .inc();
    m.cloud_calls
        .get_or_create(&CloudCallLabels {
            provider: "huawei".into(),
            operation: "createRules".into(),
            outcome: "ok".into(),
        })
        .inc();
    m.cloud_call_duration
        .get_or_create(&CloudOpLabels {
            provider: "huawei".into(),
            operation: "createRules".into(),
        })
        .observe(0.05);
    m.account_cycles.inc();
    m.account_cycle_failures.inc();
    m.objects_stalled
        .get_or_create(&StalledLabels {
            kind: "SecurityGroup".into(),
            reason: "Conflict".into(),
        })
        .set(1);
    m.set_leader(true);
    let text = m.encode();

    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, type_) = rest.split_once(' ').expect("# TYPE name type");
            types.insert(name.to_string(), type_.to_string());
        }
    }
    let sample = Regex::new(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? ").unwrap();
    let label = Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)=""#).unwrap();
    let mut out: BTreeMap<String, Metric> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let caps = sample
            .captures(line)
            .unwrap_or_else(|| panic!("sample line: {line}"));
        let series = &caps[1];
        let (family, type_) = types
            .iter()
            .filter(|(f, _)| series.starts_with(f.as_str()))
            .max_by_key(|(f, _)| f.len())
            .unwrap_or_else(|| panic!("no # TYPE for {series}"));
        let name = match type_.as_str() {
            "counter" => format!("{family}_total"),
            _ => family.clone(),
        };
        let labels: BTreeSet<String> = caps
            .get(2)
            .map(|l| {
                label
                    .captures_iter(l.as_str())
                    .map(|c| c[1].to_string())
                    .filter(|l| l != "le")
                    .collect()
            })
            .unwrap_or_default();
        out.insert(
            name,
            Metric {
                type_: type_.clone(),
                labels,
            },
        );
    }
    assert!(out.len() >= 10, "{text}");
    out
}

fn known() -> BTreeMap<String, Metric> {
    let mut all = exported();
    for (name, type_, labels) in PROPOSED {
        all.insert(
            name.to_string(),
            Metric {
                type_: type_.to_string(),
                labels: labels.iter().map(|l| l.to_string()).collect(),
            },
        );
    }
    all
}

/// Problems with one PromQL expression: metrics that are neither exported
/// nor proposed, and labels (in `by (...)`, `without (...)` or selectors)
/// that none of its metrics carries.
fn expr_problems(expr: &str, known: &BTreeMap<String, Metric>) -> Vec<String> {
    let name = Regex::new(r"\bsecgroup_[a-z_]+").unwrap();
    let grouping = Regex::new(r"\b(?:by|without)\s*\(([^)]*)\)").unwrap();
    let selector = Regex::new(r"\{([^}]*)\}").unwrap();
    let matcher = Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*""#).unwrap();
    let mut problems = Vec::new();
    let mut labels = BTreeSet::new();
    let mut used = Vec::new();
    for m in name.find_iter(expr) {
        let series = m.as_str();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                series
                    .strip_suffix(s)
                    .filter(|b| known.get(*b).is_some_and(|k| k.type_ == "histogram"))
            })
            .unwrap_or(series);
        match known.get(base) {
            Some(metric) => used.push(metric),
            None => problems.push(format!("unknown metric {series}")),
        }
    }
    for caps in grouping.captures_iter(expr) {
        labels.extend(
            caps[1]
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    for caps in selector.captures_iter(expr) {
        labels.extend(matcher.captures_iter(&caps[1]).map(|c| c[1].to_string()));
    }
    for l in labels {
        let carried = l == "le"
            || TARGET_LABELS.contains(&l.as_str())
            || used.iter().any(|m| m.labels.contains(&l));
        if !carried {
            problems.push(format!("label {l} is on none of its metrics"));
        }
    }
    problems
}

fn prometheus_rule() -> Value {
    let text = std::fs::read_to_string(monitoring_dir().join("prometheusrule.yaml")).unwrap();
    serde_saphyr::from_str(&text).expect("prometheusrule.yaml")
}

/// The PrometheusRule's spec as a rules file, with rules_test.yaml, in a
/// fresh directory.
fn rules_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let spec = serde_saphyr::to_string(&prometheus_rule()["spec"]).unwrap();
    std::fs::write(dir.path().join("rules.yaml"), spec).unwrap();
    std::fs::copy(
        monitoring_dir().join("rules_test.yaml"),
        dir.path().join("rules_test.yaml"),
    )
    .unwrap();
    dir
}

fn dashboard() -> Value {
    let path = monitoring_dir().join("dashboards/secgroup-controller.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("dashboard JSON")
}

/// Every `expr` of every panel, rows' nested panels included.
fn dashboard_exprs(d: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    let title = p["title"].as_str().unwrap_or_default();
                    out.push((title.to_string(), e.to_string()));
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&d["panels"], &mut out);
    out
}

#[test]
fn promtool_accepts_the_rules() {
    let dir = rules_dir();
    let Some(out) = tools::run(
        "promtool",
        ["check", "rules", "rules.yaml"],
        Some(dir.path()),
        "the alert rules (deploy/monitoring)",
    ) else {
        return;
    };
    let text = tools::stdout("promtool", &out);
    assert!(text.contains("SUCCESS: 6 rules found"), "{text}");
}

#[test]
fn promtool_unit_tests_of_the_alerts_pass() {
    let dir = rules_dir();
    let Some(out) = tools::run(
        "promtool",
        ["test", "rules", "rules_test.yaml"],
        Some(dir.path()),
        "the alert unit tests (deploy/monitoring/rules_test.yaml)",
    ) else {
        return;
    };
    tools::stdout("promtool", &out);
}

/// Every alert the rules must carry exists and is unit-tested
/// both ways: firing, and quiet where it must be.
#[test]
fn every_alert_has_a_firing_and_a_quiet_unit_test() {
    let rule = prometheus_rule();
    let alerts: BTreeSet<String> = rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .filter_map(|r| r["alert"].as_str().map(String::from))
        .collect();
    for a in [
        "SecgroupObjectsStalled",
        "SecgroupReconcileErrors",
        "SecgroupCloudThrottled",
        "SecgroupAccountCyclesFailing",
        "SecgroupLeaderMissing",
    ] {
        assert!(alerts.contains(a), "no alert {a}");
    }
    let text = std::fs::read_to_string(monitoring_dir().join("rules_test.yaml")).unwrap();
    let tests: Value = serde_saphyr::from_str(&text).unwrap();
    let mut firing = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for t in tests["tests"].as_array().unwrap() {
        for a in t["alert_rule_test"].as_array().into_iter().flatten() {
            let name = a["alertname"].as_str().unwrap().to_string();
            if a["exp_alerts"].as_array().is_some_and(|e| e.is_empty()) {
                quiet.insert(name);
            } else {
                firing.insert(name);
            }
        }
    }
    assert_eq!(firing, alerts, "alerts with a firing test");
    assert_eq!(quiet, alerts, "alerts with a quiet test");
}

#[test]
fn rules_query_only_known_metrics_and_labels() {
    let known = known();
    let rule = prometheus_rule();
    let mut problems = Vec::new();
    for group in rule["spec"]["groups"].as_array().unwrap() {
        for r in group["rules"].as_array().unwrap() {
            let expr = r["expr"].as_str().unwrap();
            for p in expr_problems(expr, &known) {
                problems.push(format!("{}: {p}", r["alert"]));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The throttling alert selects the outcome label value the metered
/// provider records for a 429.
#[test]
fn throttle_alert_uses_the_recorded_outcome() {
    let throttled = CloudError::Throttled {
        detail: ApiErrorDetail::default(),
        retry_after: None,
    };
    let rule = serde_saphyr::to_string(&prometheus_rule()).unwrap();
    assert!(
        rule.contains(&format!("outcome=\"{}\"", throttled.reason())),
        "the rules do not select outcome=\"{}\"",
        throttled.reason()
    );
}

#[test]
fn proposed_metrics_are_not_exported_yet() {
    let exported = exported();
    for (name, ..) in PROPOSED {
        assert!(
            !exported.contains_key(*name),
            "{name} is exported now: drop it from PROPOSED and list it in the README"
        );
    }
}

#[test]
fn dashboard_queries_known_metrics_and_shows_every_exported_one() {
    let d = dashboard();
    assert_eq!(d["uid"], "secgroup-controller");
    let exprs = dashboard_exprs(&d);
    assert!(exprs.len() >= 15, "{}", exprs.len());
    let known = known();
    let mut problems = Vec::new();
    for (title, e) in &exprs {
        for p in expr_problems(e, &known) {
            problems.push(format!("panel {title:?}: {p}"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let all = exprs
        .iter()
        .map(|(_, e)| e.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for name in exported().keys() {
        assert!(all.contains(name.as_str()), "no panel shows {name}");
    }
    // Every panel reads the dashboard's data source variable.
    for p in d["panels"].as_array().unwrap() {
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        }
    }
}

/// promtool parses each dashboard query (as a recording rule), so a typo
/// in PromQL fails here rather than in Grafana.
#[test]
fn promtool_parses_every_dashboard_query() {
    let exprs = dashboard_exprs(&dashboard());
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, (_, e))| serde_json::json!({"record": format!("dashboard:query_{i}"), "expr": e}))
        .collect();
    let file = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(
        dir.path().join("dashboard.yaml"),
        serde_saphyr::to_string(&file).unwrap(),
    )
    .unwrap();
    let Some(out) = tools::run(
        "promtool",
        ["check", "rules", "dashboard.yaml"],
        Some(dir.path()),
        "the dashboard's PromQL",
    ) else {
        return;
    };
    let text = tools::stdout("promtool", &out);
    assert!(
        text.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{text}"
    );
}

/// The README's metrics table lists exactly the exported metrics, each
/// with its type and labels, and marks the proposed ones.
#[test]
fn readme_lists_every_metric_with_its_type_and_labels() {
    let readme = std::fs::read_to_string(tools::repo().join("README.md")).unwrap();
    let section = readme
        .split("\n## Metrics\n")
        .nth(1)
        .expect("README has a Metrics section");
    let section = section.split("\n## ").next().unwrap();
    let code = Regex::new(r"`([^`]+)`").unwrap();
    let mut listed = BTreeMap::new();
    let mut proposed = BTreeSet::new();
    for line in section.lines().filter(|l| l.starts_with("| `secgroup_")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | metric | type | labels | meaning |
        let name = cells[1].trim_matches('`').to_string();
        let labels: BTreeSet<String> = code
            .captures_iter(cells[3])
            .map(|c| c[1].split('=').next().unwrap().to_string())
            .collect();
        if cells[4].contains("(proposed)") {
            proposed.insert(name);
            continue;
        }
        listed.insert(
            name,
            Metric {
                type_: cells[2].to_string(),
                labels,
            },
        );
    }
    assert_eq!(listed, exported(), "README metrics table vs the registry");
    let want: BTreeSet<String> = PROPOSED.iter().map(|(n, ..)| n.to_string()).collect();
    assert_eq!(proposed, want, "proposed metrics in the README");
}

#[test]
fn service_monitor_selects_the_metrics_service() {
    let text = std::fs::read_to_string(monitoring_dir().join("servicemonitor.yaml")).unwrap();
    let sm: Value = serde_saphyr::from_str(&text).unwrap();
    let text = std::fs::read_to_string(tools::repo().join("deploy/service.yaml")).unwrap();
    let svc: Service = serde_saphyr::from_str(&text).unwrap();
    let svc_ns = svc.metadata.namespace.clone().unwrap();
    let labels = svc.metadata.labels.clone().unwrap();
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(labels.get(k).map(String::as_str), v.as_str(), "label {k}");
    }
    let namespaces = sm["spec"]["namespaceSelector"]["matchNames"]
        .as_array()
        .unwrap();
    assert!(namespaces.iter().any(|n| n == svc_ns.as_str()));
    let ports: Vec<String> = svc
        .spec
        .unwrap()
        .ports
        .unwrap()
        .into_iter()
        .filter_map(|p| p.name)
        .collect();
    for e in sm["spec"]["endpoints"].as_array().unwrap() {
        assert!(ports.iter().any(|p| e["port"] == p.as_str()), "{e}");
        assert_eq!(e["path"], "/metrics");
    }
}

/// `kubectl kustomize deploy/monitoring` renders the monitors, the rules
/// and the dashboard ConfigMap holding the dashboard file unchanged.
#[test]
fn monitoring_kustomization_renders() {
    let Some(docs) = tools::kustomize("deploy/monitoring", None) else {
        return;
    };
    let kinds: BTreeSet<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["ConfigMap", "PrometheusRule", "ServiceMonitor"])
    );
    let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let file =
        std::fs::read_to_string(monitoring_dir().join("dashboards/secgroup-controller.json"))
            .unwrap();
    assert_eq!(cm["data"]["secgroup-controller.json"], file.as_str());
}
