//! The bulk reads of both clients against the simulator: groups with their
//! rules, the ports (instances) holding groups, ports by id. Every page is
//! followed, the per-call id limits hold, absent ids are left out, Baidu
//! instances with elastic NICs are read exactly, and each read costs
//! exactly the calls the simulator counts per endpoint.

use std::collections::BTreeMap;

use secgroup_test_support::clients;

use clients::*;
use secgroup_controller::cloud::CloudProvider;
use secgroup_controller::model::{ObservedGroup, ProviderKind, Rule};
use secgroup_controller::plan::normalize::{RawRule, normalize_rule};
use secgroup_controller::sim::{SimHandle, SimSettings, SimState};

const HW_PORTS: (&str, &str) = ("GET", "/v3/{project_id}/ports");
const HW_GROUPS: (&str, &str) = ("GET", "/v3/{project_id}/vpc/security-groups");
const HW_RULES: (&str, &str) = ("GET", "/v3/{project_id}/vpc/security-group-rules");
const BD_INSTANCES: (&str, &str) = ("GET", "/v2/instance");
const BD_BY_IDS: (&str, &str) = ("POST", "/v2/instance/listByInstanceId");
const BD_GROUPS: (&str, &str) = ("GET", "/v2/securityGroup");
const BD_DETAIL: (&str, &str) = ("GET", "/v2/securityGroup/{securityGroupId}");

fn calls(sim: &SimHandle, (method, path): (&str, &str)) -> u64 {
    sim.endpoint_call_count(method, path)
}

/// Every call the simulator counted, as `METHOD path: n`, for messages.
fn all_calls(sim: &SimHandle) -> Vec<String> {
    sim.endpoint_calls()
        .iter()
        .map(|c| format!("{} {}: {}", c.method, c.path, c.count))
        .collect()
}

/// A distinct ingress rule per `n` (tcp port 1000+n).
fn rule(kind: ProviderKind, n: u16) -> Rule {
    let port = (1000 + n).to_string();
    normalize_rule(
        &RawRule {
            direction: "ingress",
            protocol: Some("tcp"),
            ports: Some(&port),
            remote_ip_prefix: Some("10.0.0.0/8"),
            ..Default::default()
        },
        kind,
    )
    .expect("a valid rule")
}

fn rules(kind: ProviderKind, from: u16, count: u16) -> Vec<Rule> {
    (from..from + count).map(|n| rule(kind, n)).collect()
}

/// `g`, its rules sorted by id (the list and show calls may order them
/// differently; the planner compares sets).
fn by_rule_id(mut g: ObservedGroup) -> ObservedGroup {
    g.rules.sort_by(|a, b| a.id.cmp(&b.id));
    g
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

// -- Huawei ------------------------------------------------------------------

fn hw_state(groups: u32) -> SimState {
    let mut s = SimState::new().with_account(huawei_account());
    for g in 1..=groups {
        s = s.with_huawei_group(PROJECT, &uid(g), &format!("g{g}"));
    }
    s
}

#[tokio::test]
async fn huawei_groups_come_with_their_rules_in_one_list_of_each() {
    let sim = start(hw_state(3)).await;
    let hw = huawei(&sim);
    hw.create_rules(&uid(1), &rules(ProviderKind::Huawei, 0, 7), None)
        .await
        .unwrap();
    hw.create_rules(&uid(2), &rules(ProviderKind::Huawei, 100, 5), None)
        .await
        .unwrap();
    let mut want = BTreeMap::new();
    for g in 1..=3 {
        let group = hw.get_group(&uid(g)).await.unwrap().unwrap();
        want.insert(uid(g), by_rule_id(group));
    }
    sim.reset_logs();

    let ids = vec![uid(3), uid(1), uid(2), uid(99), uid(1)];
    let got = hw.get_groups(&ids).await.unwrap();

    let got: BTreeMap<String, ObservedGroup> =
        got.into_iter().map(|(k, g)| (k, by_rule_id(g))).collect();
    assert_eq!(got, want, "the same groups and rules as one show each");
    assert_eq!(got[&uid(1)].rules.len(), 7);
    assert_eq!(got[&uid(3)].rules.len(), 0);
    assert!(!got.contains_key(&uid(99)), "absent ids are left out");
    assert_eq!(calls(&sim, HW_GROUPS), 1, "{:?}", all_calls(&sim));
    assert_eq!(calls(&sim, HW_RULES), 1, "{:?}", all_calls(&sim));
    assert_eq!(sim.call_count("huawei.showSecurityGroup"), 0);
    // The SDK core's wire form: the key repeated per value, never a comma.
    let log = sim.request_log();
    let list = log
        .iter()
        .find(|e| e.operation == "huawei.listSecurityGroupRules")
        .unwrap();
    assert!(
        list.path.contains(&format!("security_group_id={}", uid(1)))
            && list.path.contains(&format!("security_group_id={}", uid(2)))
            && !list.path.contains("%2C"),
        "{}",
        list.path
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn huawei_group_and_rule_lists_follow_every_page_and_batch_ids() {
    // 55 groups: ids go 50 a call. 12 rules, 3 a page: 4 rule pages.
    let sim = start(hw_state(55)).await;
    let hw = huawei(&sim);
    hw.create_rules(&uid(1), &rules(ProviderKind::Huawei, 0, 7), None)
        .await
        .unwrap();
    hw.create_rules(&uid(55), &rules(ProviderKind::Huawei, 100, 5), None)
        .await
        .unwrap();
    sim.reset_logs();

    let ids: Vec<String> = (1..=55).map(uid).collect();
    let got = hw.get_groups(&ids).await.unwrap();
    assert_eq!(got.len(), 55);
    assert_eq!(got[&uid(1)].rules.len(), 7);
    assert_eq!(got[&uid(55)].rules.len(), 5);
    assert_eq!(calls(&sim, HW_GROUPS), 2, "50 + 5 ids");
    assert_eq!(calls(&sim, HW_RULES), 2, "50 + 5 group ids, one page each");

    sim.reset_logs();
    let hw = hw.with_page_size(3);
    let got = hw.get_groups(&[uid(1), uid(55)]).await.unwrap();
    assert_eq!(got[&uid(1)].rules.len(), 7);
    assert_eq!(got[&uid(55)].rules.len(), 5);
    assert_eq!(calls(&sim, HW_GROUPS), 1);
    assert_eq!(calls(&sim, HW_RULES), 4, "12 rules, 3 a page");
    sim.shutdown().await;
}

#[tokio::test]
async fn huawei_ports_in_groups_come_with_all_their_groups_in_order() {
    let mut st = hw_state(4);
    // 10 ports in group 1, 5 in group 2 (2 of them also in 1), one holding
    // groups 3 and 2 in that order, one in group 4 only.
    for n in 0..10 {
        st = st.with_huawei_port(PROJECT, &uid(100 + n), &[&uid(1)]);
    }
    for n in 0..3 {
        st = st.with_huawei_port(PROJECT, &uid(200 + n), &[&uid(2)]);
    }
    st = st.with_huawei_port(PROJECT, &uid(300), &[&uid(2), &uid(1)]);
    st = st.with_huawei_port(PROJECT, &uid(301), &[&uid(1), &uid(2)]);
    st = st.with_huawei_port(PROJECT, &uid(302), &[&uid(3), &uid(2)]);
    st = st.with_huawei_port(PROJECT, &uid(400), &[&uid(4)]);
    let sim = start(st).await;
    let hw = huawei(&sim).with_page_size(4);

    let got = hw
        .ports_in_groups(&[uid(1), uid(2), uid(98)])
        .await
        .unwrap();

    assert_eq!(got.len(), 16, "{:?}", got.keys());
    assert_eq!(got[&uid(300)].groups, [uid(2), uid(1)]);
    assert_eq!(got[&uid(301)].groups, [uid(1), uid(2)]);
    assert_eq!(
        got[&uid(302)].groups,
        [uid(3), uid(2)],
        "groups outside the ones asked are there too, in order"
    );
    assert!(!got.contains_key(&uid(400)));
    assert_eq!(calls(&sim, HW_PORTS), 4, "16 ports, 4 a page");
    let log = sim.request_log();
    assert!(
        log[0]
            .path
            .contains(&format!("security_groups={}&security_groups=", uid(1))),
        "{}",
        log[0].path
    );

    // The members of one group, through the same list.
    let mut members = hw.list_group_ports(&uid(2)).await.unwrap();
    members.sort();
    assert_eq!(
        members,
        [uid(200), uid(201), uid(202), uid(300), uid(301), uid(302)]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn huawei_ports_in_many_groups_go_fifty_groups_a_call() {
    let mut st = hw_state(60);
    for g in 1..=60 {
        st = st.with_huawei_port(PROJECT, &uid(1000 + g), &[&uid(g)]);
    }
    let sim = start(st).await;
    let hw = huawei(&sim);
    let groups: Vec<String> = (1..=60).map(uid).collect();
    let got = hw.ports_in_groups(&groups).await.unwrap();
    assert_eq!(got.len(), 60);
    assert_eq!(got[&uid(1060)].groups, [uid(60)]);
    assert_eq!(calls(&sim, HW_PORTS), 2, "50 + 10 group ids");
    sim.shutdown().await;
}

#[tokio::test]
async fn huawei_ports_by_id_follow_pages_within_a_batch() {
    let mut st = hw_state(1);
    for n in 0..30 {
        st = st.with_huawei_port(PROJECT, &uid(100 + n), &[&uid(1)]);
    }
    let sim = start(st).await;
    let hw = huawei(&sim).with_page_size(7);
    let mut ids: Vec<String> = (0..30).map(|n| uid(100 + n)).collect();
    ids.push(uid(999));
    let got = hw.get_ports(&ids).await.unwrap();
    assert_eq!(got.len(), 30);
    assert!(!got.contains_key(&uid(999)));
    assert_eq!(calls(&sim, HW_PORTS), 5, "30 ports, 7 a page");
    sim.shutdown().await;
}

// -- Baidu -------------------------------------------------------------------

fn bd_state() -> SimState {
    SimState::new()
        .with_account(baidu_account())
        .with_baidu_group("g-one", "one", "vpc-1")
        .with_baidu_group("g-two", "two", "vpc-1")
        .with_baidu_group("g-three", "three", "vpc-1")
        .with_baidu_group("g-four", "four", "vpc-1")
        .with_baidu_instance("i-a", &["g-one"])
        .with_baidu_instance("i-b", &["g-one", "g-two"])
        .with_baidu_instance("i-c", &["g-two"])
        .with_baidu_instance("i-d", &["g-three", "g-one"])
        .with_baidu_instance("i-e", &["g-four"])
        // Primary NIC in g-one; an elastic NIC in g-two.
        .with_baidu_instance("i-eni1", &["g-one"])
        .with_baidu_eni("i-eni1", "eni-1", &["g-two"])
        // Primary NIC in g-three and g-two; an elastic NIC in g-four.
        .with_baidu_instance("i-eni2", &["g-three", "g-two"])
        .with_baidu_eni("i-eni2", "eni-2", &["g-four"])
}

#[tokio::test]
async fn baidu_groups_are_read_by_detail_for_their_version() {
    let sim = start(bd_state()).await;
    let bd = baidu(&sim);
    bd.create_rules("g-one", &rules(ProviderKind::Baidu, 0, 3), Some(0))
        .await
        .unwrap();
    sim.reset_logs();

    let ids = strings(&["g-two", "g-one", "g-nope", "g-one"]);
    let got = bd.get_groups(&ids).await.unwrap();

    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["g-one", "g-two"],
        "absent left out"
    );
    assert_eq!(got["g-one"].version, Some(3), "sgVersion after 3 changes");
    assert_eq!(got["g-one"].rules.len(), 3);
    assert_eq!(got["g-two"].version, Some(0));
    assert_eq!(got["g-one"], bd.get_group("g-one").await.unwrap().unwrap());
    assert_eq!(
        calls(&sim, BD_DETAIL),
        3 + 1,
        "one per distinct id, then one"
    );
    assert_eq!(calls(&sim, BD_GROUPS), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_instances_in_groups_follow_pages_and_read_elastic_nics_exactly() {
    let sim = start(bd_state()).await;
    let bd = baidu(&sim).with_page_size(2);

    let got = bd
        .ports_in_groups(&strings(&["g-two", "g-one", "g-nope"]))
        .await
        .unwrap();

    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["i-a", "i-b", "i-c", "i-d", "i-eni1", "i-eni2"]
    );
    assert_eq!(got["i-b"].groups, ["g-one", "g-two"]);
    assert_eq!(
        got["i-d"].groups,
        ["g-three", "g-one"],
        "all groups, in order"
    );
    // Not the union over NICs: the primary NIC's groups.
    assert_eq!(got["i-eni1"].groups, ["g-one"]);
    assert_eq!(got["i-eni2"].groups, ["g-three", "g-two"]);
    assert_eq!(
        sim.baidu_instance_nic_groups("i-eni1").unwrap(),
        ["g-one", "g-two"],
        "the list's union differs"
    );
    assert_eq!(calls(&sim, BD_INSTANCES), 3, "6 instances, 2 a page");
    assert_eq!(
        calls(&sim, BD_GROUPS),
        2,
        "one exact read per elastic-NIC instance"
    );
    let log = sim.request_log();
    assert!(
        log[0]
            .path
            .contains("securityGroupIds=g-nope%2Cg-one%2Cg-two"),
        "comma-joined as the SDKs send it: {}",
        log[0].path
    );

    // An instance listed only because its elastic NIC holds the group is
    // not a member: g-four's only member is i-e.
    sim.reset_logs();
    let got = bd.ports_in_groups(&strings(&["g-four"])).await.unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), ["i-e"]);
    assert_eq!(calls(&sim, BD_INSTANCES), 1);
    assert_eq!(calls(&sim, BD_GROUPS), 1, "i-eni2 read exactly");
    let members = bd.list_group_ports("g-four").await.unwrap();
    assert_eq!(members, ["i-e"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_instance_reads_take_at_most_100_ids_a_call() {
    let mut st = SimState::new().with_account(baidu_account());
    for g in 0..150 {
        st = st.with_baidu_group(&format!("g-{g:03}"), &format!("g{g}"), "vpc-1");
    }
    for i in 0..250 {
        let group = format!("g-{:03}", i % 150);
        st = st.with_baidu_instance(&format!("i-{i:03}"), &[&group]);
    }
    let sim = start(st).await;
    let bd = baidu(&sim);

    let groups: Vec<String> = (0..150).map(|g| format!("g-{g:03}")).collect();
    let got = bd.ports_in_groups(&groups).await.unwrap();
    assert_eq!(got.len(), 250);
    assert_eq!(got["i-149"].groups, ["g-149"]);
    assert_eq!(calls(&sim, BD_INSTANCES), 2, "100 + 50 group ids");
    assert!(sim.refused_log().is_empty());

    sim.reset_logs();
    let mut ids: Vec<String> = (0..250).map(|i| format!("i-{i:03}")).collect();
    ids.push("i-nope".into());
    let got = bd.get_ports(&ids).await.unwrap();
    assert_eq!(got.len(), 250, "absent left out");
    assert_eq!(got["i-200"].groups, ["g-050"]);
    assert_eq!(calls(&sim, BD_BY_IDS), 3, "100 + 100 + 51 ids");
    assert_eq!(calls(&sim, BD_GROUPS), 0, "no elastic NICs, no exact reads");
    assert_eq!(
        sim.read_write_counts(secgroup_controller::sim::Provider::Baidu),
        (3, 0)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_ports_by_id_read_elastic_nic_instances_exactly() {
    let sim = start(bd_state()).await;
    let bd = baidu(&sim).with_page_size(2);
    let got = bd
        .get_ports(&strings(&["i-eni1", "i-a", "i-nope", "i-eni2", "i-d"]))
        .await
        .unwrap();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["i-a", "i-d", "i-eni1", "i-eni2"]
    );
    assert_eq!(got["i-d"].groups, ["g-three", "g-one"]);
    assert_eq!(got["i-eni1"].groups, ["g-one"]);
    assert_eq!(got["i-eni2"].groups, ["g-three", "g-two"]);
    assert_eq!(calls(&sim, BD_BY_IDS), 2, "4 found, 2 a page");
    assert_eq!(calls(&sim, BD_GROUPS), 2, "the two elastic-NIC instances");
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_list_without_nic_groups_falls_back_to_exact_reads() {
    // One documentation sample of the plain list shows
    // `nicInfo.securityGroups` empty: the client must not take that as
    // "no groups".
    let settings = SimSettings {
        baidu_list_fills_nic_security_groups: false,
        ..SimSettings::default()
    };
    let sim = start(bd_state().with_settings(settings)).await;
    let bd = baidu(&sim);
    let got = bd
        .ports_in_groups(&strings(&["g-one", "g-two"]))
        .await
        .unwrap();
    assert_eq!(got["i-b"].groups, ["g-one", "g-two"]);
    assert_eq!(got["i-d"].groups, ["g-three", "g-one"]);
    assert_eq!(got["i-eni1"].groups, ["g-one"]);
    assert_eq!(got.len(), 6);
    assert_eq!(calls(&sim, BD_INSTANCES), 1);
    assert_eq!(calls(&sim, BD_GROUPS), 6, "each instance read exactly");
    sim.shutdown().await;
}

// -- Ports of servers (Nodes) ------------------------------------------------

#[tokio::test]
async fn huawei_server_ports_come_by_device_id_many_servers_a_call() {
    let mut st = hw_state(1);
    // 60 servers with a primary port (10.0.x.1) and 20 of them a second one.
    for n in 0..60u32 {
        let port = uid(1000 + n);
        st = st.with_huawei_port(PROJECT, &port, &[&uid(1)]);
        if n < 20 {
            st = st.with_huawei_port(PROJECT, &uid(2000 + n), &[&uid(1)]);
        }
    }
    for p in st.huawei.ports.iter_mut() {
        let n: u32 = p.id[p.id.len() - 4..].parse().unwrap_or_default();
        p.device_id = uid(5000 + n % 1000);
        p.ip_address = format!("10.{}.{}.1", n / 1000, n % 1000);
    }
    let sim = start(st).await;
    let hw = huawei(&sim);
    let mut servers: Vec<String> = (0..60).map(|n| uid(5000 + n)).collect();
    servers.push(uid(9999));

    let got = hw.instance_ports(&servers).await.unwrap();

    assert_eq!(got.len(), 60, "the absent server is left out");
    let first = &got[&uid(5000)];
    assert_eq!(first.len(), 2);
    assert!(
        first
            .iter()
            .any(|p| p.id == uid(1000) && p.addresses == ["10.1.0.1"])
    );
    assert!(
        first
            .iter()
            .any(|p| p.id == uid(2000) && p.addresses == ["10.2.0.1"])
    );
    assert_eq!(got[&uid(5059)].len(), 1);
    assert_eq!(calls(&sim, HW_PORTS), 2, "61 servers, 50 a call");
    let log = sim.request_log();
    assert!(
        log[0]
            .path
            .contains(&format!("device_id={}&device_id=", uid(5000))),
        "the key repeated per server, as the SDK sends it: {}",
        log[0].path
    );
    assert!(sim.refused_log().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_instances_are_their_own_members() {
    let st = SimState::new()
        .with_account(baidu_account())
        .with_baidu_group("g-1", "web", "vpc-1")
        .with_baidu_instance("i-AAAABBBB", &["g-1"]);
    let sim = start(st).await;
    let bd = baidu(&sim);
    let got = bd
        .instance_ports(&strings(&["i-AAAABBBB", "i-CCCCDDDD"]))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got["i-AAAABBBB"][0].id, "i-AAAABBBB");
    assert_eq!(calls(&sim, BD_BY_IDS), 1, "one bulk instance read");
    assert!(sim.refused_log().is_empty());
    sim.shutdown().await;
}
