//! Port membership: every intent's say about each (port, group) pair is a
//! vote, `in` or `out`; agreeing votes become an add or a remove, disagreeing
//! votes a conflict that leaves the pair as the cloud has it. The result is
//! one [`PortWork`] per port that needs calls, batched later in `batch.rs`.

use std::collections::BTreeSet;
use std::hash::BuildHasher;

use foldhash::{HashMap, HashMapExt, HashSet};

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

#[derive(Clone, Copy, Default)]
struct Vote {
    port: u32,
    group: Gid,
    obj: Obj,
    inn: bool,
}

/// An `Exclusive` membership of a group: the ports it lists, and those it
/// leaves alone.
struct Exclusive<'a> {
    obj: Obj,
    listed: &'a BTreeSet<String>,
    spared: Option<&'a BTreeSet<String>>,
}

/// A `PortSecurityGroups` object: its port and (deduplicated) list.
struct Psg {
    port: u32,
    obj: Obj,
    list: Vec<Gid>,
}

/// Ports named by any intent, interned. The ids are copied into one
/// contiguous arena: confirming a hash hit then reads cache-local bytes
/// instead of chasing each caller's scattered `String` (at 100,000
/// memberships those cache misses were most of the planner's time).
struct Ports {
    hasher: foldhash::fast::FixedState,
    table: hashbrown::HashTable<u32>,
    arena: String,
    spans: Vec<(u32, u32)>,
}

impl Ports {
    fn new() -> Self {
        Self {
            hasher: foldhash::fast::FixedState::default(),
            table: hashbrown::HashTable::new(),
            arena: String::new(),
            spans: Vec::new(),
        }
    }

    fn name(&self, i: u32) -> &str {
        let (start, end) = self.spans[i as usize];
        &self.arena[start as usize..end as usize]
    }

    fn len(&self) -> usize {
        self.spans.len()
    }

    fn get(&self, p: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(p);
        self.table.find(hash, |&i| self.name(i) == p).copied()
    }

    fn intern(&mut self, p: &str) -> u32 {
        let hash = self.hasher.hash_one(p);
        let Self {
            table,
            arena,
            spans,
            hasher,
        } = self;
        let name = |i: u32| {
            let (start, end) = spans[i as usize];
            &arena[start as usize..end as usize]
        };
        if let Some(&i) = table.find(hash, |&i| name(i) == p) {
            return i;
        }
        let i = spans.len() as u32;
        let start = arena.len() as u32;
        arena.push_str(p);
        spans.push((start, arena.len() as u32));
        let (arena, spans) = (&*arena, &*spans);
        table.insert_unique(hash, i, |&j| {
            let (start, end) = spans[j as usize];
            hasher.hash_one(&arena[start as usize..end as usize])
        });
        i
    }
}

/// `items` grouped by port: `(offsets, items)` with port `i`'s items at
/// `offsets[i]..offsets[i + 1]` (a counting sort: linear, no per-port Vec).
fn bucket<T: Copy + Default>(
    items: &[T],
    ports: usize,
    port: impl Fn(&T) -> u32,
) -> (Vec<usize>, Vec<T>) {
    let mut offsets = vec![0usize; ports + 1];
    for it in items {
        offsets[port(it) as usize + 1] += 1;
    }
    for i in 0..ports {
        offsets[i + 1] += offsets[i];
    }
    let mut fill = offsets.clone();
    let mut out = vec![T::default(); items.len()];
    for it in items {
        let slot = &mut fill[port(it) as usize];
        out[*slot] = *it;
        *slot += 1;
    }
    (offsets, out)
}

/// Resolve every intent about port membership. Returns the ports that need
/// calls and, per object, how many memberships it would remove (for the
/// guard).
pub(super) fn resolve<'a>(
    desired: &'a DesiredState,
    cx: &mut Cx<'a>,
) -> (Vec<PortWork<'a>>, Vec<usize>) {
    let max_groups = cx.provider.max_groups_per_port();
    let mut ports = Ports::new();
    let mut votes: Vec<Vote> = Vec::new();
    let mut psgs: Vec<Psg> = Vec::with_capacity(desired.ports.len());

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
        let port = ports.intern(&psg.port_id);
        votes.extend(list.iter().map(|&group| Vote {
            port,
            group,
            obj: o,
            inn: true,
        }));
        psgs.push(Psg { port, obj: o, list });
    }

    // Exclusive memberships vote `out` for every port they do not list;
    // those votes are added per pair below, where the pair is known.
    let mut exclusive: HashMap<Gid, Vec<Exclusive<'a>>> = HashMap::new();
    let mut stamp: Vec<u32> = Vec::new();
    // Objects whose ports a selector chose: a port they let go that would
    // be left with no group is held, not an error of theirs.
    let mut selected: Vec<bool> = Vec::new();
    for (j, m) in desired.memberships.iter().enumerate() {
        let o = cx.object(&m.intent, Role::Membership);
        let g = cx.group_of(&m.group);
        let spared = m.selection.as_ref().map(|s| &s.spared);
        if m.selection.is_some() {
            if selected.len() <= o as usize {
                selected.resize(o as usize + 1, false);
            }
            selected[o as usize] = true;
        }
        // `stamp[port] == j`: membership j lists the port (cheaper than
        // merging two sets of strings).
        let j = j as u32 + 1;
        for p in &m.ports {
            let port = ports.intern(p);
            stamp_port(&mut stamp, port, j);
            votes.push(Vote {
                port,
                group: g,
                obj: o,
                inn: true,
            });
        }
        let leaving = match m.policy {
            MembershipPolicy::Additive => &m.managed_ports,
            MembershipPolicy::Exclusive => {
                exclusive.entry(g).or_default().push(Exclusive {
                    obj: o,
                    listed: &m.ports,
                    spared,
                });
                &m.current_members
            }
        };
        for p in leaving {
            if spared.is_some_and(|s| s.contains(p)) {
                continue;
            }
            let port = ports.intern(p);
            if stamp.get(port as usize) != Some(&j) {
                votes.push(Vote {
                    port,
                    group: g,
                    obj: o,
                    inn: false,
                });
            }
        }
    }
    if !exclusive.is_empty() {
        // A port in an exclusive group that no object names must still leave.
        let ids: HashSet<&str> = exclusive.keys().filter_map(|&g| cx.group_id(g)).collect();
        if !ids.is_empty() {
            for (pid, port) in &cx.observed.ports {
                if port.groups.iter().any(|g| ids.contains(g.as_str())) {
                    ports.intern(pid);
                }
            }
        }
    }

    let n_ports = ports.len();
    let (vote_at, mut votes) = bucket(&votes, n_ports, |v| v.port);
    psgs.sort_by(|a, b| {
        a.port
            .cmp(&b.port)
            .then_with(|| cx.key(a.obj).cmp(cx.key(b.obj)))
    });
    let mut psg_at = vec![0usize; n_ports + 1];
    for p in &psgs {
        psg_at[p.port as usize + 1] += 1;
    }
    for i in 0..n_ports {
        psg_at[i + 1] += psg_at[i];
    }

    let mut removals = vec![0usize; cx.obj_keys.len()];
    let mut work = Vec::new();
    let mut seen = vec![false; n_ports];
    let mut observed: Vec<Gid> = Vec::new();
    let mut relevant: Vec<Gid> = Vec::new();
    let mut ins: Vec<Obj> = Vec::new();
    let mut outs: Vec<Obj> = Vec::new();
    // Walk the cloud's ports in their (sorted) order: deterministic output
    // without sorting port ids.
    for (pid, op) in &cx.observed.ports {
        let Some(pi) = ports.get(pid) else {
            continue;
        };
        let pi = pi as usize;
        seen[pi] = true;
        let port: &'a str = pid;
        let pv = &mut votes[vote_at[pi]..vote_at[pi + 1]];
        pv.sort_unstable_by_key(|v| (v.group, v.obj));
        let pv: &[Vote] = pv;
        let port_psgs = &psgs[psg_at[pi]..psg_at[pi + 1]];
        observed.clear();
        observed.extend(op.groups.iter().map(|id| cx.group(GKey::Id(id))));

        relevant.clear();
        relevant.extend_from_slice(&observed);
        relevant.extend(pv.iter().map(|v| v.group));
        relevant.sort_unstable();
        relevant.dedup();

        let mut adds: Vec<PairChange> = Vec::new();
        let mut removes: Vec<PairChange> = Vec::new();
        let mut target = 0usize;
        let mut vi = 0;
        for &g in &relevant {
            ins.clear();
            outs.clear();
            while vi < pv.len() && pv[vi].group < g {
                vi += 1;
            }
            while vi < pv.len() && pv[vi].group == g {
                let v = pv[vi];
                if v.inn {
                    ins.push(v.obj)
                } else {
                    outs.push(v.obj)
                }
                vi += 1;
            }
            for p in port_psgs {
                if !p.list.contains(&g) {
                    outs.push(p.obj);
                }
            }
            if let Some(ex) = (!exclusive.is_empty()).then(|| exclusive.get(&g)).flatten() {
                for e in ex {
                    if !e.listed.contains(port) && !e.spared.is_some_and(|s| s.contains(port)) {
                        outs.push(e.obj);
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
            let culprits = union_of(&removes);
            if culprits
                .iter()
                .all(|&o| selected.get(o as usize).copied().unwrap_or(false))
            {
                // The cluster moved the port out (its Node stopped
                // matching): the port keeps its groups until it has
                // another, and its objects say so.
                for o in culprits {
                    cx.hold(o, port);
                    cx.warn(
                        o,
                        format!("port {port} keeps its groups for now: leaving would leave it with no security group; it leaves once it holds another"),
                    );
                }
                continue;
            }
            for o in culprits {
                cx.error(
                    o,
                    format!("port {port} would be left with no security groups; a port must keep at least one"),
                );
            }
            continue;
        }
        if target > max_groups {
            for o in union_of(&adds) {
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

        if let [first, rest @ ..] = port_psgs {
            for p in rest {
                if p.list != first.list {
                    let first_key = cx.key(first.obj).to_string();
                    cx.warn(
                        p.obj,
                        format!(
                            "port {port} is also managed by {first_key}, whose group order is used"
                        ),
                    );
                }
            }
        }
        let order = port_psgs
            .first()
            .filter(|_| cx.provider.ordered_port_groups());
        let reorder = order.is_some_and(|p| !in_order(&observed, &p.list));
        if adds.is_empty() && removes.is_empty() && !reorder {
            continue;
        }
        work.push(PortWork {
            port,
            observed: observed.clone(),
            adds,
            removes,
            order: order.map(|p| Order {
                list: p.list.clone(),
                owner: p.obj,
            }),
        });
    }

    // Ports no cloud listing showed: warn everyone who named them, in port
    // order.
    let mut missing: Vec<usize> = (0..n_ports).filter(|&i| !seen[i]).collect();
    missing.sort_unstable_by_key(|&i| ports.name(i as u32));
    for pi in missing {
        let mut named: Vec<Obj> = votes[vote_at[pi]..vote_at[pi + 1]]
            .iter()
            .map(|v| v.obj)
            .chain(psgs[psg_at[pi]..psg_at[pi + 1]].iter().map(|p| p.obj))
            .collect();
        named.sort_unstable();
        named.dedup();
        for o in named {
            cx.warn(o, format!("port {} not found", ports.name(pi as u32)));
        }
    }
    (work, removals)
}

fn stamp_port(stamp: &mut Vec<u32>, port: u32, j: u32) {
    let i = port as usize;
    if stamp.len() <= i {
        stamp.resize(i + 1, 0);
    }
    stamp[i] = j;
}

fn union_of(changes: &[PairChange]) -> Vec<Obj> {
    let mut objs: Vec<Obj> = changes
        .iter()
        .flat_map(|c| c.owners.iter().copied())
        .collect();
    objs.sort_unstable();
    objs.dedup();
    objs
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
