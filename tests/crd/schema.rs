//! The committed CRD YAML matches the code, and objects are checked against
//! the generated schemas (CEL rules included).

use secgroup_controller::crd;
use secgroup_controller::crd::schema_check::{check_against_schema, check_update_against_schema};
use serde_json::{Value, json};

const COMMITTED: &str = "crds/secgroup.io.yaml";

/// Fails when `crds/secgroup.io.yaml` differs from what the code generates.
/// Regenerate with `cargo run -- crdgen > crds/secgroup.io.yaml`, or
/// `UPDATE_CRDS=1 cargo test --test crd`.
#[test]
fn committed_crds_match_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    let generated = crd::crds_yaml();
    if std::env::var_os("UPDATE_CRDS").is_some() {
        // CI must compare, never regenerate.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "UPDATE_CRDS is for local use; CI compares the committed YAML"
        );
        std::fs::write(&path, &generated).expect("write crds/secgroup.io.yaml");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{COMMITTED} is out of date with the code; regenerate it with \
         `cargo run -- crdgen > {COMMITTED}` (or `UPDATE_CRDS=1 cargo test --test crd`) \
         and commit the result"
    );
}

fn object(kind: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "secgroup.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "prod"},
        "spec": spec,
    })
}

fn group_with_rule(rule: Value) -> Value {
    object(
        "SecurityGroup",
        json!({"accountRef": {"name": "acct"}, "rules": [rule]}),
    )
}

/// Asserts the object is accepted, or rejected with a message containing
/// `expect` (which also names the field).
fn assert_verdict(case: &str, obj: &Value, errors: Vec<String>, expect: Option<&str>) {
    match expect {
        None => assert!(
            errors.is_empty(),
            "{case}: expected accepted, got {errors:?}\n{obj}"
        ),
        Some(needle) => assert!(
            errors.iter().any(|e| e.contains(needle)),
            "{case}: expected an error containing {needle:?}, got {errors:?}\n{obj}"
        ),
    }
}

#[test]
fn rule_cel_rules_accept_and_reject() {
    let cases: &[(&str, Value, Option<&str>)] = &[
        // Exactly one remote.
        (
            "cidr remote",
            json!({"direction": "ingress", "protocol": "tcp", "ports": "443", "remoteIpPrefix": "10.0.0.0/8"}),
            None,
        ),
        (
            "group ref remote",
            json!({"direction": "ingress", "remoteGroupRef": {"name": "web"}}),
            None,
        ),
        (
            "group id remote",
            json!({"direction": "egress", "remoteGroupId": "sg-1"}),
            None,
        ),
        (
            "address group remote",
            json!({"direction": "ingress", "remoteAddressGroupId": "ag-1"}),
            None,
        ),
        (
            "no remote",
            json!({"direction": "ingress", "protocol": "tcp"}),
            Some("spec.rules[0]: give exactly one of remoteIpPrefix"),
        ),
        (
            "two remotes",
            json!({"direction": "ingress", "remoteIpPrefix": "10.0.0.0/8", "remoteGroupId": "sg-1"}),
            Some("give exactly one of"),
        ),
        // Port range order (and the 1-65535 pattern).
        (
            "range low-high",
            json!({"direction": "ingress", "protocol": "tcp", "ports": "8000-9000", "remoteIpPrefix": "0.0.0.0/0"}),
            None,
        ),
        (
            "list with ranges",
            json!({"direction": "ingress", "protocol": "udp", "ports": "22,80-81,443", "remoteIpPrefix": "0.0.0.0/0"}),
            None,
        ),
        (
            "single-port range",
            json!({"direction": "ingress", "protocol": "tcp", "ports": "80-80", "remoteIpPrefix": "0.0.0.0/0"}),
            None,
        ),
        (
            "range high-low",
            json!({"direction": "ingress", "protocol": "tcp", "ports": "9000-8000", "remoteIpPrefix": "0.0.0.0/0"}),
            Some("spec.rules[0].ports: port ranges must be written low-high"),
        ),
        (
            "second range high-low",
            json!({"direction": "ingress", "protocol": "tcp", "ports": "22,443-80", "remoteIpPrefix": "0.0.0.0/0"}),
            Some("low-high"),
        ),
        (
            "port above 65535",
            json!({"direction": "ingress", "protocol": "tcp", "ports": "65536", "remoteIpPrefix": "0.0.0.0/0"}),
            Some("spec.rules[0].ports: \"65536\" does not match"),
        ),
        (
            "port zero",
            json!({"direction": "ingress", "protocol": "tcp", "ports": "0", "remoteIpPrefix": "0.0.0.0/0"}),
            Some("spec.rules[0].ports"),
        ),
        (
            "all ports word",
            json!({"direction": "ingress", "protocol": "tcp", "ports": "all", "remoteIpPrefix": "0.0.0.0/0"}),
            None,
        ),
        (
            "0-65535 means all",
            json!({"direction": "ingress", "protocol": "tcp", "ports": "0-65535", "remoteIpPrefix": "0.0.0.0/0"}),
            None,
        ),
        // icmp / IPv4, icmpv6 / IPv6.
        (
            "icmp default ethertype",
            json!({"direction": "ingress", "protocol": "icmp", "remoteIpPrefix": "10.0.0.0/8"}),
            None,
        ),
        (
            "icmp with IPv4",
            json!({"direction": "ingress", "protocol": "icmp", "ethertype": "IPv4", "remoteIpPrefix": "10.0.0.0/8"}),
            None,
        ),
        (
            "icmp with IPv6",
            json!({"direction": "ingress", "protocol": "icmp", "ethertype": "IPv6", "remoteIpPrefix": "::/0"}),
            Some("spec.rules[0].protocol: icmp needs ethertype IPv4"),
        ),
        (
            "icmp (1) with IPv6 remote",
            json!({"direction": "ingress", "protocol": "1", "remoteIpPrefix": "2001:db8::/32"}),
            Some("icmp needs ethertype IPv4"),
        ),
        (
            "icmpv6 default ethertype",
            json!({"direction": "ingress", "protocol": "icmpv6", "remoteGroupId": "sg-1"}),
            None,
        ),
        (
            "icmpv6 with IPv6",
            json!({"direction": "ingress", "protocol": "icmpv6", "ethertype": "IPv6", "remoteIpPrefix": "::/0"}),
            None,
        ),
        (
            "icmpv6 with IPv4",
            json!({"direction": "ingress", "protocol": "icmpv6", "ethertype": "IPv4", "remoteIpPrefix": "10.0.0.0/8"}),
            Some("spec.rules[0].protocol: icmpv6 needs ethertype IPv6"),
        ),
        (
            "icmpv6 (58) with IPv4 remote",
            json!({"direction": "ingress", "protocol": "58", "remoteIpPrefix": "10.0.0.0/8"}),
            Some("icmpv6 needs ethertype IPv6"),
        ),
        // Remote prefix family against ethertype.
        (
            "IPv6 prefix, IPv6",
            json!({"direction": "egress", "ethertype": "IPv6", "remoteIpPrefix": "2001:db8::1"}),
            None,
        ),
        (
            "IPv6 prefix, IPv4",
            json!({"direction": "egress", "ethertype": "IPv4", "remoteIpPrefix": "2001:db8::/32"}),
            Some("spec.rules[0].remoteIpPrefix: remoteIpPrefix does not match ethertype"),
        ),
        (
            "IPv4 prefix, IPv6",
            json!({"direction": "egress", "ethertype": "IPv6", "remoteIpPrefix": "10.0.0.1"}),
            Some("does not match ethertype"),
        ),
        // Ports only for tcp/udp.
        (
            "ports with icmp",
            json!({"direction": "ingress", "protocol": "icmp", "ports": "80", "remoteIpPrefix": "10.0.0.0/8"}),
            Some("spec.rules[0].ports: ports only apply to tcp and udp"),
        ),
        (
            "ports without protocol",
            json!({"direction": "ingress", "ports": "80", "remoteIpPrefix": "10.0.0.0/8"}),
            Some("ports only apply to tcp and udp"),
        ),
        (
            "all ports with icmp",
            json!({"direction": "ingress", "protocol": "icmp", "ports": "all", "remoteIpPrefix": "10.0.0.0/8"}),
            None,
        ),
        (
            "ports with 6",
            json!({"direction": "ingress", "protocol": "6", "ports": "22", "remoteIpPrefix": "10.0.0.0/8"}),
            None,
        ),
    ];
    for (case, rule, expect) in cases {
        let obj = group_with_rule(rule.clone());
        assert_verdict(case, &obj, check_against_schema(&obj), *expect);
    }
}

#[test]
fn rule_schema_fields_accept_and_reject() {
    let base = json!({"direction": "ingress", "protocol": "tcp", "ports": "22", "remoteIpPrefix": "10.0.0.0/8"});
    let with = |k: &str, v: Value| {
        let mut r = base.clone();
        r[k] = v;
        r
    };
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        (
            "bad direction",
            with("direction", json!("inbound")),
            Some("spec.rules[0].direction: \"inbound\" is not one of"),
        ),
        (
            "protocol number",
            json!({"direction": "ingress", "protocol": "47", "remoteIpPrefix": "10.0.0.0/8"}),
            None,
        ),
        (
            "protocol 256",
            with("protocol", json!("256")),
            Some("spec.rules[0].protocol"),
        ),
        (
            "protocol word",
            with("protocol", json!("gre")),
            Some("spec.rules[0].protocol"),
        ),
        ("priority 1", with("priority", json!(1)), None),
        ("priority 100", with("priority", json!(100)), None),
        (
            "priority 0",
            with("priority", json!(0)),
            Some("spec.rules[0].priority: 0 is below the minimum"),
        ),
        (
            "priority 101",
            with("priority", json!(101)),
            Some("spec.rules[0].priority: 101 is above the maximum"),
        ),
        ("action deny", with("action", json!("deny")), None),
        (
            "action drop",
            with("action", json!("drop")),
            Some("spec.rules[0].action"),
        ),
        (
            "ethertype lowercase",
            with("ethertype", json!("ipv4")),
            Some("spec.rules[0].ethertype"),
        ),
        (
            "description ok",
            with("description", json!("ssh from office")),
            None,
        ),
        (
            "description angle",
            with("description", json!("<b>")),
            Some("spec.rules[0].description"),
        ),
        (
            "description long",
            with("description", json!("x".repeat(256))),
            Some("at most 255 characters"),
        ),
        (
            "prefix not an address",
            with("remoteIpPrefix", json!("example.com")),
            Some("spec.rules[0].remoteIpPrefix"),
        ),
        (
            "prefix length 33",
            with("remoteIpPrefix", json!("10.0.0.0/33")),
            Some("spec.rules[0].remoteIpPrefix"),
        ),
        (
            "unknown field",
            with("port", json!("22")),
            Some("spec.rules[0].port: unknown field"),
        ),
        (
            "missing direction",
            json!({"remoteIpPrefix": "10.0.0.0/8"}),
            Some("spec.rules[0].direction: required"),
        ),
    ];
    for (case, rule, expect) in cases {
        let obj = group_with_rule(rule);
        assert_verdict(case, &obj, check_against_schema(&obj), expect);
    }
}

#[test]
fn group_spec_limits() {
    let rule = json!({"direction": "ingress", "remoteIpPrefix": "10.0.0.0/8"});
    let many = object(
        "SecurityGroup",
        json!({"accountRef": {"name": "acct"}, "rules": vec![rule; 201]}),
    );
    assert_verdict(
        "201 rules",
        &many,
        check_against_schema(&many),
        Some("spec.rules: must have at most 200 items"),
    );
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("minimal", json!({"accountRef": {"name": "acct"}}), None),
        (
            "adopt",
            json!({"accountRef": {"name": "acct"}, "groupId": "sg-123", "deletionPolicy": "Delete"}),
            None,
        ),
        (
            "no account",
            json!({"name": "web"}),
            Some("spec.accountRef: required"),
        ),
        (
            "name with space",
            json!({"accountRef": {"name": "acct"}, "name": "web tier"}),
            Some("spec.name"),
        ),
        (
            "name 65 long",
            json!({"accountRef": {"name": "acct"}, "name": "a".repeat(65)}),
            Some("spec.name: must be at most 64"),
        ),
        (
            "name with dots",
            json!({"accountRef": {"name": "acct"}, "name": "web_1.prod-a"}),
            None,
        ),
        (
            "bad policy",
            json!({"accountRef": {"name": "acct"}, "deletionPolicy": "Orphan"}),
            Some("spec.deletionPolicy"),
        ),
        (
            "description angle",
            json!({"accountRef": {"name": "acct"}, "description": "a>b"}),
            Some("spec.description"),
        ),
    ];
    for (case, spec, expect) in cases {
        let obj = object("SecurityGroup", spec);
        assert_verdict(case, &obj, check_against_schema(&obj), expect);
    }
}

#[test]
fn account_rules() {
    let huawei = json!({"provider": "huawei", "region": "cn-north-4", "projectId": "0123abcd", "credentialsSecretRef": {"name": "hw-keys"}});
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("huawei", huawei.clone(), None),
        (
            "baidu without project",
            json!({"provider": "baidu", "region": "bj", "credentialsSecretRef": {"name": "k"}, "maxRequestsPerSecond": 5}),
            None,
        ),
        (
            "huawei without project",
            json!({"provider": "huawei", "region": "cn-north-4", "credentialsSecretRef": {"name": "k"}}),
            Some("spec.projectId: projectId is required for provider huawei"),
        ),
        (
            "unknown provider",
            json!({"provider": "aws", "region": "us-east-1", "credentialsSecretRef": {"name": "k"}}),
            Some("spec.provider"),
        ),
        (
            "zero rate",
            json!({"provider": "baidu", "region": "bj", "credentialsSecretRef": {"name": "k"}, "maxRequestsPerSecond": 0}),
            Some("spec.maxRequestsPerSecond: 0 is below the minimum"),
        ),
        (
            "endpoint",
            json!({"provider": "baidu", "region": "bj", "credentialsSecretRef": {"name": "k"}, "endpoint": "http://127.0.0.1:8080"}),
            None,
        ),
        (
            "endpoint without scheme",
            json!({"provider": "baidu", "region": "bj", "credentialsSecretRef": {"name": "k"}, "endpoint": "bcc.bj.baidubce.com"}),
            Some("spec.endpoint"),
        ),
    ];
    for (case, spec, expect) in cases {
        let obj = object("CloudAccount", spec);
        assert_verdict(case, &obj, check_against_schema(&obj), expect);
    }
    // provider is immutable.
    let old = object("CloudAccount", huawei.clone());
    let mut new = old.clone();
    new["spec"]["provider"] = json!("baidu");
    assert_verdict(
        "provider change",
        &new,
        check_update_against_schema(&old, &new),
        Some("spec.provider: provider is immutable"),
    );
    let mut new = old.clone();
    new["spec"]["region"] = json!("cn-east-3");
    assert_verdict(
        "region change",
        &new,
        check_update_against_schema(&old, &new),
        None,
    );
}

#[test]
fn immutable_account_ref_and_port_id() {
    let sg = object("SecurityGroup", json!({"accountRef": {"name": "a"}}));
    let mut moved = sg.clone();
    moved["spec"]["accountRef"]["name"] = json!("b");
    assert_verdict(
        "sg accountRef change",
        &moved,
        check_update_against_schema(&sg, &moved),
        Some("spec.accountRef: accountRef is immutable"),
    );
    let mut renamed = sg.clone();
    renamed["spec"]["name"] = json!("other");
    assert_verdict(
        "sg name change",
        &renamed,
        check_update_against_schema(&sg, &renamed),
        None,
    );
    // On create, transition rules do not apply.
    assert_verdict("sg create", &moved, check_against_schema(&moved), None);

    let psg = object(
        "PortSecurityGroups",
        json!({"accountRef": {"name": "a"}, "portId": "p-1", "securityGroups": [{"name": "web"}]}),
    );
    let mut new = psg.clone();
    new["spec"]["portId"] = json!("p-2");
    assert_verdict(
        "portId change",
        &new,
        check_update_against_schema(&psg, &new),
        Some("spec.portId: portId is immutable"),
    );
    let mut new = psg.clone();
    new["spec"]["accountRef"]["name"] = json!("b");
    assert_verdict(
        "psg accountRef change",
        &new,
        check_update_against_schema(&psg, &new),
        Some("spec.accountRef: accountRef is immutable"),
    );
    let mut new = psg.clone();
    new["spec"]["securityGroups"] = json!([{"id": "sg-9"}, {"name": "web"}]);
    assert_verdict(
        "psg groups change",
        &new,
        check_update_against_schema(&psg, &new),
        None,
    );
}

#[test]
fn port_security_groups_rules() {
    let spec = |groups: Value| json!({"accountRef": {"name": "a"}, "portId": "p-1", "securityGroups": groups});
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        (
            "name and id entries",
            spec(json!([{"name": "web"}, {"id": "sg-1"}])),
            None,
        ),
        (
            "both name and id",
            spec(json!([{"name": "web", "id": "sg-1"}])),
            Some("spec.securityGroups[0]: give exactly one of name or id"),
        ),
        (
            "neither",
            spec(json!([{}])),
            Some("spec.securityGroups[0]: give exactly one of name or id"),
        ),
        (
            "empty list",
            spec(json!([])),
            Some("spec.securityGroups: must have at least 1 items"),
        ),
        (
            "repeated",
            spec(json!([{"name": "web"}, {"id": "sg-1"}, {"name": "web"}])),
            Some("spec.securityGroups: a group may be listed only once"),
        ),
        (
            "too many",
            spec(json!(
                (0..101)
                    .map(|i| json!({"id": format!("sg-{i}")}))
                    .collect::<Vec<_>>()
            )),
            Some("at most 100 items"),
        ),
        (
            "bad policy",
            json!({"accountRef": {"name": "a"}, "portId": "p-1", "securityGroups": [{"id": "g"}], "deletionPolicy": "delete"}),
            Some("spec.deletionPolicy"),
        ),
        (
            "no port",
            json!({"accountRef": {"name": "a"}, "securityGroups": [{"id": "g"}]}),
            Some("spec.portId: required"),
        ),
    ];
    for (case, spec, expect) in cases {
        let obj = object("PortSecurityGroups", spec);
        assert_verdict(case, &obj, check_against_schema(&obj), expect);
    }
}

#[test]
fn node_security_groups_rules() {
    let spec = |extra: Value| {
        let mut s = json!({"accountRef": {"name": "a"}, "nodeSelector": {"matchLabels": {"pool": "web"}}, "securityGroups": [{"name": "web"}, {"id": "sg-1"}]});
        for (k, v) in extra.as_object().into_iter().flatten() {
            s[k] = v.clone();
        }
        s
    };
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("plain", spec(json!({})), None),
        ("all ports", spec(json!({"portSelection": "All"})), None),
        (
            "bad port selection",
            spec(json!({"portSelection": "primary"})),
            Some("spec.portSelection"),
        ),
        (
            "no selector",
            json!({"accountRef": {"name": "a"}, "securityGroups": [{"id": "g"}]}),
            Some("spec.nodeSelector: required"),
        ),
        (
            "no groups",
            spec(json!({"securityGroups": []})),
            Some("spec.securityGroups: must have at least 1 items"),
        ),
        (
            "repeated group",
            spec(json!({"securityGroups": [{"id": "g"}, {"id": "g"}]})),
            Some("a group may be listed only once"),
        ),
    ];
    for (case, spec, expect) in cases {
        let obj = object("NodeSecurityGroups", spec);
        assert_verdict(case, &obj, check_against_schema(&obj), expect);
    }
    let before = object("NodeSecurityGroups", spec(json!({})));
    let mut moved = before.clone();
    moved["spec"]["accountRef"]["name"] = json!("b");
    assert_verdict(
        "account change",
        &moved,
        check_update_against_schema(&before, &moved),
        Some("accountRef is immutable"),
    );
}

#[test]
fn membership_rules() {
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        (
            "by ref",
            json!({"securityGroupRef": {"name": "web"}, "ports": ["p-1", "p-2"]}),
            None,
        ),
        (
            "by account and id",
            json!({"accountRef": {"name": "a"}, "securityGroupId": "sg-1", "ports": [], "policy": "Exclusive"}),
            None,
        ),
        (
            "ref and id",
            json!({"securityGroupRef": {"name": "web"}, "securityGroupId": "sg-1"}),
            Some("spec: give securityGroupRef, or accountRef together with securityGroupId"),
        ),
        (
            "ref and account",
            json!({"securityGroupRef": {"name": "web"}, "accountRef": {"name": "a"}}),
            Some("give securityGroupRef, or accountRef"),
        ),
        (
            "account only",
            json!({"accountRef": {"name": "a"}}),
            Some("give securityGroupRef, or accountRef"),
        ),
        (
            "id only",
            json!({"securityGroupId": "sg-1"}),
            Some("give securityGroupRef, or accountRef"),
        ),
        (
            "nothing",
            json!({"ports": ["p-1"]}),
            Some("give securityGroupRef, or accountRef"),
        ),
        (
            "duplicate port",
            json!({"securityGroupRef": {"name": "web"}, "ports": ["p-1", "p-1"]}),
            Some("spec.ports: duplicate entry"),
        ),
        (
            "bad port id",
            json!({"securityGroupRef": {"name": "web"}, "ports": ["p 1"]}),
            Some("spec.ports[0]"),
        ),
        (
            "bad policy",
            json!({"securityGroupRef": {"name": "web"}, "policy": "Replace"}),
            Some("spec.policy"),
        ),
        (
            "node selector",
            json!({"securityGroupRef": {"name": "web"}, "nodeSelector": {"matchLabels": {"pool": "web"}}, "portSelection": "All"}),
            None,
        ),
        (
            "node selector and ports",
            json!({"securityGroupRef": {"name": "web"}, "ports": ["p-1"], "nodeSelector": {}}),
            Some("give ports or nodeSelector, not both"),
        ),
        (
            "port selection without a selector",
            json!({"securityGroupRef": {"name": "web"}, "portSelection": "Primary"}),
            Some("portSelection needs nodeSelector"),
        ),
        (
            "bad port selection",
            json!({"securityGroupRef": {"name": "web"}, "nodeSelector": {}, "portSelection": "Secondary"}),
            Some("spec.portSelection"),
        ),
    ];
    for (case, spec, expect) in cases {
        let obj = object("SecurityGroupMembership", spec);
        assert_verdict(case, &obj, check_against_schema(&obj), expect);
    }
    // The target group is immutable, in every spelling.
    let by_ref = object(
        "SecurityGroupMembership",
        json!({"securityGroupRef": {"name": "web"}, "ports": ["p-1"]}),
    );
    let by_id = object(
        "SecurityGroupMembership",
        json!({"accountRef": {"name": "a"}, "securityGroupId": "sg-1"}),
    );
    let mut other_ref = by_ref.clone();
    other_ref["spec"]["securityGroupRef"]["name"] = json!("db");
    assert_verdict(
        "ref change",
        &other_ref,
        check_update_against_schema(&by_ref, &other_ref),
        Some("spec.securityGroupRef: securityGroupRef is immutable"),
    );
    assert_verdict(
        "ref to id",
        &by_id,
        check_update_against_schema(&by_ref, &by_id),
        Some("is immutable"),
    );
    let mut other_id = by_id.clone();
    other_id["spec"]["securityGroupId"] = json!("sg-2");
    assert_verdict(
        "id change",
        &other_id,
        check_update_against_schema(&by_id, &other_id),
        Some("spec.securityGroupId: securityGroupId is immutable"),
    );
    let mut other_account = by_id.clone();
    other_account["spec"]["accountRef"]["name"] = json!("b");
    assert_verdict(
        "account change",
        &other_account,
        check_update_against_schema(&by_id, &other_account),
        Some("spec.accountRef: accountRef is immutable"),
    );
    let mut more_ports = by_ref.clone();
    more_ports["spec"]["ports"] = json!(["p-1", "p-2"]);
    assert_verdict(
        "ports change",
        &more_ports,
        check_update_against_schema(&by_ref, &more_ports),
        None,
    );
}

#[test]
fn status_is_checked_too() {
    let mut obj = object("SecurityGroup", json!({"accountRef": {"name": "a"}}));
    obj["status"] = json!({
        "observedGeneration": 2,
        "groupId": "sg-1",
        "ruleCount": 3,
        "lastSyncTime": "2026-01-02T03:04:05Z",
        "lastPlan": {"createRules": 1, "deleteRule": 2},
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Synced", "message": "", "lastTransitionTime": "2026-01-02T03:04:05Z"},
        ],
    });
    assert_verdict("good status", &obj, check_against_schema(&obj), None);
    let mut dup = obj.clone();
    dup["status"]["conditions"] = json!([
        {"type": "Ready", "status": "True", "reason": "Synced", "message": "", "lastTransitionTime": "2026-01-02T03:04:05Z"},
        {"type": "Ready", "status": "False", "reason": "Failed", "message": "", "lastTransitionTime": "2026-01-02T03:04:05Z"},
    ]);
    assert_verdict(
        "duplicate condition type",
        &dup,
        check_against_schema(&dup),
        Some("status.conditions: duplicate entry with key \"Ready\""),
    );
    let mut bad_time = obj.clone();
    bad_time["status"]["lastSyncTime"] = json!("yesterday");
    assert_verdict(
        "bad time",
        &bad_time,
        check_against_schema(&bad_time),
        Some("status.lastSyncTime"),
    );
}

#[test]
fn unknown_kinds_and_missing_names_are_reported() {
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    assert_verdict(
        "configmap",
        &other,
        check_against_schema(&other),
        Some("is not a kind of secgroup.io"),
    );
    let mut nameless = object("SecurityGroup", json!({"accountRef": {"name": "a"}}));
    nameless["metadata"] = json!({});
    assert_verdict(
        "no name",
        &nameless,
        check_against_schema(&nameless),
        Some("metadata.name: required"),
    );
}

/// kube-cel's scope check does not know that `all(r, ...)` binds `r`.
fn is_macro_variable_warning(rule: &str, message: &str) -> bool {
    let bound = regex::Regex::new(r"\b(?:all|exists|exists_one|map|filter)\((\w+),").unwrap();
    bound
        .captures_iter(rule)
        .any(|c| message.starts_with(&format!("variable '{}' ", &c[1])))
}

/// Every CEL rule compiles, uses only `self`/`oldSelf`, and stays inside the
/// API server's cost budget by kube-cel's estimate.
#[test]
fn every_cel_rule_compiles_and_is_cheap() {
    use kube::core::cel::{ScopeContext, analyze_rule, compile_schema};
    let mut rules = 0;
    for crd in crd::all_crds() {
        let version = &crd.spec.versions[0];
        let schema =
            serde_json::to_value(&version.schema.as_ref().unwrap().open_api_v3_schema).unwrap();
        let compiled = compile_schema(&schema);
        assert!(
            !compiled.has_errors(),
            "{}: {:?}",
            crd.spec.names.kind,
            compiled.compilation_errors()
        );
        let mut stack = vec![&schema];
        while let Some(node) = stack.pop() {
            if let Some(list) = node
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
            {
                // Cost is estimated against the node the rule sits on.
                let here = compile_schema(node);
                for rule in list {
                    let text = rule["rule"].as_str().unwrap();
                    let warnings: Vec<_> = analyze_rule(text, &here, ScopeContext::CrdValidation)
                        .into_iter()
                        .filter(|w| !is_macro_variable_warning(text, &w.message))
                        .collect();
                    assert!(warnings.is_empty(), "{text}: {warnings:?}");
                    rules += 1;
                }
            }
            match node {
                Value::Object(m) => stack.extend(m.values()),
                Value::Array(a) => stack.extend(a.iter()),
                _ => {}
            }
        }
    }
    assert!(rules >= 15, "found only {rules} CEL rules");
}

#[test]
fn crds_have_status_columns_and_list_map_conditions() {
    for crd in crd::all_crds() {
        let kind = &crd.spec.names.kind;
        assert_eq!(crd.spec.scope, "Namespaced", "{kind}");
        assert!(
            crd.spec
                .names
                .short_names
                .as_ref()
                .is_some_and(|s| !s.is_empty()),
            "{kind}"
        );
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{kind}"
        );
        let columns: Vec<&str> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        for col in ["Ready", "Message"] {
            assert!(columns.contains(&col), "{kind}: {columns:?}");
        }
        let schema =
            serde_json::to_value(&version.schema.as_ref().unwrap().open_api_v3_schema).unwrap();
        let conditions = &schema["properties"]["status"]["properties"]["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], "map", "{kind}");
        assert_eq!(
            conditions["x-kubernetes-list-map-keys"],
            json!(["type"]),
            "{kind}"
        );
        let status = schema["properties"]["status"]["properties"]
            .as_object()
            .unwrap();
        for field in ["observedGeneration", "lastSyncTime", "lastPlan"] {
            assert!(status.contains_key(field), "{kind} status lacks {field}");
        }
    }
}

/// `nullable: true` already admits null; a `null` inside `enum` is at best
/// redundant and at worst refused by the API server, so none may appear.
#[test]
fn no_enum_lists_null() {
    let yaml = serde_json::to_value(crd::all_crds()).unwrap();
    let mut stack = vec![&yaml];
    let mut enums = 0;
    while let Some(node) = stack.pop() {
        if let Some(values) = node.get("enum").and_then(Value::as_array) {
            enums += 1;
            assert!(!values.contains(&Value::Null), "{node}");
        }
        match node {
            Value::Object(m) => stack.extend(m.values()),
            Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    assert!(enums >= 8, "found only {enums} enums");
}
