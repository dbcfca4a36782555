//! What a cycle must read when only some objects changed: the groups,
//! ports and group member lists their intents touch. Pure.
//!
//! An object's intent touches:
//! - a `SecurityGroup`: its group (rules, name, description);
//! - a `PortSecurityGroups`: its port (the port's ordered groups);
//! - a `SecurityGroupMembership`: the ports it lists or manages, and for
//!   `Exclusive` the group's member list;
//! - a group deletion: the group and its member list (ports still holding
//!   it);
//! - a `SecurityGroupRules`: its group (the rules all its owners share).
//!
//! A changed `SecurityGroup` makes every intent naming its group touched
//! too (a name now resolves differently, a group was just created). And
//! whatever the desired state names that was never read is read.

use std::collections::BTreeSet;

use crate::model::{DesiredState, GroupHandle, MembershipPolicy, ObjectKey, Remote};

use super::observe::{Observation, Touched, named_groups, named_ports};

/// What the intents of `owners` touch, plus what `desired` names that
/// `known` never read.
pub fn touched(
    desired: &DesiredState,
    owners: &BTreeSet<ObjectKey>,
    known: &Observation,
) -> Touched {
    let mut out = Touched::default();
    // Handles of changed groups: intents naming them count as changed.
    let mut changed: BTreeSet<GroupHandle> = desired
        .groups
        .iter()
        .filter(|g| owners.contains(&g.intent.owner))
        .flat_map(|g| [g.handle.clone(), GroupHandle::New(g.intent.owner.clone())])
        .collect();
    changed.extend(
        desired
            .deletions
            .iter()
            .filter(|d| owners.contains(&d.intent.owner))
            .map(|d| GroupHandle::Existing(d.group_id.clone())),
    );
    let hit = |owner: &ObjectKey, handles: &mut dyn Iterator<Item = &GroupHandle>| {
        if owners.contains(owner) {
            return true;
        }
        for h in handles {
            if changed.contains(h) {
                return true;
            }
        }
        false
    };

    for g in &desired.groups {
        let remotes = g.rules.iter().flatten().filter_map(|r| match &r.remote {
            Remote::Group(h) => Some(h),
            _ => None,
        });
        let mut handles = std::iter::once(&g.handle).chain(remotes);
        if hit(&g.intent.owner, &mut handles) {
            out.groups
                .extend(g.handle.existing_id().map(str::to_string));
        }
    }
    for s in &desired.rule_sets {
        let remotes = s.rules.iter().filter_map(|r| match &r.remote {
            Remote::Group(h) => Some(h),
            _ => None,
        });
        let mut handles = std::iter::once(&s.group).chain(remotes);
        if hit(&s.intent.owner, &mut handles) {
            out.groups.extend(s.group.existing_id().map(str::to_string));
        }
    }
    for p in &desired.ports {
        if hit(&p.intent.owner, &mut p.groups.iter()) {
            out.ports.insert(p.port_id.clone());
        }
    }
    for m in &desired.memberships {
        if hit(&m.intent.owner, &mut std::iter::once(&m.group)) {
            out.ports.extend(m.ports.iter().cloned());
            out.ports.extend(m.managed_ports.iter().cloned());
            if m.policy == MembershipPolicy::Exclusive
                && let Some(id) = m.group.existing_id()
            {
                out.members.insert(id.to_string());
            }
        }
    }
    for d in &desired.deletions {
        if owners.contains(&d.intent.owner) {
            out.groups.insert(d.group_id.clone());
            out.members.insert(d.group_id.clone());
        }
    }

    // Never read: named now, not in what is known.
    for id in named_groups(desired) {
        if !known.knows_group(&id) {
            out.groups.insert(id);
        }
    }
    for id in named_ports(desired) {
        if !known.knows_port(&id) {
            out.ports.insert(id);
        }
    }
    for m in &desired.memberships {
        if m.policy == MembershipPolicy::Exclusive
            && let Some(id) = m.group.existing_id()
            && !known.members.contains_key(id)
        {
            out.members.insert(id.to_string());
        }
    }
    // A member list is read only for a group that is read too.
    out.groups.extend(out.members.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        DesiredGroup, DesiredMembership, DesiredPortGroups, Intent, Mode, ObservedGroup,
        ObservedPort, ProviderKind,
    };

    fn key(kind: &str, name: &str) -> ObjectKey {
        ObjectKey::new(kind, "ns", name)
    }

    fn intent(kind: &str, name: &str) -> Intent {
        Intent {
            owner: key(kind, name),
            mode: Mode::Apply,
            allow_mass_change: false,
        }
    }

    fn desired() -> DesiredState {
        let port = |name: &str, port: &str, groups: Vec<GroupHandle>| DesiredPortGroups {
            intent: intent("PortSecurityGroups", name),
            port_id: port.into(),
            groups,
        };
        DesiredState {
            rule_sets: vec![],
            provider: ProviderKind::Huawei,
            groups: vec![DesiredGroup {
                intent: intent("SecurityGroup", "web"),
                handle: GroupHandle::Existing("sg-web".into()),
                owner_uid: "u-web".into(),
                name: "web".into(),
                description: String::new(),
                unmanaged: Default::default(),
                vpc_id: None,
                rules: None,
                rules_policy: crate::model::RulesPolicy::Additive,
                managed_rules: Default::default(),
            }],
            ports: vec![
                port("a", "p-a", vec![GroupHandle::Existing("sg-web".into())]),
                port("b", "p-b", vec![GroupHandle::Existing("sg-db".into())]),
            ],
            memberships: vec![DesiredMembership {
                intent: intent("SecurityGroupMembership", "db"),
                group: GroupHandle::Existing("sg-db".into()),
                policy: MembershipPolicy::Exclusive,
                ports: ["p-c".to_string()].into(),
                managed_ports: BTreeSet::new(),
                current_members: BTreeSet::new(),
                selection: None,
            }],
            deletions: vec![],
        }
    }

    /// Everything the desired state names, read before.
    fn known() -> Observation {
        let mut o = Observation::default();
        for id in ["sg-web", "sg-db"] {
            o.observed.groups.insert(
                id.into(),
                ObservedGroup {
                    id: id.into(),
                    name: id.into(),
                    description: String::new(),
                    vpc_id: None,
                    version: None,
                    tags: Default::default(),
                    rules: vec![],
                },
            );
        }
        for id in ["p-a", "p-b", "p-c"] {
            o.observed.ports.insert(
                id.into(),
                ObservedPort {
                    id: id.into(),
                    groups: vec!["sg-db".into()],
                },
            );
        }
        o.members.insert("sg-db".into(), ["p-c".to_string()].into());
        o
    }

    #[test]
    fn a_changed_port_object_touches_its_port_only() {
        let owners = [key("PortSecurityGroups", "b")].into();
        let t = touched(&desired(), &owners, &known());
        assert_eq!(
            t,
            Touched {
                ports: ["p-b".to_string()].into(),
                ..Touched::default()
            }
        );
        assert!(touched(&desired(), &BTreeSet::new(), &known()).is_empty());
    }

    #[test]
    fn a_changed_group_touches_the_intents_naming_it() {
        let owners = [key("SecurityGroup", "web")].into();
        let t = touched(&desired(), &owners, &known());
        assert_eq!(t.groups, ["sg-web".to_string()].into());
        assert_eq!(t.ports, ["p-a".to_string()].into(), "a names sg-web");
    }

    #[test]
    fn an_exclusive_membership_touches_its_ports_and_the_member_list() {
        let owners = [key("SecurityGroupMembership", "db")].into();
        let t = touched(&desired(), &owners, &known());
        assert_eq!(t.ports, ["p-c".to_string()].into());
        assert_eq!(t.members, ["sg-db".to_string()].into());
        assert_eq!(t.groups, ["sg-db".to_string()].into());
    }

    #[test]
    fn what_was_never_read_is_read() {
        let mut known = known();
        known.observed.ports.remove("p-a");
        known.members.clear();
        let t = touched(&desired(), &BTreeSet::new(), &known);
        assert_eq!(t.ports, ["p-a".to_string()].into());
        assert_eq!(t.members, ["sg-db".to_string()].into());
        let mut known = self::known();
        known.observed.ports.remove("p-a");
        known.absent_ports.insert("p-a".into());
        assert!(
            touched(&desired(), &BTreeSet::new(), &known).is_empty(),
            "a port read and not found is known to be absent"
        );
    }
}
