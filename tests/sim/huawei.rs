//! Huawei VPC calls against the simulator: success paths, documented error
//! paths, pagination, dry runs and the zero-group invariant.

use secgroup_test_support::wire;

use serde_json::{Value, json};
use wire::*;

use secgroup_controller::sim::{Account, SimSettings, SimState};

const P: &str = HW_PROJECT;

fn g(n: u32) -> String {
    uuid(100 + n)
}
fn port(n: u32) -> String {
    uuid(200 + n)
}

/// Three groups (g1..g3) and ports: port1 [g1], port2 [g1, g2], port3 [g2].
fn base_state() -> SimState {
    SimState::new()
        .with_account(Account::huawei(HW_AK, HW_SK, P))
        .with_settings(SimSettings {
            huawei_default_rules: false,
            ..SimSettings::default()
        })
        .with_huawei_group(P, &g(1), "g1")
        .with_huawei_group(P, &g(2), "g2")
        .with_huawei_group(P, &g(3), "g3")
        .with_huawei_port(P, &port(1), &[&g(1)])
        .with_huawei_port(P, &port(2), &[&g(1), &g(2)])
        .with_huawei_port(P, &port(3), &[&g(2)])
}

#[tokio::test]
async fn show_port_and_not_found() {
    let sim = start(base_state()).await;
    let hw = Hw::new(&sim);
    let a = hw.get(&format!("/v3/{{p}}/ports/{}", port(2)), &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["port"]["security_groups"], json!([g(1), g(2)]));
    assert_eq!(a.body["port"]["id"], json!(port(2)));
    let rid = a.header("x-request-id").expect("request id header");
    assert_eq!(a.body["request_id"], json!(rid));

    let a = hw.get(&format!("/v3/{{p}}/ports/{}", uuid(999)), &[]).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.code(), "VPC.9904");
    assert_eq!(
        a.body["request_id"],
        json!(a.header("x-request-id").expect("header"))
    );
    assert!(
        a.body["error_msg"]
            .as_str()
            .is_some_and(|m| m.contains(&uuid(999)))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn list_ports_filters_and_pages() {
    let sim = start(base_state()).await;
    let hw = Hw::new(&sim);
    let a = hw.get("/v3/{p}/ports", &[("security_groups", &g(2))]).await;
    assert_eq!(a.status, 200);
    assert_eq!(ids(&a.body, "ports"), vec![port(2), port(3)]);

    // Several ids: the key repeated, as the SDK sends it; a comma-joined
    // list is refused, naming the key.
    let a = hw
        .get("/v3/{p}/ports", &[("id", &port(1)), ("id", &port(3))])
        .await;
    assert_eq!(ids(&a.body, "ports"), vec![port(1), port(3)]);
    let a = hw
        .get(
            "/v3/{p}/ports",
            &[("id", &format!("{},{}", port(1), port(3)))],
        )
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (400, "VPC.0602"),
        "{}",
        a.body
    );
    assert!(
        a.body["error_msg"]
            .as_str()
            .is_some_and(|m| m.contains("id"))
    );

    // Pages of two, following next_marker.
    let a = hw.get("/v3/{p}/ports", &[("limit", "2")]).await;
    assert_eq!(ids(&a.body, "ports"), vec![port(1), port(2)]);
    let next = a.body["page_info"]["next_marker"]
        .as_str()
        .expect("more pages")
        .to_string();
    assert_eq!(a.body["page_info"]["current_count"], json!(2));
    let b = hw
        .get("/v3/{p}/ports", &[("limit", "2"), ("marker", &next)])
        .await;
    assert_eq!(ids(&b.body, "ports"), vec![port(3)]);
    assert!(b.body["page_info"].get("next_marker").is_none());

    let bad = hw.get("/v3/{p}/ports", &[("limit", "2001")]).await;
    assert_eq!((bad.status, bad.code().as_str()), (400, "VPC.0602"));
    assert!(
        bad.body["error_msg"]
            .as_str()
            .is_some_and(|m| m.contains("limit"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn insert_groups_with_index_dry_run_and_errors() {
    let sim = start(base_state()).await;
    let hw = Hw::new(&sim);
    let path = format!("/v3/{{p}}/ports/{}/insert-security-groups", port(2));

    // dry_run: 202 and nothing changes
    let a = hw
        .call(
            "PUT",
            &path,
            &[],
            Some(json!({"port": {"security_groups": [g(3)], "index": 0}, "dry_run": true})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(sim.huawei_port_groups(&port(2)), Some(vec![g(1), g(2)]));

    // index 1 puts g3 between g1 and g2
    let a = hw
        .call(
            "PUT",
            &path,
            &[],
            Some(json!({"port": {"security_groups": [g(3)], "index": 1}})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["port"]["security_groups"], json!([g(1), g(3), g(2)]));
    assert_eq!(
        sim.huawei_port_groups(&port(2)),
        Some(vec![g(1), g(3), g(2)])
    );

    // default appends; a held group moves to the requested place
    let p1 = format!("/v3/{{p}}/ports/{}/insert-security-groups", port(1));
    let a = hw
        .call(
            "PUT",
            &p1,
            &[],
            Some(json!({"port": {"security_groups": [g(2)]}})),
        )
        .await;
    assert_eq!(a.body["port"]["security_groups"], json!([g(1), g(2)]));
    let a = hw
        .call(
            "PUT",
            &p1,
            &[],
            Some(json!({"port": {"security_groups": [g(2)], "index": 0}})),
        )
        .await;
    assert_eq!(a.body["port"]["security_groups"], json!([g(2), g(1)]));

    // errors
    let a = hw
        .call(
            "PUT",
            &path,
            &[],
            Some(json!({"port": {"security_groups": [g(3)], "index": 9}})),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (400, "VPC.0602"));
    let a = hw
        .call(
            "PUT",
            &path,
            &[],
            Some(json!({"port": {"security_groups": [uuid(77)]}})),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (404, "VPC.9904"));
    let a = hw
        .call(
            "PUT",
            &path,
            &[],
            Some(json!({"port": {"security_groups": ["nope"]}})),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (400, "VPC.0602"));
    let a = hw.call("PUT", &path, &[], Some(json!({"port": {}}))).await;
    assert_eq!((a.status, a.code().as_str()), (400, "VPC.0602"));
    assert!(
        a.body["error_msg"]
            .as_str()
            .is_some_and(|m| m.contains("port.security_groups"))
    );
    let a = hw
        .call(
            "PUT",
            &format!("/v3/{{p}}/ports/{}/insert-security-groups", uuid(999)),
            &[],
            Some(json!({"port": {"security_groups": [g(3)]}})),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (404, "VPC.9904"));
    sim.shutdown().await;
}

#[tokio::test]
async fn insert_respects_port_group_quota() {
    let state = base_state().with_settings(SimSettings {
        huawei_port_max_groups: 2,
        huawei_default_rules: false,
        ..SimSettings::default()
    });
    let sim = start(state).await;
    let hw = Hw::new(&sim);
    let a = hw
        .call(
            "PUT",
            &format!("/v3/{{p}}/ports/{}/insert-security-groups", port(2)),
            &[],
            Some(json!({"port": {"security_groups": [g(3)]}})),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (409, "VPC.9905"));
    assert_eq!(sim.huawei_port_groups(&port(2)), Some(vec![g(1), g(2)]));
    sim.shutdown().await;
}

#[tokio::test]
async fn remove_groups_dry_run_and_last_group_refusal() {
    let sim = start(base_state()).await;
    let hw = Hw::new(&sim);
    let path = format!("/v3/{{p}}/ports/{}/remove-security-groups", port(2));
    let a = hw
        .call(
            "PUT",
            &path,
            &[],
            Some(json!({"port": {"security_groups": [g(1)]}, "dry_run": true})),
        )
        .await;
    assert_eq!(a.status, 202);
    assert_eq!(sim.huawei_port_groups(&port(2)), Some(vec![g(1), g(2)]));
    let a = hw
        .call(
            "PUT",
            &path,
            &[],
            Some(json!({"port": {"security_groups": [g(1)]}})),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["port"]["security_groups"], json!([g(2)]));
    assert!(sim.refused_log().is_empty());

    // removing the last group is refused, also on dry run, and logged
    for dry in [true, false] {
        let a = hw
            .call(
                "PUT",
                &path,
                &[],
                Some(json!({"port": {"security_groups": [g(2)]}, "dry_run": dry})),
            )
            .await;
        assert_eq!((a.status, a.code().as_str()), (400, "VPC.0607"));
    }
    assert_eq!(sim.huawei_port_groups(&port(2)), Some(vec![g(2)]));
    let refused = sim.refused_log();
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[0].operation, "huawei.removeSecurityGroups");
    assert_eq!(refused[0].target, port(2));
    assert_eq!(refused[0].groups, vec![g(2)]);
    sim.shutdown().await;
}

#[tokio::test]
async fn batch_action_success_partial_failures_and_errors() {
    let sim = start(base_state()).await;
    let hw = Hw::new(&sim);
    let path = format!("/v2.0/{{p}}/security-groups/{}/instance/action", g(3));

    // add (mixed case action), re-adding a member is fine, unknown port fails
    let a = hw
        .call(
            "POST",
            &path,
            &[],
            Some(json!({"action": "ADD", "ports": [{"id": port(1)}, {"id": port(3)}, {"id": uuid(999)}]})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let fail = a.body["fail"].as_array().expect("fail list");
    assert_eq!(fail.len(), 1);
    assert_eq!(fail[0]["id"], json!(uuid(999)));
    assert_eq!(fail[0]["error_code"], json!("VPC.0608"));
    assert!(
        fail[0]["error_msg"]
            .as_str()
            .is_some_and(|m| m.contains("PortNotFound"))
    );
    assert_eq!(sim.huawei_port_groups(&port(1)), Some(vec![g(1), g(3)]));
    let again = hw
        .call(
            "POST",
            &path,
            &[],
            Some(json!({"action": "add", "ports": [{"id": port(1)}]})),
        )
        .await;
    assert_eq!(again.body, json!({"fail": []}));
    assert_eq!(sim.huawei_port_groups(&port(1)), Some(vec![g(1), g(3)]));

    // the /v1/ spelling of the example works too; removal that would leave
    // port3 with nothing... port3 holds [g2, g3], so remove g3 from both
    let v1 = format!("/v1/{{p}}/security-groups/{}/instance/action", g(3));
    let a = hw
        .call(
            "POST",
            &v1,
            &[],
            Some(json!({"action": "remove", "ports": [{"id": port(1)}, {"id": port(3)}]})),
        )
        .await;
    assert_eq!(a.body, json!({"fail": []}));
    assert_eq!(sim.huawei_port_groups(&port(3)), Some(vec![g(2)]));

    // last group: per-port VPC.0607 and a refused-log entry
    let g2 = format!("/v2.0/{{p}}/security-groups/{}/instance/action", g(2));
    let a = hw
        .call(
            "POST",
            &g2,
            &[],
            Some(json!({"action": "remove", "ports": [{"id": port(2)}, {"id": port(3)}]})),
        )
        .await;
    assert_eq!(a.status, 200);
    let fail = a.body["fail"].as_array().expect("fail list");
    assert_eq!(fail.len(), 1);
    assert_eq!(fail[0]["id"], json!(port(3)));
    assert_eq!(fail[0]["error_code"], json!("VPC.0607"));
    assert_eq!(sim.huawei_port_groups(&port(2)), Some(vec![g(1)]));
    assert_eq!(sim.huawei_port_groups(&port(3)), Some(vec![g(2)]));
    let refused = sim.refused_log();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].operation, "huawei.batchInstanceAction");
    assert_eq!(refused[0].target, port(3));

    // whole-request errors use the old {code,message} body
    for body in [
        json!({"action": "add", "ports": []}),
        json!({"action": "attach", "ports": [{"id": port(1)}]}),
        json!({"ports": [{"id": port(1)}]}),
        json!({"action": "add", "ports": [{"id": "not-a-uuid"}]}),
        json!(["not", "an", "object"]),
    ] {
        let a = hw.call("POST", &path, &[], Some(body.clone())).await;
        assert_eq!(a.status, 400, "{body}");
        assert_eq!(
            a.body,
            json!({"code": "VPC.0606", "message": "Request is invalid"})
        );
        assert!(a.header("x-request-id").is_some());
    }
    let many: Vec<Value> = (0..21).map(|i| json!({"id": uuid(500 + i)})).collect();
    let a = hw
        .call(
            "POST",
            &path,
            &[],
            Some(json!({"action": "add", "ports": many})),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body,
        json!({"code": "VPC.0609", "message": "Ports list exceeds limit"})
    );

    // unknown group: every port fails with VPC.0607
    let missing = format!("/v2.0/{{p}}/security-groups/{}/instance/action", uuid(888));
    let a = hw
        .call(
            "POST",
            &missing,
            &[],
            Some(json!({"action": "add", "ports": [{"id": port(1)}]})),
        )
        .await;
    assert_eq!(a.body["fail"][0]["error_code"], json!("VPC.0607"));
    sim.shutdown().await;
}

#[tokio::test]
async fn group_lifecycle_and_validation() {
    let state = base_state().with_settings(SimSettings::default()); // default rules on
    let sim = start(state).await;
    let hw = Hw::new(&sim);
    let a = hw
        .call(
            "POST",
            "/v3/{p}/vpc/security-groups",
            &[],
            Some(json!({"security_group": {"name": "web-1.a_b", "description": "front", "tags": [{"key": "secgroup-owner", "value": "uid-1"}]}})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let sg = &a.body["security_group"];
    let id = sg["id"].as_str().expect("id").to_string();
    assert_eq!(
        sg["tags"],
        json!([{"key": "secgroup-owner", "value": "uid-1"}])
    );
    assert_eq!(sg["project_id"], json!(P));
    let rules = sg["security_group_rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 4, "Huawei adds default rules");
    assert!(
        rules
            .iter()
            .any(|r| r["direction"] == "ingress" && r["remote_group_id"] == json!(id))
    );

    // show and list (list items carry tags but no rules)
    let a = hw
        .get(&format!("/v3/{{p}}/vpc/security-groups/{id}"), &[])
        .await;
    assert_eq!(a.body["security_group"]["name"], json!("web-1.a_b"));
    assert_eq!(
        a.body["security_group"]["security_group_rules"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    let a = hw
        .get("/v3/{p}/vpc/security-groups", &[("name", "web-1.a_b")])
        .await;
    let list = a.body["security_groups"].as_array().expect("list");
    assert_eq!(list.len(), 1);
    assert!(list[0].get("security_group_rules").is_none());
    assert_eq!(list[0]["tags"][0]["key"], json!("secgroup-owner"));

    // update: dry run changes nothing, then a real update
    let path = format!("/v3/{{p}}/vpc/security-groups/{id}");
    let a = hw
        .call(
            "PUT",
            &path,
            &[],
            Some(json!({"security_group": {"name": "renamed"}, "dry_run": true})),
        )
        .await;
    assert_eq!(a.status, 202);
    assert_eq!(
        sim.huawei_group(&id).map(|g| g.name),
        Some("web-1.a_b".into())
    );
    let a = hw
        .call(
            "PUT",
            &path,
            &[],
            Some(json!({"security_group": {"name": "renamed", "description": "d2"}})),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["security_group"]["description"], json!("d2"));

    // validation names the field
    for (body, field) in [
        (
            json!({"security_group": {"name": ""}}),
            "security_group.name",
        ),
        (
            json!({"security_group": {"name": "has space"}}),
            "security_group.name",
        ),
        (
            json!({"security_group": {"name": "x".repeat(65)}}),
            "security_group.name",
        ),
        (
            json!({"security_group": {"name": "ok", "description": "<b>"}}),
            "security_group.description",
        ),
        (
            json!({"security_group": {"name": "ok", "description": "d".repeat(256)}}),
            "security_group.description",
        ),
        (
            json!({"security_group": {"name": "ok", "tags": [{"key": "", "value": "v"}]}}),
            "tags[0].key",
        ),
        (json!({"name": "ok"}), "security_group"),
    ] {
        let a = hw
            .call(
                "POST",
                "/v3/{p}/vpc/security-groups",
                &[],
                Some(body.clone()),
            )
            .await;
        assert_eq!((a.status, a.code().as_str()), (400, "VPC.0602"), "{body}");
        assert!(
            a.body["error_msg"]
                .as_str()
                .is_some_and(|m| m.contains(field)),
            "{}",
            a.body
        );
    }
    let a = hw
        .call(
            "POST",
            "/v3/{p}/vpc/security-groups",
            &[],
            Some(json!({"security_group": {"name": "dry"}, "dry_run": true})),
        )
        .await;
    assert_eq!(a.status, 202);
    assert!(
        sim.snapshot()
            .huawei
            .security_groups
            .iter()
            .all(|g| g.name != "dry")
    );

    // delete: in use is 409, free is 204, gone is 404
    let a = hw
        .call(
            "DELETE",
            &format!("/v3/{{p}}/vpc/security-groups/{}", g(1)),
            &[],
            None,
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (409, "VPC.9902"));
    let a = hw.call("DELETE", &path, &[], None).await;
    assert_eq!(a.status, 204);
    assert_eq!(a.body, Value::Null);
    let a = hw.call("DELETE", &path, &[], None).await;
    assert_eq!((a.status, a.code().as_str()), (404, "VPC.9904"));
    sim.shutdown().await;
}

#[tokio::test]
async fn list_groups_pages_and_filters_by_repeated_id() {
    let sim = start(base_state()).await;
    let hw = Hw::new(&sim);
    let a = hw
        .get("/v3/{p}/vpc/security-groups", &[("limit", "2")])
        .await;
    assert_eq!(ids(&a.body, "security_groups"), vec![g(1), g(2)]);
    let next = a.body["page_info"]["next_marker"]
        .as_str()
        .expect("next")
        .to_string();
    let b = hw
        .get(
            "/v3/{p}/vpc/security-groups",
            &[("limit", "2"), ("marker", &next)],
        )
        .await;
    assert_eq!(ids(&b.body, "security_groups"), vec![g(3)]);
    let c = hw
        .get(
            "/v3/{p}/vpc/security-groups",
            &[("id", &g(1)), ("id", &g(3))],
        )
        .await;
    assert_eq!(ids(&c.body, "security_groups"), vec![g(1), g(3)]);
    sim.shutdown().await;
}

fn rule(extra: Value) -> Value {
    let mut base = json!({"security_group_id": g(1), "direction": "ingress"});
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    json!({ "security_group_rule": base })
}

#[tokio::test]
async fn rules_create_defaults_duplicates_and_validation() {
    let sim = start(base_state()).await;
    let hw = Hw::new(&sim);
    let url = "/v3/{p}/vpc/security-group-rules";
    let a = hw
        .call("POST", url, &[], Some(rule(json!({"protocol": "tcp", "multiport": "22,80-90", "remote_ip_prefix": "10.0.0.0/8"}))))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let r = &a.body["security_group_rule"];
    assert_eq!(r["priority"], json!(100));
    assert_eq!(r["action"], json!("allow"));
    assert_eq!(r["ethertype"], json!("IPv4"));
    assert_eq!(r["security_group_id"], json!(g(1)));
    let rid = r["id"].as_str().expect("id").to_string();

    let dup = hw
        .call("POST", url, &[], Some(rule(json!({"protocol": "TCP", "multiport": "22,80-90", "remote_ip_prefix": "10.0.0.0/8"}))))
        .await;
    assert_eq!((dup.status, dup.code().as_str()), (409, "VPC.9902"));
    assert!(
        dup.body["error_msg"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("Rule id is {rid}"))),
        "{}",
        dup.body
    );

    for (extra, field) in [
        (json!({"protocol": "icmp", "ethertype": "IPv6"}), "protocol"),
        (json!({"protocol": "icmpv6"}), "protocol"),
        (json!({"protocol": "sctp-ish"}), "protocol"),
        (
            json!({"protocol": "tcp", "multiport": "90-80"}),
            "multiport",
        ),
        (json!({"protocol": "tcp", "multiport": "0"}), "multiport"),
        (json!({"multiport": "80"}), "multiport"),
        (json!({"priority": 0}), "priority"),
        (json!({"priority": 101}), "priority"),
        (json!({"action": "reject"}), "action"),
        (json!({"direction": "inbound"}), "direction"),
        (
            json!({"remote_ip_prefix": "10.0.0.0/33"}),
            "remote_ip_prefix",
        ),
        (json!({"remote_ip_prefix": "fd00::/8"}), "remote_ip_prefix"),
        (
            json!({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": g(2)}),
            "mutually exclusive",
        ),
        (json!({"remote_group_id": uuid(999)}), "remote_group_id"),
        (json!({"description": "a>b"}), "description"),
        (json!({"ethertype": "IPv5"}), "ethertype"),
    ] {
        let a = hw.call("POST", url, &[], Some(rule(extra.clone()))).await;
        assert_eq!((a.status, a.code().as_str()), (400, "VPC.0602"), "{extra}");
        assert!(
            a.body["error_msg"]
                .as_str()
                .is_some_and(|m| m.contains(field)),
            "{extra}: {}",
            a.body
        );
    }
    // icmpv6 with IPv6 and a numbered protocol are fine; dry run does not create
    let ok = hw
        .call(
            "POST",
            url,
            &[],
            Some(rule(json!({"protocol": "icmpv6", "ethertype": "IPv6"}))),
        )
        .await;
    assert_eq!(ok.status, 201);
    let ok = hw.call("POST", url, &[], Some(rule(json!({"protocol": "47", "remote_group_id": g(2), "action": "deny", "priority": "5"})))).await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(ok.body["security_group_rule"]["priority"], json!(5));
    let mut dry = rule(json!({"protocol": "udp"}));
    dry["dry_run"] = json!(true);
    let a = hw.call("POST", url, &[], Some(dry)).await;
    assert_eq!(a.status, 202);
    assert_eq!(sim.huawei_group_rules(&g(1)).map(|r| r.len()), Some(3));

    // show and delete
    let a = hw.get(&format!("{url}/{rid}"), &[]).await;
    assert_eq!(
        a.body["security_group_rule"]["multiport"],
        json!("22,80-90")
    );
    let a = hw.call("DELETE", &format!("{url}/{rid}"), &[], None).await;
    assert_eq!(a.status, 204);
    let a = hw.get(&format!("{url}/{rid}"), &[]).await;
    assert_eq!((a.status, a.code().as_str()), (404, "VPC.9904"));
    let a = hw.call("DELETE", &format!("{url}/{rid}"), &[], None).await;
    assert_eq!(a.status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn batch_create_rules_limits_and_ignore_duplicate() {
    let sim = start(base_state()).await;
    let hw = Hw::new(&sim);
    let url = format!(
        "/v3/{{p}}/vpc/security-groups/{}/security-group-rules/batch-create",
        g(2)
    );
    let r1 = json!({"direction": "ingress", "protocol": "tcp", "multiport": "443"});
    let r2 = json!({"direction": "egress", "remote_ip_prefix": "192.168.0.1"});
    let a = hw
        .call(
            "POST",
            &url,
            &[],
            Some(json!({"security_group_rules": [r1, r2]})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let created = a.body["security_group_rules"].as_array().expect("rules");
    assert_eq!(created.len(), 2);
    assert!(
        created.iter().all(|r| r["priority"] == json!(1)),
        "batch default priority is 1"
    );
    assert_eq!(created[1]["remote_ip_prefix"], json!("192.168.0.1/32"));

    let r3 = json!({"direction": "ingress", "protocol": "udp"});
    let a = hw
        .call(
            "POST",
            &url,
            &[],
            Some(json!({"security_group_rules": [r1, r3]})),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (409, "VPC.9902"));
    assert_eq!(sim.huawei_group_rules(&g(2)).map(|r| r.len()), Some(2));
    let a = hw
        .call(
            "POST",
            &url,
            &[],
            Some(json!({"security_group_rules": [r1, r3], "ignore_duplicate": true})),
        )
        .await;
    assert_eq!(a.status, 201);
    assert_eq!(
        a.body["security_group_rules"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(sim.huawei_group_rules(&g(2)).map(|r| r.len()), Some(3));

    let many: Vec<Value> = (1..=201)
        .map(|i| json!({"direction": "ingress", "protocol": "tcp", "multiport": i.to_string()}))
        .collect();
    let a = hw
        .call(
            "POST",
            &url,
            &[],
            Some(json!({"security_group_rules": many})),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (400, "VPC.0602"));
    let a = hw
        .call(
            "POST",
            &url,
            &[],
            Some(json!({"security_group_rules": [{"direction": "up"}]})),
        )
        .await;
    assert!(
        a.body["error_msg"]
            .as_str()
            .is_some_and(|m| m.contains("security_group_rules[0].direction"))
    );
    let a = hw
        .call(
            "POST",
            &format!(
                "/v3/{{p}}/vpc/security-groups/{}/security-group-rules/batch-create",
                uuid(999)
            ),
            &[],
            Some(json!({"security_group_rules": [r3]})),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (404, "VPC.9904"));
    sim.shutdown().await;
}

#[tokio::test]
async fn list_rules_by_repeated_group_with_pages() {
    let sim = start(base_state()).await;
    let hw = Hw::new(&sim);
    for (group, n) in [(g(1), 3), (g(2), 2), (g(3), 1)] {
        let rules: Vec<Value> = (0..n)
            .map(|i| json!({"direction": "ingress", "protocol": "tcp", "multiport": (1000 + i).to_string()}))
            .collect();
        let a = hw
            .call(
                "POST",
                &format!("/v3/{{p}}/vpc/security-groups/{group}/security-group-rules/batch-create"),
                &[],
                Some(json!({"security_group_rules": rules})),
            )
            .await;
        assert_eq!(a.status, 201);
    }
    let mut seen = Vec::new();
    let mut marker = String::new();
    for _ in 0..10 {
        let mut q = vec![
            ("security_group_id", g(1)),
            ("security_group_id", g(2)),
            ("limit", "2".to_string()),
        ];
        if !marker.is_empty() {
            q.push(("marker", marker.clone()));
        }
        let qr: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = hw.get("/v3/{p}/vpc/security-group-rules", &qr).await;
        assert_eq!(a.status, 200);
        let page = a.body["security_group_rules"]
            .as_array()
            .expect("rules")
            .clone();
        assert!(page.len() <= 2);
        for r in &page {
            assert!(r["security_group_id"] == json!(g(1)) || r["security_group_id"] == json!(g(2)));
            seen.push(r["id"].as_str().expect("id").to_string());
        }
        match a.body["page_info"]["next_marker"].as_str() {
            Some(m) => marker = m.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "every rule of g1 and g2 exactly once");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "stable id order without repeats");
    sim.shutdown().await;
}

#[tokio::test]
async fn project_scope_is_enforced() {
    let other = "ffffffffffffffffffffffffffffffff";
    let state = base_state().with_huawei_group(other, &uuid(300), "foreign");
    let sim = start(state).await;
    let mut hw = Hw::new(&sim);
    // the account's project sees only its own groups
    let a = hw
        .get(&format!("/v3/{{p}}/vpc/security-groups/{}", uuid(300)), &[])
        .await;
    assert_eq!(a.status, 404);
    hw.project = other.into();
    let a = hw.get("/v3/{p}/vpc/security-groups", &[]).await;
    assert_eq!((a.status, a.code().as_str()), (400, "VPC.0007"));
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_path_is_apig_0101_and_counted() {
    let sim = start(base_state()).await;
    let hw = Hw::new(&sim);
    let a = hw.get("/v3/{p}/vpcs", &[]).await;
    assert_eq!((a.status, a.code().as_str()), (404, "APIG.0101"));
    assert_eq!(sim.call_count("unknown"), 1);
    sim.shutdown().await;
}
