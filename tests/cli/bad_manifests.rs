//! Bad manifests stop `plan` and `apply` before any cloud call, with an
//! error naming the file, the object and the field.

use secgroup_test_support::cli_harness;

use std::path::{Path, PathBuf};

use cli_harness::{example_sim, examples, run_sim};
use secgroup_controller::cli::Exit;

/// A copy of examples/huawei in a temporary directory, plus `extra` files.
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

/// Replace `from` by `to` in one file of the workspace (exactly once).
fn edit(dir: &Path, file: &str, from: &str, to: &str) -> PathBuf {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches(from).count(), 1, "{from:?} once in {file}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    path
}

/// Run plan and apply over `dir`; both must fail naming every `expected`
/// fragment on one error line, and make no cloud call at all.
async fn assert_rejected(dir: &Path, expected: &[&str]) {
    let sim = example_sim().await;
    let d = dir.display().to_string();
    for cmd in ["plan", "apply"] {
        let r = run_sim(&[cmd, "-f", &d, "--cloud", "sim"], &sim).await;
        assert_eq!(r.exit, Exit::Error, "{cmd}: {}", r.all());
        let line = r
            .err
            .lines()
            .find(|l| expected.iter().all(|e| l.contains(e)))
            .unwrap_or_else(|| panic!("{cmd}: no error line with all of {expected:?}:\n{}", r.err));
        assert!(line.starts_with("error: "), "{line}");
        assert!(r.err.contains("Nothing was applied"), "{}", r.err);
        assert!(r.out.is_empty(), "{cmd} printed a plan: {}", r.out);
    }
    assert!(
        sim.call_counts().values().all(|n| *n == 0),
        "cloud calls were made: {:?}",
        sim.call_counts()
    );
}

#[tokio::test]
async fn unknown_kind_names_file_and_object() {
    let dir = workspace(&[(
        "extra.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
    )]);
    assert_rejected(
        dir.path(),
        &[
            "extra.yaml (document 1)",
            "ConfigMap default/settings",
            "kind: unknown kind",
        ],
    )
    .await;
}

#[tokio::test]
async fn missing_required_field_is_named() {
    let dir = workspace(&[]);
    // The first rule of `web` loses its direction.
    edit(
        dir.path(),
        "security-groups.yaml",
        "    - direction: ingress\n      protocol: tcp\n      ports: \"80,443\"",
        "    - protocol: tcp\n      ports: \"80,443\"",
    );
    assert_rejected(
        dir.path(),
        &[
            "security-groups.yaml (document 1)",
            "SecurityGroup default/web",
            "spec.rules[0]",
            "direction",
        ],
    )
    .await;
}

#[tokio::test]
async fn invalid_cidr_is_named() {
    let dir = workspace(&[]);
    edit(
        dir.path(),
        "security-groups.yaml",
        "ports: \"23\"\n      remoteIpPrefix: 0.0.0.0/0",
        "ports: \"23\"\n      remoteIpPrefix: 10.0.0.300/8",
    );
    assert_rejected(
        dir.path(),
        &[
            "security-groups.yaml (document 1)",
            "SecurityGroup default/web",
            "spec.rules[4].remoteIpPrefix",
        ],
    )
    .await;
}

#[tokio::test]
async fn dangling_group_reference_is_named() {
    let dir = workspace(&[]);
    edit(
        dir.path(),
        "port-security-groups.yaml",
        "  securityGroups:\n    - name: web\n    - id: 8e2f4a6c-1b3d-4e5f-a7b9-c1d3e5f7a902\n---\napiVersion: secgroup.io/v1alpha1\nkind: PortSecurityGroups\nmetadata:\n  name: web-2",
        "  securityGroups:\n    - name: wbe\n    - id: 8e2f4a6c-1b3d-4e5f-a7b9-c1d3e5f7a902\n---\napiVersion: secgroup.io/v1alpha1\nkind: PortSecurityGroups\nmetadata:\n  name: web-2",
    );
    assert_rejected(
        dir.path(),
        &[
            "port-security-groups.yaml (document 1)",
            "PortSecurityGroups default/web-1",
            "spec.securityGroups[0].name",
            "\"wbe\"",
        ],
    )
    .await;
}

#[tokio::test]
async fn dangling_account_reference_is_named() {
    let dir = workspace(&[]);
    edit(
        dir.path(),
        "memberships.yaml",
        "  accountRef:\n    name: huawei-prod",
        "  accountRef:\n    name: huawei-staging",
    );
    assert_rejected(
        dir.path(),
        &[
            "memberships.yaml (document 2)",
            "SecurityGroupMembership default/db-members",
            "spec.accountRef.name",
            "huawei-staging",
        ],
    )
    .await;
}

#[tokio::test]
async fn yaml_syntax_error_names_the_file() {
    let dir = workspace(&[(
        "broken.yaml",
        "apiVersion: v1\nkind: [Secret\nmetadata: {name: x}\n",
    )]);
    assert_rejected(dir.path(), &["broken.yaml (document 1)", "invalid YAML"]).await;
}

#[tokio::test]
async fn every_error_of_a_stage_is_reported_not_just_the_first() {
    let dir = workspace(&[
        (
            "extra.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
        ),
        ("broken.yaml", "apiVersion: v1\nkind: [Secret\n"),
    ]);
    let sim = example_sim().await;
    let r = run_sim(
        &[
            "plan",
            "-f",
            &dir.path().display().to_string(),
            "--cloud",
            "sim",
        ],
        &sim,
    )
    .await;
    assert_eq!(r.exit, Exit::Error);
    assert!(r.err.contains("ConfigMap default/settings"), "{}", r.err);
    assert!(
        r.err.contains("broken.yaml (document 1): invalid YAML"),
        "{}",
        r.err
    );
    assert!(sim.call_counts().values().all(|n| *n == 0));
}

#[tokio::test]
async fn the_root_cause_comes_before_the_errors_it_causes() {
    let dir = workspace(&[]);
    // `web` is invalid; app (remoteGroupRef web) and the web ports cannot
    // be resolved because of it.
    edit(
        dir.path(),
        "security-groups.yaml",
        "ports: \"23\"\n      remoteIpPrefix: 0.0.0.0/0",
        "ports: \"23\"\n      remoteIpPrefix: 10.0.0.300/8",
    );
    let sim = example_sim().await;
    let r = run_sim(
        &[
            "plan",
            "-f",
            &dir.path().display().to_string(),
            "--cloud",
            "sim",
        ],
        &sim,
    )
    .await;
    assert_eq!(r.exit, Exit::Error);
    let lines: Vec<&str> = r.err.lines().collect();
    assert!(
        lines[0].contains("SecurityGroup default/web: spec.rules[4].remoteIpPrefix"),
        "{}",
        r.err
    );
    assert!(
        lines[1..]
            .iter()
            .any(|l| l.contains("PortSecurityGroups default/web-1")
                && l.contains(
                    "SecurityGroup \"web\" cannot be used until its own errors are fixed"
                )),
        "{}",
        r.err
    );
    assert!(sim.call_counts().values().all(|n| *n == 0));
}

#[tokio::test]
async fn a_bad_rules_policy_is_named() {
    let dir = workspace(&[]);
    edit(
        dir.path(),
        "security-groups.yaml",
        "  description: Public web tier\n",
        "  description: Public web tier\n  rulesPolicy: Sometimes\n",
    );
    assert_rejected(
        dir.path(),
        &[
            "security-groups.yaml (document 1)",
            "SecurityGroup default/web",
            "spec.rulesPolicy",
        ],
    )
    .await;
}

#[tokio::test]
async fn security_group_rules_with_two_targets_are_refused() {
    let dir = workspace(&[]);
    edit(
        dir.path(),
        "security-group-rules.yaml",
        "  securityGroupRef:\n    name: web\n",
        "  securityGroupRef:\n    name: web\n  securityGroupId: 8e2f4a6c-1b3d-4e5f-a7b9-c1d3e5f7a902\n",
    );
    assert_rejected(
        dir.path(),
        &[
            "security-group-rules.yaml (document 1)",
            "SecurityGroupRules default/web-monitoring",
            "give securityGroupRef, or accountRef together with securityGroupId",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_bad_rule_of_security_group_rules_is_named_as_in_a_security_group() {
    let dir = workspace(&[]);
    edit(
        dir.path(),
        "security-group-rules.yaml",
        "remoteIpPrefix: 10.0.0.0/8",
        "remoteIpPrefix: 10.0.0.300/8",
    );
    assert_rejected(
        dir.path(),
        &[
            "security-group-rules.yaml (document 1)",
            "SecurityGroupRules default/web-monitoring",
            "spec.rules[0].remoteIpPrefix",
        ],
    )
    .await;
}

#[tokio::test]
async fn security_group_rules_naming_a_missing_group_or_account_are_refused() {
    let dir = workspace(&[]);
    edit(
        dir.path(),
        "security-group-rules.yaml",
        "    name: web\n",
        "    name: wbe\n",
    );
    assert_rejected(
        dir.path(),
        &[
            "SecurityGroupRules default/web-monitoring",
            "spec.securityGroupRef.name",
            "\"wbe\"",
        ],
    )
    .await;
    let dir = workspace(&[]);
    edit(
        dir.path(),
        "security-group-rules.yaml",
        "  securityGroupRef:\n    name: web\n",
        "  accountRef:\n    name: huawei-staging\n  securityGroupId: 8e2f4a6c-1b3d-4e5f-a7b9-c1d3e5f7a902\n",
    );
    assert_rejected(
        dir.path(),
        &[
            "SecurityGroupRules default/web-monitoring",
            "spec.accountRef.name",
            "huawei-staging",
        ],
    )
    .await;
}
