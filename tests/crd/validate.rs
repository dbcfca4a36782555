//! Spec validation in code: every check names the field, provider-specific
//! checks follow the account's provider.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use secgroup_controller::crd::validate::{
    intent_of, validate_account, validate_membership, validate_node_security_groups,
    validate_port_security_groups, validate_security_group,
};
use secgroup_controller::crd::{
    CloudAccount, CloudAccountSpec, DeletionPolicy, GroupRef, LocalObjectRef, MembershipPolicySpec,
    PortSecurityGroups, PortSecurityGroupsSpec, Provider, RuleAction, RuleDirection, RuleEthertype,
    RuleSpec, SecurityGroup, SecurityGroupMembership, SecurityGroupMembershipSpec,
    SecurityGroupSpec,
};
use secgroup_controller::crd::{
    NodeIdentity, NodeSecurityGroups, NodeSecurityGroupsSpec, PortSelection,
};
use secgroup_controller::model::{FieldError, Mode, ObjectKey, ProviderKind};

const NS: &str = "prod";

fn account(provider: Provider, project: Option<&str>) -> CloudAccount {
    let mut a = CloudAccount::new(
        "acct",
        CloudAccountSpec {
            provider,
            region: "cn-north-4".into(),
            project_id: project.map(str::to_string),
            endpoint: None,
            credentials_secret_ref: LocalObjectRef::new("keys"),
            max_requests_per_second: None,
            node_identity: None,
        },
    );
    a.metadata.namespace = Some(NS.into());
    a
}

fn group(name: &str, rules: Option<Vec<RuleSpec>>) -> SecurityGroup {
    let mut g = SecurityGroup::new(
        name,
        SecurityGroupSpec {
            account_ref: LocalObjectRef::new("acct"),
            group_id: None,
            name: None,
            description: None,
            vpc_id: Some("vpc-1".into()),
            rules,
            deletion_policy: None,
            rules_policy: None,
        },
    );
    g.metadata.namespace = Some(NS.into());
    g
}

fn tcp(ports: &str, cidr: &str) -> RuleSpec {
    RuleSpec {
        direction: RuleDirection::Ingress,
        protocol: Some("tcp".into()),
        ports: Some(ports.into()),
        remote_ip_prefix: Some(cidr.into()),
        ..Default::default()
    }
}

fn port(groups: Vec<GroupRef>) -> PortSecurityGroups {
    let mut p = PortSecurityGroups::new(
        "web-1",
        PortSecurityGroupsSpec {
            account_ref: LocalObjectRef::new("acct"),
            port_id: "port-1".into(),
            security_groups: groups,
            deletion_policy: DeletionPolicy::Retain,
        },
    );
    p.metadata.namespace = Some(NS.into());
    p
}

fn membership(spec: SecurityGroupMembershipSpec) -> SecurityGroupMembership {
    let mut m = SecurityGroupMembership::new("web-members", spec);
    m.metadata.namespace = Some(NS.into());
    m
}

fn by_ref(name: &str, ports: &[&str]) -> SecurityGroupMembershipSpec {
    SecurityGroupMembershipSpec {
        security_group_ref: Some(LocalObjectRef::new(name)),
        account_ref: None,
        security_group_id: None,
        ports: ports.iter().map(|p| p.to_string()).collect(),
        node_selector: None,
        port_selection: None,
        policy: MembershipPolicySpec::Additive,
        deletion_policy: DeletionPolicy::Retain,
    }
}

/// The fields the errors name, in order.
fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

fn assert_error(errors: &[FieldError], field: &str, needle: &str) {
    assert!(
        errors
            .iter()
            .any(|e| e.field == field && e.message.contains(needle)),
        "expected {field}: ...{needle}... in {errors:#?}"
    );
}

#[test]
fn account_checks() {
    assert_eq!(
        validate_account(&account(Provider::Huawei, Some("0a1b2c"))),
        []
    );
    assert_eq!(validate_account(&account(Provider::Baidu, None)), []);
    let errors = validate_account(&account(Provider::Huawei, None));
    assert_eq!(fields(&errors), ["spec.projectId"]);
    assert_eq!(
        errors[0].object,
        Some(ObjectKey::new("CloudAccount", NS, "acct"))
    );
    assert_eq!(
        errors[0].to_string(),
        "CloudAccount/prod/acct: spec.projectId: required for provider huawei"
    );

    let mut bad = account(Provider::Baidu, None);
    bad.spec.region = "BJ!".into();
    bad.spec.endpoint = Some("bcc.bj.baidubce.com".into());
    bad.spec.max_requests_per_second = Some(0);
    let errors = validate_account(&bad);
    assert_eq!(
        fields(&errors),
        ["spec.region", "spec.endpoint", "spec.maxRequestsPerSecond"]
    );
    let mut ok = account(Provider::Baidu, None);
    ok.spec.endpoint = Some("http://127.0.0.1:8443".into());
    assert_eq!(validate_account(&ok), []);
}

#[test]
fn rule_errors_name_the_rule_and_field() {
    let rules = vec![
        tcp("22", "10.0.0.0/8"),
        tcp("9000-8000", "10.0.0.0/8"),
        tcp("443", "10.0.0.300"),
        RuleSpec {
            direction: RuleDirection::Egress,
            ..Default::default()
        },
        RuleSpec {
            remote_group_id: Some("sg-1".into()),
            ..tcp("80", "10.0.0.0/8")
        },
        RuleSpec {
            protocol: Some("icmp".into()),
            ports: None,
            ethertype: Some(RuleEthertype::IPv6),
            remote_ip_prefix: Some("::/0".into()),
            ..Default::default()
        },
        RuleSpec {
            priority: Some(101),
            description: Some("<script>".into()),
            ..tcp("8080", "10.0.0.0/8")
        },
        RuleSpec {
            protocol: Some("icmp".into()),
            ..tcp("80", "10.0.0.0/8")
        },
    ];
    let errors = validate_security_group(&group("web", Some(rules)), ProviderKind::Huawei);
    assert_error(&errors, "spec.rules[1].ports", "starts after it ends");
    assert_error(&errors, "spec.rules[2].remoteIpPrefix", "not an IP address");
    assert_error(&errors, "spec.rules[3]", "exactly one of remoteIpPrefix");
    assert_error(&errors, "spec.rules[4]", "exactly one of remoteIpPrefix");
    assert_error(
        &errors,
        "spec.rules[5].protocol",
        "icmp needs ethertype IPv4",
    );
    assert_error(&errors, "spec.rules[6].priority", "outside 1-100");
    assert_error(&errors, "spec.rules[6].description", "'<' or '>'");
    assert_error(&errors, "spec.rules[7].ports", "only apply to tcp and udp");
    // Two remotes are reported once, on the rule.
    let rule4: Vec<_> = errors
        .iter()
        .filter(|e| e.field.starts_with("spec.rules[4]"))
        .collect();
    assert_eq!(rule4.len(), 1, "{rule4:#?}");
    // Rule 0 is fine.
    assert!(!errors.iter().any(|e| e.field.starts_with("spec.rules[0]")));
    for e in &errors {
        assert_eq!(e.object, Some(ObjectKey::new("SecurityGroup", NS, "web")));
    }
}

#[test]
fn valid_rules_in_every_remote_spelling_pass() {
    let rules = vec![
        tcp("22,80,443", "10.0.0.1"),
        RuleSpec {
            direction: RuleDirection::Egress,
            remote_group_ref: Some(LocalObjectRef::new("db")),
            ..Default::default()
        },
        RuleSpec {
            remote_group_id: Some("sg-1".into()),
            remote_ip_prefix: None,
            ..tcp("5432", "")
        },
        RuleSpec {
            remote_address_group_id: Some("ag-1".into()),
            action: Some(RuleAction::Deny),
            priority: Some(100),
            ..Default::default()
        },
        RuleSpec {
            protocol: Some("icmpv6".into()),
            remote_ip_prefix: Some("2001:db8::/32".into()),
            ..Default::default()
        },
    ];
    assert_eq!(
        validate_security_group(&group("web", Some(rules)), ProviderKind::Huawei),
        []
    );
}

#[test]
fn duplicate_rules_are_reported() {
    // Same rule after normalization: 10.0.0.1 = 10.0.0.1/32, 80,443 = 443,80.
    let rules = vec![
        tcp("80,443", "10.0.0.1"),
        tcp("22", "10.0.0.0/8"),
        tcp("443,80", "10.0.0.1/32"),
    ];
    let errors = validate_security_group(&group("web", Some(rules)), ProviderKind::Huawei);
    assert_eq!(fields(&errors), ["spec.rules[2]"]);
    assert!(errors[0].message.contains("same rule as spec.rules[0]"));
}

#[test]
fn baidu_rule_restrictions() {
    let rules = vec![
        tcp("22,80", "10.0.0.0/8"),
        RuleSpec {
            action: Some(RuleAction::Deny),
            priority: Some(5),
            ..tcp("22", "10.0.0.0/8")
        },
        RuleSpec {
            remote_address_group_id: Some("ag-1".into()),
            ..Default::default()
        },
    ];
    let g = group("web", Some(rules.clone()));
    let errors = validate_security_group(&g, ProviderKind::Baidu);
    assert_error(
        &errors,
        "spec.rules[0].ports",
        "list of ports is not supported",
    );
    assert_error(&errors, "spec.rules[1].action", "only allow");
    assert_error(&errors, "spec.rules[1].priority", "no priority");
    assert_error(
        &errors,
        "spec.rules[2].remoteAddressGroupId",
        "Huawei feature",
    );
    // The same rules are fine on Huawei.
    assert_eq!(validate_security_group(&g, ProviderKind::Huawei), []);
}

#[test]
fn baidu_needs_a_vpc_to_create_but_not_to_adopt() {
    let mut g = group("web", None);
    g.spec.vpc_id = None;
    let errors = validate_security_group(&g, ProviderKind::Baidu);
    assert_eq!(fields(&errors), ["spec.vpcId"]);
    assert_eq!(validate_security_group(&g, ProviderKind::Huawei), []);
    g.spec.group_id = Some("g-abc".into());
    assert_eq!(validate_security_group(&g, ProviderKind::Baidu), []);
}

#[test]
fn baidu_allows_fifty_rules_per_direction() {
    let rules = |n: u16, direction| -> Vec<RuleSpec> {
        (1..=n)
            .map(|p| RuleSpec {
                direction,
                ..tcp(&p.to_string(), "10.0.0.0/8")
            })
            .collect()
    };
    let mut fifty_each = rules(50, RuleDirection::Ingress);
    fifty_each.extend(rules(50, RuleDirection::Egress));
    assert_eq!(
        validate_security_group(&group("web", Some(fifty_each)), ProviderKind::Baidu),
        []
    );
    let errors = validate_security_group(
        &group("web", Some(rules(51, RuleDirection::Egress))),
        ProviderKind::Baidu,
    );
    assert_eq!(fields(&errors), ["spec.rules"]);
    assert!(errors[0].message.contains("51 egress rules"));
    let too_many = rules(201, RuleDirection::Ingress);
    let errors = validate_security_group(&group("web", Some(too_many)), ProviderKind::Huawei);
    assert_error(&errors, "spec.rules", "at most 200");
}

#[test]
fn group_names_and_descriptions() {
    let long = "a".repeat(65);
    let errors = validate_security_group(&group(&long, None), ProviderKind::Huawei);
    assert_error(&errors, "metadata.name", "set spec.name");
    let mut g = group(&long, None);
    g.spec.name = Some("web_tier-1.prod".into());
    assert_eq!(validate_security_group(&g, ProviderKind::Huawei), []);
    g.spec.name = Some("web tier".into());
    g.spec.description = Some("x".repeat(256));
    g.spec.group_id = Some("sg 1".into());
    let errors = validate_security_group(&g, ProviderKind::Huawei);
    assert_eq!(
        fields(&errors),
        ["spec.groupId", "spec.name", "spec.description"]
    );
}

#[test]
fn port_security_groups_checks() {
    let ok = port(vec![GroupRef::by_name("web"), GroupRef::by_id("sg-1")]);
    assert_eq!(validate_port_security_groups(&ok, ProviderKind::Huawei), []);

    let errors = validate_port_security_groups(&port(vec![]), ProviderKind::Huawei);
    assert_error(&errors, "spec.securityGroups", "at least one group");

    let both = GroupRef {
        name: Some("web".into()),
        id: Some("sg-1".into()),
    };
    let neither = GroupRef {
        name: None,
        id: None,
    };
    let errors = validate_port_security_groups(
        &port(vec![
            both,
            GroupRef::by_name("web"),
            neither,
            GroupRef::by_name("web"),
        ]),
        ProviderKind::Huawei,
    );
    assert_eq!(
        fields(&errors),
        [
            "spec.securityGroups[0]",
            "spec.securityGroups[2]",
            "spec.securityGroups[3]"
        ]
    );
    assert!(errors[2].message.contains("repeats spec.securityGroups[1]"));

    let eleven: Vec<GroupRef> = (0..11).map(|i| GroupRef::by_id(format!("g-{i}"))).collect();
    let errors = validate_port_security_groups(&port(eleven.clone()), ProviderKind::Baidu);
    assert_eq!(fields(&errors), ["spec.securityGroups"]);
    assert!(errors[0].message.contains("at most 10"), "{errors:?}");
    assert_eq!(
        validate_port_security_groups(&port(eleven), ProviderKind::Huawei),
        []
    );
}

#[test]
fn membership_checks() {
    assert_eq!(
        validate_membership(
            &membership(by_ref("web", &["p-1", "p-2"])),
            ProviderKind::Huawei
        ),
        []
    );
    let by_id = SecurityGroupMembershipSpec {
        security_group_ref: None,
        account_ref: Some(LocalObjectRef::new("acct")),
        security_group_id: Some("sg-1".into()),
        ..by_ref("unused", &[])
    };
    assert_eq!(
        validate_membership(&membership(by_id.clone()), ProviderKind::Huawei),
        []
    );
    let both = SecurityGroupMembershipSpec {
        security_group_ref: Some(LocalObjectRef::new("web")),
        ..by_id.clone()
    };
    let errors = validate_membership(&membership(both), ProviderKind::Huawei);
    assert_error(&errors, "spec", "give securityGroupRef, or accountRef");
    let id_only = SecurityGroupMembershipSpec {
        account_ref: None,
        ..by_id
    };
    let errors = validate_membership(&membership(id_only), ProviderKind::Huawei);
    assert_error(&errors, "spec", "give securityGroupRef, or accountRef");

    let errors = validate_membership(
        &membership(by_ref("web", &["p-1", "p 2", "p-1"])),
        ProviderKind::Huawei,
    );
    assert_eq!(fields(&errors), ["spec.ports[1]", "spec.ports[2]"]);
    assert!(errors[1].message.contains("listed twice"));
}

fn selector(yaml: serde_json::Value) -> LabelSelector {
    serde_json::from_value(yaml).expect("a LabelSelector")
}

#[test]
fn membership_node_selector_is_an_alternative_to_ports() {
    let nodes = SecurityGroupMembershipSpec {
        node_selector: Some(selector(
            serde_json::json!({"matchLabels": {"pool": "web"}}),
        )),
        port_selection: Some(PortSelection::All),
        ..by_ref("web", &[])
    };
    assert_eq!(
        validate_membership(&membership(nodes.clone()), ProviderKind::Huawei),
        []
    );
    let both = SecurityGroupMembershipSpec {
        ports: vec!["p-1".into()],
        ..nodes.clone()
    };
    let errors = validate_membership(&membership(both), ProviderKind::Huawei);
    assert_error(&errors, "spec.nodeSelector", "not both");
    let stray = SecurityGroupMembershipSpec {
        node_selector: None,
        ..nodes.clone()
    };
    let errors = validate_membership(&membership(stray), ProviderKind::Huawei);
    assert_error(&errors, "spec.portSelection", "needs nodeSelector");
    let bad = SecurityGroupMembershipSpec {
        node_selector: Some(selector(serde_json::json!({
            "matchExpressions": [{"key": "pool", "operator": "In"}]
        }))),
        ..nodes
    };
    let errors = validate_membership(&membership(bad), ProviderKind::Huawei);
    assert_error(
        &errors,
        "spec.nodeSelector.matchExpressions[0].values",
        "at least one value",
    );
}

#[test]
fn node_security_groups_checks() {
    let object = |selector_json: serde_json::Value, groups: Vec<GroupRef>| {
        let mut n = NodeSecurityGroups::new(
            "web-nodes",
            NodeSecurityGroupsSpec {
                account_ref: LocalObjectRef::new("acct"),
                node_selector: selector(selector_json),
                port_selection: PortSelection::Primary,
                security_groups: groups,
                deletion_policy: DeletionPolicy::Retain,
            },
        );
        n.metadata.namespace = Some(NS.into());
        n
    };
    let ok = object(
        serde_json::json!({"matchLabels": {"pool": "web"}}),
        vec![GroupRef::by_name("web"), GroupRef::by_id("sg-1")],
    );
    assert_eq!(validate_node_security_groups(&ok, ProviderKind::Huawei), []);
    let bad = object(
        serde_json::json!({"matchLabels": {"Bad Key": "x"}}),
        vec![GroupRef::by_id("sg-1"), GroupRef::by_id("sg-1")],
    );
    let errors = validate_node_security_groups(&bad, ProviderKind::Huawei);
    assert_eq!(
        fields(&errors),
        [
            "spec.nodeSelector.matchLabels[\"Bad Key\"]",
            "spec.securityGroups[1]"
        ]
    );
    let many: Vec<GroupRef> = (0..11).map(|i| GroupRef::by_id(format!("g{i}"))).collect();
    let errors =
        validate_node_security_groups(&object(serde_json::json!({}), many), ProviderKind::Baidu);
    assert_error(&errors, "spec.securityGroups", "at most 10");
}

#[test]
fn account_node_identity_checks() {
    let with = |identity: NodeIdentity| {
        let mut a = account(Provider::Huawei, Some("proj1"));
        a.spec.node_identity = Some(identity);
        validate_account(&a)
    };
    assert_eq!(
        with(NodeIdentity {
            label: Some("example.com/instance-id".into()),
            ..NodeIdentity::default()
        }),
        []
    );
    let errors = with(NodeIdentity {
        label: Some("a".into()),
        annotation: Some("b".into()),
        ..NodeIdentity::default()
    });
    assert_error(&errors, "spec.nodeIdentity", "at most one of");
    let errors = with(NodeIdentity {
        provider_id_pattern: Some("^x://.+$".into()),
        ..NodeIdentity::default()
    });
    assert_error(
        &errors,
        "spec.nodeIdentity.providerIdPattern",
        "one capture group",
    );
    let errors = with(NodeIdentity {
        annotation: Some("not a key!".into()),
        ..NodeIdentity::default()
    });
    assert_error(&errors, "spec.nodeIdentity.annotation", "label key");
}

#[test]
fn intent_from_annotations() {
    let with = |pairs: &[(&str, &str)]| {
        let mut g = group("web", None);
        g.metadata.annotations = Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
        intent_of(&g)
    };
    let plain = with(&[]).unwrap();
    assert_eq!(plain.mode, Mode::Apply);
    assert!(!plain.allow_mass_change);
    assert_eq!(plain.owner, ObjectKey::new("SecurityGroup", NS, "web"));
    assert_eq!(
        with(&[("secgroup.io/mode", "observe")]).unwrap().mode,
        Mode::Observe
    );
    assert_eq!(
        with(&[("secgroup.io/paused", "true")]).unwrap().mode,
        Mode::Paused
    );
    // Paused wins over observe.
    assert_eq!(
        with(&[
            ("secgroup.io/paused", "true"),
            ("secgroup.io/mode", "observe")
        ])
        .unwrap()
        .mode,
        Mode::Paused
    );
    assert_eq!(
        with(&[("secgroup.io/paused", "false")]).unwrap().mode,
        Mode::Apply
    );
    assert!(
        with(&[("secgroup.io/allow-mass-change", "true")])
            .unwrap()
            .allow_mass_change
    );
    let errors = with(&[
        ("secgroup.io/mode", "dry-run"),
        ("secgroup.io/paused", "yes"),
    ])
    .unwrap_err();
    assert_eq!(
        fields(&errors),
        [
            "metadata.annotations[\"secgroup.io/paused\"]",
            "metadata.annotations[\"secgroup.io/mode\"]"
        ]
    );
}

#[test]
fn baidu_rules_differing_only_in_ethertype_are_one_rule() {
    let from_group = |eth| RuleSpec {
        direction: RuleDirection::Ingress,
        protocol: Some("tcp".into()),
        ports: Some("22".into()),
        remote_group_id: Some("g-peer".into()),
        ethertype: Some(eth),
        ..Default::default()
    };
    let g = group(
        "web",
        Some(vec![
            from_group(RuleEthertype::IPv4),
            from_group(RuleEthertype::IPv6),
        ]),
    );
    let errors = validate_security_group(&g, ProviderKind::Baidu);
    assert!(
        errors
            .iter()
            .any(|e| e.field == "spec.rules[1].ethertype" && e.message.contains("spec.rules[0]")),
        "{errors:?}"
    );
    // On Huawei the ethertype is part of the rule: both are fine.
    assert!(validate_security_group(&g, ProviderKind::Huawei).is_empty());
}

/// Names as the API server checks them. The owner tag of a created group
/// comes from `namespace/name`, so a `/` in either part would let two
/// objects share one tag (and one group).
#[test]
fn names_namespaces_and_uids_are_checked_as_the_api_server_does() {
    let fields = |g: &SecurityGroup| -> Vec<String> {
        validate_security_group(g, ProviderKind::Huawei)
            .into_iter()
            .map(|e| e.field)
            .collect()
    };
    assert!(fields(&group("web.tier-1", None)).is_empty());
    for bad in ["b/c", "Web", "web.", "-web", "a..b", &"x".repeat(254)] {
        let g = group(bad, Some(vec![]));
        assert!(
            fields(&g).contains(&"metadata.name".to_string()),
            "{bad:?}: {:?}",
            fields(&g)
        );
    }
    for bad in ["a/b", "Prod", "prod.eu", &"n".repeat(64)] {
        let mut g = group("web", None);
        g.metadata.namespace = Some(bad.to_string());
        assert_eq!(fields(&g), ["metadata.namespace"], "{bad:?}");
    }
    let mut g = group("web", None);
    g.metadata.uid = Some("uid\nwith a newline".into());
    assert_eq!(fields(&g), ["metadata.uid"]);
    g.metadata.uid = Some("0b9d2a5e-8c41-4f7e-9a3d-6e1f2c4b8a70".into());
    assert!(fields(&g).is_empty());

    // Every kind checks its metadata.
    let mut p = port(vec![GroupRef::by_id("sg-1")]);
    p.metadata.name = Some("web/1".into());
    let errors = validate_port_security_groups(&p, ProviderKind::Huawei);
    assert!(
        errors.iter().any(|e| e.field == "metadata.name"),
        "{errors:?}"
    );
    let mut a = account(Provider::Huawei, Some("proj"));
    a.metadata.namespace = Some("a/b".into());
    let errors = validate_account(&a);
    assert!(
        errors.iter().any(|e| e.field == "metadata.namespace"),
        "{errors:?}"
    );
}

#[test]
fn control_characters_in_descriptions_are_refused() {
    let mut rule = tcp("22", "10.0.0.0/8");
    rule.description = Some("ssh\n[2/2] deleteGroup".into());
    let mut g = group("web", Some(vec![rule]));
    g.spec.description = Some("web\u{1b}[2K".into());
    let errors = validate_security_group(&g, ProviderKind::Huawei);
    assert_eq!(
        errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
        ["spec.description", "spec.rules[0].description"]
    );
    assert!(
        errors[0].message.contains(r"\u{1b} at character 4"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].message.contains(r"\n at character 4"),
        "{}",
        errors[1]
    );
    // Other text is fine, in any script.
    g.spec.description = Some("網頁 tier – front".into());
    g.spec.rules = Some(vec![tcp("22", "10.0.0.0/8")]);
    assert_eq!(validate_security_group(&g, ProviderKind::Huawei), []);
}

/// `010.0.0.0/8` was read as `10.0.0.0/8` and `ports: ""` as all ports
/// (while `"0"` is refused): both are refused, with what to write instead.
#[test]
fn ambiguous_spellings_are_refused_not_guessed() {
    for (prefix, write) in [
        ("010.0.0.0/8", "10.0.0.0/8"),
        ("10.0.0.010", "10.0.0.10"),
        ("10.00.0.0/16", "10.0.0.0/16"),
        ("::ffff:010.1.2.3", "::ffff:10.1.2.3"),
    ] {
        let g = group("web", Some(vec![tcp("22", prefix)]));
        let errors = validate_security_group(&g, ProviderKind::Huawei);
        assert_eq!(
            fields(&errors),
            ["spec.rules[0].remoteIpPrefix"],
            "{prefix}"
        );
        assert!(
            errors[0].message.contains(&format!("write {write}")),
            "{}",
            errors[0]
        );
    }
    for fine in [
        "10.0.0.0/8",
        "0.0.0.0/0",
        "100.64.0.0/10",
        "2001:0db8::0001/128",
    ] {
        let g = group("web", Some(vec![tcp("22", fine)]));
        assert_eq!(
            validate_security_group(&g, ProviderKind::Huawei),
            [],
            "{fine}"
        );
    }
    for ports in ["", " "] {
        let g = group("web", Some(vec![tcp(ports, "10.0.0.0/8")]));
        let errors = validate_security_group(&g, ProviderKind::Huawei);
        assert_eq!(fields(&errors), ["spec.rules[0].ports"], "{ports:?}");
        assert!(errors[0].message.contains("ambiguous"), "{}", errors[0]);
    }
    let mut all = tcp("all", "10.0.0.0/8");
    assert_eq!(
        validate_security_group(&group("web", Some(vec![all.clone()])), ProviderKind::Huawei),
        []
    );
    all.ports = None;
    assert_eq!(
        validate_security_group(&group("web", Some(vec![all])), ProviderKind::Huawei),
        []
    );
}
