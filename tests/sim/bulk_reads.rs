//! The bulk reads: Huawei port, rule and group lists with every filter the
//! SDK sends, Baidu instance lists by ids and groups (with elastic NICs'
//! groups in `nicInfo.securityGroups`), their limits and paging, and the
//! per-endpoint call counts benchmarks read.

use secgroup_test_support::wire;

use serde_json::{Value, json};
use wire::*;

use secgroup_controller::sim::{Account, HwRule, Provider, SimSettings, SimState};

const P: &str = HW_PROJECT;

fn g(n: u32) -> String {
    uuid(100 + n)
}
fn port(n: u32) -> String {
    uuid(1000 + n)
}
fn rule_id(n: u32) -> String {
    uuid(5000 + n)
}

/// Groups g1..g3. Ports 1..=25 hold [g1] (even ones [g2, g1]); port 26
/// holds [g3] and is unbound; port 27 [g3] is bound but administratively
/// down, in another VPC and subnet, with every other field set.
fn huawei_state() -> SimState {
    let mut s = SimState::new()
        .with_account(Account::huawei(HW_AK, HW_SK, P))
        .with_settings(SimSettings {
            huawei_default_rules: false,
            ..SimSettings::default()
        })
        .with_huawei_group(P, &g(1), "g1")
        .with_huawei_group(P, &g(2), "g2")
        .with_huawei_group(P, &g(3), "g3");
    for n in 1..=25u32 {
        let groups = if n.is_multiple_of(2) {
            vec![g(2), g(1)]
        } else {
            vec![g(1)]
        };
        let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
        s = s.with_huawei_port(P, &port(n), &refs);
    }
    s = s
        .with_huawei_port(P, &port(26), &[&g(3)])
        .with_huawei_port(P, &port(27), &[&g(3)]);
    for (i, p) in s.huawei.ports.iter_mut().enumerate() {
        p.vpc_id = uuid(900);
        p.virsubnet_id = uuid(910);
        p.device_id = uuid(2000 + i as u32);
        p.mac_address = format!("fa:16:3e:00:00:{i:02x}");
        p.ip_address = format!("192.168.0.{}", i + 10);
        p.name = format!("port-{}", i + 1);
    }
    let p26 = &mut s.huawei.ports[25];
    p26.device_id = String::new();
    p26.device_owner = String::new();
    let p27 = &mut s.huawei.ports[26];
    p27.vpc_id = uuid(901);
    p27.virsubnet_id = uuid(911);
    p27.admin_state_up = false;
    p27.device_owner = "neutron:VIP_PORT".into();
    p27.description = "the vip".into();
    p27.instance_id = "rds-1".into();
    p27.instance_type = "RDS".into();
    p27.binding_host_id = "host-7".into();
    s
}

#[tokio::test]
async fn huawei_ports_of_a_group_page_with_their_ordered_groups() {
    let sim = start(huawei_state()).await;
    let hw = Hw::new(&sim);
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = vec![("security_groups", g(1)), ("limit", "10".to_string())];
        if let Some(m) = &marker {
            q.push(("marker", m.clone()));
        }
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = hw.get("/v3/{p}/ports", &q).await;
        assert_eq!(a.status, 200, "{}", a.body);
        pages += 1;
        for p in a.body["ports"].as_array().expect("ports") {
            let id = p["id"].as_str().expect("id").to_string();
            let n: u32 = id[id.len() - 4..].parse::<u32>().expect("n") - 1000;
            let expected = if n.is_multiple_of(2) {
                json!([g(2), g(1)])
            } else {
                json!([g(1)])
            };
            assert_eq!(p["security_groups"], expected, "{id}");
            seen.push(id);
        }
        match a.body["page_info"]["next_marker"].as_str() {
            Some(m) => marker = Some(m.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (1..=25).map(port).collect::<Vec<_>>());

    // Two groups: any of them (a repeated key is an alternative).
    let a = hw
        .get(
            "/v3/{p}/ports",
            &[("security_groups", &g(2)), ("security_groups", &g(3))],
        )
        .await;
    let mut expected: Vec<String> = (1..=25u32)
        .filter(|n| n.is_multiple_of(2))
        .map(port)
        .collect();
    expected.extend([port(26), port(27)]);
    assert_eq!(ids(&a.body, "ports"), expected);
    sim.shutdown().await;
}

#[tokio::test]
async fn huawei_port_limit_bounds() {
    let sim = start(huawei_state()).await;
    let hw = Hw::new(&sim);
    for ok in ["0", "1", "2000"] {
        let a = hw.get("/v3/{p}/ports", &[("limit", ok)]).await;
        assert_eq!(a.status, 200, "limit {ok}");
    }
    assert_eq!(
        ids(
            &hw.get("/v3/{p}/ports", &[("limit", "0")]).await.body,
            "ports"
        )
        .len(),
        27
    );
    for bad in ["2001", "-1", "ten", "99999999999999999999"] {
        let a = hw.get("/v3/{p}/ports", &[("limit", bad)]).await;
        assert_eq!(
            (a.status, a.code().as_str()),
            (400, "VPC.0602"),
            "limit {bad}"
        );
        assert!(
            a.body["error_msg"]
                .as_str()
                .is_some_and(|m| m.contains("limit"))
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn huawei_port_filters_are_each_honoured() {
    let sim = start(huawei_state()).await;
    let hw = Hw::new(&sim);
    let list = |q: Vec<(&'static str, String)>| {
        let hw = &hw;
        async move {
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            hw.list_ids("/v3/{p}/ports", &q, "ports").await
        }
    };
    let only27 = vec![port(27)];
    assert_eq!(list(vec![("vpc_id", uuid(901))]).await, only27);
    assert_eq!(list(vec![("virsubnet_id", uuid(911))]).await, only27);
    assert_eq!(list(vec![("admin_state_up", "false".into())]).await, only27);
    assert_eq!(
        list(vec![("admin_state_up", "true".into())]).await.len(),
        26
    );
    assert_eq!(
        list(vec![("device_owner", "neutron:VIP_PORT".into())]).await,
        only27
    );
    assert_eq!(
        list(vec![("device_owner_prefixlike", "neutron".into())]).await,
        only27
    );
    assert_eq!(
        list(vec![("device_owner_prefixlike", "compute".into())])
            .await
            .len(),
        25
    );
    assert_eq!(list(vec![("description", "the vip".into())]).await, only27);
    assert_eq!(list(vec![("instance_id", "rds-1".into())]).await, only27);
    assert_eq!(list(vec![("instance_type", "RDS".into())]).await, only27);
    assert_eq!(
        list(vec![("binding:host_id", "host-7".into())]).await,
        only27
    );
    assert_eq!(list(vec![("status", "DOWN".into())]).await, vec![port(26)]);
    assert_eq!(list(vec![("status", "ACTIVE".into())]).await.len(), 26);
    assert_eq!(
        list(vec![("device_id", uuid(2000)), ("device_id", uuid(2002))]).await,
        vec![port(1), port(3)]
    );
    assert_eq!(
        list(vec![("mac_address", "fa:16:3e:00:00:01".into())]).await,
        vec![port(2)]
    );
    assert_eq!(list(vec![("name", "port-5".into())]).await, vec![port(5)]);
    assert_eq!(
        list(vec![("id", port(4)), ("id", port(9))]).await,
        vec![port(4), port(9)]
    );
    assert_eq!(
        list(vec![("private_ips", "ip_address=192.168.0.12".into())]).await,
        vec![port(3)]
    );
    // No simulated port has allowed address pairs.
    assert!(
        list(vec![(
            "allowed_address_pairs",
            "ip_address=192.168.0.12".into()
        )])
        .await
        .is_empty()
    );
    // Different keys combine with AND.
    assert_eq!(
        list(vec![
            ("security_groups", g(2)),
            ("id", port(3)),
            ("id", port(4))
        ])
        .await,
        vec![port(4)]
    );
    assert!(
        list(vec![
            ("security_groups", g(3)),
            ("vpc_id", uuid(900)),
            ("status", "ACTIVE".into())
        ])
        .await
        .is_empty()
    );

    let refused = |q: Vec<(&'static str, String)>, names: &'static str| {
        let hw = &hw;
        async move {
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let a = hw.get("/v3/{p}/ports", &q).await;
            assert_eq!((a.status, a.code().as_str()), (400, "VPC.0602"), "{q:?}");
            let msg = a.body["error_msg"].as_str().unwrap_or("").to_string();
            assert!(msg.contains(names), "{q:?}: {msg}");
        }
    };
    refused(vec![("security_group", g(1))], "security_group").await;
    refused(vec![("status", "SLEEPING".into())], "status").await;
    refused(
        vec![("status", "DOWN".into()), ("status", "ACTIVE".into())],
        "status",
    )
    .await;
    refused(vec![("admin_state_up", "maybe".into())], "admin_state_up").await;
    refused(
        vec![("private_ips", "subnet_cidr_id=x".into())],
        "private_ips",
    )
    .await;
    refused(vec![("private_ips", "192.168.0.12".into())], "private_ips").await;
    refused(
        vec![("security_groups", format!("{},{}", g(1), g(2)))],
        "security_groups",
    )
    .await;
    refused(
        vec![("device_id", format!("{},{}", uuid(2000), uuid(2001)))],
        "device_id",
    )
    .await;
    refused(vec![("limit", "5".into()), ("limit", "6".into())], "limit").await;
    sim.shutdown().await;
}

fn rule(n: u32, f: impl FnOnce(&mut HwRule)) -> HwRule {
    let mut r = HwRule {
        multiport: Some(format!("{}", 1000 + n)),
        ..hw_rule(&rule_id(n))
    };
    f(&mut r);
    r
}

/// Rules 1..=6 in g1, 7 in g2, each differing from rule 1 in one field.
fn rule_state() -> SimState {
    huawei_state()
        .with_huawei_rule(&g(1), rule(1, |_| {}))
        .with_huawei_rule(&g(1), rule(2, |r| r.direction = "egress".into()))
        .with_huawei_rule(
            &g(1),
            rule(3, |r| {
                r.action = "deny".into();
                r.priority = 5;
                r.description = "block".into();
            }),
        )
        .with_huawei_rule(
            &g(1),
            rule(4, |r| {
                r.ethertype = "IPv6".into();
                r.remote_ip_prefix = Some("fd00::/8".into());
            }),
        )
        .with_huawei_rule(
            &g(1),
            rule(5, |r| {
                r.protocol = Some("udp".into());
                r.remote_ip_prefix = None;
                r.remote_group_id = Some(g(2));
            }),
        )
        .with_huawei_rule(
            &g(1),
            rule(6, |r| {
                r.protocol = None;
                r.multiport = None;
                r.remote_ip_prefix = None;
                r.remote_address_group_id = Some(uuid(777));
            }),
        )
        .with_huawei_rule(&g(2), rule(7, |r| r.priority = 100))
}

#[tokio::test]
async fn huawei_rule_filters_are_each_honoured() {
    let sim = start(rule_state()).await;
    let hw = Hw::new(&sim);
    let list = |q: Vec<(&'static str, String)>| {
        let hw = &hw;
        async move {
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            hw.list_ids(
                "/v3/{p}/vpc/security-group-rules",
                &q,
                "security_group_rules",
            )
            .await
        }
    };
    let r = |ns: &[u32]| ns.iter().map(|n| rule_id(*n)).collect::<Vec<_>>();
    assert_eq!(list(vec![]).await, r(&[1, 2, 3, 4, 5, 6, 7]));
    assert_eq!(list(vec![("security_group_id", g(2))]).await, r(&[7]));
    assert_eq!(
        list(vec![("id", rule_id(2)), ("id", rule_id(6))]).await,
        r(&[2, 6])
    );
    assert_eq!(list(vec![("direction", "egress".into())]).await, r(&[2]));
    assert_eq!(list(vec![("action", "deny".into())]).await, r(&[3]));
    assert_eq!(
        list(vec![("priority", "5".into()), ("priority", "100".into())]).await,
        r(&[3, 7])
    );
    assert_eq!(list(vec![("ethertype", "IPv6".into())]).await, r(&[4]));
    assert_eq!(
        list(vec![("remote_ip_prefix", "fd00::/8".into())]).await,
        r(&[4])
    );
    // Compared as networks: host bits and spelling do not matter.
    assert_eq!(
        list(vec![
            ("remote_ip_prefix", "10.1.2.3/8".into()),
            ("security_group_id", g(1))
        ])
        .await,
        r(&[1, 2, 3])
    );
    assert_eq!(list(vec![("remote_group_id", g(2))]).await, r(&[5]));
    assert_eq!(
        list(vec![("remote_address_group_id", uuid(777))]).await,
        r(&[6])
    );
    assert_eq!(list(vec![("protocol", "udp".into())]).await, r(&[5]));
    assert_eq!(
        list(vec![("protocol", "UDP".into()), ("protocol", "tcp".into())]).await,
        r(&[1, 2, 3, 4, 5, 7])
    );
    assert_eq!(list(vec![("description", "block".into())]).await, r(&[3]));
    assert!(list(vec![("enabled", "false".into())]).await.is_empty());

    // Drift made in the console: a rule disabled in place.
    assert!(sim.set_huawei_rule_enabled(&rule_id(2), false));
    assert!(!sim.set_huawei_rule_enabled(&uuid(4242), false));
    assert_eq!(list(vec![("enabled", "false".into())]).await, r(&[2]));
    assert_eq!(
        list(vec![("enabled", "true".into())]).await,
        r(&[1, 3, 4, 5, 6, 7])
    );
    let shown = hw
        .get(
            &format!("/v3/{{p}}/vpc/security-group-rules/{}", rule_id(2)),
            &[],
        )
        .await;
    assert_eq!(shown.body["security_group_rule"]["enabled"], json!(false));

    // Paging with marker.
    let a = hw
        .get("/v3/{p}/vpc/security-group-rules", &[("limit", "4")])
        .await;
    assert_eq!(ids(&a.body, "security_group_rules"), r(&[1, 2, 3, 4]));
    let next = a.body["page_info"]["next_marker"]
        .as_str()
        .expect("more")
        .to_string();
    let b = hw
        .get(
            "/v3/{p}/vpc/security-group-rules",
            &[("limit", "4"), ("marker", &next)],
        )
        .await;
    assert_eq!(ids(&b.body, "security_group_rules"), r(&[5, 6, 7]));

    for (q, names) in [
        (vec![("direction", "sideways")], "direction"),
        (vec![("action", "maybe")], "action"),
        (vec![("priority", "0")], "priority"),
        (vec![("ethertype", "IPv5")], "ethertype"),
        (vec![("remote_ip_prefix", "nowhere")], "remote_ip_prefix"),
        (vec![("enabled", "yes")], "enabled"),
        (vec![("port_range_min", "22")], "port_range_min"),
        (
            vec![("direction", "ingress"), ("direction", "egress")],
            "direction",
        ),
        (vec![("limit", "2001")], "limit"),
    ] {
        let a = hw.get("/v3/{p}/vpc/security-group-rules", &q).await;
        assert_eq!((a.status, a.code().as_str()), (400, "VPC.0602"), "{q:?}");
        assert!(
            a.body["error_msg"]
                .as_str()
                .is_some_and(|m| m.contains(names)),
            "{q:?}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn huawei_group_filters_are_each_honoured() {
    let mut s = huawei_state();
    s.huawei.security_groups[2].enterprise_project_id = uuid(333);
    s.huawei.security_groups[1].description = "second".into();
    let sim = start(s).await;
    let hw = Hw::new(&sim);
    let list = |q: Vec<(&'static str, String)>| {
        let hw = &hw;
        async move {
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            hw.list_ids("/v3/{p}/vpc/security-groups", &q, "security_groups")
                .await
        }
    };
    assert_eq!(
        list(vec![("id", g(1)), ("id", g(3))]).await,
        vec![g(1), g(3)]
    );
    assert_eq!(list(vec![("name", "g2".into())]).await, vec![g(2)]);
    assert_eq!(
        list(vec![("description", "second".into())]).await,
        vec![g(2)]
    );
    assert_eq!(
        list(vec![("enterprise_project_id", uuid(333))]).await,
        vec![g(3)]
    );
    assert_eq!(
        list(vec![("enterprise_project_id", "0".into())]).await,
        vec![g(1), g(2)]
    );
    assert_eq!(
        list(vec![("enterprise_project_id", "all_granted_eps".into())])
            .await
            .len(),
        3
    );
    let a = hw
        .get("/v3/{p}/vpc/security-groups", &[("vpc_id", &uuid(900))])
        .await;
    assert_eq!((a.status, a.code().as_str()), (400, "VPC.0602"));
    sim.shutdown().await;
}

// ------------------------------------------------------------------ Baidu

/// Groups g-a, g-b, g-c; instances i-001..i-150 (in vpc-1, odd ones also
/// in g-b), i-eni with primary [g-a] and an elastic NIC holding
/// [g-c, g-a].
fn baidu_state() -> SimState {
    let mut s = SimState::new()
        .with_account(Account::baidu(BD_AK, BD_SK))
        .with_baidu_group("g-a", "ga", "vpc-1")
        .with_baidu_group("g-b", "gb", "vpc-1")
        .with_baidu_group("g-c", "gc", "vpc-1");
    for n in 1..=150u32 {
        let id = format!("i-{n:03}");
        s = if !n.is_multiple_of(2) {
            s.with_baidu_instance(&id, &["g-a", "g-b"])
        } else {
            s.with_baidu_instance(&id, &["g-a"])
        };
    }
    s = s
        .with_baidu_instance("i-eni", &["g-a"])
        .with_baidu_eni("i-eni", "eni-1", &["g-c", "g-a"]);
    for (n, i) in s.baidu.instances.iter_mut().enumerate() {
        i.vpc_id = "vpc-1".into();
        i.internal_ip = format!("10.0.{}.{}", n / 200, n % 200 + 1);
        i.zone_name = "cn-bj-a".into();
    }
    s.baidu.instances[2].status = "Stopped".into();
    s.baidu.instances[2].zone_name = "cn-bj-b".into();
    s
}

fn inst(n: u32) -> String {
    format!("i-{n:03}")
}

fn csv(ids: impl Iterator<Item = String>) -> String {
    ids.collect::<Vec<_>>().join(",")
}

#[tokio::test]
async fn baidu_instances_by_ids_and_groups_page_within_the_limits() {
    let sim = start(baidu_state()).await;
    let bd = Bd::new(&sim);
    let get = |q: Vec<(&'static str, String)>| {
        let bd = &bd;
        async move {
            let q: Vec<(&str, Option<&str>)> =
                q.iter().map(|(k, v)| (*k, Some(v.as_str()))).collect();
            bd.call("GET", "/v2/instance", &q, None).await
        }
    };
    // 100 ids: the documented maximum, in pages of 40.
    let wanted = csv((1..=100).map(inst));
    let mut seen = Vec::new();
    let mut marker = String::new();
    loop {
        let mut q = vec![("instanceIds", wanted.clone()), ("maxKeys", "40".into())];
        if !marker.is_empty() {
            q.push(("marker", marker.clone()));
        }
        let a = get(q).await;
        assert_eq!(a.status, 200, "{}", a.body);
        seen.extend(ids(&a.body, "instances"));
        if a.body["isTruncated"] == json!(true) {
            marker = a.body["nextMarker"].as_str().expect("next").to_string();
        } else {
            assert!(a.body.get("nextMarker").is_none());
            break;
        }
    }
    assert_eq!(seen, (1..=100).map(inst).collect::<Vec<_>>());

    // One more id than documented: refused, naming the parameter.
    let a = get(vec![("instanceIds", csv((1..=101).map(inst)))]).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (400, "BadRequest"),
        "{}",
        a.body
    );
    assert!(
        a.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("instanceIds"))
    );
    let many_groups = csv((0..101).map(|n| format!("g-{n}")));
    let a = get(vec![("securityGroupIds", many_groups)]).await;
    assert_eq!((a.status, a.code().as_str()), (400, "BadRequest"));
    assert!(
        a.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("securityGroupIds"))
    );
    for bad in ["0", "1001", "lots"] {
        let a = get(vec![("maxKeys", bad.into())]).await;
        assert_eq!(
            (a.status, a.code().as_str()),
            (400, "BadRequest"),
            "maxKeys {bad}"
        );
    }
    let a = get(vec![("maxKeys", "1000".into())]).await;
    assert_eq!(ids(&a.body, "instances").len(), 151);

    // A group's members, each with its full group list.
    let a = get(vec![
        ("securityGroupIds", "g-b".into()),
        ("maxKeys", "1000".into()),
    ])
    .await;
    let members = a.body["instances"].as_array().expect("instances");
    assert_eq!(members.len(), 75);
    for m in members {
        assert_eq!(m["nicInfo"]["securityGroups"], json!(["g-a", "g-b"]));
        assert_eq!(m["nicInfo"]["enterpriseSecurityGroups"], json!([]));
    }
    // Two groups: members of either.
    let a = get(vec![("securityGroupIds", "g-b,g-c".into())]).await;
    assert_eq!(ids(&a.body, "instances").len(), 76);
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_nic_groups_are_the_union_over_elastic_nics() {
    let sim = start(baidu_state()).await;
    let bd = Bd::new(&sim);
    let union = json!(["g-a", "g-c"]);
    // The plain list, by group: the ENI's group finds the instance.
    let a = bd
        .call(
            "GET",
            "/v2/instance",
            &[("securityGroupIds", Some("g-c"))],
            None,
        )
        .await;
    assert_eq!(ids(&a.body, "instances"), vec!["i-eni"]);
    assert_eq!(a.body["instances"][0]["nicInfo"]["securityGroups"], union);
    assert_eq!(a.body["instances"][0]["eniNum"], json!("1"));
    // listByInstanceId and the detail call say the same.
    let a = bd
        .call(
            "POST",
            "/v2/instance/listByInstanceId",
            &[],
            Some(json!({"instanceIds": ["i-eni", "i-002"]})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(ids(&a.body, "instances"), vec!["i-002", "i-eni"]);
    assert_eq!(
        a.body["instances"][0]["nicInfo"]["securityGroups"],
        json!(["g-a"])
    );
    assert_eq!(a.body["instances"][1]["nicInfo"]["securityGroups"], union);
    let a = bd.call("GET", "/v2/instance/i-eni", &[], None).await;
    assert_eq!(a.body["instance"]["nicInfo"]["securityGroups"], union);
    assert_eq!(
        sim.baidu_instance_nic_groups("i-eni"),
        Some(vec!["g-a".into(), "g-c".into()])
    );
    // The per-instance group list stays exact for the primary NIC.
    let a = bd
        .call(
            "GET",
            "/v2/securityGroup",
            &[("instanceId", Some("i-eni"))],
            None,
        )
        .await;
    assert_eq!(ids(&a.body, "securityGroups"), vec!["g-a"]);
    assert_eq!(sim.baidu_instance_groups("i-eni"), Some(vec!["g-a".into()]));
    // A group an ENI holds is in use.
    let a = bd.call("DELETE", "/v2/securityGroup/g-c", &[], None).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (
            409,
            "SecurityGroup.InstancesAssociatedSecurityGroupCanNotBeDeleted"
        )
    );
    sim.shutdown().await;

    // The option for the plain list's empty sample.
    let sim = start(baidu_state().with_settings(SimSettings {
        baidu_list_fills_nic_security_groups: false,
        ..SimSettings::default()
    }))
    .await;
    let bd = Bd::new(&sim);
    let a = bd
        .call(
            "GET",
            "/v2/instance",
            &[("instanceIds", Some("i-eni"))],
            None,
        )
        .await;
    assert_eq!(
        a.body["instances"][0]["nicInfo"]["securityGroups"],
        json!([])
    );
    let a = bd
        .call(
            "POST",
            "/v2/instance/listByInstanceId",
            &[],
            Some(json!({"instanceIds": ["i-eni"]})),
        )
        .await;
    assert_eq!(a.body["instances"][0]["nicInfo"]["securityGroups"], union);
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_list_by_instance_id_pages_and_refuses_beyond_its_limits() {
    let sim = start(baidu_state()).await;
    let bd = Bd::new(&sim);
    let post = |query: Vec<(&'static str, &'static str)>, body: Value| {
        let bd = &bd;
        async move {
            let q: Vec<(&str, Option<&str>)> = query.iter().map(|(k, v)| (*k, Some(*v))).collect();
            bd.call("POST", "/v2/instance/listByInstanceId", &q, Some(body))
                .await
        }
    };
    // The Go SDK also puts Marker and MaxKeys in the body: ignored.
    let body = json!({
        "instanceIds": ["i-005", "i-001", "i-003", "i-nope", "i-001"],
        "Marker": "",
        "MaxKeys": 0,
    });
    let a = post(vec![("maxKeys", "2"), ("clientToken", "tok")], body.clone()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(ids(&a.body, "instances"), vec!["i-001", "i-003"]);
    assert_eq!(a.body["isTruncated"], json!(true));
    assert_eq!(a.body["nextMarker"], json!("i-005"));
    let b = post(vec![("maxKeys", "2"), ("marker", "i-005")], body).await;
    assert_eq!(ids(&b.body, "instances"), vec!["i-005"]);
    assert_eq!(b.body["isTruncated"], json!(false));

    let hundred: Vec<String> = (1..=100).map(inst).collect();
    let a = post(vec![], json!({ "instanceIds": hundred })).await;
    assert_eq!(ids(&a.body, "instances").len(), 100);
    let too_many: Vec<String> = (1..=101).map(inst).collect();
    let a = post(vec![], json!({ "instanceIds": too_many })).await;
    assert_eq!((a.status, a.code().as_str()), (400, "BadRequest"));
    assert!(
        a.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("instanceIds"))
    );
    let a = post(vec![], json!({ "instanceIds": [] })).await;
    assert_eq!((a.status, a.code().as_str()), (400, "BadRequest"));
    let a = post(vec![], json!({ "ids": ["i-001"] })).await;
    assert_eq!((a.status, a.code().as_str()), (400, "BadRequest"));
    let a = post(
        vec![("maxKeys", "1001")],
        json!({ "instanceIds": ["i-001"] }),
    )
    .await;
    assert_eq!((a.status, a.code().as_str()), (400, "BadRequest"));
    let a = post(
        vec![("instanceIds", "i-001")],
        json!({ "instanceIds": ["i-001"] }),
    )
    .await;
    assert_eq!((a.status, a.code().as_str()), (400, "BadRequest"));
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_instance_list_filters_and_the_ones_not_simulated() {
    let sim = start(baidu_state()).await;
    let bd = Bd::new(&sim);
    let get = |q: Vec<(&'static str, &'static str)>| {
        let bd = &bd;
        async move {
            let q: Vec<(&str, Option<&str>)> = q.iter().map(|(k, v)| (*k, Some(*v))).collect();
            bd.call("GET", "/v2/instance", &q, None).await
        }
    };
    let a = get(vec![("status", "Stopped")]).await;
    assert_eq!(ids(&a.body, "instances"), vec!["i-003"]);
    let a = get(vec![("zoneName", "cn-bj-b")]).await;
    assert_eq!(ids(&a.body, "instances"), vec!["i-003"]);
    let a = get(vec![("instanceNames", "i-007,i-009")]).await;
    assert_eq!(ids(&a.body, "instances"), vec!["i-007", "i-009"]);
    let a = get(vec![("fuzzyInstanceName", "i-14")]).await;
    assert_eq!(ids(&a.body, "instances").len(), 10);
    let a = get(vec![("internalIp", "10.0.0.1")]).await;
    assert_eq!(ids(&a.body, "instances"), vec!["i-001"]);
    let a = get(vec![
        ("vpcId", "vpc-1"),
        ("privateIps", "10.0.0.2,10.0.0.3"),
    ])
    .await;
    assert_eq!(ids(&a.body, "instances"), vec!["i-002", "i-003"]);
    let a = get(vec![("vpcId", "vpc-2")]).await;
    assert!(ids(&a.body, "instances").is_empty());

    for (q, names) in [
        (vec![("tags", "env:prod")], "tags"),
        (vec![("cdsIds", "v-1")], "cdsIds"),
        (vec![("dedicatedHostId", "d-1")], "dedicatedHostId"),
        (vec![("instanceId", "i-001")], "instanceId"),
        (vec![("privateIps", "10.0.0.2")], "privateIps"),
        (
            vec![("instanceNames", "a"), ("fuzzyInstanceName", "b")],
            "fuzzyInstanceName",
        ),
        (
            vec![("instanceIds", "i-001"), ("instanceIds", "i-002")],
            "instanceIds",
        ),
    ] {
        let a = get(q.clone()).await;
        assert_eq!((a.status, a.code().as_str()), (400, "BadRequest"), "{q:?}");
        assert!(
            a.body["message"]
                .as_str()
                .is_some_and(|m| m.contains(names)),
            "{q:?}: {}",
            a.body
        );
    }
    sim.shutdown().await;
}

// ------------------------------------------------------------ call counts

#[tokio::test]
async fn calls_are_counted_per_endpoint_and_account() {
    let state = huawei_state()
        .with_account(Account::baidu(BD_AK, BD_SK))
        .with_baidu_group("g-a", "ga", "vpc-1")
        .with_baidu_instance("i-1", &["g-a"]);
    let sim = start(state).await;
    let hw = Hw::new(&sim);
    let bd = Bd::new(&sim);
    for _ in 0..3 {
        hw.get("/v3/{p}/ports", &[("limit", "5")]).await;
    }
    hw.get(&format!("/v3/{{p}}/ports/{}", port(1)), &[]).await;
    hw.call(
        "POST",
        &format!("/v2.0/{{p}}/security-groups/{}/instance/action", g(2)),
        &[],
        Some(json!({"action": "add", "ports": [{"id": port(1)}]})),
    )
    .await;
    bd.call(
        "POST",
        "/v2/instance/listByInstanceId",
        &[],
        Some(json!({"instanceIds": ["i-1"]})),
    )
    .await;
    bd.call(
        "GET",
        "/v2/instance",
        &[("instanceIds", Some("i-1,i-2,i-3"))],
        None,
    )
    .await;
    let mut stranger = Hw::new(&sim);
    stranger.signer.sk = "wrong".into();
    assert_eq!(stranger.get("/v3/{p}/ports", &[]).await.status, 401);

    assert_eq!(sim.endpoint_call_count("GET", "/v3/{project_id}/ports"), 4);
    assert_eq!(
        sim.endpoint_call_count("GET", "/v3/{project_id}/ports/{port_id}"),
        1
    );
    assert_eq!(
        sim.endpoint_call_count(
            "POST",
            "/v2.0/{project_id}/security-groups/{security_group_id}/instance/action"
        ),
        1
    );
    assert_eq!(sim.read_write_counts(Provider::Huawei), (5, 1));
    // listByInstanceId is a POST that only reads.
    assert_eq!(sim.read_write_counts(Provider::Baidu), (2, 0));

    let counts = sim.endpoint_calls();
    let ports: Vec<_> = counts
        .iter()
        .filter(|c| c.path == "/v3/{project_id}/ports")
        .map(|c| (c.cloud.as_str(), c.account.as_str(), c.count, c.read))
        .collect();
    assert_eq!(
        ports,
        vec![("huawei", "", 1, true), ("huawei", HW_AK, 3, true)]
    );
    let served = admin_get(&sim, "/_sim/endpoint-calls").await;
    assert_eq!(served, serde_json::to_value(&counts).expect("serializes"));
    assert!(served.as_array().is_some_and(|a| a.iter().any(|c| c["path"]
        == json!("/v2/instance/listByInstanceId")
        && c["method"] == json!("POST")
        && c["read"] == json!(true)
        && c["account"] == json!(BD_AK))));

    sim.reset_logs();
    assert!(sim.endpoint_calls().is_empty());
    sim.shutdown().await;
}
