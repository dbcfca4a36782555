//! Bad input: a corpus of invalid specs (bad CIDRs and ports, the wrong
//! protocol for the ethertype, two remotes, names with `<` or `>`, a key
//! given twice, 10,000-entry lists, unicode, an empty list that would
//! strip a port, settings one cloud does not have) is refused by `plan`
//! and `apply` with an error naming the object and the field, and the
//! simulator counts zero cloud calls. Each bad object sits next to the example
//! account of its cloud, so everything else in the run is fine.

use std::path::Path;

use clap::Parser;
use secgroup_controller::cli::{self, ApplyArgs, Exit, Io, PlanArgs};
use secgroup_controller::sim::{self, SimHandle, SimOptions, SimState};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    Plan(PlanArgs),
    Apply(ApplyArgs),
}

struct Run {
    exit: Exit,
    out: String,
    err: String,
}

async fn run(args: &[&str], sim: &SimHandle) -> Run {
    let cli =
        Cli::try_parse_from(std::iter::once("secgroup-controller").chain(args.iter().copied()))
            .expect("arguments parse");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let env = |_: &str| None;
    let exit = {
        let mut io = Io {
            out: &mut out,
            err: &mut err,
            env: &env,
            sim: Some(sim),
        };
        match &cli.cmd {
            Cmd::Plan(a) => cli::run_plan(a, &mut io).await,
            Cmd::Apply(a) => cli::run_apply(a, &mut io).await,
        }
    };
    Run {
        exit,
        out: String::from_utf8_lossy(&out).into_owned(),
        err: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// One invalid object and what its error must name.
struct Case {
    what: &'static str,
    cloud: &'static str,
    yaml: String,
    /// Every fragment must appear on one error line.
    expect: Vec<&'static str>,
}

fn account(cloud: &str) -> &'static str {
    match cloud {
        "huawei" => "huawei-prod",
        _ => "baidu-prod",
    }
}

/// A SecurityGroup `bad` with one rule made of `rule` (YAML mapping body,
/// indented for the list item).
fn group_with_rule(cloud: &'static str, rule: &str) -> String {
    format!(
        "apiVersion: secgroup.io/v1alpha1
kind: SecurityGroup
metadata:
  name: bad
spec:
  accountRef:
    name: {}
  vpcId: vpc-1
  rules:
    - direction: ingress
{rule}
",
        account(cloud)
    )
}

fn rule_case(what: &'static str, cloud: &'static str, rule: &str, field: &'static str) -> Case {
    Case {
        what,
        cloud,
        yaml: group_with_rule(cloud, rule),
        expect: vec!["bad", field],
    }
}

fn group_spec_case(
    what: &'static str,
    cloud: &'static str,
    spec: &str,
    field: &'static str,
) -> Case {
    Case {
        what,
        cloud,
        yaml: format!(
            "apiVersion: secgroup.io/v1alpha1
kind: SecurityGroup
metadata:
  name: bad
spec:
  accountRef:
    name: {}
  vpcId: vpc-1
{spec}
",
            account(cloud)
        ),
        expect: vec!["bad", field],
    }
}

fn port_case(what: &'static str, cloud: &'static str, spec: &str, field: &'static str) -> Case {
    Case {
        what,
        cloud,
        yaml: format!(
            "apiVersion: secgroup.io/v1alpha1
kind: PortSecurityGroups
metadata:
  name: bad
spec:
  accountRef:
    name: {}
{spec}
",
            account(cloud)
        ),
        expect: vec!["bad", field],
    }
}

/// A membership `bad` of group `sg-1` listing `ports` (YAML list items).
fn membership(cloud: &str, ports: &str) -> String {
    format!(
        "apiVersion: secgroup.io/v1alpha1
kind: SecurityGroupMembership
metadata:
  name: bad
spec:
  accountRef:
    name: {}
  securityGroupId: sg-1
  ports:
{ports}",
        account(cloud)
    )
}

/// `spec.rules` with `n` distinct tcp rules (spec body of a group).
fn many_rules(n: usize) -> String {
    let rules: String = (0..n)
        .map(|i| {
            format!(
                "    - direction: ingress\n      protocol: tcp\n      ports: \"{}\"\n      remoteIpPrefix: 10.0.0.0/8\n",
                1 + i
            )
        })
        .collect();
    format!("  rules:\n{rules}")
}

/// A port's spec with `n` groups by id.
fn many_groups(n: usize) -> String {
    let groups: String = (0..n).map(|i| format!("    - id: sg-{i}\n")).collect();
    format!("  portId: p-1\n  securityGroups:\n{groups}")
}

fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    for cloud in ["huawei", "baidu"] {
        let tcp = "      protocol: tcp\n";
        cases.extend([
            rule_case(
                "address out of range",
                cloud,
                &format!("{tcp}      remoteIpPrefix: 10.0.0.300"),
                "spec.rules[0].remoteIpPrefix",
            ),
            rule_case(
                "prefix too long",
                cloud,
                &format!("{tcp}      remoteIpPrefix: 10.0.0.0/33"),
                "spec.rules[0].remoteIpPrefix",
            ),
            rule_case(
                "not an address",
                cloud,
                &format!("{tcp}      remoteIpPrefix: web-servers"),
                "spec.rules[0].remoteIpPrefix",
            ),
            rule_case(
                "IPv6 prefix too long",
                cloud,
                &format!("{tcp}      remoteIpPrefix: 2001:db8::/129"),
                "spec.rules[0].remoteIpPrefix",
            ),
            rule_case(
                "port 0",
                cloud,
                &format!("{tcp}      ports: \"0\"\n      remoteIpPrefix: 10.0.0.0/8"),
                "spec.rules[0].ports",
            ),
            rule_case(
                "leading zero in the address (octal to some tools)",
                cloud,
                &format!("{tcp}      remoteIpPrefix: 010.0.0.0/8"),
                "spec.rules[0].remoteIpPrefix",
            ),
            rule_case(
                "leading zero in the last part",
                cloud,
                &format!("{tcp}      remoteIpPrefix: 10.0.0.010"),
                "spec.rules[0].remoteIpPrefix",
            ),
            rule_case(
                "empty ports (all ports, or forgotten?)",
                cloud,
                &format!("{tcp}      ports: \"\"\n      remoteIpPrefix: 10.0.0.0/8"),
                "spec.rules[0].ports",
            ),
            rule_case(
                "port 65536",
                cloud,
                &format!("{tcp}      ports: \"65536\"\n      remoteIpPrefix: 10.0.0.0/8"),
                "spec.rules[0].ports",
            ),
            rule_case(
                "range high-low",
                cloud,
                &format!("{tcp}      ports: \"9000-8000\"\n      remoteIpPrefix: 10.0.0.0/8"),
                "spec.rules[0].ports",
            ),
            rule_case(
                "port word",
                cloud,
                &format!("{tcp}      ports: http\n      remoteIpPrefix: 10.0.0.0/8"),
                "spec.rules[0].ports",
            ),
            rule_case(
                "ports on icmp",
                cloud,
                "      protocol: icmp\n      ports: \"80\"\n      remoteIpPrefix: 10.0.0.0/8",
                "spec.rules[0].ports",
            ),
            rule_case(
                "icmp with IPv6",
                cloud,
                "      protocol: icmp\n      ethertype: IPv6\n      remoteIpPrefix: 2001:db8::/32",
                "spec.rules[0].protocol",
            ),
            rule_case(
                "icmpv6 with IPv4",
                cloud,
                "      protocol: icmpv6\n      ethertype: IPv4\n      remoteIpPrefix: 10.0.0.0/8",
                "spec.rules[0].protocol",
            ),
            rule_case(
                "prefix family differs from ethertype",
                cloud,
                &format!("{tcp}      ethertype: IPv6\n      remoteIpPrefix: 10.0.0.0/8"),
                "spec.rules[0].remoteIpPrefix",
            ),
            rule_case(
                "unknown protocol",
                cloud,
                "      protocol: tcpx\n      remoteIpPrefix: 10.0.0.0/8",
                "spec.rules[0].protocol",
            ),
            rule_case(
                "protocol 256",
                cloud,
                "      protocol: \"256\"\n      remoteIpPrefix: 10.0.0.0/8",
                "spec.rules[0].protocol",
            ),
            rule_case(
                "two remotes",
                cloud,
                &format!("{tcp}      remoteIpPrefix: 10.0.0.0/8\n      remoteGroupId: sg-1"),
                "spec.rules[0]",
            ),
            rule_case("no remote", cloud, tcp.trim_end(), "spec.rules[0]"),
            rule_case(
                "rule description with <",
                cloud,
                &format!("{tcp}      remoteIpPrefix: 10.0.0.0/8\n      description: \"a <b> c\""),
                "spec.rules[0].description",
            ),
            rule_case(
                "rule description of 256 characters",
                cloud,
                &format!(
                    "{tcp}      remoteIpPrefix: 10.0.0.0/8\n      description: {}",
                    "x".repeat(256)
                ),
                "spec.rules[0].description",
            ),
            rule_case(
                "unicode remote",
                cloud,
                &format!("{tcp}      remoteIpPrefix: \"１０.0.0.0/8\""),
                "spec.rules[0].remoteIpPrefix",
            ),
            group_spec_case(
                "group name with <",
                cloud,
                "  name: \"web<1>\"",
                "spec.name",
            ),
            group_spec_case("group name with >", cloud, "  name: \"web>1\"", "spec.name"),
            group_spec_case("unicode group name", cloud, "  name: ウェブ", "spec.name"),
            group_spec_case(
                "description with >",
                cloud,
                "  description: \"a > b\"",
                "spec.description",
            ),
            group_spec_case(
                "description with a NUL",
                cloud,
                "  description: \"a\\0b\"",
                "spec.description",
            ),
            group_spec_case(
                "description with a newline that fakes a plan line",
                cloud,
                "  description: \"web\\n   9  deleteGroup  sg-1\"",
                "spec.description",
            ),
            group_spec_case(
                "description with an ESC sequence",
                cloud,
                "  description: \"web\\e[2K\"",
                "spec.description",
            ),
            rule_case(
                "rule description with an ESC sequence",
                cloud,
                &format!("{tcp}      remoteIpPrefix: 10.0.0.0/8\n      description: \"ssh\\e[1A\\e[2K\""),
                "spec.rules[0].description",
            ),
            rule_case(
                "rule description with a newline",
                cloud,
                &format!("{tcp}      remoteIpPrefix: 10.0.0.0/8\n      description: \"ssh\\n[2/2] ok\""),
                "spec.rules[0].description",
            ),
            group_spec_case(
                "unicode group id",
                cloud,
                "  groupId: \"sg-ü\"",
                "spec.groupId",
            ),
            port_case(
                "empty group list strips the port",
                cloud,
                "  portId: p-1\n  securityGroups: []",
                "spec.securityGroups",
            ),
            port_case(
                "unicode port id",
                cloud,
                "  portId: 端口-1\n  securityGroups:\n    - id: sg-1",
                "spec.portId",
            ),
            port_case(
                "port id with <",
                cloud,
                "  portId: \"p<1>\"\n  securityGroups:\n    - id: sg-1",
                "spec.portId",
            ),
            port_case(
                "group named twice",
                cloud,
                "  portId: p-1\n  securityGroups:\n    - id: sg-1\n    - id: sg-1",
                "spec.securityGroups",
            ),
            port_case(
                "group ref with name and id",
                cloud,
                "  portId: p-1\n  securityGroups:\n    - id: sg-1\n      name: web",
                "spec.securityGroups[0]",
            ),
            Case {
                what: "a key given twice (the later, wider prefix would win)",
                cloud,
                yaml: group_with_rule(
                    cloud,
                    "      remoteIpPrefix: 10.0.0.0/8\n      protocol: tcp\n      remoteIpPrefix: 0.0.0.0/0",
                ),
                expect: vec![
                    "bad.yaml (document 1)",
                    "SecurityGroup default/bad",
                    "spec.rules[0].remoteIpPrefix",
                    "line 11 and again on line 13",
                ],
            },
            Case {
                what: "unicode member port",
                cloud,
                yaml: membership(cloud, "    - ポート\n"),
                expect: vec!["bad", "spec.ports[0]"],
            },
        ]);
    }
    // Names the owner tag is derived from, and the owner UID itself.
    let with_metadata = |what, metadata: &str, field| Case {
        what,
        cloud: "huawei",
        yaml: format!(
            "apiVersion: secgroup.io/v1alpha1
kind: SecurityGroup
metadata:
{metadata}
spec:
  accountRef:
    name: huawei-prod
  rules: []
"
        ),
        expect: vec!["bad.yaml (document 1)", field],
    };
    cases.extend([
        with_metadata(
            "namespace with a slash (its owner tag would be another object's)",
            "  name: c\n  namespace: a/b",
            "metadata.namespace",
        ),
        with_metadata(
            "name with a slash",
            "  name: b/c\n  namespace: a",
            "metadata.name",
        ),
        with_metadata("upper-case name", "  name: Bad", "metadata.name"),
        with_metadata(
            "name with a newline",
            "  name: \"bad\\n[1/1] createGroup\"",
            "metadata.name",
        ),
        with_metadata(
            "uid with an escape sequence",
            "  name: bad\n  uid: \"u-1\\e[2J\"",
            "metadata.uid",
        ),
        Case {
            what: "two objects with one uid (the second would adopt the first one's group)",
            cloud: "huawei",
            yaml: "apiVersion: secgroup.io/v1alpha1
kind: SecurityGroup
metadata:
  name: bad
  uid: 0b9d2a5e-8c41-4f7e-9a3d-6e1f2c4b8a70
spec:
  accountRef:
    name: huawei-prod
---
apiVersion: secgroup.io/v1alpha1
kind: SecurityGroup
metadata:
  name: bad-twin
  uid: 0b9d2a5e-8c41-4f7e-9a3d-6e1f2c4b8a70
spec:
  accountRef:
    name: huawei-prod
"
            .into(),
            expect: vec![
                "bad.yaml (document 2)",
                "SecurityGroup default/bad-twin",
                "metadata.uid",
            ],
        },
    ]);
    // Hostile size: refused before any cloud call, in time linear in the
    // input (see benches/manifests.rs for how long each takes).
    let members = |n: usize| {
        let ports: String = (0..n).map(|i| format!("    - p-{i}\n")).collect();
        membership("huawei", &ports)
    };
    cases.extend([
        Case {
            what: "unclosed flow sequences after a key (quadratic for the old parser)",
            cloud: "huawei",
            yaml: format!("kind: {}", "[".repeat(100_000)),
            expect: vec!["bad.yaml (document 1)", "invalid YAML", "recursion limit"],
        },
        Case {
            what: "10,001 ports in a membership",
            cloud: "huawei",
            yaml: members(10_001),
            expect: vec![
                "SecurityGroupMembership default/bad",
                "spec.ports",
                "at most 10000 items",
            ],
        },
        Case {
            what: "a manifest file over 8 MiB",
            cloud: "huawei",
            yaml: members(700_000),
            expect: vec!["bad.yaml", "a manifest file may be at most 8.0 MiB"],
        },
        Case {
            what: "more than 10,000 objects",
            cloud: "huawei",
            yaml: (0..10_001)
                .map(|i| format!("---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s-{i}}}\n"))
                .collect(),
            expect: vec!["bad.yaml", "at most 10000"],
        },
        Case {
            what: "more than 100 CloudAccounts",
            cloud: "huawei",
            yaml: (0..101)
                .map(|i| {
                    format!(
                        "---\napiVersion: secgroup.io/v1alpha1\nkind: CloudAccount\nmetadata: {{name: a-{i}}}\n\
                         spec: {{provider: baidu, region: bj, credentialsSecretRef: {{name: k}}}}\n"
                    )
                })
                .collect(),
            expect: vec!["CloudAccount", "at most 100"],
        },
        group_spec_case(
            "201 rules",
            "huawei",
            &many_rules(201),
            "spec.rules",
        ),
        port_case(
            "101 groups on a port",
            "huawei",
            &many_groups(101),
            "spec.securityGroups",
        ),
    ]);
    // What one cloud does not have.
    cases.extend([
        rule_case(
            "Baidu port list",
            "baidu",
            "      protocol: tcp\n      ports: \"22,80\"\n      remoteIpPrefix: 10.0.0.0/8",
            "spec.rules[0].ports",
        ),
        rule_case(
            "Baidu deny",
            "baidu",
            "      protocol: tcp\n      action: deny\n      remoteIpPrefix: 10.0.0.0/8",
            "spec.rules[0].action",
        ),
        rule_case(
            "Baidu priority",
            "baidu",
            "      protocol: tcp\n      priority: 5\n      remoteIpPrefix: 10.0.0.0/8",
            "spec.rules[0].priority",
        ),
        rule_case(
            "Baidu address group",
            "baidu",
            "      protocol: tcp\n      remoteAddressGroupId: ag-1",
            "spec.rules[0].remoteAddressGroupId",
        ),
        rule_case(
            "Huawei priority 0",
            "huawei",
            "      protocol: tcp\n      priority: 0\n      remoteIpPrefix: 10.0.0.0/8",
            "spec.rules[0].priority",
        ),
        rule_case(
            "Huawei priority 101",
            "huawei",
            "      protocol: tcp\n      priority: 101\n      remoteIpPrefix: 10.0.0.0/8",
            "spec.rules[0].priority",
        ),
        port_case(
            "11 groups on a Baidu instance",
            "baidu",
            &format!(
                "  portId: i-1\n  securityGroups:\n{}",
                (0..11)
                    .map(|i| format!("    - id: g-{i}\n"))
                    .collect::<String>()
            ),
            "spec.securityGroups",
        ),
    ]);
    cases
}

fn examples(cloud: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(cloud)
}

async fn example_sim() -> SimHandle {
    let state = SimState::from_str_any(cli::SIM_STATE).expect("example state");
    sim::start(state, SimOptions::default())
        .await
        .expect("simulator starts")
}

/// Problems with one case, as text (empty: refused as it should be).
async fn check(case: &Case) -> Vec<String> {
    let label = format!("{} ({})", case.what, case.cloud);
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::copy(
        examples(case.cloud).join("account.yaml"),
        dir.path().join("account.yaml"),
    )
    .expect("copy the example account");
    std::fs::write(dir.path().join("bad.yaml"), &case.yaml).expect("write");
    let d = dir.path().display().to_string();
    let sim = example_sim().await;
    let mut problems = Vec::new();
    for cmd in ["plan", "apply"] {
        let r = run(&[cmd, "-f", &d, "--cloud", "sim"], &sim).await;
        if r.exit != Exit::Error {
            problems.push(format!(
                "{label}: {cmd} exited {:?}:\n{}{}",
                r.exit, r.out, r.err
            ));
            continue;
        }
        let named = r
            .err
            .lines()
            .any(|l| l.starts_with("error: ") && case.expect.iter().all(|e| l.contains(e)));
        if !named {
            problems.push(format!(
                "{label}: {cmd}: no error line naming {:?}:\n{}",
                case.expect,
                r.err.lines().take(5).collect::<Vec<_>>().join("\n")
            ));
        }
        if !r.out.is_empty() {
            problems.push(format!("{label}: {cmd} printed a plan"));
        }
    }
    let calls: u64 = sim.call_counts().values().sum();
    if calls != 0 {
        problems.push(format!(
            "{label}: {calls} cloud calls: {:?}",
            sim.call_counts()
        ));
    }
    sim.shutdown().await;
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_specs_are_refused_naming_the_field_with_zero_cloud_calls() {
    let cases = corpus();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    eprintln!("{} invalid manifests", cases.len());
    let mut problems = Vec::new();
    // Two at a time: each run is CPU-bound parsing and schema checking.
    let cases = std::sync::Arc::new(std::sync::Mutex::new(cases));
    let workers = (0..2).map(|_| {
        let cases = cases.clone();
        tokio::spawn(async move {
            let mut problems = Vec::new();
            loop {
                let Some(case) = cases.lock().expect("not poisoned").pop() else {
                    return problems;
                };
                problems.extend(check(&case).await);
            }
        })
    });
    for w in futures::future::join_all(workers).await {
        problems.extend(w.expect("worker finished"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// 10,000-entry lists, through the path the controller takes (the API
/// server has already applied the schema there; the code checks again):
/// validation and resolution leave the object out with an error naming
/// the field, and a sync of what remains makes zero cloud calls. (The
/// CLI's refusals of oversized lists are in the corpus above: its schema
/// check stops at `maxItems` without evaluating CEL on the items.)
#[tokio::test]
async fn ten_thousand_entry_lists_are_refused_with_zero_cloud_calls() {
    use secgroup_controller::crd::resolve::resolve;
    use secgroup_controller::crd::{
        CloudAccount, PortSecurityGroups, SecurityGroup, SecurityGroupMembership,
    };

    fn parse<T: serde::de::DeserializeOwned + kube::Resource>(yaml: &str) -> T {
        let mut obj: T = serde_saphyr::from_str(yaml).expect("the manifest parses");
        obj.meta_mut().namespace = Some("default".into());
        obj
    }

    for cloud in ["huawei", "baidu"] {
        let text = std::fs::read_to_string(examples(cloud).join("account.yaml")).expect("example");
        let account_doc = text
            .split("\n---")
            .find(|d| d.contains("kind: CloudAccount"))
            .expect("the example has a CloudAccount");
        let cloud_account: CloudAccount = parse(account_doc);
        let rules = group_spec_case("10,000 rules", cloud, &many_rules(10_000), "spec.rules");
        let groups = port_case(
            "10,000 groups on a port",
            cloud,
            &many_groups(10_000),
            "spec.securityGroups",
        );
        let members = format!(
            "apiVersion: secgroup.io/v1alpha1
kind: SecurityGroupMembership
metadata:
  name: bad-members
spec:
  accountRef:
    name: {}
  securityGroupId: sg-1
  ports:
{}    - p-0
",
            account(cloud),
            (0..10_000)
                .map(|i| format!("    - p-{i}\n"))
                .collect::<String>()
        );
        let group: SecurityGroup = parse(&rules.yaml);
        let port: PortSecurityGroups = parse(&groups.yaml);
        let membership: SecurityGroupMembership = parse(&members);

        let r = resolve(&cloud_account, &[group], &[port], &[membership]);
        let errors: Vec<String> = r
            .problems
            .values()
            .flat_map(|p| p.errors.iter().map(|e| e.to_string()))
            .collect();
        for (object, field) in [
            ("SecurityGroup/default/bad", "spec.rules"),
            ("PortSecurityGroups/default/bad", "spec.securityGroups"),
            (
                "SecurityGroupMembership/default/bad-members",
                "spec.ports[10000]",
            ),
        ] {
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with(object) && e.contains(field)),
                "{cloud}: no error for {object} naming {field}: {errors:?}"
            );
        }
        assert!(
            r.desired.groups.is_empty()
                && r.desired.ports.is_empty()
                && r.desired.memberships.is_empty(),
            "{cloud}: a refused object reached the desired state"
        );

        let sim = example_sim().await;
        let kind = r.desired.provider;
        let state = SimState::from_str_any(cli::SIM_STATE).expect("example state");
        let creds = state
            .accounts
            .iter()
            .find(|a| a.provider.as_str() == kind.to_string())
            .expect("the example state has the account");
        let client = secgroup_controller::cloud::connect(
            &secgroup_controller::cloud::ProviderSettings {
                kind,
                region: String::new(),
                project_id: creds.project_id.clone(),
                endpoint: Some(sim.url()),
                max_requests_per_second: None,
            },
            secgroup_controller::cloud::Credentials::new(
                creds.access_key.clone(),
                creds.secret_key.clone(),
            ),
            secgroup_controller::cloud::http::build_http_client(&Default::default())
                .expect("client"),
        )
        .expect("connects");
        let prepared = secgroup_controller::reconcile::prepare(
            client.as_ref(),
            r.desired.clone(),
            &Default::default(),
        )
        .await
        .expect("nothing to read fails");
        assert!(prepared.rejected.is_empty(), "{:?}", prepared.rejected);
        assert!(prepared.outcome.plan.is_empty());
        // An empty plan executes no step and makes no call.
        let report = secgroup_controller::reconcile::execute(
            client.as_ref(),
            &prepared.outcome.plan,
            &prepared.observation.observed,
            &mut |_| {},
        )
        .await;
        assert!(report.results.is_empty() && report.complete());
        let calls: u64 = sim.call_counts().values().sum();
        assert_eq!(calls, 0, "{cloud}: {:?}", sim.call_counts());
        sim.shutdown().await;
    }
}

/// Baidu rules carry only tcp, udp, icmp or all (the simulator, like the
/// cloud, refuses others with 400 `BadRequest`): validation must refuse
/// a protocol number or icmpv6 before any call.
#[tokio::test]
async fn baidu_protocols_the_cloud_lacks_are_refused_before_any_call() {
    let mut problems = Vec::new();
    for (what, proto) in [("protocol 47", "\"47\""), ("icmpv6", "icmpv6")] {
        let ether = if proto == "icmpv6" {
            "      remoteIpPrefix: 2001:db8::/32"
        } else {
            "      remoteIpPrefix: 10.0.0.0/8"
        };
        let case = rule_case(
            what,
            "baidu",
            &format!("      protocol: {proto}\n{ether}"),
            "spec.rules[0].protocol",
        );
        problems.extend(check(&case).await);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Keep the helper honest: a valid object is accepted (exit 0, calls made).
#[tokio::test]
async fn a_valid_object_passes_the_same_harness() {
    let case = rule_case(
        "valid",
        "huawei",
        "      protocol: tcp\n      ports: \"443\"\n      remoteIpPrefix: 10.0.0.0/8",
        "spec",
    );
    let problems = check(&case).await;
    assert!(
        problems.iter().any(|p| p.contains("exited Success")),
        "a valid object was refused: {problems:?}"
    );
}
