//! Baidu BCC calls against the simulator: groups, rules with clientToken and
//! sgVersion, binding, lists and pagination, and the zero-group invariant.

use secgroup_test_support::wire;

use serde_json::{Value, json};
use wire::*;

use secgroup_controller::sim::{Account, BdRule, SimState};

/// Groups g-a, g-b, g-c in vpc-1; i-1 [g-a], i-2 [g-a, g-b], i-3 [g-b].
fn base_state() -> SimState {
    SimState::new()
        .with_account(Account::baidu(BD_AK, BD_SK))
        .with_baidu_group("g-a", "ga", "vpc-1")
        .with_baidu_group("g-b", "gb", "vpc-1")
        .with_baidu_group("g-c", "gc", "vpc-2")
        .with_baidu_instance("i-1", &["g-a"])
        .with_baidu_instance("i-2", &["g-a", "g-b"])
        .with_baidu_instance("i-3", &["g-b"])
}

fn ssh_rule() -> Value {
    json!({"remark": "ssh", "protocol": "tcp", "portRange": "22", "direction": "ingress", "sourceIp": "10.0.0.0/8"})
}

#[tokio::test]
async fn create_group_with_rules_tags_and_client_token() {
    let sim = start(base_state()).await;
    let bd = Bd::new(&sim);
    let body = json!({
        "name": "web", "desc": "front", "vpcId": "vpc-1",
        "rules": [ssh_rule(), {"direction": "egress", "protocol": "", "portRange": "", "destIp": "all"}],
        "tags": [{"tagKey": "secgroup-owner", "tagValue": "uid-1"}],
    });
    let a = bd
        .call(
            "POST",
            "/v2/securityGroup",
            &[("clientToken", Some("tok-1"))],
            Some(body.clone()),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let id = a.body["securityGroupId"].as_str().expect("id").to_string();
    assert!(id.starts_with("g-"));
    assert!(a.header("x-bce-request-id").is_some());

    // the same token and request: same answer, no second group
    let b = bd
        .call(
            "POST",
            "/v2/securityGroup",
            &[("clientToken", Some("tok-1"))],
            Some(body.clone()),
        )
        .await;
    assert_eq!(b.body["securityGroupId"], json!(id));
    assert_eq!(sim.snapshot().baidu.security_groups.len(), 4);
    // the same token with a different request
    let mut other = body.clone();
    other["name"] = json!("other");
    let c = bd
        .call(
            "POST",
            "/v2/securityGroup",
            &[("clientToken", Some("tok-1"))],
            Some(other),
        )
        .await;
    assert_eq!(
        (c.status, c.code().as_str()),
        (403, "IdempotentParameterMismatch")
    );

    let d = bd
        .call("GET", &format!("/v2/securityGroup/{id}"), &[], None)
        .await;
    assert_eq!(d.status, 200);
    assert_eq!(d.body["sgVersion"], json!(0));
    assert_eq!(d.body["bindInstanceNum"], json!(0));
    assert_eq!(
        d.body["tags"],
        json!([{"tagKey": "secgroup-owner", "tagValue": "uid-1"}])
    );
    let rules = d.body["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 2);
    assert!(
        rules[0]["securityGroupRuleId"]
            .as_str()
            .is_some_and(|r| r.starts_with("r-"))
    );
    assert_eq!(rules[1]["destIp"], json!("all"));

    for (body, code) in [
        (json!({"name": "x", "rules": []}), "BadRequest"),
        (json!({"name": "", "vpcId": "vpc-1"}), "BadRequest"),
        (
            json!({"name": "x", "vpcId": "vpc-1", "rules": [{"direction": "sideways"}]}),
            "BadRequest",
        ),
        (
            json!({"name": "x", "vpcId": "vpc-1", "rules": [ssh_rule(), ssh_rule()]}),
            "SecurityGroup.RuleAlreadyExists",
        ),
    ] {
        let a = bd
            .call("POST", "/v2/securityGroup", &[], Some(body.clone()))
            .await;
        assert_eq!(a.code(), code, "{body}: {}", a.body);
        assert!(a.body["requestId"].is_string());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_json_is_reported() {
    let sim = start(base_state()).await;
    let bd = Bd::new(&sim);
    let a = bd
        .call(
            "PUT",
            "/v2/securityGroup/g-a",
            &[("authorizeRule", None)],
            Some(json!("just a string")),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (400, "MalformedJSON"));
    sim.shutdown().await;
}

#[tokio::test]
async fn list_groups_paginates_and_filters() {
    let sim = start(base_state()).await;
    let bd = Bd::new(&sim);
    let a = bd
        .call("GET", "/v2/securityGroup", &[("maxKeys", Some("2"))], None)
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(ids(&a.body, "securityGroups"), vec!["g-a", "g-b"]);
    assert_eq!(a.body["isTruncated"], json!(true));
    assert_eq!(a.body["maxKeys"], json!(2));
    let next = a.body["nextMarker"]
        .as_str()
        .expect("nextMarker")
        .to_string();
    let b = bd
        .call(
            "GET",
            "/v2/securityGroup",
            &[("maxKeys", Some("2")), ("marker", Some(&next))],
            None,
        )
        .await;
    assert_eq!(ids(&b.body, "securityGroups"), vec!["g-c"]);
    assert_eq!(b.body["isTruncated"], json!(false));
    assert_eq!(b.body["marker"], json!(next));
    assert!(b.body.get("nextMarker").is_none());
    assert!(b.body["securityGroups"][0]["sgVersion"].is_u64());

    let a = bd
        .call(
            "GET",
            "/v2/securityGroup",
            &[("vpcId", Some("vpc-2"))],
            None,
        )
        .await;
    assert_eq!(ids(&a.body, "securityGroups"), vec!["g-c"]);
    let a = bd
        .call(
            "GET",
            "/v2/securityGroup",
            &[("securityGroupIds", Some("g-c,g-a"))],
            None,
        )
        .await;
    assert_eq!(ids(&a.body, "securityGroups"), vec!["g-a", "g-c"]);
    // an instance's groups, in binding order
    sim.replace_state(sim.snapshot().with_baidu_instance("i-4", &["g-c", "g-a"]))
        .expect("valid state");
    let a = bd
        .call(
            "GET",
            "/v2/securityGroup",
            &[("instanceId", Some("i-4"))],
            None,
        )
        .await;
    assert_eq!(ids(&a.body, "securityGroups"), vec!["g-c", "g-a"]);
    let a = bd
        .call(
            "GET",
            "/v2/securityGroup",
            &[("instanceId", Some("i-9"))],
            None,
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (404, "NoSuchObject"));
    let a = bd
        .call(
            "GET",
            "/v2/securityGroup",
            &[("maxKeys", Some("1001"))],
            None,
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (400, "BadRequest"));
    sim.shutdown().await;
}

#[tokio::test]
async fn authorize_revoke_with_versions_and_identity() {
    let sim = start(base_state()).await;
    let bd = Bd::new(&sim);
    let path = "/v2/securityGroup/g-a";
    let auth = |v: Option<&'static str>| {
        let mut q = vec![("authorizeRule", None), ("clientToken", Some("t-auth"))];
        if let Some(v) = v {
            q.push(("sgVersion", Some(v)));
        }
        q
    };
    let a = bd
        .call(
            "PUT",
            path,
            &auth(Some("0")),
            Some(json!({"rule": ssh_rule()})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body, Value::Null, "empty body");
    assert_eq!(sim.baidu_group("g-a").map(|g| g.sg_version), Some(1));

    // stale version: 400 VersionMismatch, nothing changes
    let mut other = ssh_rule();
    other["portRange"] = json!("443");
    let q = [("authorizeRule", None), ("sgVersion", Some("0"))];
    let a = bd.call("PUT", path, &q, Some(json!({"rule": other}))).await;
    assert_eq!((a.status, a.code().as_str()), (400, "VersionMismatch"));
    assert_eq!(a.body["message"], json!("The sgVersion is mismatch."));
    assert_eq!(sim.baidu_group_rules("g-a").map(|r| r.len()), Some(1));
    // no version: no check
    let a = bd
        .call(
            "PUT",
            path,
            &[("authorizeRule", None)],
            Some(json!({"rule": other})),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(sim.baidu_group("g-a").map(|g| g.sg_version), Some(2));

    // duplicate authorize (normalized spelling of the same 6-tuple) is 409
    let same = json!({"remark": "ssh", "protocol": "TCP", "portRange": "22-22", "direction": "ingress", "sourceIp": "10.0.0.0/8", "ethertype": "IPv4"});
    let a = bd
        .call(
            "PUT",
            path,
            &[("authorizeRule", None)],
            Some(json!({"rule": same})),
        )
        .await;
    assert_eq!(a.status, 409);
    // remark is part of the identity: a different remark is a different rule
    let mut remarked = ssh_rule();
    remarked["remark"] = json!("ssh-2");
    let a = bd
        .call(
            "PUT",
            path,
            &[("authorizeRule", None)],
            Some(json!({"rule": remarked})),
        )
        .await;
    assert_eq!(a.status, 200);

    // revoke: stale version, then match, then missing
    let rq = |v: &'static str| {
        vec![
            ("revokeRule", None),
            ("clientToken", Some("t-rev")),
            ("sgVersion", Some(v)),
        ]
    };
    let a = bd
        .call("PUT", path, &rq("1"), Some(json!({"rule": ssh_rule()})))
        .await;
    assert_eq!(a.code(), "VersionMismatch");
    let a = bd
        .call("PUT", path, &rq("3"), Some(json!({"rule": ssh_rule()})))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(sim.baidu_group("g-a").map(|g| g.sg_version), Some(4));
    let a = bd
        .call(
            "PUT",
            path,
            &[("revokeRule", None)],
            Some(json!({"rule": ssh_rule()})),
        )
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (404, "SecurityGroup.RuleNotExist")
    );
    let a = bd
        .call(
            "PUT",
            "/v2/securityGroup/g-zz",
            &[("revokeRule", None)],
            Some(json!({"rule": ssh_rule()})),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (404, "NoSuchObject"));
    sim.shutdown().await;
}

#[tokio::test]
async fn client_token_replays_authorize_without_acting_twice() {
    let sim = start(base_state()).await;
    let bd = Bd::new(&sim);
    let q = [
        ("authorizeRule", None),
        ("clientToken", Some("same-token")),
        ("sgVersion", Some("0")),
    ];
    let a = bd
        .call(
            "PUT",
            "/v2/securityGroup/g-a",
            &q,
            Some(json!({"rule": ssh_rule()})),
        )
        .await;
    assert_eq!(a.status, 200);
    // a retry with the same token (and the now-stale version) replays the
    // first success instead of failing with 409 or VersionMismatch
    let b = bd
        .call(
            "PUT",
            "/v2/securityGroup/g-a",
            &q,
            Some(json!({"rule": ssh_rule()})),
        )
        .await;
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(
        sim.baidu_group("g-a")
            .map(|g| (g.sg_version, g.rules.len())),
        Some((1, 1))
    );
    let log = sim.request_log();
    assert_eq!(log.last().map(|e| e.outcome.as_str()), Some("replayed"));
    // tokens are per operation: the same token on revoke is a new call
    let r = [("revokeRule", None), ("clientToken", Some("same-token"))];
    let c = bd
        .call(
            "PUT",
            "/v2/securityGroup/g-a",
            &r,
            Some(json!({"rule": ssh_rule()})),
        )
        .await;
    assert_eq!(c.status, 200);
    assert_eq!(sim.baidu_group_rules("g-a").map(|r| r.len()), Some(0));
    // too long a token is refused
    let long = "x".repeat(65);
    let d = bd
        .call(
            "PUT",
            "/v2/securityGroup/g-a",
            &[("authorizeRule", None), ("clientToken", Some(&long))],
            Some(json!({"rule": ssh_rule()})),
        )
        .await;
    assert_eq!(d.status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn rule_validation_codes() {
    let sim = start(base_state()).await;
    let bd = Bd::new(&sim);
    let cases = [
        (
            json!({"direction": "ingress", "protocol": "tcp", "portRange": "90-80"}),
            "SecurityGroup.RulePortOrderInvalid",
        ),
        (
            json!({"direction": "ingress", "protocol": "tcp", "portRange": "1-65536"}),
            "SecurityGroup.RulePortRangeInvalid",
        ),
        (
            json!({"direction": "ingress", "protocol": "tcp", "portRange": "ssh"}),
            "SecurityGroup.RulePortInvalid",
        ),
        (
            json!({"direction": "ingress", "protocol": "tcp", "sourceIp": "10.0.0.300"}),
            "SecurityGroup.RuleCIDRAddressError",
        ),
        (
            json!({"direction": "egress", "protocol": "tcp", "destIp": "fd00::/8"}),
            "SecurityGroup.RuleCIDRAddressError",
        ),
        (
            json!({"direction": "ingress", "protocol": "gre"}),
            "BadRequest",
        ),
        (
            json!({"direction": "ingress", "sourceIp": "1.1.1.1", "sourceGroupId": "g-b"}),
            "BadRequest",
        ),
        (
            json!({"direction": "ingress", "destIp": "1.1.1.1"}),
            "BadRequest",
        ),
        (
            json!({"direction": "ingress", "sourceGroupId": "g-missing"}),
            "BadRequest",
        ),
    ];
    for (rule, code) in cases {
        let a = bd
            .call(
                "PUT",
                "/v2/securityGroup/g-a",
                &[("authorizeRule", None)],
                Some(json!({"rule": rule.clone()})),
            )
            .await;
        assert_eq!((a.status, a.code().as_str()), (400, code), "{rule}");
    }
    // IPv6 source with IPv6 ethertype, and a group source, are fine
    let ok = json!({"direction": "ingress", "protocol": "tcp", "ethertype": "IPv6", "sourceIp": "fd00::/8"});
    assert_eq!(
        bd.call(
            "PUT",
            "/v2/securityGroup/g-a",
            &[("authorizeRule", None)],
            Some(json!({"rule": ok}))
        )
        .await
        .status,
        200
    );
    let ok = json!({"direction": "ingress", "protocol": "", "sourceGroupId": "g-b"});
    assert_eq!(
        bd.call(
            "PUT",
            "/v2/securityGroup/g-a",
            &[("authorizeRule", None)],
            Some(json!({"rule": ok}))
        )
        .await
        .status,
        200
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn fifty_rules_per_direction() {
    let mut state = base_state();
    for i in 0..50 {
        state = state.with_baidu_rule(
            "g-a",
            BdRule {
                security_group_rule_id: format!("r-{i}"),
                direction: "ingress".into(),
                protocol: "tcp".into(),
                port_range: (1000 + i).to_string(),
                ..BdRule::default()
            },
        );
    }
    let sim = start(state).await;
    let bd = Bd::new(&sim);
    let a = bd
        .call(
            "PUT",
            "/v2/securityGroup/g-a",
            &[("authorizeRule", None)],
            Some(json!({"rule": ssh_rule()})),
        )
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (413, "SecurityGroup.RuleExceededLimit")
    );
    let egress = json!({"direction": "egress", "protocol": "tcp", "portRange": "22"});
    let a = bd
        .call(
            "PUT",
            "/v2/securityGroup/g-a",
            &[("authorizeRule", None)],
            Some(json!({"rule": egress})),
        )
        .await;
    assert_eq!(a.status, 200, "egress has its own 50");
    sim.shutdown().await;
}

#[tokio::test]
async fn update_and_delete_rule_by_id() {
    let sim = start(base_state()).await;
    let bd = Bd::new(&sim);
    bd.call(
        "PUT",
        "/v2/securityGroup/g-a",
        &[("authorizeRule", None)],
        Some(json!({"rule": ssh_rule()})),
    )
    .await;
    let rule_id = sim.baidu_group_rules("g-a").expect("group")[0]
        .security_group_rule_id
        .clone();

    let q = [("sgVersion", Some("0")), ("clientToken", Some("u1"))];
    let a = bd
        .call(
            "PUT",
            "/v2/securityGroup/rule/update",
            &q,
            Some(json!({"securityGroupRuleId": rule_id, "portRange": "2222"})),
        )
        .await;
    assert_eq!(a.code(), "VersionMismatch");
    let q = [("sgVersion", Some("1")), ("clientToken", Some("u1"))];
    let a = bd
        .call(
            "PUT",
            "/v2/securityGroup/rule/update",
            &q,
            Some(json!({"securityGroupRuleId": rule_id, "portRange": "2222", "remark": "ssh-alt"})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let rules = sim.baidu_group_rules("g-a").expect("group");
    assert_eq!(
        (rules[0].port_range.as_str(), rules[0].remark.as_str()),
        ("2222", "ssh-alt")
    );
    assert_eq!(rules[0].security_group_rule_id, rule_id, "id kept");
    assert_eq!(sim.baidu_group("g-a").map(|g| g.sg_version), Some(2));
    let a = bd
        .call(
            "PUT",
            "/v2/securityGroup/rule/update",
            &[],
            Some(json!({"securityGroupRuleId": rule_id, "portRange": "9-1"})),
        )
        .await;
    assert_eq!(a.code(), "SecurityGroup.RulePortOrderInvalid");
    let a = bd
        .call(
            "PUT",
            "/v2/securityGroup/rule/update",
            &[],
            Some(json!({"securityGroupRuleId": "r-none"})),
        )
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (404, "SecurityGroup.RuleNotExist")
    );

    let a = bd
        .call(
            "DELETE",
            &format!("/v2/securityGroup/rule/{rule_id}"),
            &[("sgVersion", Some("1"))],
            None,
        )
        .await;
    assert_eq!(a.code(), "VersionMismatch");
    let a = bd
        .call(
            "DELETE",
            &format!("/v2/securityGroup/rule/{rule_id}"),
            &[("sgVersion", Some("2"))],
            None,
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        sim.baidu_group("g-a")
            .map(|g| (g.sg_version, g.rules.len())),
        Some((3, 0))
    );
    let a = bd
        .call(
            "DELETE",
            &format!("/v2/securityGroup/rule/{rule_id}"),
            &[],
            None,
        )
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (404, "SecurityGroup.RuleNotExist")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bind_unbind_limits_and_last_group() {
    let mut state = base_state();
    for i in 0..9 {
        state = state.with_baidu_group(&format!("g-x{i}"), "x", "vpc-1");
    }
    let sim = start(state).await;
    let bd = Bd::new(&sim);
    let bind = |g: &str| json!({"securityGroupId": g});
    let a = bd
        .call(
            "PUT",
            "/v2/instance/i-1",
            &[("bind", None)],
            Some(bind("g-b")),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        sim.baidu_instance_groups("i-1"),
        Some(vec!["g-a".into(), "g-b".into()])
    );
    // binding again is harmless
    assert_eq!(
        bd.call(
            "PUT",
            "/v2/instance/i-1",
            &[("bind", None)],
            Some(bind("g-b"))
        )
        .await
        .status,
        200
    );
    for i in 0..8 {
        let a = bd
            .call(
                "PUT",
                "/v2/instance/i-1",
                &[("bind", None)],
                Some(bind(&format!("g-x{i}"))),
            )
            .await;
        assert_eq!(a.status, 200);
    }
    let a = bd
        .call(
            "PUT",
            "/v2/instance/i-1",
            &[("bind", None)],
            Some(bind("g-x8")),
        )
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (413, "SecurityGroup.BindInstanceExceededLimit")
    );
    let a = bd
        .call(
            "PUT",
            "/v2/instance/i-9",
            &[("bind", None)],
            Some(bind("g-a")),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (404, "NoSuchObject"));
    let a = bd
        .call(
            "PUT",
            "/v2/instance/i-1",
            &[("bind", None)],
            Some(bind("g-none")),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (404, "NoSuchObject"));

    // unbind; the last group is refused with 403 and logged
    let a = bd
        .call(
            "PUT",
            "/v2/instance/i-2",
            &[("unbind", None)],
            Some(bind("g-a")),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(sim.baidu_instance_groups("i-2"), Some(vec!["g-b".into()]));
    let a = bd
        .call(
            "PUT",
            "/v2/instance/i-2",
            &[("unbind", None)],
            Some(bind("g-b")),
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(sim.baidu_instance_groups("i-2"), Some(vec!["g-b".into()]));
    let refused = sim.refused_log();
    assert_eq!(refused.len(), 1);
    assert_eq!(
        (refused[0].operation.as_str(), refused[0].target.as_str()),
        ("baidu.unbindInstance", "i-2")
    );

    // a bound group cannot be deleted; a free one can
    let a = bd.call("DELETE", "/v2/securityGroup/g-b", &[], None).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (
            409,
            "SecurityGroup.InstancesAssociatedSecurityGroupCanNotBeDeleted"
        )
    );
    let a = bd.call("DELETE", "/v2/securityGroup/g-c", &[], None).await;
    assert_eq!(a.status, 200);
    let a = bd.call("DELETE", "/v2/securityGroup/g-c", &[], None).await;
    assert_eq!((a.status, a.code().as_str()), (404, "NoSuchObject"));
    sim.shutdown().await;
}

#[tokio::test]
async fn batch_bind_unbind_replace_are_all_or_nothing() {
    let sim = start(base_state()).await;
    let bd = Bd::new(&sim);
    let body = |inst: &[&str], groups: &[&str]| json!({"instanceIds": inst, "securityGroupIds": groups, "securityGroupType": "normal"});
    let a = bd
        .call(
            "PUT",
            "/v2/securitygroup/bind",
            &[("clientToken", Some("b1"))],
            Some(body(&["i-1", "i-3"], &["g-c"])),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["requestId"].is_string());
    assert_eq!(
        sim.baidu_instance_groups("i-3"),
        Some(vec!["g-b".into(), "g-c".into()])
    );

    // unbind g-a from i-1 and i-2: i-1 would keep g-c, i-2 keeps g-b -> ok
    let a = bd
        .call(
            "PUT",
            "/v2/securitygroup/unbind",
            &[],
            Some(body(&["i-1", "i-2"], &["g-a"])),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(sim.baidu_instance_groups("i-1"), Some(vec!["g-c".into()]));
    // unbinding g-c from i-1 and i-3 would leave i-1 with none: all refused
    let a = bd
        .call(
            "PUT",
            "/v2/securitygroup/unbind",
            &[],
            Some(body(&["i-3", "i-1"], &["g-c"])),
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        sim.baidu_instance_groups("i-3"),
        Some(vec!["g-b".into(), "g-c".into()])
    );
    assert_eq!(sim.refused_log().len(), 1);
    assert_eq!(sim.refused_log()[0].operation, "baidu.batchUnbind");

    let a = bd
        .call(
            "PUT",
            "/v2/securitygroup/replace",
            &[],
            Some(body(&["i-1"], &["g-b", "g-a"])),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        sim.baidu_instance_groups("i-1"),
        Some(vec!["g-b".into(), "g-a".into()])
    );
    let a = bd
        .call(
            "PUT",
            "/v2/securitygroup/bind",
            &[],
            Some(body(&["i-1", "i-nope"], &["g-c"])),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (404, "NoSuchObject"));
    assert_eq!(
        sim.baidu_instance_groups("i-1"),
        Some(vec!["g-b".into(), "g-a".into()]),
        "nothing applied"
    );
    let a = bd
        .call(
            "PUT",
            "/v2/securitygroup/bind",
            &[],
            Some(json!({"instanceIds": [], "securityGroupIds": ["g-a"]})),
        )
        .await;
    assert_eq!(a.code(), "BadRequest");
    sim.shutdown().await;
}

#[tokio::test]
async fn instances_list_by_group_and_detail() {
    let sim = start(base_state()).await;
    let bd = Bd::new(&sim);
    // the call that lists a group's instances: GET /v2/instance?securityGroupIds=
    let a = bd
        .call(
            "GET",
            "/v2/instance",
            &[("securityGroupIds", Some("g-a"))],
            None,
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(ids(&a.body, "instances"), vec!["i-1", "i-2"]);
    let a = bd
        .call("GET", "/v2/instance", &[("maxKeys", Some("2"))], None)
        .await;
    assert_eq!(ids(&a.body, "instances"), vec!["i-1", "i-2"]);
    assert_eq!(a.body["nextMarker"], json!("i-3"));
    let b = bd
        .call(
            "GET",
            "/v2/instance",
            &[("maxKeys", Some("2")), ("marker", Some("i-3"))],
            None,
        )
        .await;
    assert_eq!(ids(&b.body, "instances"), vec!["i-3"]);
    assert_eq!(b.body["isTruncated"], json!(false));
    let a = bd.call("GET", "/v2/instance/i-2", &[], None).await;
    assert_eq!(a.body["instance"]["id"], json!("i-2"));
    let a = bd.call("GET", "/v2/instance/i-9", &[], None).await;
    assert_eq!((a.status, a.code().as_str()), (404, "NoSuchObject"));
    sim.shutdown().await;
}

#[tokio::test]
async fn accounts_are_isolated() {
    let other = Account {
        account_id: Some("acct-2".into()),
        ..Account::baidu("bdotherak", "bdothersk")
    };
    let sim = start(base_state().with_account(other)).await;
    let mut bd = Bd::new(&sim);
    bd.signer.ak = "bdotherak".into();
    bd.signer.sk = "bdothersk".into();
    let a = bd.call("GET", "/v2/securityGroup", &[], None).await;
    assert_eq!(a.body["securityGroups"], json!([]));
    let a = bd.call("GET", "/v2/securityGroup/g-a", &[], None).await;
    assert_eq!(a.status, 404);
    sim.shutdown().await;
}
