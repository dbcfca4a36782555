//! Turning per-port membership changes into the fewest calls, in a safe
//! order: per-port ordering (Huawei), the choice between per-port calls and
//! per-group batch calls (a greedy set cover), and step emission. The rules
//! are documented in the module docs of `crate::plan`.

use foldhash::{HashMap, HashMapExt};

use crate::model::{Operation, ProviderKind};

use super::cx::{Cx, Gid, Obj, Planned};
use super::membership::{PairChange, PortWork};

/// Membership steps by phase, in execution order.
#[derive(Default)]
pub(super) struct MembershipSteps {
    /// Removals that make room on ports at their group quota.
    pub early: Vec<Planned>,
    pub adds: Vec<Planned>,
    pub removes: Vec<Planned>,
    /// Re-inserting groups that were out of order (Huawei).
    pub reinserts: Vec<Planned>,
    /// Every (port, group) the steps remove for good.
    pub removed: Vec<(String, Gid)>,
}

/// Ports of one batch call and the objects behind each.
type Members<'a> = Vec<(&'a str, Vec<Obj>)>;

/// One call on one port.
struct Call {
    groups: Vec<Gid>,
    index: Option<u32>,
    owners: Vec<Obj>,
}

/// What one port needs, before the cover decides per-port vs batch calls.
struct PortPlan<'a> {
    port: &'a str,
    early: Vec<PairChange>,
    /// Add-phase calls this port must make itself (inserts at an index).
    forced: Vec<Call>,
    /// Adds that may go either way (one call for the port, or group batches).
    unit_add: Vec<PairChange>,
    /// `unit_add` must land in its order (Huawei trailing run of 2+).
    unit_ordered: bool,
    unit_remove: Vec<PairChange>,
    reinserts: Vec<Call>,
}

/// Keep the changes that at least one object whose changes are not
/// withheld wants, attributed to those objects only.
fn effective(changes: &[PairChange], allowed: &[bool]) -> Vec<PairChange> {
    changes
        .iter()
        .filter_map(|c| {
            let owners: Vec<Obj> = c
                .owners
                .iter()
                .copied()
                .filter(|&o| allowed[o as usize])
                .collect();
            (!owners.is_empty()).then_some(PairChange {
                group: c.group,
                owners,
            })
        })
        .collect()
}

fn union_owners<'c>(changes: impl IntoIterator<Item = &'c PairChange>) -> Vec<Obj> {
    let mut owners: Vec<Obj> = changes
        .into_iter()
        .flat_map(|c| c.owners.iter().copied())
        .collect();
    owners.sort_unstable();
    owners.dedup();
    owners
}

/// Indices (into `seq`) of one longest strictly increasing subsequence.
fn longest_increasing(seq: &[usize]) -> Vec<usize> {
    // tails[k]: index in seq of the smallest tail of an increasing run of
    // length k+1; prev links rebuild the run.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; seq.len()];
    for (i, &x) in seq.iter().enumerate() {
        let k = tails.partition_point(|&t| seq[t] < x);
        prev[i] = k.checked_sub(1).map(|k| tails[k]);
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut out = Vec::with_capacity(tails.len());
    let mut cur = tails.last().copied();
    while let Some(i) = cur {
        out.push(i);
        cur = prev[i];
    }
    out.reverse();
    out
}

fn plan_port<'a>(
    cx: &mut Cx<'_>,
    pw: &PortWork<'a>,
    allowed: &[bool],
    warn: bool,
) -> Option<PortPlan<'a>> {
    let mut adds = effective(&pw.adds, allowed);
    let mut removes = effective(&pw.removes, allowed);
    let order = pw.order.as_ref().filter(|o| allowed[o.owner as usize]);
    if adds.is_empty() && removes.is_empty() && order.is_none() {
        return None;
    }
    let port = pw.port;
    let observed = &pw.observed;

    // Withheld or unavailable adds can leave an end state with no groups;
    // then the removals wait too.
    if !removes.is_empty() && observed.len() - removes.len() + adds.len() == 0 {
        if warn {
            for o in union_owners(&removes) {
                cx.hold(o, port);
                cx.warn(
                    o,
                    format!("port {port} keeps its groups for now: the groups it should join are not available or their changes are withheld, and a port must keep at least one group"),
                );
            }
        }
        removes.clear();
    }
    if let Some(ord) = order {
        // Trailing adds are the ones a quota cut drops first.
        adds.sort_by_key(|a| ord.list.iter().position(|&g| g == a.group));
    }
    // Removes in the port's own order, for readable calls.
    removes.sort_by_key(|r| observed.iter().position(|&g| g == r.group));

    // Make before break would overflow the port's quota: remove first what
    // must go anyway, keeping one group; what still does not fit waits.
    let max = cx.provider.max_groups_per_port();
    let mut early = Vec::new();
    let peak = observed.len() + adds.len();
    if peak > max {
        let need = peak - max;
        let can = removes.len().min(observed.len().saturating_sub(1));
        let take = need.min(can);
        early = removes.drain(..take).collect();
        let still = need - take;
        if still > 0 {
            let dropped = adds.split_off(adds.len() - still.min(adds.len()));
            if warn {
                for o in union_owners(&dropped) {
                    cx.warn(
                        o,
                        format!("port {port} may hold at most {max} groups at a time; {} group(s) are added on the next pass", dropped.len()),
                    );
                }
            }
        }
    }
    let mut current: Vec<Gid> = observed
        .iter()
        .copied()
        .filter(|g| !early.iter().any(|e| e.group == *g))
        .collect();

    let mut plan = PortPlan {
        port,
        early,
        forced: Vec::new(),
        unit_add: Vec::new(),
        unit_ordered: false,
        unit_remove: Vec::new(),
        reinserts: Vec::new(),
    };

    let Some(ord) = order.filter(|_| cx.provider.ordered_port_groups()) else {
        plan.unit_add = adds;
        plan.unit_remove = removes;
        return Some(plan);
    };

    // Huawei with a port-centric list: see "Order on Huawei" in the docs.
    let removed = |g: &Gid| removes.iter().any(|r| r.group == *g);
    let added = |g: &Gid| adds.iter().any(|a| a.group == *g);
    let target: Vec<Gid> = ord
        .list
        .iter()
        .copied()
        .filter(|g| added(g) || (current.contains(g) && !removed(g)))
        .collect();
    let kept: Vec<Gid> = current
        .iter()
        .copied()
        .filter(|g| !removed(g) && target.contains(g))
        .collect();
    let positions: Vec<usize> = kept
        .iter()
        .map(|g| target.iter().position(|t| t == g).unwrap_or(usize::MAX))
        .collect();
    let mut stable = vec![false; kept.len()];
    for i in longest_increasing(&positions) {
        stable[i] = true;
    }
    let is_stable = |g: &Gid| kept.iter().zip(&stable).any(|(k, s)| *s && k == g);
    let movers: Vec<Gid> = kept.iter().copied().filter(|g| !is_stable(g)).collect();

    // Runs of target groups between stable ones, each inserted by one call
    // just before the next stable group (or appended when none follows).
    let mut runs: Vec<(Vec<Gid>, Option<Gid>)> = Vec::new();
    let mut run = Vec::new();
    for &g in &target {
        if is_stable(&g) {
            if !run.is_empty() {
                runs.push((std::mem::take(&mut run), Some(g)));
            }
        } else {
            run.push(g);
        }
    }
    if !run.is_empty() {
        runs.push((run, None));
    }
    let owners_of =
        |groups: &[Gid]| union_owners(adds.iter().filter(|a| groups.contains(&a.group)));
    let is_mover = |g: &Gid| movers.contains(g);

    // Add phase: each run's new groups in one call, just before the run's
    // stable anchor; the last run's new groups are appended.
    let mut trailing: Option<Vec<Gid>> = None;
    for (run, anchor) in &runs {
        let new: Vec<Gid> = run.iter().copied().filter(|g| !is_mover(g)).collect();
        if new.is_empty() {
            continue;
        }
        match anchor {
            Some(a) => {
                let index = current.iter().position(|g| g == a).unwrap_or(current.len());
                current.splice(index..index, new.iter().copied());
                plan.forced.push(Call {
                    owners: owners_of(&new),
                    groups: new,
                    index: Some(index as u32),
                });
            }
            None => trailing = Some(new),
        }
    }
    // Adds the list does not order (cannot happen when votes agree, kept
    // for safety): appended by the port itself.
    let extra: Vec<Gid> = adds
        .iter()
        .map(|a| a.group)
        .filter(|g| !target.contains(g))
        .collect();
    if !extra.is_empty() {
        current.extend(extra.iter().copied());
        plan.forced.push(Call {
            owners: owners_of(&extra),
            groups: extra,
            index: None,
        });
    }
    if let Some(run) = trailing {
        current.extend(run.iter().copied());
        plan.unit_ordered = run.len() >= 2;
        plan.unit_add = run
            .iter()
            .filter_map(|g| adds.iter().find(|a| a.group == *g).cloned())
            .collect();
    }

    // Remove phase: the removals and the movers.
    plan.unit_remove = removes.clone();
    for &m in &movers {
        plan.unit_remove.push(PairChange {
            group: m,
            owners: vec![ord.owner],
        });
    }
    plan.unit_remove
        .sort_by_key(|r| current.iter().position(|&g| g == r.group));
    current.retain(|g| !plan.unit_remove.iter().any(|r| r.group == *g));

    // Re-insert phase: every target group but the movers is on the port
    // now, in order; each stretch of movers goes back just before the
    // target group that follows it (or at the end).
    let mut stretch: Vec<Gid> = Vec::new();
    for g in target.iter().copied().chain(std::iter::once(Gid::MAX)) {
        if is_mover(&g) {
            stretch.push(g);
            continue;
        }
        if stretch.is_empty() {
            continue;
        }
        let index = current.iter().position(|c| *c == g);
        match index {
            Some(i) => {
                current.splice(i..i, stretch.iter().copied());
            }
            None => current.extend(stretch.iter().copied()),
        }
        plan.reinserts.push(Call {
            groups: std::mem::take(&mut stretch),
            index: index.map(|i| i as u32),
            owners: vec![ord.owner],
        });
    }
    Some(plan)
}

/// The greedy cover. Every pair (port, group) is carried either by its
/// port's own call (one call for all of the port's pairs in the unit) or by
/// a batch call of its group (up to `batch` ports each). Repeatedly take the
/// call that covers the most uncovered pairs; on a tie take the batch call.
/// Returns, per unit and pair, whether the port's own call carries it.
/// An `ordered` unit is all-or-nothing: once its port call is chosen it
/// carries every pair of the unit, so its groups land in one call, in order.
fn cover(units: &[Vec<Gid>], ordered: &[bool], batch: usize) -> Vec<Vec<bool>> {
    let mut unit_start = Vec::with_capacity(units.len() + 1);
    let mut pair_unit: Vec<usize> = Vec::new();
    let mut pair_group: Vec<usize> = Vec::new();
    let mut local: HashMap<Gid, usize> = HashMap::new();
    let mut group_pairs: Vec<Vec<usize>> = Vec::new();
    for (u, groups) in units.iter().enumerate() {
        unit_start.push(pair_unit.len());
        for &g in groups {
            let next = group_pairs.len();
            let lg = *local.entry(g).or_insert(next);
            if lg == group_pairs.len() {
                group_pairs.push(Vec::new());
            }
            group_pairs[lg].push(pair_unit.len());
            pair_unit.push(u);
            pair_group.push(lg);
        }
    }
    unit_start.push(pair_unit.len());
    let unit_len = |u: usize| unit_start[u + 1] - unit_start[u];
    // Batch calls take ports with the fewest pairs first: ports with many
    // pairs are the ones a port call serves best.
    for pairs in &mut group_pairs {
        pairs.sort_by_key(|&p| (unit_len(pair_unit[p]), pair_unit[p]));
    }

    let n_pairs = pair_unit.len();
    let mut covered = vec![false; n_pairs];
    let mut by_port = vec![false; n_pairs];
    let mut unc_unit: Vec<usize> = (0..units.len()).map(unit_len).collect();
    let mut unc_group: Vec<usize> = group_pairs.iter().map(Vec::len).collect();
    let mut cursor = vec![0usize; group_pairs.len()];
    let max_value = batch.max(unc_unit.iter().copied().max().unwrap_or(0));
    let mut bucket_g: Vec<Vec<usize>> = vec![Vec::new(); max_value + 1];
    let mut bucket_u: Vec<Vec<usize>> = vec![Vec::new(); max_value + 1];
    for (g, &n) in unc_group.iter().enumerate() {
        if n > 0 {
            bucket_g[n.min(batch)].push(g);
        }
    }
    // Reverse so ports pop in order (first port first) among equals.
    for (u, &n) in unc_unit.iter().enumerate().rev() {
        if n > 0 {
            bucket_u[n].push(u);
        }
    }
    for bucket in &mut bucket_g {
        bucket.reverse();
    }

    let mut top = max_value;
    loop {
        while top > 0 && bucket_g[top].is_empty() && bucket_u[top].is_empty() {
            top -= 1;
        }
        if top == 0 {
            break;
        }
        if let Some(g) = bucket_g[top].pop() {
            if unc_group[g].min(batch) != top {
                continue;
            }
            let mut taken = 0;
            while taken < batch && cursor[g] < group_pairs[g].len() {
                let p = group_pairs[g][cursor[g]];
                cursor[g] += 1;
                if covered[p] {
                    continue;
                }
                covered[p] = true;
                taken += 1;
                let u = pair_unit[p];
                unc_unit[u] -= 1;
                if unc_unit[u] > 0 {
                    bucket_u[unc_unit[u]].push(u);
                }
            }
            unc_group[g] -= taken;
            if unc_group[g] > 0 {
                bucket_g[unc_group[g].min(batch)].push(g);
            }
        } else if let Some(u) = bucket_u[top].pop() {
            if unc_unit[u] != top {
                continue;
            }
            for p in unit_start[u]..unit_start[u + 1] {
                if !covered[p] {
                    covered[p] = true;
                    by_port[p] = true;
                    let g = pair_group[p];
                    let before = unc_group[g].min(batch);
                    unc_group[g] -= 1;
                    let after = unc_group[g].min(batch);
                    if after > 0 && after != before {
                        bucket_g[after].push(g);
                    }
                } else if ordered[u] {
                    by_port[p] = true;
                }
            }
            unc_unit[u] = 0;
        }
    }
    (0..units.len())
        .map(|u| by_port[unit_start[u]..unit_start[u + 1]].to_vec())
        .collect()
}

fn step(op: Operation, owners: &[Obj]) -> Planned {
    let mut owners = owners.to_vec();
    owners.sort_unstable();
    owners.dedup();
    Planned { op, owners }
}

/// Port-level groups become operation arguments.
fn ids(cx: &Cx<'_>, groups: &[Gid]) -> Vec<String> {
    groups
        .iter()
        .filter_map(|&g| cx.group_id(g).map(str::to_string))
        .collect()
}

/// Plan the membership calls for `ports`, counting only the changes of
/// objects in `allowed`. Warnings go to the reports only when `warn`.
pub(super) fn build(
    cx: &mut Cx<'_>,
    ports: &[PortWork<'_>],
    allowed: &[bool],
    warn: bool,
) -> MembershipSteps {
    let batch = ProviderKind::MAX_BATCH_PORTS;
    let mut plans: Vec<PortPlan<'_>> = ports
        .iter()
        .filter_map(|pw| plan_port(cx, pw, allowed, warn))
        .collect();

    let mut names: HashMap<Gid, String> = HashMap::new();
    let mut name = |cx: &Cx<'_>, g: Gid| -> String {
        names.entry(g).or_insert_with(|| cx.group_name(g)).clone()
    };

    // Adds without a required order: stable, readable group order.
    for p in plans.iter_mut().filter(|p| !p.unit_ordered) {
        let mut keyed: Vec<(String, PairChange)> = p
            .unit_add
            .drain(..)
            .map(|a| (name(cx, a.group), a))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        p.unit_add = keyed.into_iter().map(|(_, a)| a).collect();
    }

    // Attach order (Huawei): batch attach appends, so a port whose trailing
    // run has 2+ groups can use batch calls only if the attach calls run in
    // its order. Rank groups by their mean relative position in such runs;
    // ports whose run disagrees with the ranking append with their own call.
    let mut rank: HashMap<Gid, (f64, u32)> = HashMap::new();
    if cx.provider.ordered_port_groups() {
        for p in plans.iter().filter(|p| p.unit_ordered) {
            let last = (p.unit_add.len() - 1) as f64;
            for (i, a) in p.unit_add.iter().enumerate() {
                let r = rank.entry(a.group).or_insert((0.0, 0));
                r.0 += i as f64 / last;
                r.1 += 1;
            }
        }
    }
    let attach_rank = |g: Gid| -> f64 { rank.get(&g).map_or(0.5, |&(sum, n)| sum / f64::from(n)) };
    for p in plans.iter_mut().filter(|p| p.unit_ordered) {
        let consistent = p.unit_add.windows(2).all(|w| {
            let (a, b) = (attach_rank(w[0].group), attach_rank(w[1].group));
            a < b || (a == b && name(cx, w[0].group) < name(cx, w[1].group))
        });
        if !consistent {
            let groups: Vec<Gid> = p.unit_add.iter().map(|a| a.group).collect();
            p.forced.push(Call {
                owners: union_owners(&p.unit_add),
                groups,
                index: None,
            });
            p.unit_add.clear();
            p.unit_ordered = false;
        }
    }

    let mut out = MembershipSteps::default();
    let add_units: Vec<Vec<Gid>> = plans
        .iter()
        .map(|p| p.unit_add.iter().map(|a| a.group).collect())
        .collect();
    let add_ordered: Vec<bool> = plans.iter().map(|p| p.unit_ordered).collect();
    let add_cover = cover(&add_units, &add_ordered, batch);
    let remove_units: Vec<Vec<Gid>> = plans
        .iter()
        .map(|p| p.unit_remove.iter().map(|r| r.group).collect())
        .collect();
    let remove_cover = cover(&remove_units, &vec![false; plans.len()], batch);

    let mut attach: HashMap<Gid, Members<'_>> = HashMap::new();
    let mut detach: HashMap<Gid, Members<'_>> = HashMap::new();
    for (i, p) in plans.iter().enumerate() {
        if !p.early.is_empty() {
            let groups: Vec<Gid> = p.early.iter().map(|e| e.group).collect();
            out.early.push(step(
                Operation::RemovePortGroups {
                    port: p.port.to_string(),
                    groups: ids(cx, &groups),
                },
                &union_owners(&p.early),
            ));
        }
        for call in &p.forced {
            out.adds.push(step(
                Operation::AddPortGroups {
                    port: p.port.to_string(),
                    groups: call.groups.iter().map(|&g| cx.handle(g)).collect(),
                    index: call.index,
                },
                &call.owners,
            ));
        }
        let (mine, batched): (Vec<_>, Vec<_>) = p
            .unit_add
            .iter()
            .zip(&add_cover[i])
            .partition(|(_, by_port)| **by_port);
        if !mine.is_empty() {
            let changes: Vec<&PairChange> = mine.into_iter().map(|(a, _)| a).collect();
            out.adds.push(step(
                Operation::AddPortGroups {
                    port: p.port.to_string(),
                    groups: changes.iter().map(|a| cx.handle(a.group)).collect(),
                    index: None,
                },
                &union_owners(changes),
            ));
        }
        for (a, _) in batched {
            attach
                .entry(a.group)
                .or_default()
                .push((p.port, a.owners.clone()));
        }

        let (mine, batched): (Vec<_>, Vec<_>) = p
            .unit_remove
            .iter()
            .zip(&remove_cover[i])
            .partition(|(_, by_port)| **by_port);
        if !mine.is_empty() {
            let changes: Vec<&PairChange> = mine.into_iter().map(|(r, _)| r).collect();
            let groups: Vec<Gid> = changes.iter().map(|r| r.group).collect();
            out.removes.push(step(
                Operation::RemovePortGroups {
                    port: p.port.to_string(),
                    groups: ids(cx, &groups),
                },
                &union_owners(changes),
            ));
        }
        for (r, _) in batched {
            detach
                .entry(r.group)
                .or_default()
                .push((p.port, r.owners.clone()));
        }

        for call in &p.reinserts {
            out.reinserts.push(step(
                Operation::AddPortGroups {
                    port: p.port.to_string(),
                    groups: call.groups.iter().map(|&g| cx.handle(g)).collect(),
                    index: call.index,
                },
                &call.owners,
            ));
        }
        let reinserted: Vec<Gid> = p
            .reinserts
            .iter()
            .flat_map(|c| c.groups.iter().copied())
            .collect();
        for e in p.early.iter().chain(&p.unit_remove) {
            if !reinserted.contains(&e.group) {
                out.removed.push((p.port.to_string(), e.group));
            }
        }
    }

    let mut attach: Vec<(Gid, Members<'_>)> = attach.into_iter().collect();
    attach.sort_by(|a, b| {
        attach_rank(a.0)
            .total_cmp(&attach_rank(b.0))
            .then_with(|| name(cx, a.0).cmp(&name(cx, b.0)))
    });
    for (g, members) in attach {
        for chunk in members.chunks(batch) {
            let owners: Vec<Obj> = chunk.iter().flat_map(|(_, o)| o.iter().copied()).collect();
            out.adds.push(step(
                Operation::AttachPorts {
                    group: cx.handle(g),
                    ports: chunk.iter().map(|(p, _)| p.to_string()).collect(),
                },
                &owners,
            ));
        }
    }
    let mut detach: Vec<(Gid, Members<'_>)> = detach.into_iter().collect();
    detach.sort_by_key(|(g, _)| name(cx, *g));
    for (g, members) in detach {
        let Some(id) = cx.group_id(g) else { continue };
        for chunk in members.chunks(batch) {
            let owners: Vec<Obj> = chunk.iter().flat_map(|(_, o)| o.iter().copied()).collect();
            out.removes.push(step(
                Operation::DetachPorts {
                    group: id.to_string(),
                    ports: chunk.iter().map(|(p, _)| p.to_string()).collect(),
                },
                &owners,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(units: &[Vec<Gid>], ordered: &[bool]) -> usize {
        let by_port = cover(units, ordered, 20);
        let port_calls = by_port.iter().filter(|u| u.iter().any(|b| *b)).count();
        let mut per_group: HashMap<Gid, usize> = HashMap::new();
        for (u, flags) in units.iter().zip(&by_port) {
            for (g, by_port) in u.iter().zip(flags) {
                if !by_port {
                    *per_group.entry(*g).or_default() += 1;
                }
            }
        }
        port_calls + per_group.values().map(|n| n.div_ceil(20)).sum::<usize>()
    }

    #[test]
    fn cover_meets_the_structured_lower_bounds() {
        // One port, three groups: its own call.
        assert_eq!(calls(&[vec![1, 2, 3]], &[false]), 1);
        // 45 ports, one group: batches.
        assert_eq!(calls(&vec![vec![7]; 45], &[false; 45]), 3);
        // 20 ports, the same three groups: one batch per group.
        assert_eq!(calls(&vec![vec![1, 2, 3]; 20], &[false; 20]), 3);
        // 21 ports in G, one of them also in H and I: a batch + a port call.
        let mut units = vec![vec![1]; 20];
        units.push(vec![1, 2, 3]);
        assert_eq!(calls(&units, &[false; 21]), 2);
        // Nothing to do.
        assert_eq!(calls(&[], &[]), 0);
    }

    #[test]
    fn cover_keeps_an_ordered_unit_in_one_call() {
        // Group 1 fills a batch that includes the ordered port's first
        // group; the port's other two groups then go by its own call, which
        // must carry all three so they land in order.
        let mut units = vec![vec![1, 2, 3]];
        units.extend(std::iter::repeat_n(vec![1], 19));
        let mut ordered = vec![false; 20];
        ordered[0] = true;
        let by_port = cover(&units, &ordered, 20);
        assert_eq!(by_port[0], vec![true, true, true]);
        assert!(by_port[1..].iter().all(|u| u == &[false]));
        // Unordered, the same port splits: G1 rides in the batch.
        let by_port = cover(&units, &[false; 20], 20);
        assert_eq!(by_port[0], vec![false, true, true]);
    }

    #[test]
    fn longest_increasing_subsequence() {
        let pick = |seq: &[usize]| -> Vec<usize> {
            longest_increasing(seq)
                .into_iter()
                .map(|i| seq[i])
                .collect()
        };
        assert_eq!(pick(&[]), Vec::<usize>::new());
        assert_eq!(pick(&[0, 1, 2]), vec![0, 1, 2]);
        assert_eq!(pick(&[2, 0, 1]), vec![0, 1]);
        assert_eq!(pick(&[3, 1, 4, 0, 5, 2, 6]).len(), 4);
        let lis = pick(&[5, 4, 3, 2, 1]);
        assert_eq!(lis.len(), 1);
    }
}
