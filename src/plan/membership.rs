//! Port membership: every intent's say about each (port, group) pair is a
//! vote, `in` or `out`; agreeing votes become an add or a remove, disagreeing
//! votes a conflict that leaves the pair as the cloud has it. The result is
//! one [`PortWork`] per port that needs calls, batched later in `batch.rs`.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::model::{DesiredState, MembershipPolicy};

use super::Conflict;
use super::cx::{Cx, GKey, Gid, Obj, Role};

/// One (port, group) change and the objects that want it.
#[derive(Clone, Debug)]
pub(super) struct PairChange {
    pub group: Gid,
    pub owners: Vec<Obj>,
}

/// The order a `PortSecurityGroups` object gives a port (Huawei only).
#[derive(Clone, Debug)]
pub(super) struct Order {
    pub list: Vec<Gid>,
    pub owner: Obj,
}

/// What one port needs.
#[derive(Clone, Debug)]
pub(super) struct PortWork<'a> {
    pub port: &'a str,
    /// The port's groups in the cloud, in the cloud's order.
    pub observed: Vec<Gid>,
    pub adds: Vec<PairChange>,
    pub removes: Vec<PairChange>,
    pub order: Option<Order>,
}

#[derive(Clone, Copy)]
struct Vote {
    group: Gid,
    obj: Obj,
    inn: bool,
}

#[derive(Default)]
struct Entry {
    /// `PortSecurityGroups` objects for the port with their (deduplicated)
    /// lists.
    psgs: Vec<(Obj, Vec<Gid>)>,
    votes: Vec<Vote>,
}

/// Resolve every intent about port membership. Returns the ports that need
/// calls and, per object, how many memberships it would remove (for the
/// guard).
pub(super) fn resolve<'a>(
    desired: &'a DesiredState,
    cx: &mut Cx<'a>,
) -> (Vec<PortWork<'a>>, Vec<usize>) {
    let max_groups = cx.provider.max_groups_per_port();
    let mut entries: HashMap<&'a str, Entry> = HashMap::new();

    for psg in &desired.ports {
        let o = cx.object(&psg.intent, Role::Port);
        let mut list: Vec<Gid> = Vec::with_capacity(psg.groups.len());
        for h in &psg.groups {
            let g = cx.group_of(h);
            if !list.contains(&g) {
                list.push(g);
            }
        }
        if list.len() > max_groups {
            cx.error(
                o,
                format!(
                    "{} groups listed; {} allows at most {max_groups} per port",
                    list.len(),
                    cx.provider
                ),
            );
        }
        let e = entries.entry(psg.port_id.as_str()).or_default();
        e.votes.extend(list.iter().map(|&group| Vote {
            group,
            obj: o,
            inn: true,
        }));
        e.psgs.push((o, list));
    }

    // Exclusive memberships vote `out` for every port they do not list;
    // those votes are added per pair below, where the pair is known.
    let mut exclusive: HashMap<Gid, Vec<(Obj, &'a BTreeSet<String>)>> = HashMap::new();
    for m in &desired.memberships {
        let o = cx.object(&m.intent, Role::Membership);
        let g = cx.group_of(&m.group);
        for p in &m.ports {
            entries.entry(p).or_default().votes.push(Vote {
                group: g,
                obj: o,
                inn: true,
            });
        }
        let leaving = match m.policy {
            MembershipPolicy::Additive => m.managed_ports.difference(&m.ports),
            MembershipPolicy::Exclusive => {
                exclusive.entry(g).or_default().push((o, &m.ports));
                m.current_members.difference(&m.ports)
            }
        };
        for p in leaving {
            entries.entry(p).or_default().votes.push(Vote {
                group: g,
                obj: o,
                inn: false,
            });
        }
    }
    if !exclusive.is_empty() {
        // A port in an exclusive group that no object names must still leave.
        let ids: HashSet<&str> = exclusive.keys().filter_map(|&g| cx.group_id(g)).collect();
        if !ids.is_empty() {
            for (pid, port) in &cx.observed.ports {
                if port.groups.iter().any(|g| ids.contains(g.as_str())) {
                    entries.entry(pid).or_default();
                }
            }
        }
    }

    let mut entries: Vec<(&'a str, Entry)> = entries.into_iter().collect();
    entries.sort_unstable_by_key(|(p, _)| *p);

    let mut removals = vec![0usize; cx.obj_keys.len()];
    let mut work = Vec::new();
    let mut relevant: Vec<Gid> = Vec::new();
    let mut ins: Vec<Obj> = Vec::new();
    let mut outs: Vec<Obj> = Vec::new();
    for (port, mut e) in entries {
        let Some(op) = cx.observed.ports.get(port) else {
            let mut named: Vec<Obj> = e.votes.iter().map(|v| v.obj).collect();
            named.sort_unstable();
            named.dedup();
            for o in named {
                cx.warn(o, format!("port {port} not found"));
            }
            continue;
        };
        e.psgs.sort_by(|a, b| cx.key(a.0).cmp(cx.key(b.0)));
        let observed: Vec<Gid> = op.groups.iter().map(|id| cx.group(GKey::Id(id))).collect();
        e.votes.sort_unstable_by_key(|v| (v.group, v.obj));

        relevant.clear();
        relevant.extend_from_slice(&observed);
        relevant.extend(e.votes.iter().map(|v| v.group));
        relevant.sort_unstable();
        relevant.dedup();

        let mut adds: Vec<PairChange> = Vec::new();
        let mut removes: Vec<PairChange> = Vec::new();
        let mut target = 0usize;
        let mut vi = 0;
        for &g in &relevant {
            ins.clear();
            outs.clear();
            while vi < e.votes.len() && e.votes[vi].group < g {
                vi += 1;
            }
            while vi < e.votes.len() && e.votes[vi].group == g {
                let v = e.votes[vi];
                if v.inn {
                    ins.push(v.obj)
                } else {
                    outs.push(v.obj)
                }
                vi += 1;
            }
            for (po, list) in &e.psgs {
                if !list.contains(&g) {
                    outs.push(*po);
                }
            }
            if let Some(ex) = exclusive.get(&g) {
                for (eo, listed) in ex {
                    if !listed.contains(port) {
                        outs.push(*eo);
                    }
                }
            }
            ins.sort_unstable();
            ins.dedup();
            outs.sort_unstable();
            outs.dedup();
            // An object that lists the pair and also (by policy) excludes it
            // means "in".
            outs.retain(|o| ins.binary_search(o).is_err());

            let held = observed.contains(&g);
            match (ins.is_empty(), outs.is_empty()) {
                (true, true) => target += usize::from(held),
                (false, true) => {
                    target += 1;
                    if !held {
                        adds.push(PairChange {
                            group: g,
                            owners: ins.clone(),
                        });
                    }
                }
                (true, false) => {
                    if held {
                        removes.push(PairChange {
                            group: g,
                            owners: outs.clone(),
                        });
                    }
                }
                (false, false) => {
                    target += usize::from(held);
                    report_conflicts(cx, port, g, held, &ins, &outs);
                }
            }
        }

        if target == 0 && !observed.is_empty() {
            let mut culprits: Vec<Obj> = removes
                .iter()
                .flat_map(|r| r.owners.iter().copied())
                .collect();
            culprits.sort_unstable();
            culprits.dedup();
            for o in culprits {
                cx.error(
                    o,
                    format!("port {port} would be left with no security groups; a port must keep at least one"),
                );
            }
            continue;
        }
        if target > max_groups {
            let mut culprits: Vec<Obj> =
                adds.iter().flat_map(|a| a.owners.iter().copied()).collect();
            culprits.sort_unstable();
            culprits.dedup();
            for o in culprits {
                cx.error(
                    o,
                    format!(
                        "port {port} would hold {target} security groups; {} allows at most {max_groups}",
                        cx.provider
                    ),
                );
            }
            continue;
        }

        // Groups the cloud lacks (and the plan does not create) cannot be
        // joined yet; the pair waits, the owners are told.
        let mut i = 0;
        while i < adds.len() {
            match cx.available(adds[i].group) {
                Ok(()) => i += 1,
                Err(why) => {
                    let a = adds.remove(i);
                    for o in a.owners {
                        cx.warn(o, format!("port {port}: {why}"));
                    }
                }
            }
        }
        for r in &removes {
            for &o in &r.owners {
                removals[o as usize] += 1;
            }
        }

        let order = if cx.provider.ordered_port_groups() {
            e.psgs.first().map(|(owner, list)| Order {
                list: list.clone(),
                owner: *owner,
            })
        } else {
            None
        };
        if let [(first, first_list), rest @ ..] = e.psgs.as_slice() {
            for (o, list) in rest {
                if list != first_list {
                    let first_key = cx.key(*first).to_string();
                    cx.warn(
                        *o,
                        format!(
                            "port {port} is also managed by {first_key}, whose group order is used"
                        ),
                    );
                }
            }
        }
        let reorder = order
            .as_ref()
            .is_some_and(|ord| !in_order(&observed, &ord.list));
        if adds.is_empty() && removes.is_empty() && !reorder {
            continue;
        }
        work.push(PortWork {
            port,
            observed,
            adds,
            removes,
            order,
        });
    }
    (work, removals)
}

/// Whether the groups of `list` that the port holds appear in `list`'s order.
fn in_order(observed: &[Gid], list: &[Gid]) -> bool {
    let mut last = None;
    for g in observed {
        if let Some(pos) = list.iter().position(|x| x == g) {
            if last.is_some_and(|l| pos < l) {
                return false;
            }
            last = Some(pos);
        }
    }
    true
}

fn report_conflicts(cx: &mut Cx<'_>, port: &str, g: Gid, held: bool, ins: &[Obj], outs: &[Obj]) {
    let group = cx.group_name(g);
    let state = if held {
        "stays in the group"
    } else {
        "stays out of the group"
    };
    for &i in ins {
        for &o in outs {
            let (ik, ok) = (cx.key(i), cx.key(o));
            cx.reports[i as usize].conflicts.push(Conflict {
                port: port.to_string(),
                group: group.clone(),
                with: ok.clone(),
                message: format!(
                    "{ik} puts port {port} in group {group} but {ok} keeps it out; neither change is made and the port {state}"
                ),
            });
            cx.reports[o as usize].conflicts.push(Conflict {
                port: port.to_string(),
                group: group.clone(),
                with: ik.clone(),
                message: format!(
                    "{ok} keeps port {port} out of group {group} but {ik} puts it in; neither change is made and the port {state}"
                ),
            });
        }
    }
}
