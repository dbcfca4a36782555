//! Property tests of the planner over random desired and observed states:
//! every step is accepted by the cloud model, no port ever has zero groups,
//! batches respect their limits, adds come before removes, plans converge
//! (re-planning after applying gives an empty plan), planning is
//! deterministic, and uncontested intent ends up true in the cloud
//! (including the exact order of port-centric lists on Huawei).
//!
//! Case count: `PROPTEST_CASES` (default 64 per property).

use secgroup_test_support::plans;

use std::collections::{BTreeSet, HashSet};

use plans::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::subsequence;
use secgroup_controller::model::{
    DesiredMembership, DesiredState, GroupHandle, MembershipPolicy, Mode, ObservedState, Operation,
    ProviderKind, Rule,
};
use secgroup_controller::plan::{self, PlanOptions, PlanOutcome, simulate};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    ProptestConfig::with_cases(cases)
}

#[derive(Clone, Debug)]
struct MembershipSpec {
    group: usize,
    exclusive: bool,
    listed: Vec<bool>,
    managed: Vec<bool>,
    mode: Mode,
}

#[derive(Clone, Debug)]
struct Spec {
    provider: ProviderKind,
    /// Existing groups `G0..`; index `ngroups` is the new group `gn` when
    /// `new_group` is set.
    ngroups: usize,
    new_group: Option<Mode>,
    port_groups: Vec<Vec<usize>>,
    psgs: Vec<Option<(Vec<usize>, Mode)>>,
    memberships: Vec<MembershipSpec>,
    /// Per existing group: desired rules (indices into the pool) if managed,
    /// and the rules the cloud has.
    rules: Vec<(Option<Vec<usize>>, Vec<usize>)>,
}

const RULES: usize = 6;

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![8 => Just(Mode::Apply), 1 => Just(Mode::Paused), 1 => Just(Mode::Observe)]
}

fn ordered_subset(pool: Vec<usize>, max: usize) -> impl Strategy<Value = Vec<usize>> {
    let max = max.min(pool.len());
    subsequence(pool, 1..=max).prop_shuffle()
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![Just(ProviderKind::Huawei), Just(ProviderKind::Baidu)],
        2usize..=5,
        1usize..=8,
        option::weighted(0.3, mode()),
    )
        .prop_flat_map(|(provider, ngroups, nports, new_group)| {
            let existing: Vec<usize> = (0..ngroups).collect();
            let listable: Vec<usize> = (0..ngroups + usize::from(new_group.is_some())).collect();
            let pool: Vec<usize> = (0..RULES).collect();
            let membership = (
                0..listable.len(),
                any::<bool>(),
                vec(any::<bool>(), nports),
                vec(any::<bool>(), nports),
                mode(),
            )
                .prop_map(|(group, exclusive, listed, managed, mode)| MembershipSpec {
                    group,
                    exclusive,
                    listed,
                    managed,
                    mode,
                });
            (
                Just(provider),
                Just(ngroups),
                Just(new_group),
                vec(ordered_subset(existing, 4), nports),
                vec(
                    option::weighted(0.6, (ordered_subset(listable, 4), mode())),
                    nports,
                ),
                vec(membership, 0..=3),
                vec(
                    (
                        option::of(subsequence(pool.clone(), 0..=RULES)),
                        subsequence(pool, 0..=RULES),
                    ),
                    ngroups,
                ),
            )
        })
        .prop_map(
            |(provider, ngroups, new_group, port_groups, psgs, memberships, rules)| Spec {
                provider,
                ngroups,
                new_group,
                port_groups,
                psgs,
                memberships,
                rules,
            },
        )
}

fn port_name(i: usize) -> String {
    format!("P{i}")
}

fn handle(spec: &Spec, g: usize) -> GroupHandle {
    if g < spec.ngroups {
        existing(&format!("G{g}"))
    } else {
        GroupHandle::New(key("SecurityGroup", "gn"))
    }
}

fn pool(provider: ProviderKind) -> Vec<Rule> {
    (1..=RULES as u16).map(|p| tcp(provider, p)).collect()
}

fn build(spec: &Spec) -> (DesiredState, ObservedState) {
    let provider = spec.provider;
    let rules = pool(provider);
    let mut o = ObservedState::default();
    for (g, (_, have)) in spec.rules.iter().enumerate() {
        let have: Vec<Rule> = have.iter().map(|&i| rules[i].clone()).collect();
        let id = format!("G{g}");
        o.groups.insert(id.clone(), group(&id, &have));
    }
    for (i, groups) in spec.port_groups.iter().enumerate() {
        let id = port_name(i);
        o.ports.insert(
            id.clone(),
            secgroup_controller::model::ObservedPort {
                id,
                groups: groups.iter().map(|g| format!("G{g}")).collect(),
            },
        );
    }

    let mut d = desired(provider);
    for (g, (want, _)) in spec.rules.iter().enumerate() {
        if let Some(want) = want {
            let id = format!("G{g}");
            d.groups.push(sg(
                &format!("sg{g}"),
                &id,
                Some(want.iter().map(|&i| rules[i].clone()).collect()),
            ));
        }
    }
    if let Some(m) = spec.new_group {
        let mut g = new_sg("gn", Some(vec![rules[0].clone()]));
        g.intent = with_mode(g.intent, m);
        d.groups.push(g);
    }
    for (i, p) in spec.psgs.iter().enumerate() {
        if let Some((list, m)) = p {
            let port = port_name(i);
            let mut x = psg(&format!("psg-{port}"), &port, &[]);
            x.groups = list.iter().map(|&g| handle(spec, g)).collect();
            x.intent = with_mode(x.intent, *m);
            d.ports.push(x);
        }
    }
    for (j, m) in spec.memberships.iter().enumerate() {
        let ports: BTreeSet<String> = (0..m.listed.len())
            .filter(|&i| m.listed[i])
            .map(port_name)
            .collect();
        let gh = handle(spec, m.group);
        let current: BTreeSet<String> = match &gh {
            // As the reader fills it: who is in the group now.
            GroupHandle::Existing(id) if m.exclusive => o
                .ports
                .values()
                .filter(|p| p.groups.contains(id))
                .map(|p| p.id.clone())
                .collect(),
            _ => BTreeSet::new(),
        };
        let managed: BTreeSet<String> = if m.exclusive {
            BTreeSet::new()
        } else {
            (0..m.managed.len())
                .filter(|&i| m.managed[i] || m.listed[i])
                .map(port_name)
                .collect()
        };
        d.memberships.push(DesiredMembership {
            intent: with_mode(intent("SecurityGroupMembership", &format!("m{j}")), m.mode),
            group: gh,
            policy: if m.exclusive {
                MembershipPolicy::Exclusive
            } else {
                MembershipPolicy::Additive
            },
            ports,
            managed_ports: managed,
            current_members: current,
            selection: None,
        });
    }
    (d, o)
}

fn permissive() -> PlanOptions {
    PlanOptions {
        max_revoke_fraction: 1.0,
        max_membership_removals: usize::MAX,
    }
}

/// Plan; a field error is acceptable only for the documented reasons.
fn plan_or_skip(
    d: &DesiredState,
    o: &ObservedState,
    opts: &PlanOptions,
) -> Result<Option<PlanOutcome>, TestCaseError> {
    match plan::plan(d, o, opts) {
        Ok(out) => Ok(Some(out)),
        Err(errors) => {
            for e in &errors {
                prop_assert!(
                    (e.field == "spec.ports" || e.field == "spec.securityGroups")
                        && (e.message.contains("no security groups")
                            || e.message.contains("at most")),
                    "unexpected error {e}"
                );
            }
            Ok(None)
        }
    }
}

/// How many single changes (a pair, a rule, a group) a step makes.
fn changes_in(op: &Operation) -> usize {
    match op {
        Operation::AttachPorts { ports, .. } | Operation::DetachPorts { ports, .. } => ports.len(),
        Operation::AddPortGroups { groups, .. } => groups.len(),
        Operation::RemovePortGroups { groups, .. } => groups.len(),
        Operation::CreateRules { rules, .. } => rules.len(),
        _ => 1,
    }
}

fn is_remove(op: &Operation) -> bool {
    matches!(
        op,
        Operation::RemovePortGroups { .. }
            | Operation::DetachPorts { .. }
            | Operation::DeleteRule { .. }
            | Operation::DeleteGroup { .. }
    )
}

/// Apply step by step, checking every step's safety; return the end state.
fn apply_checked(
    d: &DesiredState,
    o: &ObservedState,
    out: &PlanOutcome,
) -> Result<ObservedState, TestCaseError> {
    let provider = d.provider;
    let mut state = o.clone();
    let mut removed: HashSet<(String, String)> = HashSet::new();
    let mut seen_remove = false;
    for (i, step) in out.plan.steps.iter().enumerate() {
        prop_assert!(!step.owners.is_empty(), "step {i} has no owner");
        match &step.op {
            Operation::AttachPorts { ports, .. } | Operation::DetachPorts { ports, .. } => {
                prop_assert!(!ports.is_empty() && ports.len() <= ProviderKind::MAX_BATCH_PORTS)
            }
            Operation::CreateRules { rules, .. } => {
                prop_assert!(!rules.is_empty() && rules.len() <= provider.max_rules_per_create())
            }
            _ => {}
        }
        if seen_remove && !is_remove(&step.op) {
            // The only add after a remove: a Huawei re-insert of groups the
            // plan took off that port to fix its order.
            match &step.op {
                Operation::AddPortGroups { port, groups, .. } => {
                    prop_assert!(provider.ordered_port_groups(), "add after remove: {step:?}");
                    for g in groups {
                        let id = g.existing_id().unwrap_or_default().to_string();
                        prop_assert!(
                            removed.contains(&(port.clone(), id)),
                            "add after remove that is no re-insert: {step:?}"
                        );
                    }
                }
                other => prop_assert!(false, "add after remove: {other:?}"),
            }
        }
        seen_remove |= is_remove(&step.op);
        match &step.op {
            Operation::RemovePortGroups { port, groups } => {
                for g in groups {
                    removed.insert((port.clone(), g.clone()));
                }
            }
            Operation::DetachPorts { group, ports } => {
                for p in ports {
                    removed.insert((p.clone(), group.clone()));
                }
            }
            _ => {}
        }
        if let Err(e) = simulate::apply_step(&mut state, step, provider) {
            prop_assert!(false, "step {i} refused: {e}\n{:#?}", out.plan);
        }
        for p in state.ports.values() {
            prop_assert!(
                !p.groups.is_empty() || o.ports[&p.id].groups.is_empty(),
                "port {} has no groups after step {i}",
                p.id
            );
        }
    }
    Ok(state)
}

/// Intent that nothing contests (object applied, no conflicts, no
/// warnings) holds in `state`.
fn check_intent(
    d: &DesiredState,
    state: &ObservedState,
    out: &PlanOutcome,
) -> Result<(), TestCaseError> {
    let quiet = |k: &secgroup_controller::model::ObjectKey| {
        let r = &out.reports[k];
        r.withheld.is_none() && r.conflicts.is_empty() && r.warnings.is_empty()
    };
    let id_of = |h: &GroupHandle| match h {
        GroupHandle::Existing(id) => id.clone(),
        GroupHandle::New(k) => simulate::new_group_id(k),
    };
    for p in &d.ports {
        if !quiet(&p.intent.owner) {
            continue;
        }
        let want: Vec<String> = p.groups.iter().map(id_of).collect();
        let have = &state.ports[&p.port_id].groups;
        if d.provider.ordered_port_groups() {
            prop_assert_eq!(have, &want, "port {} order", p.port_id);
        } else {
            let (h, w): (BTreeSet<_>, BTreeSet<_>) = (have.iter().collect(), want.iter().collect());
            prop_assert_eq!(h, w, "port {} groups", p.port_id);
        }
    }
    for m in &d.memberships {
        if !quiet(&m.intent.owner) {
            continue;
        }
        let g = id_of(&m.group);
        for (id, port) in &state.ports {
            let member = port.groups.contains(&g);
            match m.policy {
                MembershipPolicy::Exclusive => {
                    prop_assert_eq!(member, m.ports.contains(id), "{} in {}", id, g)
                }
                MembershipPolicy::Additive => {
                    if m.ports.contains(id) {
                        prop_assert!(member, "{id} should be in {g}");
                    } else if m.managed_ports.contains(id) {
                        prop_assert!(!member, "{id} should have left {g}");
                    }
                }
            }
        }
    }
    for g in &d.groups {
        if !quiet(&g.intent.owner) {
            continue;
        }
        if let Some(want) = &g.rules {
            let id = id_of(&g.handle);
            let have: BTreeSet<&Rule> = state.groups[&id].rules.iter().map(|r| &r.rule).collect();
            let want: BTreeSet<&Rule> = want.iter().collect();
            prop_assert_eq!(have, want, "rules of {}", id);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn plans_are_safe_converge_and_do_what_was_asked(spec in spec()) {
        let (d, o) = build(&spec);
        let Some(out) = plan_or_skip(&d, &o, &permissive())? else { return Ok(()) };
        let state = apply_checked(&d, &o, &out)?;
        check_intent(&d, &state, &out)?;

        let mut next = d.clone();
        simulate::adopt_created(&mut next, &state);
        let again = plan::plan(&next, &state, &permissive())
            .map_err(|e| TestCaseError::fail(format!("re-plan failed: {e:?}")))?;
        prop_assert!(again.plan.is_empty(), "re-plan not empty: {:#?}", again.plan);
        // Conflicts are stable: the same ones, and still no steps for them
        // (a group created meanwhile is named by its id now).
        let named = |c: &[secgroup_controller::plan::Conflict]| -> Vec<String> {
            c.iter()
                .map(|c| format!("{} {} {} {}", c.port, c.group, c.with, c.message).replace("<new gn>", "new-gn"))
                .collect()
        };
        for (k, r) in &out.reports {
            prop_assert_eq!(named(&again.reports[k].conflicts), named(&r.conflicts));
        }
    }

    #[test]
    fn planning_is_deterministic(spec in spec()) {
        let (d, o) = build(&spec);
        let first = plan::plan(&d, &o, &PlanOptions::default());
        let second = plan::plan(&d, &o, &PlanOptions::default());
        prop_assert_eq!(first, second);
    }

    #[test]
    fn with_the_guard_on_plans_stay_safe_and_reach_a_fixed_point(spec in spec()) {
        let (mut d, mut o) = build(&spec);
        let opts = PlanOptions { max_revoke_fraction: 0.5, max_membership_removals: 1 };
        // Withheld objects' counts shrink as others act, so holds can lift
        // over several passes; each non-empty pass makes at least one of
        // the changes the unguarded plan makes, and none is undone, so this
        // settles within that many passes.
        let Some(unguarded) = plan_or_skip(&d, &o, &permissive())? else { return Ok(()) };
        let bound = unguarded.plan.steps.iter().map(|s| changes_in(&s.op)).sum::<usize>() + 1;
        for _pass in 0..bound {
            let Some(out) = plan_or_skip(&d, &o, &opts)? else { return Ok(()) };
            if out.plan.is_empty() {
                return Ok(());
            }
            // Nothing withheld rides along.
            for step in &out.plan.steps {
                for owner in &step.owners {
                    prop_assert!(out.reports[owner].withheld.is_none(), "{owner} is withheld but owns {step:?}");
                }
            }
            o = apply_checked(&d, &o, &out)?;
            simulate::adopt_created(&mut d, &o);
        }
        prop_assert!(false, "no fixed point after {bound} passes");
    }

    #[test]
    fn structured_changes_meet_their_lower_bound(
        huawei in any::<bool>(),
        n in 1usize..=120,
        extra in 0usize..=3,
    ) {
        let provider = if huawei { ProviderKind::Huawei } else { ProviderKind::Baidu };
        let ids = port_ids("p", n);
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let others: Vec<String> = (0..extra).map(|i| format!("X{i}")).collect();
        let mut all: Vec<&str> = vec!["A", "B"];
        all.extend(others.iter().map(String::as_str));
        let mut held: Vec<&str> = vec!["A"];
        held.extend(others.iter().map(String::as_str));
        let ports: Vec<(&str, &[&str])> = refs.iter().map(|p| (*p, &held[..])).collect();
        let o = observed(&all, &ports);

        // N ports joining a group: ceil(N/20).
        let mut d = desired(provider);
        d.memberships.push(additive("m", "B", &refs, &[]));
        prop_assert_eq!(plan_or_skip(&d, &o, &permissive())?.map(|p| p.plan.steps.len()), Some(n.div_ceil(20)));

        // N ports moving from A to B and leaving `extra` more groups, L in
        // all: ceil(N/20) attaches; the removals' optimum is full batches
        // per group for each 20 ports, then the r = N mod 20 rest by L
        // batch calls or r port calls, whichever is fewer.
        let mut d = desired(provider);
        for p in &refs {
            d.ports.push(psg(p, p, &["B"]));
        }
        let out = plan_or_skip(&d, &o, &permissive())?.expect("valid");
        let leaving = 1 + extra;
        let removal_bound = (n / 20) * leaving + leaving.min(n % 20);
        prop_assert_eq!(out.plan.steps.len(), n.div_ceil(20) + removal_bound);
        apply_checked(&d, &o, &out)?;
    }
}
