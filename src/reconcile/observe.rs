//! Read what the cloud has for the things a desired state touches: all of
//! it ([`observe`]), or only what some changed objects touch, on top of
//! what an earlier read saw ([`refresh`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::cloud::{CloudError, CloudProvider};
use crate::model::{
    DesiredState, GroupHandle, MembershipPolicy, OWNER_TAG, ObjectKey, ObservedState, Operation,
};

/// Ids to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    pub groups: BTreeSet<String>,
    pub ports: BTreeSet<String>,
    /// Groups whose member lists are needed.
    pub members: BTreeSet<String>,
}

impl Touched {
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.ports.is_empty() && self.members.is_empty()
    }
}

/// Every existing group the desired state names.
pub fn named_groups(desired: &DesiredState) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for g in &desired.groups {
        ids.extend(g.handle.existing_id().map(str::to_string));
    }
    for p in &desired.ports {
        ids.extend(
            p.groups
                .iter()
                .filter_map(|h| h.existing_id())
                .map(str::to_string),
        );
    }
    for m in &desired.memberships {
        ids.extend(m.group.existing_id().map(str::to_string));
    }
    for d in &desired.deletions {
        ids.insert(d.group_id.clone());
    }
    for s in &desired.rule_sets {
        ids.extend(s.group.existing_id().map(str::to_string));
    }
    ids
}

/// Every port the desired state names (not counting Exclusive groups'
/// other members).
pub fn named_ports(desired: &DesiredState) -> BTreeSet<String> {
    let mut ids: BTreeSet<String> = desired.ports.iter().map(|p| p.port_id.clone()).collect();
    for m in &desired.memberships {
        ids.extend(m.ports.iter().cloned());
        ids.extend(m.managed_ports.iter().cloned());
    }
    ids
}

/// What was read, and which groups were found by their owner tag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    pub observed: ObservedState,
    /// Groups the desired state wanted to create but that already exist with
    /// the owner's tag (a create whose status write was lost). The desired
    /// state now refers to them by id; the caller records the ids.
    pub found_by_tag: BTreeMap<ObjectKey, String>,
    /// More than one group carries the same owner tag: the first is used,
    /// the others are listed here so someone can look.
    pub duplicates: BTreeMap<ObjectKey, Vec<String>>,
    /// Every port in each group whose member list was read.
    pub members: BTreeMap<String, BTreeSet<String>>,
    /// Groups and ports read and not found.
    pub absent_groups: BTreeSet<String>,
    pub absent_ports: BTreeSet<String>,
}

impl Observation {
    /// Whether the group was read (found or not).
    pub fn knows_group(&self, id: &str) -> bool {
        self.observed.groups.contains_key(id) || self.absent_groups.contains(id)
    }

    /// Whether the port was read (found or not).
    pub fn knows_port(&self, id: &str) -> bool {
        self.observed.ports.contains_key(id) || self.absent_ports.contains(id)
    }

    /// Forget what `op` may have changed, so the next refresh reads it
    /// again instead of trusting a model of what the cloud did.
    pub fn forget_written(&mut self, op: &Operation) {
        let forget_group = |o: &mut Self, id: &str| {
            o.observed.groups.remove(id);
            o.absent_groups.remove(id);
        };
        match op {
            Operation::CreateGroup { .. } => {}
            Operation::UpdateGroup { group, .. }
            | Operation::UpdateRule { group, .. }
            | Operation::DeleteRule { group, .. } => {
                forget_group(self, group);
            }
            Operation::CreateRules { group, .. } => {
                if let Some(id) = group.existing_id() {
                    forget_group(self, id);
                }
            }
            Operation::DeleteGroup { group } => {
                forget_group(self, group);
                self.members.remove(group);
            }
            Operation::AddPortGroups { port, groups, .. } => {
                self.forget_port(port);
                for g in groups.iter().filter_map(GroupHandle::existing_id) {
                    self.members.remove(g);
                }
            }
            Operation::RemovePortGroups { port, groups } => {
                self.forget_port(port);
                for g in groups {
                    self.members.remove(g);
                }
            }
            Operation::AttachPorts { group, ports } => {
                ports.iter().for_each(|p| self.forget_port(p));
                if let Some(id) = group.existing_id() {
                    self.members.remove(id);
                }
            }
            Operation::DetachPorts { group, ports } => {
                ports.iter().for_each(|p| self.forget_port(p));
                self.members.remove(group);
            }
        }
    }

    fn forget_port(&mut self, id: &str) {
        self.observed.ports.remove(id);
        self.absent_ports.remove(id);
    }
}

/// Read the groups and ports `desired` touches.
///
/// Before anything is planned, each group that would be created is looked
/// up by its owner tag; when found, `desired` is rewritten to use it, so a
/// crash between create and status write never yields a duplicate group.
/// Exclusive memberships get `current_members` filled from the cloud.
pub async fn observe(
    provider: &dyn CloudProvider,
    desired: &mut DesiredState,
) -> Result<Observation, CloudError> {
    let mut out = Observation::default();
    find_by_tag(provider, desired, &mut out).await?;
    // Every named group's members come in the same paged reads as the
    // ports named one by one would: for an account whose ports sit in its
    // groups (the usual case), that is ceil(ports / page) reads instead of
    // one per id batch.
    let groups = named_groups(desired);
    let touched = Touched {
        members: groups.clone(),
        groups,
        ports: named_ports(desired),
    };
    read(provider, &touched, &mut out).await?;
    fill_members(desired, &out);
    Ok(out)
}

/// What a refresh found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Things read again that differed from what was known, though nothing
    /// this controller did since explains it: the cloud was changed behind
    /// its back, so what else it knows may be wrong too.
    pub drift: Vec<String>,
}

/// Read again what `touched` names (see [`super::touched`]); look groups
/// still to create up by their owner tag and bind those found; fill
/// `current_members`. `known` is updated in place.
pub async fn refresh(
    provider: &dyn CloudProvider,
    desired: &mut DesiredState,
    known: &mut Observation,
    touched: &Touched,
) -> Result<Refreshed, CloudError> {
    let mut fresh = Observation::default();
    find_by_tag(provider, desired, &mut fresh).await?;
    read(provider, touched, &mut fresh).await?;
    let mut drift = Vec::new();
    for (id, group) in &fresh.observed.groups {
        if let Some(old) = known.observed.groups.insert(id.clone(), group.clone())
            && old != *group
        {
            drift.push(format!("group {id}"));
        }
        known.absent_groups.remove(id);
    }
    for (id, port) in &fresh.observed.ports {
        if let Some(old) = known.observed.ports.insert(id.clone(), port.clone())
            && old != *port
        {
            drift.push(format!("port {id}"));
        }
        known.absent_ports.remove(id);
    }
    for id in &fresh.absent_groups {
        if known.observed.groups.remove(id).is_some() {
            drift.push(format!("group {id} is gone"));
        }
        known.absent_groups.insert(id.clone());
    }
    for id in &fresh.absent_ports {
        if known.observed.ports.remove(id).is_some() {
            drift.push(format!("port {id} is gone"));
        }
        known.absent_ports.insert(id.clone());
    }
    for (id, members) in fresh.members {
        if let Some(old) = known.members.insert(id.clone(), members.clone())
            && old != members
        {
            drift.push(format!("members of group {id}"));
        }
    }
    known.found_by_tag.extend(fresh.found_by_tag);
    known.duplicates.extend(fresh.duplicates);
    fill_members(desired, known);
    Ok(Refreshed { drift })
}

/// Look up each group to create by its owner tag; bind those found.
async fn find_by_tag(
    provider: &dyn CloudProvider,
    desired: &mut DesiredState,
    out: &mut Observation,
) -> Result<(), CloudError> {
    let to_create: Vec<(ObjectKey, String)> = desired
        .groups
        .iter()
        .filter_map(|g| match &g.handle {
            GroupHandle::New(owner) => Some((owner.clone(), g.owner_uid.clone())),
            GroupHandle::Existing(_) => None,
        })
        .collect();
    for (owner, uid) in to_create {
        let mut found = provider.find_groups_by_tag(OWNER_TAG, &uid).await?;
        found.sort_by(|a, b| a.id.cmp(&b.id));
        let mut ids = found.into_iter().map(|g| g.id);
        if let Some(first) = ids.next() {
            desired.bind_group(&owner, &first);
            let rest: Vec<String> = ids.collect();
            if !rest.is_empty() {
                out.duplicates.insert(owner.clone(), rest);
            }
            out.found_by_tag.insert(owner, first);
        }
    }
    Ok(())
}

/// Read the groups, member lists and ports `touched` names into `out`,
/// in bulk: the groups in one batched read, every member of the groups
/// whose member lists are wanted in one paged read (each with all its
/// groups), then the named ports not among them. A member list is read
/// only for a group that exists.
async fn read(
    provider: &dyn CloudProvider,
    touched: &Touched,
    out: &mut Observation,
) -> Result<(), CloudError> {
    let group_ids: Vec<String> = touched
        .groups
        .iter()
        .chain(touched.members.iter())
        .filter(|id| !out.knows_group(id))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let found = provider.get_groups(&group_ids).await?;
    for id in group_ids {
        if !found.contains_key(&id) {
            out.absent_groups.insert(id);
        }
    }
    out.observed.groups.extend(found);

    let member_groups: Vec<String> = touched
        .members
        .iter()
        .filter(|id| out.observed.groups.contains_key(*id))
        .cloned()
        .collect();
    if !member_groups.is_empty() {
        let members = provider.ports_in_groups(&member_groups).await?;
        for id in &member_groups {
            out.members.insert(id.clone(), BTreeSet::new());
        }
        for port in members.values() {
            for g in &port.groups {
                if let Some(list) = out.members.get_mut(g)
                    && member_groups.contains(g)
                {
                    list.insert(port.id.clone());
                }
            }
        }
        out.observed.ports.extend(members);
    }

    let ids: Vec<String> = touched
        .ports
        .iter()
        .filter(|id| !out.observed.ports.contains_key(*id))
        .cloned()
        .collect();
    if !ids.is_empty() {
        let found = provider.get_ports(&ids).await?;
        for id in ids {
            if !found.contains_key(&id) {
                out.absent_ports.insert(id);
            }
        }
        out.observed.ports.extend(found);
    }
    Ok(())
}

/// Exclusive memberships' `current_members` from the member lists read.
fn fill_members(desired: &mut DesiredState, known: &Observation) {
    for m in &mut desired.memberships {
        if m.policy == MembershipPolicy::Exclusive
            && let Some(id) = m.group.existing_id()
            && let Some(members) = known.members.get(id)
        {
            m.current_members = members.clone();
        }
    }
}
