//! A pure model of both clouds' security-group calls, for tests and
//! benchmarks: [`apply_step`] applies one planned [`Step`] to an
//! [`ObservedState`] the way the cloud would, and refuses what the cloud
//! refuses (a port left with no group, unknown groups, ports or rules,
//! batches over their limits, more groups on a port than allowed, a Baidu
//! rename). Unlike the clouds it is strict about no-ops the planner should
//! never ask for (adding a group a port already has through
//! `AddPortGroups`, deleting what is not there), so planner bugs show.
//! Batch attach of a port that is already a member is a no-op, as on
//! Huawei's `instance/action` call does.
//!
//! New groups get the deterministic id [`new_group_id`] and the owner tag
//! (`crate::model::OWNER_TAG`); new rules get ids `<group>-rule-<n>`. New
//! groups start with no rules (the real Huawei adds default rules; the
//! full simulator in `crate::sim` models that, this model does not).

use std::collections::BTreeMap;

use crate::model::{
    DesiredState, GroupHandle, OWNER_TAG, ObjectKey, ObservedGroup, ObservedRule, ObservedState,
    Operation, Plan, ProviderKind, Remote, Rule, Step,
};

/// The id [`apply_step`] gives the group created for `owner`.
pub fn new_group_id(owner: &ObjectKey) -> String {
    format!("new-{}", owner.name)
}

fn resolve(state: &ObservedState, handle: &GroupHandle) -> Result<String, String> {
    let id = match handle {
        GroupHandle::Existing(id) => id.clone(),
        GroupHandle::New(owner) => new_group_id(owner),
    };
    if state.groups.contains_key(&id) {
        Ok(id)
    } else {
        Err(format!("group {handle} does not exist"))
    }
}

fn check_batch(ports: &[String]) -> Result<(), String> {
    if ports.is_empty() {
        return Err("batch call with no ports".into());
    }
    if ports.len() > ProviderKind::MAX_BATCH_PORTS {
        return Err(format!(
            "batch call with {} ports (at most {})",
            ports.len(),
            ProviderKind::MAX_BATCH_PORTS
        ));
    }
    Ok(())
}

/// Apply one step as the cloud would. On `Err` the state is unchanged.
pub fn apply_step(
    state: &mut ObservedState,
    step: &Step,
    provider: ProviderKind,
) -> Result<(), String> {
    let max_groups = provider.max_groups_per_port();
    match &step.op {
        Operation::CreateGroup {
            owner,
            owner_uid,
            name,
            description,
            vpc_id,
        } => {
            let id = new_group_id(owner);
            if state.groups.contains_key(&id) {
                return Err(format!("group id {id} already exists"));
            }
            if provider == ProviderKind::Baidu && vpc_id.is_none() {
                return Err("Baidu needs a vpcId to create a group".into());
            }
            let group = ObservedGroup {
                id: id.clone(),
                name: name.clone(),
                description: description.clone(),
                vpc_id: vpc_id.clone(),
                version: (provider == ProviderKind::Baidu).then_some(0),
                tags: BTreeMap::from([(OWNER_TAG.to_string(), owner_uid.clone())]),
                rules: Vec::new(),
            };
            state.groups.insert(id, group);
        }
        Operation::UpdateGroup {
            group,
            name,
            description,
        } => {
            if provider == ProviderKind::Baidu {
                return Err("Baidu has no call to update a group".into());
            }
            let g = state
                .groups
                .get_mut(group)
                .ok_or_else(|| format!("group {group} does not exist"))?;
            if let Some(n) = name {
                g.name = n.clone();
            }
            if let Some(d) = description {
                g.description = d.clone();
            }
        }
        Operation::DeleteGroup { group } => {
            if !state.groups.contains_key(group) {
                return Err(format!("group {group} does not exist"));
            }
            if let Some(p) = state.ports.values().find(|p| p.groups.contains(group)) {
                return Err(format!("group {group} is in use by port {}", p.id));
            }
            state.groups.remove(group);
        }
        Operation::CreateRules { group, rules } => {
            if rules.is_empty() || rules.len() > provider.max_rules_per_create() {
                return Err(format!(
                    "CreateRules with {} rules (1 to {} allowed)",
                    rules.len(),
                    provider.max_rules_per_create()
                ));
            }
            let id = resolve(state, group)?;
            let mut fresh: Vec<Rule> = Vec::with_capacity(rules.len());
            for rule in rules {
                let mut rule = rule.clone();
                if let Remote::Group(h @ GroupHandle::New(_)) = &rule.remote {
                    rule.remote = Remote::Group(GroupHandle::Existing(resolve(state, h)?));
                }
                let g = &state.groups[&id];
                if g.rules.iter().any(|r| r.rule == rule) || fresh.contains(&rule) {
                    return Err(format!("rule already exists in {id}: {rule}"));
                }
                fresh.push(rule);
            }
            let g = state
                .groups
                .get_mut(&id)
                .ok_or_else(|| format!("group {id} does not exist"))?;
            let mut n = g.rules.len();
            for rule in fresh {
                let rule_id = loop {
                    let candidate = format!("{id}-rule-{n}");
                    n += 1;
                    if !g.rules.iter().any(|r| r.id == candidate) {
                        break candidate;
                    }
                };
                g.rules.push(ObservedRule {
                    id: rule_id,
                    rule,
                    enabled: true,
                });
                if let Some(v) = g.version.as_mut() {
                    *v += 1;
                }
            }
        }
        Operation::UpdateRule {
            group, rule_id, to, ..
        } => {
            let g = state
                .groups
                .get_mut(group)
                .ok_or_else(|| format!("group {group} does not exist"))?;
            if g.rules.iter().any(|r| r.id != *rule_id && r.rule == *to) {
                return Err(format!("UpdateRule {rule_id}: {group} already has {to}"));
            }
            let slot = g
                .rules
                .iter_mut()
                .find(|r| &r.id == rule_id)
                .ok_or_else(|| format!("rule {rule_id} not found in {group}"))?;
            if slot.rule.direction != to.direction || slot.rule.ethertype != to.ethertype {
                return Err(format!(
                    "UpdateRule {rule_id} cannot change the direction or ethertype"
                ));
            }
            slot.rule = to.clone();
            if let Some(v) = g.version.as_mut() {
                *v += 1;
            }
        }
        Operation::DeleteRule { group, rule_id, .. } => {
            let g = state
                .groups
                .get_mut(group)
                .ok_or_else(|| format!("group {group} does not exist"))?;
            let i = g
                .rules
                .iter()
                .position(|r| &r.id == rule_id)
                .ok_or_else(|| format!("rule {rule_id} not found in {group}"))?;
            g.rules.remove(i);
            if let Some(v) = g.version.as_mut() {
                *v += 1;
            }
        }
        Operation::AddPortGroups {
            port,
            groups,
            index,
        } => {
            if groups.is_empty() {
                return Err(format!("AddPortGroups on {port} with no groups"));
            }
            let ids = groups
                .iter()
                .map(|h| resolve(state, h))
                .collect::<Result<Vec<_>, _>>()?;
            let p = state
                .ports
                .get_mut(port)
                .ok_or_else(|| format!("port {port} does not exist"))?;
            for (i, id) in ids.iter().enumerate() {
                if p.groups.contains(id) || ids[..i].contains(id) {
                    return Err(format!("port {port} already has group {id}"));
                }
            }
            if p.groups.len() + ids.len() > max_groups {
                return Err(format!(
                    "port {port} would hold {} groups (at most {max_groups})",
                    p.groups.len() + ids.len()
                ));
            }
            let at = match (provider.ordered_port_groups(), index) {
                (true, Some(i)) => {
                    let i = *i as usize;
                    if i > p.groups.len() {
                        return Err(format!(
                            "index {i} is past the end of port {port}'s {} groups",
                            p.groups.len()
                        ));
                    }
                    i
                }
                _ => p.groups.len(),
            };
            p.groups.splice(at..at, ids);
        }
        Operation::RemovePortGroups { port, groups } => {
            if groups.is_empty() {
                return Err(format!("RemovePortGroups on {port} with no groups"));
            }
            let p = state
                .ports
                .get_mut(port)
                .ok_or_else(|| format!("port {port} does not exist"))?;
            for g in groups {
                if !p.groups.contains(g) {
                    return Err(format!("port {port} does not have group {g}"));
                }
            }
            let left = p.groups.iter().filter(|g| !groups.contains(g)).count();
            if left == 0 {
                return Err(format!("port {port} would be left with no groups"));
            }
            p.groups.retain(|g| !groups.contains(g));
        }
        Operation::AttachPorts { group, ports } => {
            check_batch(ports)?;
            let id = resolve(state, group)?;
            for port in ports {
                let p = state
                    .ports
                    .get(port)
                    .ok_or_else(|| format!("port {port} does not exist"))?;
                if !p.groups.contains(&id) && p.groups.len() + 1 > max_groups {
                    return Err(format!(
                        "port {port} would hold more than {max_groups} groups"
                    ));
                }
            }
            for port in ports {
                if let Some(p) = state.ports.get_mut(port)
                    && !p.groups.contains(&id)
                {
                    p.groups.push(id.clone());
                }
            }
        }
        Operation::DetachPorts { group, ports } => {
            check_batch(ports)?;
            for port in ports {
                let p = state
                    .ports
                    .get(port)
                    .ok_or_else(|| format!("port {port} does not exist"))?;
                if !p.groups.contains(group) {
                    return Err(format!("port {port} does not have group {group}"));
                }
                if p.groups.len() == 1 {
                    return Err(format!(
                        "port {port} would be left with no groups (VPC.0607)"
                    ));
                }
            }
            for port in ports {
                if let Some(p) = state.ports.get_mut(port) {
                    p.groups.retain(|g| g != group);
                }
            }
        }
    }
    Ok(())
}

/// Apply every step in order; stops at the first refused step and says
/// which (the state keeps the steps before it).
pub fn apply_plan(
    state: &mut ObservedState,
    plan: &Plan,
    provider: ProviderKind,
) -> Result<(), String> {
    for (i, step) in plan.steps.iter().enumerate() {
        apply_step(state, step, provider)
            .map_err(|e| format!("step {i} ({}): {e}", step.op.kind()))?;
    }
    Ok(())
}

/// What the resource layer does after groups were created: point every
/// `GroupHandle::New(owner)` whose group now exists (by [`new_group_id`]) at
/// its id, so the next plan sees it as existing.
pub fn adopt_created(desired: &mut DesiredState, observed: &ObservedState) {
    let fix = |h: &mut GroupHandle| {
        if let GroupHandle::New(owner) = h {
            let id = new_group_id(owner);
            if observed.groups.contains_key(&id) {
                *h = GroupHandle::Existing(id);
            }
        }
    };
    for g in &mut desired.groups {
        fix(&mut g.handle);
        for rule in g.rules.iter_mut().flatten() {
            if let Remote::Group(h) = &mut rule.remote {
                fix(h);
            }
        }
    }
    for p in &mut desired.ports {
        p.groups.iter_mut().for_each(fix);
    }
    for m in &mut desired.memberships {
        fix(&mut m.group);
    }
    for s in &mut desired.rule_sets {
        fix(&mut s.group);
        for rule in &mut s.rules {
            if let Remote::Group(h) = &mut rule.remote {
                fix(h);
            }
        }
    }
}
