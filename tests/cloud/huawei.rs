//! The Huawei client against the in-process simulator: every operation,
//! every mapped error, pagination and the partial-failure batch.

use secgroup_test_support::clients;

use clients::*;
use secgroup_controller::cloud::huawei::HuaweiClient;
use secgroup_controller::cloud::{
    BatchOutcome, CloudError, CloudProvider, Credentials, NewGroup, OWNER_TAG, PortFailureKind,
    ProviderSettings, connect,
};
use secgroup_controller::model::{ProviderKind, Rule};
use secgroup_controller::plan::normalize::{RawRule, normalize_rule};
use secgroup_controller::sim::{SimSettings, SimState};

fn state() -> SimState {
    SimState::new()
        .with_account(huawei_account())
        .with_huawei_group(PROJECT, &uid(1), "one")
        .with_huawei_group(PROJECT, &uid(2), "two")
        .with_huawei_group(PROJECT, &uid(3), "three")
        .with_huawei_port(PROJECT, &uid(101), &[&uid(1)])
        .with_huawei_port(PROJECT, &uid(102), &[&uid(1), &uid(2)])
        .with_huawei_port(PROJECT, &uid(103), &[&uid(2)])
}

fn rule(direction: &str, protocol: &str, ports: &str, cidr: &str) -> Rule {
    normalize_rule(
        &RawRule {
            direction,
            protocol: Some(protocol),
            ports: Some(ports),
            remote_ip_prefix: Some(cidr),
            ..Default::default()
        },
        ProviderKind::Huawei,
    )
    .expect("a valid rule")
}

fn new_group(name: &str, owner: &str) -> NewGroup {
    NewGroup {
        name: name.into(),
        description: format!("{name} group"),
        vpc_id: None,
        tags: vec![(OWNER_TAG.into(), owner.into())],
    }
}

#[tokio::test]
async fn ports_read_and_change_in_order() {
    let sim = start(state()).await;
    let hw = huawei(&sim);

    let port = hw.get_port(&uid(102)).await.unwrap().unwrap();
    assert_eq!(port.groups, [uid(1), uid(2)]);
    assert_eq!(hw.get_port(&uid(199)).await.unwrap(), None);

    // Insert at the front: order matters on Huawei.
    let after = hw
        .add_port_groups(&uid(102), &[uid(3)], Some(0))
        .await
        .unwrap();
    assert_eq!(after.groups, [uid(3), uid(1), uid(2)]);
    assert_eq!(sim.huawei_port_groups(&uid(102)).unwrap(), after.groups);
    // Without an index: appended.
    let after = hw
        .add_port_groups(&uid(101), &[uid(2)], None)
        .await
        .unwrap();
    assert_eq!(after.groups, [uid(1), uid(2)]);

    let after = hw
        .remove_port_groups(&uid(102), &[uid(3), uid(1)])
        .await
        .unwrap();
    assert_eq!(after.groups, [uid(2)]);

    // Removing the last group is refused, typed, and nothing changes.
    let err = hw
        .remove_port_groups(&uid(103), &[uid(2)])
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::LastGroup(_)), "{err:?}");
    assert_eq!(err.detail().unwrap().code, "VPC.0607");
    assert_eq!(sim.huawei_port_groups(&uid(103)).unwrap(), [uid(2)]);

    // An unknown port is NotFound when changing it.
    let err = hw
        .add_port_groups(&uid(199), &[uid(1)], None)
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::NotFound(_)), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn dry_runs_answer_202_and_change_nothing() {
    let sim = start(state()).await;
    let hw = huawei(&sim);

    hw.add_port_groups_dry_run(&uid(101), &[uid(3)], Some(0))
        .await
        .unwrap();
    hw.remove_port_groups_dry_run(&uid(102), &[uid(1)])
        .await
        .unwrap();
    hw.update_group_dry_run(&uid(1), Some("renamed"), None)
        .await
        .unwrap();
    hw.create_group_dry_run(&new_group("dry", "uid-dry"))
        .await
        .unwrap();
    hw.create_rules_dry_run(&uid(1), &[rule("ingress", "tcp", "22", "10.0.0.0/8")])
        .await
        .unwrap();
    assert_eq!(sim.huawei_port_groups(&uid(101)).unwrap(), [uid(1)]);
    assert_eq!(sim.huawei_port_groups(&uid(102)).unwrap(), [uid(1), uid(2)]);
    assert_eq!(sim.huawei_group(&uid(1)).unwrap().name, "one");
    assert!(
        hw.find_groups_by_tag(OWNER_TAG, "uid-dry")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(sim.huawei_group_rules(&uid(1)).unwrap().is_empty());

    // A dry run that would fail fails like the real call.
    let err = hw
        .remove_port_groups_dry_run(&uid(103), &[uid(2)])
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::LastGroup(_)), "{err:?}");
    let err = hw
        .update_group_dry_run(&uid(9), Some("x"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::NotFound(_)), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn batch_associate_reports_partial_failures_per_port() {
    let sim = start(state()).await;
    let hw = huawei(&sim);

    let outcome = hw
        .attach_ports(&uid(3), &[uid(101), uid(199), uid(103)])
        .await
        .unwrap();
    assert_eq!(outcome.failed.len(), 1, "{outcome:?}");
    assert_eq!(outcome.failed[0].port, uid(199));
    assert_eq!(outcome.failed[0].kind, PortFailureKind::NotFound);
    assert_eq!(outcome.failed[0].code, "VPC.0608");
    assert_eq!(sim.huawei_port_groups(&uid(101)).unwrap(), [uid(1), uid(3)]);
    assert_eq!(sim.huawei_port_groups(&uid(103)).unwrap(), [uid(2), uid(3)]);

    // Re-adding members is not an error.
    assert_eq!(
        hw.attach_ports(&uid(3), &[uid(101)]).await.unwrap(),
        BatchOutcome::default()
    );

    // Port 103 keeps group 2; port 102 would keep nothing of group 2 alone.
    let outcome = hw
        .detach_ports(&uid(2), &[uid(102), uid(103)])
        .await
        .unwrap();
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(sim.huawei_port_groups(&uid(102)).unwrap(), [uid(1)]);
    let outcome = hw.detach_ports(&uid(1), &[uid(102)]).await.unwrap();
    assert_eq!(outcome.failed.len(), 1);
    assert_eq!(outcome.failed[0].kind, PortFailureKind::LastGroup);
    assert_eq!(outcome.failed[0].code, "VPC.0607");
    assert_eq!(sim.huawei_port_groups(&uid(102)).unwrap(), [uid(1)]);
    sim.shutdown().await;
}

#[tokio::test]
async fn batches_over_20_ports_are_split() {
    let mut st = state();
    for n in 200..245 {
        st = st.with_huawei_port(PROJECT, &uid(n), &[&uid(1)]);
    }
    let sim = start(st).await;
    let hw = huawei(&sim);
    let ports: Vec<String> = (200..245).map(uid).collect();
    let outcome = hw.attach_ports(&uid(2), &ports).await.unwrap();
    assert!(outcome.failed.is_empty());
    assert_eq!(
        sim.call_count("huawei.batchInstanceAction"),
        3,
        "20 + 20 + 5"
    );
    for p in &ports {
        assert_eq!(sim.huawei_port_groups(p).unwrap(), [uid(1), uid(2)]);
    }
    // And the group's ports come back across pages.
    let hw = hw.with_page_size(7);
    let mut members = hw.list_group_ports(&uid(2)).await.unwrap();
    members.sort();
    let mut want = ports.clone();
    want.extend([uid(102), uid(103)]);
    want.sort();
    assert_eq!(members, want);
    assert!(
        sim.call_count("huawei.listPorts") >= 7,
        "47 ports, 7 a page"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn groups_create_find_update_delete() {
    let sim = start(state()).await;
    let hw = huawei(&sim).with_page_size(2);

    let id = hw.create_group(&new_group("web", "uid-web")).await.unwrap();
    let g = hw.get_group(&id).await.unwrap().unwrap();
    assert_eq!(
        (g.name.as_str(), g.description.as_str()),
        ("web", "web group")
    );
    assert_eq!(g.tags.get(OWNER_TAG).map(String::as_str), Some("uid-web"));
    assert_eq!(g.version, None);
    let sim_rules = sim.huawei_group_rules(&id).unwrap();
    assert_eq!(sim_rules.len(), 4, "the cloud's default rules");
    assert_eq!(g.rules.len(), 4, "every rule the cloud has is read");

    // Found by its owner tag, across pages (4 groups at 2 a page).
    hw.create_group(&new_group("other", "uid-other"))
        .await
        .unwrap();
    let found = hw.find_groups_by_tag(OWNER_TAG, "uid-web").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0], g);
    assert!(sim.call_count("huawei.listSecurityGroups") >= 3);
    assert_eq!(hw.list_groups().await.unwrap().len(), 5);

    hw.update_group(&id, Some("web2"), None).await.unwrap();
    assert_eq!(sim.huawei_group(&id).unwrap().name, "web2");
    assert_eq!(sim.huawei_group(&id).unwrap().description, "web group");
    hw.update_group(&id, None, Some("new words")).await.unwrap();
    assert_eq!(sim.huawei_group(&id).unwrap().description, "new words");

    hw.delete_group(&id).await.unwrap();
    assert_eq!(hw.get_group(&id).await.unwrap(), None);
    hw.delete_group(&id).await.unwrap(); // Not found counts as done.

    // A group ports still hold is refused.
    let err = hw.delete_group(&uid(1)).await.unwrap_err();
    assert!(matches!(err, CloudError::Conflict(_)), "{err:?}");
    assert_eq!(err.detail().unwrap().code, "VPC.9902");
    sim.shutdown().await;
}

#[tokio::test]
async fn rules_batch_create_list_and_delete() {
    let sim = start(state()).await;
    let hw = huawei(&sim).with_page_size(50);

    let wanted: Vec<Rule> = (1..=201)
        .map(|p| rule("ingress", "tcp", &p.to_string(), "10.0.0.0/8"))
        .collect();
    hw.create_rules(&uid(2), &wanted, None).await.unwrap();
    assert_eq!(
        sim.call_count("huawei.batchCreateSecurityGroupRules"),
        2,
        "200 + 1"
    );

    let listed = hw.list_rules(&uid(2)).await.unwrap();
    assert!(
        sim.call_count("huawei.listSecurityGroupRules") >= 5,
        "201 at 50 a page"
    );
    let mut got: Vec<Rule> = listed.iter().map(|r| r.rule.clone()).collect();
    let mut want = wanted.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "what we read back normalizes to what we wrote");

    // get_group carries the same rules.
    let g = hw.get_group(&uid(2)).await.unwrap().unwrap();
    assert_eq!(g.rules.len(), 201);

    // Creating them again changes nothing (ignore_duplicate).
    hw.create_rules(&uid(2), &wanted[..3], None).await.unwrap();
    assert_eq!(sim.huawei_group_rules(&uid(2)).unwrap().len(), 201);

    let victim = &listed[0];
    hw.delete_rule(&uid(2), &victim.id, &victim.rule, None)
        .await
        .unwrap();
    assert_eq!(sim.huawei_group_rules(&uid(2)).unwrap().len(), 200);
    hw.delete_rule(&uid(2), &victim.id, &victim.rule, None)
        .await
        .unwrap(); // Not found counts as done.

    // Deny rules, priorities, IPv6 and remote groups survive the round trip.
    let special = vec![
        normalize_rule(
            &RawRule {
                direction: "egress",
                ethertype: Some("IPv6"),
                protocol: Some("udp"),
                ports: Some("53,5353"),
                remote_ip_prefix: Some("2001:db8::/32"),
                action: Some("deny"),
                priority: Some(7),
                description: Some("dns"),
                ..Default::default()
            },
            ProviderKind::Huawei,
        )
        .unwrap(),
        normalize_rule(
            &RawRule {
                direction: "ingress",
                remote_group: Some(secgroup_controller::model::GroupHandle::Existing(uid(1))),
                ..Default::default()
            },
            ProviderKind::Huawei,
        )
        .unwrap(),
    ];
    hw.create_rules(&uid(3), &special, None).await.unwrap();
    let mut got: Vec<Rule> = hw
        .get_group(&uid(3))
        .await
        .unwrap()
        .unwrap()
        .rules
        .into_iter()
        .map(|r| r.rule)
        .collect();
    got.sort();
    let mut want = special.clone();
    want.sort();
    assert_eq!(got, want);
    sim.shutdown().await;
}

#[tokio::test]
async fn errors_are_typed_with_code_message_and_request_id() {
    let settings = SimSettings {
        huawei_port_max_groups: 2,
        ..SimSettings::default()
    };
    let sim = start(state().with_settings(settings)).await;
    let hw = huawei(&sim);

    // Not found.
    let err = hw.update_group(&uid(9), Some("x"), None).await.unwrap_err();
    let CloudError::NotFound(d) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(d.status, 404);
    assert_eq!(d.code, "VPC.9904");
    assert!(!d.message.is_empty());
    assert!(d.request_id.as_deref().is_some_and(|r| !r.is_empty()));

    // Quota: a port may hold 2 groups here.
    let err = hw
        .add_port_groups(&uid(102), &[uid(3)], None)
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::QuotaExceeded(_)), "{err:?}");
    assert_eq!(err.detail().unwrap().code, "VPC.9905");

    // Invalid input, with the cloud's field-naming message.
    let err = hw
        .create_group(&NewGroup {
            name: "bad name!".into(),
            ..new_group("x", "u")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::InvalidRequest(_)), "{err:?}");
    assert_eq!(err.detail().unwrap().status, 400);

    // The old {code,message} body of the batch call.
    let before = sim.call_count("huawei.batchInstanceAction");
    let nothing = hw.attach_ports(&uid(1), &[]).await.unwrap();
    assert_eq!(nothing, BatchOutcome::default());
    assert_eq!(
        sim.call_count("huawei.batchInstanceAction"),
        before,
        "nothing sent"
    );
    let err = hw
        .attach_ports(&uid(1), &["not-a-uuid".to_string()])
        .await
        .unwrap_err();
    let CloudError::InvalidRequest(d) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(d.code, "VPC.0606");
    assert!(d.request_id.is_some(), "X-Request-Id header as fallback");

    // Another project than the account's.
    let other = HuaweiClient::new(
        &sim.url(),
        "ffffffffffffffffffffffffffffffff",
        Credentials::new(HW_AK, HW_SK),
        http(),
    )
    .unwrap();
    let err = other.get_port(&uid(101)).await.unwrap_err();
    assert!(matches!(err, CloudError::InvalidRequest(_)), "{err:?}");
    assert_eq!(err.detail().unwrap().code, "VPC.0007");

    // Wrong secret: unauthorized, and the secret appears nowhere.
    let wrong = HuaweiClient::new(
        &sim.url(),
        PROJECT,
        Credentials::new(HW_AK, "not-the-secret"),
        http(),
    )
    .unwrap();
    let err = wrong.get_port(&uid(101)).await.unwrap_err();
    assert!(matches!(err, CloudError::Unauthorized(_)), "{err:?}");
    assert_eq!(err.detail().unwrap().code, "APIG.0301");
    assert!(!format!("{err} {err:?}").contains("not-the-secret"));
    sim.shutdown().await;
}

#[tokio::test]
async fn connect_reaches_the_simulator_through_the_trait() {
    let sim = start(state()).await;
    let provider = connect(
        &ProviderSettings {
            kind: ProviderKind::Huawei,
            region: "cn-north-4".into(),
            project_id: Some(PROJECT.into()),
            endpoint: Some(sim.url()),
            max_requests_per_second: Some(50),
        },
        Credentials::new(HW_AK, HW_SK),
        http(),
    )
    .unwrap();
    assert_eq!(provider.kind(), ProviderKind::Huawei);
    let port = provider.get_port(&uid(101)).await.unwrap().unwrap();
    assert_eq!(port.groups, [uid(1)]);
    sim.shutdown().await;
}

#[tokio::test]
async fn many_ports_are_read_with_one_list_call_per_fifty_ids() {
    let mut state = SimState::new()
        .with_account(huawei_account())
        .with_huawei_group(PROJECT, &uid(1), "one");
    for n in 0..120 {
        state = state.with_huawei_port(PROJECT, &uid(1000 + n), &[&uid(1)]);
    }
    let sim = start(state).await;
    let hw = huawei(&sim);

    let mut ids: Vec<String> = (0..120).map(|n| uid(1000 + n)).collect();
    ids.push(uid(9999)); // absent: left out, not an error
    let ports = hw.get_ports(&ids).await.unwrap();

    assert_eq!(ports.len(), 120);
    assert_eq!(ports[&uid(1005)].groups, [uid(1)]);
    assert!(!ports.contains_key(&uid(9999)));
    // 121 ids in chunks of 50: three list calls, no per-port show calls.
    assert_eq!(sim.call_count("huawei.listPorts"), 3);
    assert_eq!(sim.call_count("huawei.showPort"), 0);
}
