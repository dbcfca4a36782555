//! Groups and their rules: which groups to create, rename or delete, and
//! which rules to create and delete so a managed group's rule set equals
//! its spec. Batching of rule creates happens at assembly (see `mod.rs`).

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use crate::model::{
    DesiredState, GroupHandle, OWNER_TAG, ObservedRule, Operation, ProviderKind, Remote, Rule,
};

use super::cx::{Cx, GKey, Obj, Role};

/// The changes one `SecurityGroup` object asks for.
pub(super) struct GroupWork<'a> {
    pub owner: Obj,
    /// Where rule creates go.
    pub target: GroupHandle,
    pub create: Option<Operation>,
    pub update: Option<Operation>,
    pub create_rules: Vec<&'a Rule>,
    pub delete_rules: Vec<(&'a str, &'a ObservedRule)>,
    /// Rules disabled in the cloud (Huawei `enabled: false`) that the spec
    /// wants: deleted just before they are created again, enabled. A
    /// disabled rule filters nothing, so this opens no window, and Huawei
    /// refuses to create a rule equal to one the group holds. Not a mass
    /// change: every one comes back.
    pub repair_rules: Vec<(&'a str, &'a ObservedRule)>,
    /// Rules changed in place (Baidu): a rule to delete and one to create
    /// that are recognisably the same rule, see [`pair_updates`].
    pub update_rules: Vec<(&'a str, &'a ObservedRule, &'a Rule)>,
    /// Rules the group has in the cloud now (the guard's denominator).
    pub existing_rules: usize,
    /// Of `delete_rules`, the cloud's default rules of a group this
    /// controller created (see [`is_cloud_default`]): removing them is the
    /// create completing, not a mass change, so the guard does not count
    /// them (in `existing_rules` either).
    pub default_deletes: usize,
}

/// Whether `rule` is one of the rules Huawei puts in every new group (seed
/// 003's example): allow all egress to anywhere, and allow all ingress from
/// the group itself, for IPv4 and IPv6.
pub(super) fn is_cloud_default(rule: &Rule, group_id: &str) -> bool {
    use crate::model::{Action, Direction, Ports, Protocol};
    let open =
        rule.protocol == Protocol::All && rule.ports == Ports::All && rule.action == Action::Allow;
    open && match (&rule.direction, &rule.remote) {
        (Direction::Egress, Remote::Cidr(net)) => net.prefix_len() == 0,
        (Direction::Ingress, Remote::Group(GroupHandle::Existing(id))) => id == group_id,
        _ => false,
    }
}

/// Whether `from` can become `to` in one Baidu `updateSecurityGroupRule`
/// and stay recognisably the same rule: the call keeps direction and
/// ethertype (and Baidu rules have no action or priority), and the pair
/// keeps either its remote (a new remark, protocol or port range for the
/// same peer) or its service (the same protocol and ports for a new peer
/// of the same kind). Anything else is a different rule: created, then the
/// old one revoked.
pub(super) fn updatable(from: &Rule, to: &Rule) -> bool {
    let same_kind = matches!(
        (&from.remote, &to.remote),
        (Remote::Cidr(_), Remote::Cidr(_)) | (Remote::Group(_), Remote::Group(_))
    );
    from.direction == to.direction
        && from.ethertype == to.ethertype
        && from.action == to.action
        && from.priority == to.priority
        && same_kind
        && (from.remote == to.remote || (from.protocol == to.protocol && from.ports == to.ports))
}

/// Turn create + delete pairs of one group into in-place updates: each
/// rule to delete, in the cloud's order, takes the first rule to create
/// that it can become ([`updatable`]). One call instead of two, and no
/// moment with both rules.
fn pair_updates(work: &mut GroupWork<'_>) {
    if work.create_rules.is_empty() || work.delete_rules.is_empty() {
        return;
    }
    let mut taken = vec![false; work.create_rules.len()];
    let mut kept = Vec::with_capacity(work.delete_rules.len());
    for (id, old) in work.delete_rules.drain(..) {
        let found = work
            .create_rules
            .iter()
            .enumerate()
            .position(|(i, new)| !taken[i] && updatable(&old.rule, new));
        match found {
            Some(i) => {
                taken[i] = true;
                work.update_rules.push((id, old, work.create_rules[i]));
            }
            None => kept.push((id, old)),
        }
    }
    work.delete_rules = kept;
    let mut i = 0;
    work.create_rules.retain(|_| {
        i += 1;
        !taken[i - 1]
    });
}

/// A group to delete because its object is going away.
pub(super) struct DeletionWork<'a> {
    pub owner: Obj,
    pub group: &'a str,
}

pub(super) fn resolve<'a>(desired: &'a DesiredState, cx: &mut Cx<'a>) -> Vec<GroupWork<'a>> {
    let provider = desired.provider;
    let mut managed: HashMap<GKey<'a>, Obj> = HashMap::new();
    let mut out = Vec::new();
    for dg in &desired.groups {
        let o = cx.object(&dg.intent, Role::Group);
        let g = cx.group_of(&dg.handle);
        let gkey = cx.group_key(g);
        if let Some(&first) = managed.get(&gkey) {
            // Two objects claiming one group would fight over its rules; the
            // first keeps it, deterministically, and both are told.
            let name = cx.group_name(g);
            let first_key = cx.key(first).to_string();
            let this_key = cx.key(o).to_string();
            cx.warn(
                o,
                format!("group {name} is also managed by {first_key}; this object is ignored"),
            );
            cx.warn(
                first,
                format!("group {name} is also claimed by {this_key}, which is ignored"),
            );
            continue;
        }
        managed.insert(gkey, o);

        let mut work = GroupWork {
            owner: o,
            target: dg.handle.clone(),
            create: None,
            update: None,
            create_rules: Vec::new(),
            delete_rules: Vec::new(),
            repair_rules: Vec::new(),
            update_rules: Vec::new(),
            existing_rules: 0,
            default_deletes: 0,
        };
        let observed_rules: &'a [ObservedRule] = match &dg.handle {
            GroupHandle::New(key) => {
                if provider == ProviderKind::Baidu && dg.vpc_id.is_none() {
                    cx.errors.push(crate::model::FieldError::new(
                        Some(&dg.intent.owner),
                        "spec.vpcId",
                        "Baidu needs a VPC to create a security group in",
                    ));
                }
                work.create = Some(Operation::CreateGroup {
                    owner: key.clone(),
                    owner_uid: dg.owner_uid.clone(),
                    name: dg.name.clone(),
                    description: dg.description.clone(),
                    vpc_id: dg.vpc_id.clone(),
                });
                &[]
            }
            GroupHandle::Existing(id) => {
                let Some(og) = cx.observed.groups.get(id) else {
                    cx.warn(o, format!("group {id} not found"));
                    continue;
                };
                // Fields an adopted group's spec leaves out stay as they are.
                let name = (!dg.unmanaged.name && og.name != dg.name).then(|| dg.name.clone());
                let description = (!dg.unmanaged.description && og.description != dg.description)
                    .then(|| dg.description.clone());
                if name.is_some() || description.is_some() {
                    match provider {
                        ProviderKind::Huawei => {
                            work.update = Some(Operation::UpdateGroup {
                                group: id.clone(),
                                name,
                                description,
                            })
                        }
                        ProviderKind::Baidu => cx.warn(
                            o,
                            format!(
                                "group {id} is named {:?} ({:?}) in the cloud; Baidu cannot rename a group, so the spec's {:?} ({:?}) is not applied",
                                og.name, og.description, dg.name, dg.description
                            ),
                        ),
                    }
                }
                &og.rules
            }
        };
        work.existing_rules = observed_rules.len();

        if let Some(rules) = &dg.rules {
            let wanted: HashSet<&'a Rule> = rules.iter().collect();
            // A disabled rule is not had: it is drift, repaired below.
            let have: HashSet<&'a Rule> = observed_rules
                .iter()
                .filter(|r| r.enabled)
                .map(|r| &r.rule)
                .collect();
            let mut queued: HashSet<&'a Rule> = HashSet::with_capacity(rules.len());
            for rule in rules {
                if have.contains(rule) || !queued.insert(rule) {
                    continue;
                }
                // A rule naming a group this plan cannot create would fail.
                if let Remote::Group(h @ GroupHandle::New(_)) = &rule.remote {
                    let rg = cx.group_of(h);
                    if let Err(why) = cx.available(rg) {
                        cx.warn(o, format!("rule \"{rule}\" is not created: {why}"));
                        continue;
                    }
                }
                work.create_rules.push(rule);
            }
            if let Some(id) = dg.handle.existing_id() {
                let created_by_us = cx
                    .observed
                    .groups
                    .get(id)
                    .is_some_and(|og| og.tags.get(OWNER_TAG) == Some(&dg.owner_uid));
                let created: HashSet<&'a Rule> = work.create_rules.iter().copied().collect();
                for r in observed_rules {
                    if !r.enabled && created.contains(&r.rule) {
                        cx.warn(
                            o,
                            format!("rule \"{}\" is disabled in the cloud: it is deleted and created again, enabled", r.rule),
                        );
                        work.repair_rules.push((id, r));
                    } else if !wanted.contains(&r.rule) {
                        if created_by_us && is_cloud_default(&r.rule, id) {
                            work.default_deletes += 1;
                        }
                        work.delete_rules.push((id, r));
                    }
                }
                if provider.updates_rules() {
                    pair_updates(&mut work);
                }
            }
        }
        out.push(work);
    }
    out
}

pub(super) fn deletions<'a>(desired: &'a DesiredState, cx: &mut Cx<'a>) -> Vec<DeletionWork<'a>> {
    let mut out = Vec::new();
    for d in &desired.deletions {
        let o = cx.object(&d.intent, Role::Deletion);
        // Already gone: nothing to do.
        if cx.observed.groups.contains_key(&d.group_id) {
            out.push(DeletionWork {
                owner: o,
                group: &d.group_id,
            });
        }
    }
    out
}
