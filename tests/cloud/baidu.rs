//! The Baidu client against the in-process simulator: every operation,
//! every mapped error, sgVersion and clientToken, pagination, and
//! per-instance membership.

use secgroup_test_support::clients;

use clients::*;
use secgroup_controller::cloud::baidu::BaiduClient;
use secgroup_controller::cloud::{
    CloudError, CloudProvider, Credentials, NewGroup, OWNER_TAG, PortFailureKind, ProviderSettings,
    connect,
};
use secgroup_controller::model::{GroupHandle, ProviderKind, Rule};
use secgroup_controller::plan::normalize::{RawRule, normalize_rule};
use secgroup_controller::sim::{BdRule, SimSettings, SimState};

fn state() -> SimState {
    SimState::new()
        .with_account(baidu_account())
        .with_baidu_group("g-one", "one", "vpc-1")
        .with_baidu_group("g-two", "two", "vpc-1")
        .with_baidu_group("g-three", "three", "vpc-1")
        .with_baidu_instance("i-a", &["g-one"])
        .with_baidu_instance("i-b", &["g-one", "g-two"])
        .with_baidu_instance("i-c", &["g-two"])
}

fn rule(direction: &str, protocol: &str, ports: &str, cidr: &str, remark: &str) -> Rule {
    normalize_rule(
        &RawRule {
            direction,
            protocol: Some(protocol),
            ports: Some(ports),
            remote_ip_prefix: Some(cidr),
            description: Some(remark),
            ..Default::default()
        },
        ProviderKind::Baidu,
    )
    .expect("a valid rule")
}

fn new_group(name: &str, owner: &str) -> NewGroup {
    NewGroup {
        name: name.into(),
        description: format!("{name} group"),
        vpc_id: Some("vpc-1".into()),
        tags: vec![(OWNER_TAG.into(), owner.into())],
    }
}

fn version(sim: &secgroup_controller::sim::SimHandle, id: &str) -> u64 {
    sim.baidu_group(id).expect("group exists").sg_version
}

#[tokio::test]
async fn groups_create_find_and_delete() {
    let sim = start(state()).await;
    let bd = baidu(&sim).with_page_size(2);

    let id = bd.create_group(&new_group("web", "uid-web")).await.unwrap();
    let g = bd.get_group(&id).await.unwrap().unwrap();
    assert_eq!(g.name, "web");
    assert_eq!(g.description, "web group");
    assert_eq!(g.vpc_id.as_deref(), Some("vpc-1"));
    assert_eq!(g.version, Some(0));
    assert_eq!(g.tags.get(OWNER_TAG).map(String::as_str), Some("uid-web"));

    bd.create_group(&new_group("other", "uid-other"))
        .await
        .unwrap();
    let found = bd.find_groups_by_tag(OWNER_TAG, "uid-web").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0], g);
    assert!(
        sim.call_count("baidu.listSecurityGroups") >= 3,
        "5 groups at 2 a page"
    );
    assert_eq!(bd.list_groups().await.unwrap().len(), 5);

    // Baidu needs a VPC to create a group; said before sending.
    let err = bd
        .create_group(&NewGroup {
            vpc_id: None,
            ..new_group("novpc", "u")
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("vpcId"), "{err}");

    // No rename call on Baidu.
    let err = bd.update_group(&id, Some("x"), None).await.unwrap_err();
    assert!(matches!(err, CloudError::InvalidRequest(_)), "{err:?}");

    bd.delete_group(&id).await.unwrap();
    assert_eq!(bd.get_group(&id).await.unwrap(), None);
    bd.delete_group(&id).await.unwrap(); // Not found counts as done.

    let err = bd.delete_group("g-one").await.unwrap_err();
    assert!(matches!(err, CloudError::Conflict(_)), "{err:?}");
    assert_eq!(
        err.detail().unwrap().code,
        "SecurityGroup.InstancesAssociatedSecurityGroupCanNotBeDeleted"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn rules_follow_sg_version_and_surface_mismatch() {
    let sim = start(state()).await;
    let bd = baidu(&sim);

    let rules = vec![
        rule("ingress", "tcp", "443", "10.0.0.0/8", "https"),
        rule("ingress", "udp", "53", "192.168.0.1", "dns"),
        rule("egress", "all", "", "0.0.0.0/0", "out"),
    ];
    assert_eq!(version(&sim, "g-two"), 0);
    bd.create_rules("g-two", &rules, Some(0)).await.unwrap();
    assert_eq!(version(&sim, "g-two"), 3, "one per authorize");

    let g = bd.get_group("g-two").await.unwrap().unwrap();
    assert_eq!(g.version, Some(3));
    let mut got: Vec<Rule> = g.rules.iter().map(|r| r.rule.clone()).collect();
    let mut want = rules.clone();
    got.sort();
    want.sort();
    assert_eq!(
        got, want,
        "read back, normalized, equal to what was written"
    );

    // A stale version is its own error; nothing changes.
    let extra = rule("ingress", "tcp", "22", "10.1.0.0/16", "ssh");
    let err = bd
        .create_rules("g-two", std::slice::from_ref(&extra), Some(1))
        .await
        .unwrap_err();
    let CloudError::VersionMismatch(d) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(d.code, "VersionMismatch");
    assert!(d.request_id.is_some());
    assert_eq!(version(&sim, "g-two"), 3);

    // A duplicate authorize is a conflict.
    let err = bd
        .create_rules("g-two", &rules[..1], Some(3))
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::Conflict(_)), "{err:?}");

    // Revoke by 6-tuple, with the version.
    let https = g.rules.iter().find(|r| r.rule == rules[0]).unwrap();
    bd.delete_rule("g-two", &https.id, &https.rule, Some(3))
        .await
        .unwrap();
    assert_eq!(version(&sim, "g-two"), 4);
    assert_eq!(sim.baidu_group_rules("g-two").unwrap().len(), 2);
    assert_eq!(sim.call_count("baidu.revokeRule"), 1);
    // Gone already: done, by id fallback too.
    bd.delete_rule("g-two", &https.id, &https.rule, Some(4))
        .await
        .unwrap();
    assert_eq!(version(&sim, "g-two"), 4);

    // Without a version: no check, still applied once.
    bd.create_rules("g-two", std::slice::from_ref(&extra), None)
        .await
        .unwrap();
    assert_eq!(version(&sim, "g-two"), 5);

    // Authorize, revoke, authorize the same rule again: three changes.
    bd.delete_rule("g-two", "", &extra, Some(5)).await.unwrap();
    bd.create_rules("g-two", std::slice::from_ref(&extra), Some(6))
        .await
        .unwrap();
    assert_eq!(version(&sim, "g-two"), 7);
    assert!(
        sim.baidu_group_rules("g-two")
            .unwrap()
            .iter()
            .any(|r| r.remark == "ssh")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn rule_update_and_delete_by_id() {
    let sim = start(state().with_baidu_rule(
        "g-one",
        BdRule {
            security_group_rule_id: "r-1".into(),
            remark: "old".into(),
            direction: "ingress".into(),
            ethertype: "IPv4".into(),
            port_range: "1-65535".into(),
            protocol: "tcp".into(),
            source_ip: "10.0.0.0/8".into(),
            source_group_id: String::new(),
            dest_ip: String::new(),
            dest_group_id: String::new(),
        },
    ))
    .await;
    let bd = baidu(&sim);
    let g = bd.get_group("g-one").await.unwrap().unwrap();
    assert_eq!(g.rules.len(), 1);
    assert_eq!(g.rules[0].id, "r-1");
    assert_eq!(
        g.rules[0].rule,
        rule("ingress", "tcp", "", "10.0.0.0/8", "old"),
        "1-65535 reads as all ports"
    );

    let new = rule("ingress", "tcp", "8080", "10.0.0.0/8", "new");
    bd.update_rule("r-1", &new, g.version).await.unwrap();
    let g = bd.get_group("g-one").await.unwrap().unwrap();
    assert_eq!(g.rules[0].rule, new);
    assert_eq!(g.version, Some(1));

    // The same change again carries the same token: answered from the
    // first result, not applied twice.
    bd.update_rule("r-1", &new, Some(0)).await.unwrap();
    assert_eq!(version(&sim, "g-one"), 1);
    assert_eq!(
        sim.request_log().last().map(|e| e.outcome.as_str()),
        Some("replayed")
    );
    // A different change on a stale version is a mismatch.
    let newer = rule("ingress", "tcp", "8081", "10.0.0.0/8", "newer");
    let err = bd.update_rule("r-1", &newer, Some(0)).await.unwrap_err();
    assert!(matches!(err, CloudError::VersionMismatch(_)), "{err:?}");

    bd.delete_rule_by_id("r-1", Some(1)).await.unwrap();
    assert!(sim.baidu_group_rules("g-one").unwrap().is_empty());
    bd.delete_rule_by_id("r-1", None).await.unwrap(); // Not found counts as done.
    sim.shutdown().await;
}

#[tokio::test]
async fn rules_to_other_groups_and_ipv6() {
    let sim = start(state()).await;
    let bd = baidu(&sim);
    let to_group = normalize_rule(
        &RawRule {
            direction: "ingress",
            protocol: Some("tcp"),
            ports: Some("5432"),
            remote_group: Some(GroupHandle::Existing("g-one".into())),
            ..Default::default()
        },
        ProviderKind::Baidu,
    )
    .unwrap();
    let v6 = normalize_rule(
        &RawRule {
            direction: "egress",
            ethertype: Some("IPv6"),
            protocol: Some("udp"),
            ports: Some("8000-9000"),
            remote_ip_prefix: Some("2001:DB8::/32"),
            ..Default::default()
        },
        ProviderKind::Baidu,
    )
    .unwrap();
    bd.create_rules("g-three", &[to_group.clone(), v6.clone()], Some(0))
        .await
        .unwrap();
    let mut got: Vec<Rule> = bd
        .get_group("g-three")
        .await
        .unwrap()
        .unwrap()
        .rules
        .into_iter()
        .map(|r| r.rule)
        .collect();
    got.sort();
    let mut want = vec![to_group, v6];
    want.sort();
    assert_eq!(got, want);
    sim.shutdown().await;
}

#[tokio::test]
async fn instances_bind_unbind_and_membership() {
    let settings = SimSettings {
        baidu_instance_max_groups: 2,
        ..SimSettings::default()
    };
    let sim = start(state().with_settings(settings)).await;
    let bd = baidu(&sim);

    let port = bd.get_port("i-b").await.unwrap().unwrap();
    assert_eq!(port.groups, ["g-one", "g-two"]);
    assert_eq!(bd.get_port("i-nope").await.unwrap(), None);

    let after = bd
        .add_port_groups("i-a", &["g-three".into()], Some(0))
        .await
        .unwrap();
    assert_eq!(
        after.groups,
        ["g-one", "g-three"],
        "index is ignored on Baidu"
    );
    // Binding what is bound changes nothing.
    let again = bd
        .add_port_groups("i-a", &["g-three".into()], None)
        .await
        .unwrap();
    assert_eq!(again.groups, after.groups);

    // At most 2 groups per instance here.
    let err = bd
        .add_port_groups("i-a", &["g-two".into()], None)
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::QuotaExceeded(_)), "{err:?}");
    assert_eq!(
        err.detail().unwrap().code,
        "SecurityGroup.BindInstanceExceededLimit"
    );

    let after = bd
        .remove_port_groups("i-a", &["g-one".into()])
        .await
        .unwrap();
    assert_eq!(after.groups, ["g-three"]);
    let err = bd
        .remove_port_groups("i-a", &["g-three".into()])
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::LastGroup(_)), "{err:?}");
    assert_eq!(sim.baidu_instance_groups("i-a").unwrap(), ["g-three"]);
    assert_eq!(sim.refused_log().len(), 1);

    let err = bd
        .add_port_groups("i-nope", &["g-one".into()], None)
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::NotFound(_)), "{err:?}");

    // A group's instances, across pages.
    let bd = bd.with_page_size(1);
    let mut members = bd.list_group_ports("g-two").await.unwrap();
    members.sort();
    assert_eq!(members, ["i-b", "i-c"]);
    assert!(sim.call_count("baidu.listInstances") >= 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn batch_bind_and_unbind_with_per_instance_failures() {
    let mut st = state();
    for n in 0..25 {
        st = st.with_baidu_instance(&format!("i-n{n:02}"), &["g-one"]);
    }
    let sim = start(st).await;
    let bd = baidu(&sim);

    let many: Vec<String> = (0..25).map(|n| format!("i-n{n:02}")).collect();
    let outcome = bd.attach_ports("g-three", &many).await.unwrap();
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(sim.call_count("baidu.batchBind"), 2, "20 + 5");
    for i in &many {
        assert_eq!(sim.baidu_instance_groups(i).unwrap(), ["g-one", "g-three"]);
    }

    // One unknown instance: the batch is refused whole, so each instance
    // is done alone and only the unknown one fails.
    let outcome = bd
        .attach_ports("g-two", &["i-a".into(), "i-ghost".into()])
        .await
        .unwrap();
    assert_eq!(outcome.failed.len(), 1, "{outcome:?}");
    assert_eq!(outcome.failed[0].port, "i-ghost");
    assert_eq!(outcome.failed[0].kind, PortFailureKind::NotFound);
    assert_eq!(
        sim.baidu_instance_groups("i-a").unwrap(),
        ["g-one", "g-two"]
    );

    // Unbinding g-two from i-c (its only group) and i-b: i-c is refused,
    // i-b goes through.
    let outcome = bd
        .detach_ports("g-two", &["i-b".into(), "i-c".into()])
        .await
        .unwrap();
    assert_eq!(outcome.failed.len(), 1, "{outcome:?}");
    assert_eq!(outcome.failed[0].port, "i-c");
    assert_eq!(outcome.failed[0].kind, PortFailureKind::LastGroup);
    assert_eq!(sim.baidu_instance_groups("i-b").unwrap(), ["g-one"]);
    assert_eq!(sim.baidu_instance_groups("i-c").unwrap(), ["g-two"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_errors_never_carry_the_secret() {
    let sim = start(state()).await;
    let wrong = BaiduClient::new(
        &sim.url(),
        Credentials::new(BD_AK, "not-the-secret"),
        http(),
    )
    .unwrap()
    .with_retry_policy(fast_retry());
    let err = wrong.get_group("g-one").await.unwrap_err();
    assert!(matches!(err, CloudError::Unauthorized(_)), "{err:?}");
    assert_eq!(err.detail().unwrap().code, "SignatureDoesNotMatch");
    assert!(!format!("{err} {err:?}").contains("not-the-secret"));

    let unknown = BaiduClient::new(&sim.url(), Credentials::new("nobody", "x"), http()).unwrap();
    let err = unknown.get_group("g-one").await.unwrap_err();
    assert!(matches!(err, CloudError::Unauthorized(_)), "{err:?}");
    assert_eq!(err.detail().unwrap().code, "InvalidAccessKeyId");
    sim.shutdown().await;
}

#[tokio::test]
async fn connect_reaches_the_simulator_through_the_trait() {
    let sim = start(state()).await;
    let provider = connect(
        &ProviderSettings {
            kind: ProviderKind::Baidu,
            region: "bj".into(),
            project_id: None,
            endpoint: Some(sim.url()),
            max_requests_per_second: None,
        },
        Credentials::new(BD_AK, BD_SK),
        http(),
    )
    .unwrap();
    assert_eq!(provider.kind(), ProviderKind::Baidu);
    let g = provider.get_group("g-one").await.unwrap().unwrap();
    assert_eq!(g.version, Some(0));
    sim.shutdown().await;
}

#[tokio::test]
async fn concrete_bind_calls() {
    let sim = start(state()).await;
    let bd = baidu(&sim);
    bd.bind_instance("i-c", "g-three").await.unwrap();
    bd.bind_instance("i-c", "g-three").await.unwrap(); // Bound already: done.
    assert_eq!(
        sim.baidu_instance_groups("i-c").unwrap(),
        ["g-two", "g-three"]
    );
    bd.unbind_instance("i-c", "g-two").await.unwrap();
    let err = bd.unbind_instance("i-c", "g-three").await.unwrap_err();
    assert!(matches!(err, CloudError::LastGroup(_)), "{err:?}");

    let both = ["g-two".to_string(), "g-three".to_string()];
    let outcome = bd
        .batch_bind_groups(&["i-a".into(), "i-b".into()], &both)
        .await
        .unwrap();
    assert!(outcome.failed.is_empty());
    assert_eq!(
        sim.baidu_instance_groups("i-a").unwrap(),
        ["g-one", "g-two", "g-three"]
    );
    let outcome = bd
        .batch_unbind_groups(&["i-a".into(), "i-b".into()], &both)
        .await
        .unwrap();
    assert!(outcome.failed.is_empty());
    assert_eq!(sim.baidu_instance_groups("i-b").unwrap(), ["g-one"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn several_groups_on_one_instance_change_in_one_call() {
    let sim = start(state()).await;
    let bd = baidu(&sim);
    let groups = ["g-two".to_string(), "g-three".to_string()];

    let after = bd.add_port_groups("i-a", &groups, None).await.unwrap();
    assert_eq!(after.groups, ["g-one", "g-two", "g-three"]);
    assert_eq!(sim.call_count("baidu.batchBind"), 1);
    assert_eq!(sim.call_count("baidu.bindInstance"), 0);

    let after = bd.remove_port_groups("i-a", &groups).await.unwrap();
    assert_eq!(after.groups, ["g-one"]);
    assert_eq!(sim.call_count("baidu.batchUnbind"), 1);
    assert_eq!(sim.call_count("baidu.unbindInstance"), 0);

    // One group: the single-instance call.
    bd.add_port_groups("i-a", &groups[..1], None).await.unwrap();
    assert_eq!(sim.call_count("baidu.bindInstance"), 1);
    assert!(sim.refused_log().is_empty());
}
