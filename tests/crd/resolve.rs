//! Resolution of one account's objects into the domain's DesiredState.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use secgroup_controller::crd::resolve::{
    AccountSettings, Objects, Resolution, UnresolvedReason, account_settings, node_instances,
    owner_uid, provider_of, resolve, resolve_objects,
};
use secgroup_controller::crd::{
    CloudAccount, CloudAccountSpec, DeletionPolicy, GroupRef, LocalObjectRef, MembershipPolicySpec,
    PortSecurityGroups, PortSecurityGroupsSpec, Provider, RuleDirection, RuleSpec, SecurityGroup,
    SecurityGroupMembership, SecurityGroupMembershipSpec, SecurityGroupMembershipStatus,
    SecurityGroupSpec, SecurityGroupStatus,
};
use secgroup_controller::crd::{
    NodeSecurityGroups, NodeSecurityGroupsSpec, NodeSecurityGroupsStatus, PortSelection,
};
use secgroup_controller::crd::{
    RulesPolicySpec, SecurityGroupRules, SecurityGroupRulesSpec, SecurityGroupRulesStatus,
};
use secgroup_controller::model::{
    DesiredGroup, GroupDeletion, GroupHandle, MembershipPolicy, Mode, ObjectKey, ProviderKind,
    Remote, RulesPolicy, UnmanagedFields,
};
use secgroup_controller::plan::nodes::{InstancePort, InstancePorts};

const NS: &str = "prod";

fn account(name: &str, provider: Provider) -> CloudAccount {
    let mut a = CloudAccount::new(
        name,
        CloudAccountSpec {
            provider,
            region: "cn-north-4".into(),
            project_id: Some("proj1".into()),
            endpoint: None,
            credentials_secret_ref: LocalObjectRef::new("keys"),
            max_requests_per_second: None,
            node_identity: None,
        },
    );
    a.metadata.namespace = Some(NS.into());
    a
}

fn huawei() -> CloudAccount {
    account("acct", Provider::Huawei)
}

fn deleting() -> Option<Time> {
    Some(Time(jiff::Timestamp::from_second(1_700_000_000).unwrap()))
}

/// Fixture builder for SecurityGroup objects.
struct Sg(SecurityGroup);

impl Sg {
    fn new(name: &str) -> Self {
        let mut g = SecurityGroup::new(
            name,
            SecurityGroupSpec {
                account_ref: LocalObjectRef::new("acct"),
                group_id: None,
                name: None,
                description: None,
                vpc_id: None,
                rules: None,
                deletion_policy: None,
                rules_policy: None,
            },
        );
        g.metadata.namespace = Some(NS.into());
        g.metadata.uid = Some(format!("uid-{name}"));
        Sg(g)
    }
    fn account(mut self, name: &str) -> Self {
        self.0.spec.account_ref = LocalObjectRef::new(name);
        self
    }
    fn adopt(mut self, id: &str) -> Self {
        self.0.spec.group_id = Some(id.into());
        self
    }
    fn created(mut self, id: &str) -> Self {
        self.0.status = Some(SecurityGroupStatus {
            group_id: Some(id.into()),
            ..Default::default()
        });
        self
    }
    fn rules(mut self, rules: Vec<RuleSpec>) -> Self {
        self.0.spec.rules = Some(rules);
        self
    }
    fn policy(mut self, p: DeletionPolicy) -> Self {
        self.0.spec.deletion_policy = Some(p);
        self
    }
    fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = deleting();
        self
    }
    fn annotate(mut self, k: &str, v: &str) -> Self {
        self.0
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(k.into(), v.into());
        self
    }
    fn namespace(mut self, ns: &str) -> Self {
        self.0.metadata.namespace = Some(ns.into());
        self
    }
}

fn psg(name: &str, port: &str, groups: Vec<GroupRef>) -> PortSecurityGroups {
    let mut p = PortSecurityGroups::new(
        name,
        PortSecurityGroupsSpec {
            account_ref: LocalObjectRef::new("acct"),
            port_id: port.into(),
            security_groups: groups,
            deletion_policy: DeletionPolicy::Retain,
        },
    );
    p.metadata.namespace = Some(NS.into());
    p
}

fn sgm(name: &str, group: &str, ports: &[&str]) -> SecurityGroupMembership {
    let mut m = SecurityGroupMembership::new(
        name,
        SecurityGroupMembershipSpec {
            security_group_ref: Some(LocalObjectRef::new(group)),
            account_ref: None,
            security_group_id: None,
            ports: ports.iter().map(|p| p.to_string()).collect(),
            node_selector: None,
            port_selection: None,
            policy: MembershipPolicySpec::Additive,
            deletion_policy: DeletionPolicy::Retain,
        },
    );
    m.metadata.namespace = Some(NS.into());
    m
}

fn sgm_by_id(name: &str, account: &str, id: &str, ports: &[&str]) -> SecurityGroupMembership {
    let mut m = sgm(name, "unused", ports);
    m.spec.security_group_ref = None;
    m.spec.account_ref = Some(LocalObjectRef::new(account));
    m.spec.security_group_id = Some(id.into());
    m
}

const NO_GROUPS: &[SecurityGroup] = &[];
const NO_PORTS: &[PortSecurityGroups] = &[];
const NO_MEMBERSHIPS: &[SecurityGroupMembership] = &[];

fn key(kind: &str, name: &str) -> ObjectKey {
    ObjectKey::new(kind, NS, name)
}

fn sg_key(name: &str) -> ObjectKey {
    key("SecurityGroup", name)
}

fn run(
    groups: &[Sg],
    ports: &[PortSecurityGroups],
    members: &[SecurityGroupMembership],
) -> Resolution {
    let groups: Vec<SecurityGroup> = groups.iter().map(|g| g.0.clone()).collect();
    resolve(&huawei(), &groups, ports, members)
}

fn group<'a>(r: &'a Resolution, name: &str) -> &'a DesiredGroup {
    r.desired
        .groups
        .iter()
        .find(|g| g.intent.owner == sg_key(name))
        .unwrap_or_else(|| panic!("no desired group {name}: {r:#?}"))
}

fn to(cidr: &str) -> RuleSpec {
    RuleSpec {
        direction: RuleDirection::Ingress,
        protocol: Some("tcp".into()),
        ports: Some("443".into()),
        remote_ip_prefix: Some(cidr.into()),
        ..Default::default()
    }
}

fn from_group(name: &str) -> RuleSpec {
    RuleSpec {
        direction: RuleDirection::Ingress,
        remote_group_ref: Some(LocalObjectRef::new(name)),
        ..Default::default()
    }
}

#[test]
fn group_handles_from_spec_status_or_new() {
    let r = run(
        &[
            Sg::new("adopted").adopt("sg-a"),
            // An adopted id wins over a (stale) status id.
            Sg::new("adopted-with-status")
                .adopt("sg-b")
                .created("sg-old"),
            Sg::new("created").created("sg-c"),
            Sg::new("fresh"),
        ],
        &[],
        &[],
    );
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert_eq!(r.desired.provider, ProviderKind::Huawei);
    assert_eq!(
        group(&r, "adopted").handle,
        GroupHandle::Existing("sg-a".into())
    );
    assert_eq!(
        group(&r, "adopted-with-status").handle,
        GroupHandle::Existing("sg-b".into())
    );
    assert_eq!(
        group(&r, "created").handle,
        GroupHandle::Existing("sg-c".into())
    );
    assert_eq!(group(&r, "fresh").handle, GroupHandle::New(sg_key("fresh")));
}

#[test]
fn group_fields_and_rules_presence() {
    let mut described = Sg::new("web").rules(vec![]);
    described.0.spec.name = Some("web-tier".into());
    described.0.spec.description = Some("front".into());
    described.0.spec.vpc_id = Some("vpc-1".into());
    let r = run(&[described, Sg::new("bare")], &[], &[]);
    let web = group(&r, "web");
    assert_eq!(web.name, "web-tier");
    assert_eq!(web.description, "front");
    assert_eq!(web.vpc_id.as_deref(), Some("vpc-1"));
    assert_eq!(web.owner_uid, "uid-web");
    // `rules: []` is authoritative (revoke everything); absent is unmanaged.
    assert_eq!(web.rules, Some(vec![]));
    let bare = group(&r, "bare");
    assert_eq!(bare.rules, None);
    assert_eq!(bare.name, "bare", "name defaults to metadata.name");
    assert_eq!(bare.description, "");
}

#[test]
fn an_adopted_groups_fields_the_spec_leaves_out_are_not_managed() {
    let mut described = Sg::new("described").adopt("sg-a");
    described.0.spec.name = Some("db".into());
    described.0.spec.description = Some("PostgreSQL".into());
    let r = run(
        &[Sg::new("bare").adopt("sg-b"), described, Sg::new("created")],
        &[],
        &[],
    );
    let unmanaged = |name| group(&r, name).unmanaged;
    assert_eq!(
        unmanaged("bare"),
        UnmanagedFields {
            name: true,
            description: true
        }
    );
    assert_eq!(unmanaged("described"), UnmanagedFields::default());
    // A group the controller creates gets the defaults: it is its own.
    assert_eq!(unmanaged("created"), UnmanagedFields::default());
    assert_eq!(group(&r, "created").description, "");
}

#[test]
fn owner_uid_falls_back_to_a_stable_v5_uuid() {
    let mut a = Sg::new("web").0;
    a.metadata.uid = None;
    let uid = owner_uid(&a);
    let parsed = uuid::Uuid::parse_str(&uid).unwrap();
    assert_eq!(parsed.get_version_num(), 5);
    assert_eq!(owner_uid(&a.clone()), uid, "stable across runs");
    let mut other_name = a.clone();
    other_name.metadata.name = Some("db".into());
    assert_ne!(owner_uid(&other_name), uid);
    let mut other_ns = a.clone();
    other_ns.metadata.namespace = Some("staging".into());
    assert_ne!(owner_uid(&other_ns), uid);
    // And resolve uses it.
    let r = resolve(&huawei(), &[a], NO_PORTS, NO_MEMBERSHIPS);
    assert_eq!(group(&r, "web").owner_uid, uid);
}

/// Namespace `a/b` + name `c` and namespace `a` + name `b/c` once derived
/// the same owner tag, so one team's apply adopted the other's group. Such
/// names are refused, and valid names never share a tag.
#[test]
fn names_that_would_share_an_owner_tag_are_refused() {
    for (ns, name) in [("a/b", "c"), ("a", "b/c")] {
        let mut account = huawei();
        account.metadata.namespace = Some(ns.into());
        let mut g = Sg::new(name).rules(vec![]).0;
        g.metadata.namespace = Some(ns.into());
        g.metadata.uid = None;
        let r = resolve(
            &account,
            &[g],
            &[] as &[PortSecurityGroups],
            &[] as &[SecurityGroupMembership],
        );
        assert!(
            r.desired.groups.is_empty(),
            "{ns}/{name} reached the desired state"
        );
        let fields: Vec<&str> = r
            .problems
            .values()
            .flat_map(|p| p.errors.iter().map(|e| e.field.as_str()))
            .collect();
        assert!(
            fields.contains(&"metadata.namespace") || fields.contains(&"metadata.name"),
            "{ns}/{name}: {fields:?}"
        );
    }
    let tag = |ns: &str, name: &str| {
        let mut g = Sg::new(name).0;
        g.metadata.namespace = Some(ns.into());
        g.metadata.uid = None;
        owner_uid(&g)
    };
    assert_ne!(tag("a-b", "c"), tag("a", "b-c"));
    assert_ne!(tag("a", "b.c"), tag("a", "b-c"));
}

#[test]
fn rules_normalize_and_remote_group_refs_become_handles() {
    let r = run(
        &[
            Sg::new("web").rules(vec![
                to("10.0.0.1"),
                from_group("db"),
                from_group("web"),
                from_group("lb"),
            ]),
            Sg::new("db").created("sg-db"),
            Sg::new("lb"),
        ],
        &[],
        &[],
    );
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    let rules = group(&r, "web").rules.as_ref().unwrap();
    assert_eq!(rules.len(), 4);
    assert_eq!(
        rules[0].remote,
        Remote::Cidr("10.0.0.1/32".parse().unwrap())
    );
    assert_eq!(rules[0].priority, Some(1), "Huawei default priority");
    assert_eq!(
        rules[1].remote,
        Remote::Group(GroupHandle::Existing("sg-db".into()))
    );
    // A group the same plan creates (itself, or another) is named by key.
    assert_eq!(
        rules[2].remote,
        Remote::Group(GroupHandle::New(sg_key("web")))
    );
    assert_eq!(
        rules[3].remote,
        Remote::Group(GroupHandle::New(sg_key("lb")))
    );
}

#[test]
fn unresolved_remote_groups_keep_the_group_out() {
    let r = run(
        &[
            Sg::new("web").rules(vec![to("10.0.0.0/8"), from_group("missing")]),
            // `api` needs `broken`, which is invalid and so never created;
            // `edge` needs `api`, which now waits: a chain of waiting.
            Sg::new("broken").rules(vec![to("10.0.0.300")]),
            Sg::new("api").rules(vec![from_group("broken")]),
            Sg::new("edge").rules(vec![from_group("api")]),
            Sg::new("ok").rules(vec![from_group("broken-but-known")]),
            Sg::new("broken-but-known")
                .created("sg-bbk")
                .rules(vec![to("nope")]),
        ],
        &[],
        &[],
    );
    let owners: BTreeSet<&str> = r
        .desired
        .groups
        .iter()
        .map(|g| g.intent.owner.name.as_str())
        .collect();
    // A group with a known id resolves even if its own spec is broken.
    assert_eq!(owners, BTreeSet::from(["ok"]));

    let web = &r.problems[&sg_key("web")];
    assert!(web.errors.is_empty());
    assert_eq!(web.unresolved.len(), 1);
    assert_eq!(web.unresolved[0].field, "spec.rules[1].remoteGroupRef");
    assert_eq!(web.unresolved[0].reason, UnresolvedReason::NotFound);
    assert_eq!(
        web.unresolved[0].to_string(),
        "SecurityGroup \"missing\" not found"
    );

    let broken = &r.problems[&sg_key("broken")];
    assert_eq!(broken.errors[0].field, "spec.rules[0].remoteIpPrefix");

    let api = &r.problems[&sg_key("api")];
    assert_eq!(
        api.unresolved[0].to_string(),
        "SecurityGroup \"broken\" has no groupId yet"
    );
    let edge = &r.problems[&sg_key("edge")];
    assert_eq!(
        edge.unresolved[0].to_string(),
        "SecurityGroup \"api\" has no groupId yet"
    );
    assert_eq!(edge.unresolved[0].reason, UnresolvedReason::NoGroupIdYet);
}

#[test]
fn mode_and_mass_change_come_from_annotations() {
    let r = run(
        &[
            Sg::new("paused").annotate("secgroup.io/paused", "true"),
            Sg::new("observed").annotate("secgroup.io/mode", "observe"),
            Sg::new("bold").annotate("secgroup.io/allow-mass-change", "true"),
            Sg::new("typo").annotate("secgroup.io/mode", "observer"),
        ],
        &[],
        &[],
    );
    assert_eq!(group(&r, "paused").intent.mode, Mode::Paused);
    assert_eq!(group(&r, "observed").intent.mode, Mode::Observe);
    let bold = &group(&r, "bold").intent;
    assert_eq!((bold.mode, bold.allow_mass_change), (Mode::Apply, true));
    assert!(!group(&r, "paused").intent.allow_mass_change);
    let typo = &r.problems[&sg_key("typo")];
    assert_eq!(
        typo.errors[0].field,
        "metadata.annotations[\"secgroup.io/mode\"]"
    );
    assert_eq!(r.desired.groups.len(), 3);
}

#[test]
fn port_groups_resolve_in_order() {
    let r = run(
        &[Sg::new("web").created("sg-web"), Sg::new("new")],
        &[psg(
            "vm1",
            "port-1",
            vec![
                GroupRef::by_id("sg-base"),
                GroupRef::by_name("web"),
                GroupRef::by_name("new"),
            ],
        )],
        &[],
    );
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    let p = &r.desired.ports[0];
    assert_eq!(p.port_id, "port-1");
    assert_eq!(p.intent.owner, key("PortSecurityGroups", "vm1"));
    assert_eq!(
        p.groups,
        [
            GroupHandle::Existing("sg-base".into()),
            GroupHandle::Existing("sg-web".into()),
            GroupHandle::New(sg_key("new")),
        ]
    );
}

#[test]
fn port_groups_with_problems_are_left_out() {
    let r = run(
        &[Sg::new("invalid").rules(vec![to("bad")])],
        &[
            psg("empty", "port-1", vec![]),
            psg(
                "waiting",
                "port-2",
                vec![GroupRef::by_name("ghost"), GroupRef::by_name("invalid")],
            ),
        ],
        &[],
    );
    assert!(r.desired.ports.is_empty());
    let empty = &r.problems[&key("PortSecurityGroups", "empty")];
    assert_eq!(empty.errors[0].field, "spec.securityGroups");
    assert!(empty.errors[0].message.contains("at least one group"));
    let waiting = &r.problems[&key("PortSecurityGroups", "waiting")];
    let got: Vec<(String, String)> = waiting
        .unresolved
        .iter()
        .map(|u| (u.field.clone(), u.to_string()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "spec.securityGroups[0].name".to_string(),
                "SecurityGroup \"ghost\" not found".to_string()
            ),
            (
                "spec.securityGroups[1].name".to_string(),
                "SecurityGroup \"invalid\" has no groupId yet".to_string()
            ),
        ]
    );
}

#[test]
fn two_objects_for_one_port_or_one_adopted_group_are_both_reported() {
    let r = run(
        &[Sg::new("a").adopt("sg-1"), Sg::new("b").adopt("sg-1")],
        &[
            psg("x", "port-1", vec![GroupRef::by_id("sg-1")]),
            psg("y", "port-1", vec![GroupRef::by_id("sg-2")]),
        ],
        &[],
    );
    assert!(r.desired.groups.is_empty());
    assert!(r.desired.ports.is_empty());
    let a = &r.problems[&sg_key("a")].errors[0];
    assert_eq!(a.field, "spec.groupId");
    assert!(a.message.contains("also adopted by SecurityGroup \"b\""));
    let y = &r.problems[&key("PortSecurityGroups", "y")].errors[0];
    assert_eq!(y.field, "spec.portId");
    assert!(
        y.message
            .contains("also managed by PortSecurityGroups \"x\"")
    );
}

#[test]
fn memberships_resolve_group_and_managed_ports() {
    let mut exclusive = sgm_by_id("all-of-db", "acct", "sg-db", &["p-9"]);
    exclusive.spec.policy = MembershipPolicySpec::Exclusive;
    let mut tracked = sgm("web-members", "web", &["p-1", "p-2"]);
    tracked.status = Some(SecurityGroupMembershipStatus {
        managed_ports: vec!["p-1".into(), "p-0".into()],
        ..Default::default()
    });
    let r = run(
        &[Sg::new("web").created("sg-web"), Sg::new("new")],
        &[],
        &[tracked, exclusive, sgm("new-members", "new", &["p-3"])],
    );
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    let by_owner = |name: &str| {
        r.desired
            .memberships
            .iter()
            .find(|m| m.intent.owner == key("SecurityGroupMembership", name))
            .unwrap()
    };
    let web = by_owner("web-members");
    assert_eq!(web.group, GroupHandle::Existing("sg-web".into()));
    assert_eq!(web.policy, MembershipPolicy::Additive);
    assert_eq!(web.ports, BTreeSet::from(["p-1".into(), "p-2".into()]));
    assert_eq!(
        web.managed_ports,
        BTreeSet::from(["p-0".into(), "p-1".into()])
    );
    assert!(web.current_members.is_empty(), "the reader fills it");
    let db = by_owner("all-of-db");
    assert_eq!(db.group, GroupHandle::Existing("sg-db".into()));
    assert_eq!(db.policy, MembershipPolicy::Exclusive);
    assert_eq!(
        by_owner("new-members").group,
        GroupHandle::New(sg_key("new"))
    );
}

#[test]
fn membership_problems() {
    let mut bad = sgm("bad", "web", &["p 1"]);
    bad.metadata.annotations = Some(BTreeMap::from([(
        "secgroup.io/paused".to_string(),
        "maybe".to_string(),
    )]));
    let r = run(
        &[Sg::new("web").created("sg-web")],
        &[],
        &[bad, sgm("lost", "ghost", &["p-1"])],
    );
    assert!(r.desired.memberships.is_empty());
    let bad = &r.problems[&key("SecurityGroupMembership", "bad")];
    let fields: Vec<&str> = bad.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "metadata.annotations[\"secgroup.io/paused\"]",
            "spec.ports[0]"
        ]
    );
    let lost = &r.problems[&key("SecurityGroupMembership", "lost")];
    assert_eq!(lost.unresolved[0].field, "spec.securityGroupRef.name");
    assert_eq!(
        lost.unresolved[0].to_string(),
        "SecurityGroup \"ghost\" not found"
    );
}

#[test]
fn deleting_groups_follow_their_effective_policy() {
    let r = run(
        &[
            // Created by us (default Delete), id known from status.
            Sg::new("created").created("sg-c").deleting(),
            // Adopted (default Retain).
            Sg::new("adopted").adopt("sg-a").deleting(),
            // Adopted, explicitly Delete.
            Sg::new("adopted-delete")
                .adopt("sg-ad")
                .policy(DeletionPolicy::Delete)
                .deleting(),
            // Created, explicitly Retain.
            Sg::new("kept")
                .created("sg-k")
                .policy(DeletionPolicy::Retain)
                .deleting(),
            // Never got an id: nothing known to delete.
            Sg::new("never-created").deleting(),
            // A broken spec does not block deletion.
            Sg::new("broken")
                .created("sg-b")
                .rules(vec![to("bad")])
                .deleting(),
        ],
        &[],
        &[],
    );
    assert!(r.desired.groups.is_empty());
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    let deleted: Vec<(&str, &str)> = r
        .desired
        .deletions
        .iter()
        .map(|d: &GroupDeletion| (d.intent.owner.name.as_str(), d.group_id.as_str()))
        .collect();
    assert_eq!(
        deleted,
        [
            ("created", "sg-c"),
            ("adopted-delete", "sg-ad"),
            ("broken", "sg-b")
        ]
    );
    // Every one of them belongs to the account, even those contributing nothing.
    for name in ["adopted", "kept", "never-created"] {
        assert!(r.objects.contains(&sg_key(name)), "{name}");
    }
}

#[test]
fn deleting_port_groups_remove_what_they_added() {
    let mut delete = psg(
        "vm1",
        "port-1",
        vec![
            GroupRef::by_name("web"),
            GroupRef::by_id("sg-base"),
            GroupRef::by_name("ghost"),
            GroupRef::by_name("new"),
        ],
    );
    delete.spec.deletion_policy = DeletionPolicy::Delete;
    delete.metadata.deletion_timestamp = deleting();
    let mut retain = psg("vm2", "port-2", vec![GroupRef::by_id("sg-base")]);
    retain.metadata.deletion_timestamp = deleting();
    let r = run(
        &[Sg::new("web").created("sg-web"), Sg::new("new")],
        &[delete, retain],
        &[],
    );
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert!(r.desired.ports.is_empty());
    let undo: Vec<(String, &BTreeSet<String>)> = r
        .desired
        .memberships
        .iter()
        .map(|m| {
            assert_eq!(m.intent.owner, key("PortSecurityGroups", "vm1"));
            assert_eq!(m.policy, MembershipPolicy::Additive);
            assert!(m.ports.is_empty());
            (m.group.to_string(), &m.managed_ports)
        })
        .collect();
    let port1 = BTreeSet::from(["port-1".to_string()]);
    // Groups without a known id (not found, never created) are skipped.
    assert_eq!(
        undo,
        [
            ("sg-web".to_string(), &port1),
            ("sg-base".to_string(), &port1)
        ]
    );
    assert!(r.objects.contains(&key("PortSecurityGroups", "vm2")));
}

#[test]
fn deleting_memberships_remove_managed_and_listed_ports() {
    let mut delete = sgm("web-members", "web", &["p-1", "p-2"]);
    delete.spec.deletion_policy = DeletionPolicy::Delete;
    delete.status = Some(SecurityGroupMembershipStatus {
        managed_ports: vec!["p-0".into(), "p-1".into()],
        ..Default::default()
    });
    delete.metadata.deletion_timestamp = deleting();
    let mut retain = sgm("db-members", "web", &["p-7"]);
    retain.metadata.deletion_timestamp = deleting();
    let r = run(&[Sg::new("web").created("sg-web")], &[], &[delete, retain]);
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert_eq!(r.desired.memberships.len(), 1);
    let m = &r.desired.memberships[0];
    assert_eq!(
        m.intent.owner,
        key("SecurityGroupMembership", "web-members")
    );
    assert_eq!(m.group, GroupHandle::Existing("sg-web".into()));
    assert_eq!(m.policy, MembershipPolicy::Additive);
    assert!(m.ports.is_empty());
    assert_eq!(
        m.managed_ports,
        BTreeSet::from(["p-0".into(), "p-1".into(), "p-2".into()])
    );
    assert!(
        r.objects
            .contains(&key("SecurityGroupMembership", "db-members"))
    );
}

#[test]
fn objects_of_other_accounts_and_namespaces_are_ignored() {
    let mut other_psg = psg("other", "port-9", vec![GroupRef::by_id("sg-x")]);
    other_psg.spec.account_ref = LocalObjectRef::new("other");
    let mut elsewhere = psg("elsewhere", "port-8", vec![GroupRef::by_id("sg-x")]);
    elsewhere.metadata.namespace = Some("staging".into());
    let r = run(
        &[
            Sg::new("mine"),
            Sg::new("theirs").account("other").created("sg-t"),
            Sg::new("far").namespace("staging"),
        ],
        &[other_psg, elsewhere],
        &[
            // Via a group of the other account.
            sgm("their-members", "theirs", &["p-1"]),
            sgm_by_id("by-id-other", "other", "sg-t", &["p-1"]),
        ],
    );
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert_eq!(r.desired.groups.len(), 1);
    assert!(r.desired.ports.is_empty());
    assert!(r.desired.memberships.is_empty());
    assert_eq!(
        r.objects,
        BTreeSet::from([key("CloudAccount", "acct"), sg_key("mine")])
    );
}

#[test]
fn a_group_of_another_account_resolves_by_its_id() {
    // Rules may name a group of another account object when its id is known.
    let r = run(
        &[
            Sg::new("web").rules(vec![from_group("theirs"), from_group("their-new")]),
            Sg::new("theirs").account("other").created("sg-t"),
            Sg::new("their-new").account("other"),
        ],
        &[],
        &[],
    );
    let web = &r.problems[&sg_key("web")];
    assert_eq!(web.unresolved.len(), 1);
    assert_eq!(
        web.unresolved[0].to_string(),
        "SecurityGroup \"their-new\" has no groupId yet"
    );
    let r = run(
        &[
            Sg::new("web").rules(vec![from_group("theirs")]),
            Sg::new("theirs").account("other").created("sg-t"),
        ],
        &[],
        &[],
    );
    assert_eq!(
        group(&r, "web").rules.as_ref().unwrap()[0].remote,
        Remote::Group(GroupHandle::Existing("sg-t".into()))
    );
}

#[test]
fn provider_checks_apply_to_baidu_accounts() {
    let groups = vec![
        Sg::new("no-vpc").0,
        Sg::new("listed-ports")
            .adopt("g-1")
            .rules(vec![RuleSpec {
                ports: Some("22,80".into()),
                ..to("10.0.0.0/8")
            }])
            .0,
    ];
    let r = resolve(
        &account("acct", Provider::Baidu),
        &groups,
        NO_PORTS,
        NO_MEMBERSHIPS,
    );
    assert_eq!(r.desired.provider, ProviderKind::Baidu);
    assert!(r.desired.groups.is_empty());
    assert_eq!(r.problems[&sg_key("no-vpc")].errors[0].field, "spec.vpcId");
    assert_eq!(
        r.problems[&sg_key("listed-ports")].errors[0].field,
        "spec.rules[0].ports"
    );
}

#[test]
fn account_settings_carry_no_secrets() {
    let mut a = huawei();
    a.spec.endpoint = Some("https://vpc.example.test".into());
    a.spec.max_requests_per_second = Some(7);
    assert_eq!(provider_of(&a), ProviderKind::Huawei);
    assert_eq!(
        account_settings(&a).unwrap(),
        AccountSettings {
            provider: ProviderKind::Huawei,
            region: "cn-north-4".into(),
            project_id: Some("proj1".into()),
            endpoint: Some("https://vpc.example.test".into()),
            max_requests_per_second: NonZeroU32::new(7),
            namespace: NS.into(),
            credentials_secret: "keys".into(),
        }
    );
    a.spec.project_id = None;
    let errors = account_settings(&a).unwrap_err();
    assert_eq!(errors[0].field, "spec.projectId");
    // The account's own errors are reported by resolve too.
    let r = resolve(&a, NO_GROUPS, NO_PORTS, NO_MEMBERSHIPS);
    assert_eq!(
        r.problems[&key("CloudAccount", "acct")].errors[0].field,
        "spec.projectId"
    );
}

fn node(name: &str, pool: &str, provider_id: Option<&str>, ip: &str) -> Node {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"pool": pool}},
        "spec": {"providerID": provider_id},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]}
    }))
    .expect("a Node")
}

fn server(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn instance_port(id: &str, ip: &str) -> InstancePort {
    InstancePort {
        id: id.into(),
        addresses: vec![ip.into()],
    }
}

/// Nodes n1, n2 (pool a, resolvable), n3 (pool b), n4 (pool a, no
/// providerID yet), n5 (pool a, no port holds its address); servers 1-3
/// and 5 exist.
fn cluster() -> (Vec<Node>, InstancePorts) {
    let pid = |n: u32| format!("huaweicloud://{}", server(n));
    let nodes = vec![
        node("n1", "a", Some(&pid(1)), "10.0.0.1"),
        node("n2", "a", Some(&pid(2)), "10.0.0.2"),
        node("n3", "b", Some(&pid(3)), "10.0.0.3"),
        node("n4", "a", None, "10.0.0.4"),
        node("n5", "a", Some(&pid(5)), "10.0.0.5"),
    ];
    let cloud = InstancePorts::from([
        (
            server(1),
            vec![
                instance_port("p-1", "10.0.0.1"),
                instance_port("p-1b", "10.1.0.1"),
            ],
        ),
        (server(2), vec![instance_port("p-2", "10.0.0.2")]),
        (server(3), vec![instance_port("p-3", "10.0.0.3")]),
        (server(5), vec![instance_port("p-5", "10.9.9.9")]),
    ]);
    (nodes, cloud)
}

fn pool(name: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([("pool".to_string(), name.to_string())])),
        ..LabelSelector::default()
    }
}

fn by_nodes(policy: MembershipPolicySpec, managed: &[&str]) -> SecurityGroupMembership {
    let mut m = sgm_by_id("by-nodes", "acct", "sg-1", &[]);
    m.spec.policy = policy;
    m.spec.node_selector = Some(pool("a"));
    m.status = Some(SecurityGroupMembershipStatus {
        managed_ports: managed.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    });
    m
}

fn resolve_with_nodes(
    memberships: &[&SecurityGroupMembership],
    node_groups: &[&NodeSecurityGroups],
) -> (Resolution, BTreeSet<String>) {
    let (nodes, cloud) = cluster();
    let account = huawei();
    let objects = Objects {
        memberships: memberships.to_vec(),
        node_groups: node_groups.to_vec(),
        nodes: nodes.iter().collect(),
        instances: Some(&cloud),
        ..Objects::default()
    };
    (
        resolve_objects(&account, &objects),
        node_instances(&account, &objects),
    )
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A membership's node selector stands for the port holding each matching
/// Node's InternalIP; Nodes that resolve to none are reported and add
/// nothing.
#[test]
fn a_node_selector_expands_into_the_matching_nodes_ports() {
    let m = by_nodes(MembershipPolicySpec::Additive, &[]);
    let (r, read) = resolve_with_nodes(&[&m], &[]);
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    // Every Node's instance is read (not only the matching ones'), so a
    // Node that stops matching is told from one that is gone.
    assert_eq!(read, set(&[&server(1), &server(2), &server(3), &server(5)]));
    let [d] = r.desired.memberships.as_slice() else {
        panic!("{:#?}", r.desired.memberships)
    };
    assert_eq!(d.ports, set(&["p-1", "p-2"]));
    let e = &r.node_selections[&key("SecurityGroupMembership", "by-nodes")];
    assert_eq!(e.matched, 4);
    let unresolved: Vec<(&str, &str)> = e
        .unresolved
        .iter()
        .map(|u| (u.name.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(
        unresolved,
        [
            ("n4", "the node has no spec.providerID yet"),
            (
                "n5",
                &*format!("no port of server {} holds 10.0.0.5", server(5))
            ),
        ]
    );
    // Without the cloud's answer every matching Node is unresolved: no
    // port, never an emptied group.
    let account = huawei();
    let (nodes, _) = cluster();
    let objects = Objects {
        memberships: vec![&m],
        nodes: nodes.iter().collect(),
        ..Objects::default()
    };
    let blind = resolve_objects(&account, &objects);
    assert!(blind.desired.memberships[0].ports.is_empty());
    assert!(blind.desired.memberships[0].managed_ports.is_empty());
}

/// A port whose Node stopped matching leaves (it stays managed until it
/// has); a port of a Node that is gone is forgotten, not removed; a port
/// of a matching Node that does not resolve is left as it is.
#[test]
fn nodes_that_stop_matching_leave_and_nodes_that_are_gone_are_left_alone() {
    let m = by_nodes(
        MembershipPolicySpec::Additive,
        &["p-1", "p-2", "p-3", "p-5", "p-gone"],
    );
    let (r, _) = resolve_with_nodes(&[&m], &[]);
    let d = &r.desired.memberships[0];
    assert_eq!(d.ports, set(&["p-1", "p-2"]));
    assert_eq!(
        d.managed_ports,
        set(&["p-1", "p-2", "p-3"]),
        "p-3 leaves; p-gone's Node is gone, p-5's Node is unresolved"
    );
    assert!(d.selection.as_ref().is_some_and(|s| s.spared.is_empty()));
    // Exclusive keeps what it had added to an unresolved Node's server,
    // and spares the port of a Node that is gone: it is neither kept nor
    // removed, and stays tracked.
    let x = by_nodes(MembershipPolicySpec::Exclusive, &["p-1", "p-5", "p-gone"]);
    let (r, _) = resolve_with_nodes(&[&x], &[]);
    let d = &r.desired.memberships[0];
    assert_eq!(d.ports, set(&["p-1", "p-2", "p-5"]));
    assert_eq!(d.policy, MembershipPolicy::Exclusive);
    assert_eq!(
        d.selection.as_ref().map(|s| &s.spared),
        Some(&set(&["p-gone"]))
    );
    // A membership that lists its ports has no selection: the spec, not
    // the cluster, moves them.
    let listed = sgm_by_id("listed", "acct", "sg-1", &["p-1"]);
    let (r, _) = resolve_with_nodes(&[&listed], &[]);
    assert_eq!(r.desired.memberships[0].selection, None);
}

fn nodesg(name: &str, managed: &[&str]) -> NodeSecurityGroups {
    let mut n = NodeSecurityGroups::new(
        name,
        NodeSecurityGroupsSpec {
            account_ref: LocalObjectRef::new("acct"),
            node_selector: pool("a"),
            port_selection: PortSelection::All,
            security_groups: vec![GroupRef::by_id("sg-1"), GroupRef::by_id("sg-2")],
            deletion_policy: DeletionPolicy::Retain,
        },
    );
    n.metadata.namespace = Some(NS.into());
    n.status = Some(NodeSecurityGroupsStatus {
        managed_ports: managed.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    });
    n
}

/// Every selected port gets the ordered groups, as a PortSecurityGroups
/// of it would; ports whose Node stopped matching lose them.
#[test]
fn node_security_groups_give_every_selected_port_its_groups() {
    let n = nodesg("pool-a", &["p-1", "p-3", "p-gone"]);
    let (r, _) = resolve_with_nodes(&[], &[&n]);
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    let owner = key("NodeSecurityGroups", "pool-a");
    let ports: Vec<(&str, Vec<GroupHandle>)> = r
        .desired
        .ports
        .iter()
        .map(|p| {
            assert_eq!(p.intent.owner, owner);
            (p.port_id.as_str(), p.groups.clone())
        })
        .collect();
    let groups = vec![
        GroupHandle::Existing("sg-1".into()),
        GroupHandle::Existing("sg-2".into()),
    ];
    assert_eq!(
        ports,
        [
            ("p-1", groups.clone()),
            ("p-1b", groups.clone()),
            ("p-2", groups.clone()),
            ("p-5", groups.clone())
        ],
        "All: every port of each matching Node's server"
    );
    let released: Vec<(&GroupHandle, &BTreeSet<String>, MembershipPolicy)> = r
        .desired
        .memberships
        .iter()
        .map(|m| (&m.group, &m.managed_ports, m.policy))
        .collect();
    let p3 = set(&["p-3"]);
    assert_eq!(
        released,
        [
            (&groups[0], &p3, MembershipPolicy::Additive),
            (&groups[1], &p3, MembershipPolicy::Additive)
        ],
        "p-3's Node moved to pool b; p-gone's Node is gone"
    );
    assert!(r.desired.memberships.iter().all(|m| m.ports.is_empty()));
    // The releases are the cluster's doing: a port they would leave with
    // no group is held, not the object refused.
    assert!(r.desired.memberships.iter().all(|m| m.selection.is_some()));
    assert_eq!(r.node_selections[&owner].ports.len(), 4);
}

// ---- SecurityGroupRules ----------------------------------------------------

fn sgr(name: &str, spec: SecurityGroupRulesSpec) -> SecurityGroupRules {
    let mut r = SecurityGroupRules::new(name, spec);
    r.metadata.namespace = Some(NS.into());
    r
}

fn rules_for(group: &str, rules: Vec<RuleSpec>) -> SecurityGroupRulesSpec {
    SecurityGroupRulesSpec {
        account_ref: None,
        security_group_ref: Some(LocalObjectRef::new(group)),
        security_group_id: None,
        rules,
        deletion_policy: DeletionPolicy::Delete,
    }
}

fn run_rules(groups: &[Sg], rule_sets: &[&SecurityGroupRules]) -> Resolution {
    let groups: Vec<SecurityGroup> = groups.iter().map(|g| g.0.clone()).collect();
    resolve_objects(
        &huawei(),
        &Objects {
            groups: groups.iter().collect(),
            rule_sets: rule_sets.to_vec(),
            ..Objects::default()
        },
    )
}

#[test]
fn rules_policy_defaults_follow_the_presence_of_rules() {
    let r = run(
        &[
            Sg::new("listed")
                .created("sg-1")
                .rules(vec![to("10.0.0.0/8")]),
            Sg::new("bare").created("sg-2"),
        ],
        &[],
        &[],
    );
    assert_eq!(group(&r, "listed").rules_policy, RulesPolicy::Authoritative);
    assert_eq!(group(&r, "bare").rules_policy, RulesPolicy::Additive);
    let mut explicit = Sg::new("explicit")
        .created("sg-3")
        .rules(vec![to("10.0.0.0/8")]);
    explicit.0.spec.rules_policy = Some(RulesPolicySpec::Additive);
    explicit.0.status.get_or_insert_default().managed_rules = vec!["x".into()];
    let r = run(&[explicit], &[], &[]);
    assert_eq!(group(&r, "explicit").rules_policy, RulesPolicy::Additive);
    assert_eq!(group(&r, "explicit").managed_rules, set(&["x"]));
}

#[test]
fn security_group_rules_resolve_their_group_rules_and_record() {
    let mut a = sgr(
        "a",
        rules_for("web", vec![to("10.0.0.0/8"), from_group("app")]),
    );
    a.status = Some(SecurityGroupRulesStatus {
        managed_rules: vec!["old".into()],
        ..Default::default()
    });
    let by_id = sgr(
        "b",
        SecurityGroupRulesSpec {
            account_ref: Some(LocalObjectRef::new("acct")),
            security_group_ref: None,
            security_group_id: Some("sg-9".into()),
            ..rules_for("unused", vec![to("10.0.0.1")])
        },
    );
    let r = run_rules(
        &[
            Sg::new("web").created("sg-1"),
            Sg::new("app").created("sg-2"),
        ],
        &[&a, &by_id],
    );
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    let sets = &r.desired.rule_sets;
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[0].intent.owner, key("SecurityGroupRules", "a"));
    assert_eq!(sets[0].group, GroupHandle::Existing("sg-1".into()));
    assert_eq!(
        sets[0].rules[1].remote,
        Remote::Group(GroupHandle::Existing("sg-2".into()))
    );
    assert_eq!(sets[0].managed_rules, set(&["old"]));
    assert_eq!(sets[1].group, GroupHandle::Existing("sg-9".into()));
    assert!(r.objects.contains(&key("SecurityGroupRules", "b")));
}

#[test]
fn security_group_rules_problems_keep_them_out() {
    // A bad rule, a missing group, and an accountRef that is not the
    // group's account: each names its field.
    let bad = sgr("bad", rules_for("web", vec![to("10.0.0.300/8")]));
    let missing = sgr("missing", rules_for("nope", vec![to("10.0.0.0/8")]));
    let mut elsewhere = sgr("elsewhere", rules_for("web", vec![to("10.0.0.0/8")]));
    elsewhere.spec.account_ref = Some(LocalObjectRef::new("acct"));
    let r = run_rules(
        &[Sg::new("web").created("sg-1").account("other")],
        &[&bad, &missing, &elsewhere],
    );
    assert!(r.desired.rule_sets.is_empty(), "{:#?}", r.desired.rule_sets);
    let missing = &r.problems[&key("SecurityGroupRules", "missing")];
    assert_eq!(missing.unresolved[0].field, "spec.securityGroupRef.name");
    assert_eq!(missing.unresolved[0].reason, UnresolvedReason::NotFound);
    let elsewhere = &r.problems[&key("SecurityGroupRules", "elsewhere")];
    assert_eq!(elsewhere.errors[0].field, "spec.accountRef.name");
    // `bad` names web, which is another account's: not this account's to report.
    assert!(!r.problems.contains_key(&key("SecurityGroupRules", "bad")));
    let r = run_rules(
        &[Sg::new("web").created("sg-1")],
        &[&sgr("bad", rules_for("web", vec![to("10.0.0.300/8")]))],
    );
    let bad = &r.problems[&key("SecurityGroupRules", "bad")];
    assert_eq!(bad.errors[0].field, "spec.rules[0].remoteIpPrefix");
}

#[test]
fn deleting_security_group_rules_let_go_of_their_rules_by_policy() {
    let recorded = SecurityGroupRulesStatus {
        managed_rules: vec!["r1".into()],
        ..Default::default()
    };
    let mut delete = sgr("delete", rules_for("web", vec![to("10.0.0.0/8")]));
    delete.metadata.deletion_timestamp = deleting();
    delete.status = Some(recorded.clone());
    let mut retain = delete.clone();
    retain.metadata.name = Some("retain".into());
    retain.spec.deletion_policy = DeletionPolicy::Retain;
    let r = run_rules(&[Sg::new("web").created("sg-1")], &[&delete, &retain]);
    assert_eq!(r.desired.rule_sets.len(), 1, "{:#?}", r.desired.rule_sets);
    let s = &r.desired.rule_sets[0];
    assert_eq!(s.intent.owner, key("SecurityGroupRules", "delete"));
    assert!(s.rules.is_empty(), "its rules are let go");
    assert_eq!(s.managed_rules, set(&["r1"]));
    assert!(r.objects.contains(&key("SecurityGroupRules", "retain")));
}
