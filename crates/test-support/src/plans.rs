//! Builders shared by the planner's integration tests (`tests/plan/`).

use std::collections::{BTreeMap, BTreeSet};

use secgroup_controller::model::{
    Action, DesiredGroup, DesiredMembership, DesiredPortGroups, DesiredRuleSet, DesiredState,
    Direction, Ethertype, GroupDeletion, GroupHandle, Intent, MembershipPolicy, Mode, ObjectKey,
    ObservedGroup, ObservedPort, ObservedRule, ObservedState, Operation, PortRange, Ports,
    Protocol, ProviderKind, Remote, Rule, RulesPolicy,
};
use secgroup_controller::plan::{self, PlanOptions, PlanOutcome, simulate};

pub const NS: &str = "default";

pub fn key(kind: &str, name: &str) -> ObjectKey {
    ObjectKey::new(kind, NS, name)
}

pub fn intent(kind: &str, name: &str) -> Intent {
    Intent {
        owner: key(kind, name),
        mode: Mode::Apply,
        allow_mass_change: false,
    }
}

pub fn with_mode(mut i: Intent, mode: Mode) -> Intent {
    i.mode = mode;
    i
}

pub fn existing(id: &str) -> GroupHandle {
    GroupHandle::Existing(id.to_string())
}

pub fn desired(provider: ProviderKind) -> DesiredState {
    DesiredState {
        provider,
        groups: Vec::new(),
        ports: Vec::new(),
        memberships: Vec::new(),
        deletions: Vec::new(),
        rule_sets: Vec::new(),
    }
}

/// A TCP ingress rule from anywhere to one port, with the provider's defaults.
pub fn tcp(provider: ProviderKind, port: u16) -> Rule {
    Rule {
        direction: Direction::Ingress,
        ethertype: Ethertype::IPv4,
        protocol: Protocol::Tcp,
        ports: Ports::Ranges(vec![PortRange {
            first: port,
            last: port,
        }]),
        remote: Remote::Cidr("0.0.0.0/0".parse().expect("literal CIDR")),
        action: Action::Allow,
        priority: (provider == ProviderKind::Huawei).then_some(1),
        description: String::new(),
    }
}

pub fn sg(name: &str, id: &str, rules: Option<Vec<Rule>>) -> DesiredGroup {
    DesiredGroup {
        intent: intent("SecurityGroup", name),
        handle: existing(id),
        owner_uid: format!("uid-{name}"),
        // As the cloud names it (`group()` names groups by id).
        name: id.to_string(),
        description: String::new(),
        unmanaged: Default::default(),
        vpc_id: Some("vpc-1".to_string()),
        rules_policy: RulesPolicy::default_for(rules.is_some()),
        rules,
        managed_rules: Default::default(),
    }
}

pub fn new_sg(name: &str, rules: Option<Vec<Rule>>) -> DesiredGroup {
    DesiredGroup {
        handle: GroupHandle::New(key("SecurityGroup", name)),
        name: name.to_string(),
        ..sg(name, "unused", rules)
    }
}

/// A `SecurityGroupRules` adding `rules` to the existing group `group`,
/// having owned the rules `managed` (by [`Rule::identity`]).
pub fn rule_set(name: &str, group: &str, rules: Vec<Rule>, managed: &[&Rule]) -> DesiredRuleSet {
    DesiredRuleSet {
        intent: intent("SecurityGroupRules", name),
        group: existing(group),
        rules,
        managed_rules: managed.iter().map(|r| r.identity()).collect(),
    }
}

pub fn deletion(name: &str, id: &str) -> GroupDeletion {
    GroupDeletion {
        intent: intent("SecurityGroup", name),
        group_id: id.to_string(),
    }
}

pub fn psg(name: &str, port: &str, groups: &[&str]) -> DesiredPortGroups {
    DesiredPortGroups {
        intent: intent("PortSecurityGroups", name),
        port_id: port.to_string(),
        groups: groups.iter().map(|g| existing(g)).collect(),
    }
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

pub fn additive(name: &str, group: &str, ports: &[&str], managed: &[&str]) -> DesiredMembership {
    DesiredMembership {
        intent: intent("SecurityGroupMembership", name),
        group: existing(group),
        policy: MembershipPolicy::Additive,
        ports: set(ports),
        managed_ports: set(managed),
        current_members: BTreeSet::new(),
        selection: None,
    }
}

pub fn exclusive(name: &str, group: &str, ports: &[&str], current: &[&str]) -> DesiredMembership {
    DesiredMembership {
        intent: intent("SecurityGroupMembership", name),
        group: existing(group),
        policy: MembershipPolicy::Exclusive,
        ports: set(ports),
        managed_ports: BTreeSet::new(),
        current_members: set(current),
        selection: None,
    }
}

pub fn group(id: &str, rules: &[Rule]) -> ObservedGroup {
    ObservedGroup {
        id: id.to_string(),
        name: id.to_string(),
        description: String::new(),
        vpc_id: Some("vpc-1".to_string()),
        version: None,
        tags: BTreeMap::new(),
        rules: rules
            .iter()
            .enumerate()
            .map(|(i, r)| ObservedRule {
                id: format!("{id}-r{i}"),
                rule: r.clone(),
                enabled: true,
            })
            .collect(),
    }
}

/// Observed state with rule-less groups `groups` and `ports` (id, groups).
pub fn observed(groups: &[&str], ports: &[(&str, &[&str])]) -> ObservedState {
    let mut o = ObservedState::default();
    for g in groups {
        o.groups.insert(g.to_string(), group(g, &[]));
    }
    for (p, gs) in ports {
        o.ports.insert(
            p.to_string(),
            ObservedPort {
                id: p.to_string(),
                groups: gs.iter().map(|g| g.to_string()).collect(),
            },
        );
    }
    o
}

pub fn port_ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:03}")).collect()
}

pub fn plan_ok(d: &DesiredState, o: &ObservedState) -> PlanOutcome {
    match plan::plan(d, o, &PlanOptions::default()) {
        Ok(out) => out,
        Err(errors) => panic!("unexpected field errors: {errors:?}"),
    }
}

pub fn ops(out: &PlanOutcome) -> Vec<Operation> {
    out.plan.steps.iter().map(|s| s.op.clone()).collect()
}

/// Apply the plan with the cloud model (every step must be accepted),
/// adopt created groups, and return the state and desired after.
pub fn apply(
    d: &DesiredState,
    o: &ObservedState,
    out: &PlanOutcome,
) -> (DesiredState, ObservedState) {
    let mut state = o.clone();
    if let Err(e) = simulate::apply_plan(&mut state, &out.plan, d.provider) {
        panic!(
            "the cloud model refused the plan: {e}\nplan: {:#?}",
            out.plan
        );
    }
    let mut next = d.clone();
    simulate::adopt_created(&mut next, &state);
    (next, state)
}

/// Plan, apply, re-plan: the second plan must be empty.
pub fn assert_converges(d: &DesiredState, o: &ObservedState) -> ObservedState {
    let out = plan_ok(d, o);
    let (next, state) = apply(d, o, &out);
    let again = plan_ok(&next, &state);
    assert!(
        again.plan.is_empty(),
        "re-plan not empty: {:#?}",
        again.plan
    );
    state
}

pub fn groups_of(o: &ObservedState, port: &str) -> Vec<String> {
    o.ports[port].groups.clone()
}

pub fn attach(group: &str, ports: &[&str]) -> Operation {
    Operation::AttachPorts {
        group: existing(group),
        ports: ports.iter().map(|p| p.to_string()).collect(),
    }
}

pub fn detach(group: &str, ports: &[&str]) -> Operation {
    Operation::DetachPorts {
        group: group.to_string(),
        ports: ports.iter().map(|p| p.to_string()).collect(),
    }
}

pub fn add_groups(port: &str, groups: &[&str], index: Option<u32>) -> Operation {
    Operation::AddPortGroups {
        port: port.to_string(),
        groups: groups.iter().map(|g| existing(g)).collect(),
        index,
    }
}

pub fn remove_groups(port: &str, groups: &[&str]) -> Operation {
    Operation::RemovePortGroups {
        port: port.to_string(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}
