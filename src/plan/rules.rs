//! Groups and their rules: which groups to create, rename or delete, and
//! which rules to create and delete so each group's rules are what its
//! owners (its `SecurityGroup` and every `SecurityGroupRules` naming it)
//! want, under the group's `rulesPolicy`. Batching of rule creates, across
//! all owners of a group, happens at assembly (see `mod.rs`).

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use crate::model::{
    DesiredState, GroupHandle, OWNER_TAG, ObservedRule, Operation, ProviderKind, Remote, Rule,
    RulesPolicy,
};

use super::RuleConflict;
use super::cx::{Cx, GKey, Obj, Role};

/// The changes one `SecurityGroup` object asks for of the group itself.
pub(super) struct GroupWork {
    pub owner: Obj,
    pub create: Option<Operation>,
    pub update: Option<Operation>,
}

/// The rule changes of one group, from every object that owns rules in it.
pub(super) struct RuleWork<'a> {
    /// Where rule creates go.
    pub target: GroupHandle,
    /// Each rule with the objects that want it (in the order first wanted).
    pub create_rules: Vec<(&'a Rule, Vec<Obj>)>,
    /// Each rule with the objects on whose behalf it goes: the
    /// `Authoritative` group's object, and every object that owned it.
    pub delete_rules: Vec<(&'a str, &'a ObservedRule, Vec<Obj>)>,
    /// Rules disabled in the cloud (Huawei `enabled: false`) that owners
    /// want, with those owners: deleted just before they are created
    /// again, enabled. A disabled rule filters nothing, so this opens no
    /// window, and Huawei refuses to create a rule equal to one the group
    /// holds. Not a mass change: every one comes back.
    pub repair_rules: Vec<(&'a str, &'a ObservedRule, Vec<Obj>)>,
    /// Rules changed in place (Baidu): a rule to delete and one to create
    /// that are recognisably the same rule (see [`updatable`]), with the
    /// owners of the delete and of the create.
    pub update_rules: Vec<Update<'a>>,
    /// Rules the group has in the cloud now (the guard's denominator).
    pub existing_rules: usize,
    /// Of `delete_rules`, the cloud's default rules of a group this
    /// controller created (see [`is_cloud_default`]): removing them is the
    /// create completing, not a mass change, so the guard does not count
    /// them (in `existing_rules` either).
    pub default_deletes: usize,
}

/// One rule changed in place: `from` (in the cloud) becomes `to`.
pub(super) struct Update<'a> {
    pub group: &'a str,
    pub from: &'a ObservedRule,
    pub to: &'a Rule,
    /// On whose behalf `from` goes, and who wants `to`: the update is made
    /// when both sides have an allowed object, else only the allowed side's
    /// half (the create, or the delete).
    pub deleters: Vec<Obj>,
    pub creators: Vec<Obj>,
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

/// Turn a group's create + delete pairs into in-place updates: each rule
/// to delete, in the cloud's order, takes the first rule to create that it
/// can become ([`updatable`]). One call instead of two, and no moment with
/// both rules.
fn pair_updates(work: &mut RuleWork<'_>) {
    if work.create_rules.is_empty() || work.delete_rules.is_empty() {
        return;
    }
    let mut taken = vec![false; work.create_rules.len()];
    let mut kept = Vec::with_capacity(work.delete_rules.len());
    for (group, from, deleters) in work.delete_rules.drain(..) {
        let found = work
            .create_rules
            .iter()
            .enumerate()
            .position(|(i, (to, _))| !taken[i] && updatable(&from.rule, to));
        match found {
            Some(i) => {
                taken[i] = true;
                let (to, creators) = &work.create_rules[i];
                work.update_rules.push(Update {
                    group,
                    from,
                    to,
                    deleters,
                    creators: creators.clone(),
                });
            }
            None => kept.push((group, from, deleters)),
        }
    }
    work.delete_rules = kept;
    let mut i = 0;
    work.create_rules.retain(|_| {
        i += 1;
        !taken[i - 1]
    });
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

/// A group to delete because its object is going away.
pub(super) struct DeletionWork<'a> {
    pub owner: Obj,
    pub group: &'a str,
}

/// One object's say about a group's rules.
struct Owner<'a> {
    obj: Obj,
    rules: &'a [Rule],
    managed: &'a BTreeSet<String>,
}

/// Everything owned of one group, gathered from its owners.
struct Gathered<'a> {
    target: &'a GroupHandle,
    /// The `SecurityGroup` object when it is `Authoritative`.
    authority: Option<Obj>,
    /// Whether the group carries the authority's owner tag.
    owner_uid: Option<&'a str>,
    observed: &'a [ObservedRule],
    owners: Vec<Owner<'a>>,
}

pub(super) fn resolve<'a>(
    desired: &'a DesiredState,
    cx: &mut Cx<'a>,
) -> (Vec<GroupWork>, Vec<RuleWork<'a>>) {
    let provider = desired.provider;
    let mut managed: HashMap<GKey<'a>, Obj> = HashMap::new();
    let mut gathered: Vec<Gathered<'a>> = Vec::new();
    let mut by_group: HashMap<GKey<'a>, usize> = HashMap::new();
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
            create: None,
            update: None,
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
        out.push(work);
        by_group.insert(gkey, gathered.len());
        gathered.push(Gathered {
            target: &dg.handle,
            authority: (dg.rules_policy == RulesPolicy::Authoritative).then_some(o),
            owner_uid: Some(&dg.owner_uid),
            observed: observed_rules,
            owners: vec![Owner {
                obj: o,
                rules: dg.rules.as_deref().unwrap_or(&[]),
                managed: &dg.managed_rules,
            }],
        });
    }

    // Rules other objects add to a group: into that group's gathering, or
    // one of their own for a group adopted by id only (Additive).
    for rs in &desired.rule_sets {
        let o = cx.object(&rs.intent, Role::RuleSet);
        let g = cx.group_of(&rs.group);
        let gkey = cx.group_key(g);
        let i = match by_group.get(&gkey) {
            Some(&i) => i,
            None => {
                let observed: &'a [ObservedRule] = match &rs.group {
                    GroupHandle::Existing(id) => match cx.observed.groups.get(id) {
                        Some(og) => &og.rules,
                        None => {
                            cx.warn(o, format!("group {id} not found"));
                            continue;
                        }
                    },
                    GroupHandle::New(_) => &[],
                };
                by_group.insert(gkey, gathered.len());
                gathered.push(Gathered {
                    target: &rs.group,
                    authority: None,
                    owner_uid: None,
                    observed,
                    owners: Vec::new(),
                });
                gathered.len() - 1
            }
        };
        // A group this plan cannot create cannot take rules yet.
        if let GroupHandle::New(_) = &rs.group
            && let Err(why) = cx.available(g)
        {
            cx.warn(o, format!("its rules wait: {why}"));
            continue;
        }
        gathered[i].owners.push(Owner {
            obj: o,
            rules: &rs.rules,
            managed: &rs.managed_rules,
        });
    }

    let rules = gathered
        .into_iter()
        .map(|g| rule_work(provider, cx, g))
        .collect();
    (out, rules)
}

/// The creates and deletes that make one group's rules what its owners
/// want (see the module docs of `plan`: policies, ownership, conflicts).
fn rule_work<'a>(provider: ProviderKind, cx: &mut Cx<'a>, g: Gathered<'a>) -> RuleWork<'a> {
    let baidu = provider == ProviderKind::Baidu;
    // Each wanted rule once, with its owners, in the order first wanted.
    let mut wanted: Vec<(&'a Rule, Vec<Obj>)> = Vec::new();
    let mut index: HashMap<&'a Rule, usize> = HashMap::new();
    // Per slot (the identity owners must agree on), each owner's variants.
    let mut slots: HashMap<Rule, Vec<(Obj, &'a Rule)>> = HashMap::new();
    for owner in &g.owners {
        for rule in owner.rules {
            let i = *index.entry(rule).or_insert_with(|| {
                wanted.push((rule, Vec::new()));
                wanted.len() - 1
            });
            if !wanted[i].1.contains(&owner.obj) {
                wanted[i].1.push(owner.obj);
            }
            if g.owners.len() > 1 {
                slots
                    .entry(rule.slot(baidu))
                    .or_default()
                    .push((owner.obj, rule));
            }
        }
    }
    let contested = contested_slots(cx, &g, slots);
    let in_contest = |r: &Rule| !contested.is_empty() && contested.contains(&r.slot(baidu));

    let mut work = RuleWork {
        target: g.target.clone(),
        create_rules: Vec::new(),
        delete_rules: Vec::new(),
        repair_rules: Vec::new(),
        update_rules: Vec::new(),
        existing_rules: g.observed.len(),
        default_deletes: 0,
    };
    // A disabled rule is not had: it is drift, repaired below.
    let have: HashSet<&'a Rule> = g
        .observed
        .iter()
        .filter(|r| r.enabled)
        .map(|r| &r.rule)
        .collect();
    for (rule, owners) in wanted {
        if have.contains(rule) || in_contest(rule) {
            continue;
        }
        // A rule naming a group that this plan cannot create would fail.
        if let Remote::Group(h @ GroupHandle::New(_)) = &rule.remote {
            let rg = cx.group_of(h);
            if let Err(why) = cx.available(rg) {
                for &o in &owners {
                    cx.warn(o, format!("rule \"{rule}\" is not created: {why}"));
                }
                continue;
            }
        }
        work.create_rules.push((rule, owners));
    }

    let Some(id) = g.target.existing_id() else {
        return work;
    };
    let created: HashMap<&'a Rule, &Vec<Obj>> =
        work.create_rules.iter().map(|(r, o)| (*r, o)).collect();
    for r in g.observed.iter().filter(|r| !r.enabled) {
        if let Some(owners) = created.get(&r.rule) {
            for &o in owners.iter() {
                cx.warn(
                    o,
                    format!(
                        "rule \"{}\" is disabled in the cloud: it is deleted and created again, enabled",
                        r.rule
                    ),
                );
            }
            work.repair_rules.push((id, r, (*owners).clone()));
        }
    }
    let any_managed = g.owners.iter().any(|o| !o.managed.is_empty());
    if g.authority.is_none() && !any_managed {
        return work;
    }
    let created_by_us = g.authority.is_some()
        && cx
            .observed
            .groups
            .get(id)
            .is_some_and(|og| og.tags.get(OWNER_TAG).map(String::as_str) == g.owner_uid);
    for r in g.observed {
        if index.contains_key(&r.rule) || in_contest(&r.rule) {
            continue;
        }
        let identity = any_managed.then(|| r.rule.identity());
        let mut owners: Vec<Obj> = g.authority.into_iter().collect();
        if let Some(identity) = &identity {
            for o in g.owners.iter().filter(|o| o.managed.contains(identity)) {
                if !owners.contains(&o.obj) {
                    owners.push(o.obj);
                }
            }
        }
        if owners.is_empty() {
            // Additive: nobody owned it, so it is not ours to revoke.
            continue;
        }
        if created_by_us && is_cloud_default(&r.rule, id) {
            work.default_deletes += 1;
        }
        work.delete_rules.push((id, r, owners));
    }
    if provider.updates_rules() {
        pair_updates(&mut work);
    }
    work
}

/// Slots whose owners want different variants; each such owner gets a
/// [`RuleConflict`] per other owner there. Depends on the desired state
/// only, so re-planning finds the same conflicts and nothing flaps.
fn contested_slots<'a>(
    cx: &mut Cx<'a>,
    g: &Gathered<'a>,
    slots: HashMap<Rule, Vec<(Obj, &'a Rule)>>,
) -> HashSet<Rule> {
    let mut contested = HashSet::new();
    let mut slots: Vec<(Rule, Vec<(Obj, &'a Rule)>)> = slots
        .into_iter()
        .filter(|(_, v)| v.iter().any(|(o, _)| *o != v[0].0))
        .collect();
    if slots.is_empty() {
        return contested;
    }
    slots.sort_by(|a, b| a.0.cmp(&b.0));
    let group = match g.target {
        GroupHandle::Existing(id) => id.clone(),
        GroupHandle::New(key) => format!("<new {}>", key.name),
    };
    for (slot, entries) in slots {
        // Each owner's variants, sorted, to compare as sets.
        let mut by_owner: Vec<(Obj, Vec<&Rule>)> = Vec::new();
        for (o, r) in entries {
            match by_owner.iter_mut().find(|(x, _)| *x == o) {
                Some((_, v)) => v.push(r),
                None => by_owner.push((o, vec![r])),
            }
        }
        for (_, v) in &mut by_owner {
            v.sort();
            v.dedup();
        }
        if by_owner.iter().all(|(_, v)| *v == by_owner[0].1) {
            continue;
        }
        for (o, mine) in &by_owner {
            for (other, theirs) in by_owner.iter().filter(|(x, _)| x != o) {
                if mine == theirs {
                    continue;
                }
                let list = |v: &[&Rule]| {
                    v.iter()
                        .map(|r| format!("\"{r}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let with = cx.key(*other).clone();
                cx.reports[*o as usize].rule_conflicts.push(RuleConflict {
                    group: group.clone(),
                    rule: mine[0].to_string(),
                    with,
                    message: format!(
                        "both own the rule {}: this object wants {}, the other {}; neither is applied and the cloud's rule stays as it is",
                        slot_text(&slot),
                        list(mine),
                        list(theirs)
                    ),
                });
            }
        }
        contested.insert(slot);
    }
    contested
}

/// A slot as messages name it: the rule's match, without its attributes.
fn slot_text(slot: &Rule) -> String {
    format!("\"{slot}\"")
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
