//! Read what the cloud has for the things a desired state touches.

use std::collections::{BTreeMap, BTreeSet};

use crate::cloud::{CloudError, CloudProvider, OWNER_TAG};
use crate::model::{DesiredState, GroupHandle, MembershipPolicy, ObjectKey, ObservedState};

/// What [`observe`] read, and which groups it found by their owner tag.
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

    // 1. Groups to create: are they there already?
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

    // 2. Every existing group named anywhere.
    let mut group_ids: BTreeSet<String> = BTreeSet::new();
    for g in &desired.groups {
        group_ids.extend(g.handle.existing_id().map(str::to_string));
    }
    for p in &desired.ports {
        group_ids.extend(
            p.groups
                .iter()
                .filter_map(|h| h.existing_id())
                .map(str::to_string),
        );
    }
    for m in &desired.memberships {
        group_ids.extend(m.group.existing_id().map(str::to_string));
    }
    for d in &desired.deletions {
        group_ids.insert(d.group_id.clone());
    }
    for id in &group_ids {
        if let Some(group) = provider.get_group(id).await? {
            out.observed.groups.insert(id.clone(), group);
        }
    }

    // 3. Members of exclusive groups, then every port named anywhere.
    let mut port_ids: BTreeSet<String> = BTreeSet::new();
    for m in &mut desired.memberships {
        if m.policy == MembershipPolicy::Exclusive {
            if let Some(id) = m.group.existing_id()
                && out.observed.groups.contains_key(id)
            {
                m.current_members = provider.list_group_ports(id).await?.into_iter().collect();
            }
            port_ids.extend(m.current_members.iter().cloned());
        }
        port_ids.extend(m.ports.iter().cloned());
        port_ids.extend(m.managed_ports.iter().cloned());
    }
    for p in &desired.ports {
        port_ids.insert(p.port_id.clone());
    }
    let ids: Vec<String> = port_ids.into_iter().collect();
    out.observed.ports = provider.get_ports(&ids).await?;

    Ok(out)
}
