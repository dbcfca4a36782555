//! What a finished cycle means for each object: pure, from what the cycle
//! resolved, read, planned and executed.
//!
//! Precedence for one object, first that applies:
//! 1. resolution: an invalid spec (`InvalidSpec`) or a reference that does
//!    not resolve yet (`ReferenceNotFound`);
//! 2. the planner refused it (`InvalidSpec`);
//! 3. one of its steps failed (the cloud's reason, or `ApplyFailed`);
//! 4. it conflicts with another object (`Conflict`);
//! 5. its changes are withheld (`Paused`, `Observing`,
//!    `MassChangeBlocked`);
//! 6. its steps did not run because an earlier one failed, or writes were
//!    stopped (`Pending` / `NotLeader`);
//! 7. a port it lets go keeps its groups, since leaving would leave it with
//!    none (`PortHeld`, Progressing: it leaves once it holds another);
//! 8. else `Synced`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::crd::ANNOTATION_ALLOW_MASS_CHANGE;
use crate::crd::resolve::Resolution;
use crate::model::{
    DesiredGroup, DesiredMembership, DesiredPortGroups, DesiredRuleSet, DesiredState, FieldError,
    GroupDeletion, GroupHandle, ObjectKey, Operation, Remote, Rule,
};
use crate::plan::{ObjectReport, PlanOutcome, Withheld};
use crate::reconcile::{ExecuteReport, Observation, StepError, StepResult};

use crate::controller::outcome::{
    CycleResult, Facts, Interner, NodeFacts, ObjectOutcome, Reason, Verdict,
};
use crate::plan::nodes::Expansion;

/// What a status shows of a node selector's expansion.
fn node_facts(e: &Expansion) -> NodeFacts {
    NodeFacts {
        matched: to_u32(e.matched),
        resolved: to_u32(e.ports.len()),
        unresolved: e
            .unresolved
            .iter()
            .map(|u| (u.name.clone(), u.reason.clone()))
            .collect(),
    }
}

use super::error::field_messages;

/// Everything a cycle knows once it has executed (or decided not to).
pub struct Derivation<'a> {
    pub account: &'a ObjectKey,
    /// Every object of the account, the account excluded.
    pub objects: &'a [ObjectKey],
    /// Objects being deleted.
    pub deleting: &'a HashSet<ObjectKey>,
    pub resolution: &'a Resolution,
    /// The desired state that was planned (refused objects taken out).
    pub desired: &'a DesiredState,
    pub observation: &'a Observation,
    pub plan: &'a PlanOutcome,
    pub rejected: &'a BTreeMap<ObjectKey, Vec<FieldError>>,
    /// `None` when nothing was executed.
    pub execution: Option<&'a ExecuteReport>,
    /// Writes were stopped before the plan ran to its end because this
    /// replica could not confirm it still leads.
    pub fenced: bool,
}

/// The outcome of every object and of the account.
pub fn derive(d: &Derivation<'_>) -> CycleResult {
    let index = Index::new(d);
    let mut interner = Interner::default();
    let objects = d
        .objects
        .iter()
        .map(|key| {
            let mut o = object_outcome(&mut interner, key, &index, d);
            if let Some(errors) = d.rejected.get(key) {
                o.verdict = invalid(errors);
            }
            resolution_verdict(&mut o, d.resolution);
            if d.deleting.contains(key) {
                // A group still held by ports is deleted on a later pass.
                if let Some(del) = index.deletions.get(key)
                    && o.verdict.is_synced()
                    && !o.applied.contains_key("deleteGroup")
                {
                    let holders = holders_of(d, &del.group_id);
                    if !holders.is_empty() {
                        o.verdict = Verdict::waiting(
                            Reason::GroupInUse,
                            format!(
                                "group {} is still used by ports {}; retrying",
                                del.group_id,
                                holders.join(", ")
                            ),
                            true,
                        );
                    }
                }
                // Paused or observed objects withhold their cleanup too.
                o.cleanup_done = o.verdict.is_synced();
                if o.cleanup_done {
                    match &mut o.facts {
                        Facts::Membership { managed_ports, .. } => managed_ports.clear(),
                        Facts::Rules { managed_rules, .. } => managed_rules.clear(),
                        _ => {}
                    }
                }
            }
            o
        })
        .collect();
    let mut result = CycleResult {
        account: ObjectOutcome::new(d.account.clone(), Verdict::synced("")),
        objects,
        plan_summary: d
            .plan
            .plan
            .summary()
            .into_iter()
            .map(|(k, v)| (k, to_u32(v)))
            .collect(),
    };
    result.account.verdict = account_verdict(&result);
    result.account.planned = result.plan_summary;
    result
}

/// A failure before planning: every object gets `verdict`, except those
/// whose own spec or references explain more.
pub fn before_planning(
    account: &ObjectKey,
    objects: &[ObjectKey],
    resolution: Option<&Resolution>,
    verdict: Verdict,
) -> CycleResult {
    let mut result = CycleResult::all(account.clone(), objects, verdict);
    if let Some(resolution) = resolution {
        for o in result.objects.values_mut() {
            resolution_verdict(o, resolution);
        }
    }
    result
}

/// Put the resolver's invalid and unresolved verdicts over the others.
fn resolution_verdict(o: &mut ObjectOutcome, resolution: &Resolution) {
    let Some(problems) = resolution.problems.get(&o.key) else {
        return;
    };
    if !problems.errors.is_empty() {
        o.verdict = invalid(&problems.errors);
    } else if !problems.unresolved.is_empty() {
        let missing = problems
            .unresolved
            .iter()
            .map(|u| format!("{}: {u}", u.field))
            .collect::<Vec<_>>()
            .join("; ");
        o.verdict = Verdict::waiting(
            Reason::ReferenceNotFound,
            format!("waiting for {missing}"),
            false,
        );
    }
    o.cleanup_done = false;
}

/// Ports the cloud shows holding `group`.
fn holders_of(d: &Derivation<'_>, group: &str) -> Vec<String> {
    d.observation
        .observed
        .ports
        .values()
        .filter(|p| p.groups.iter().any(|g| g == group))
        .map(|p| p.id.clone())
        .collect()
}

fn invalid(errors: &[FieldError]) -> Verdict {
    Verdict::stalled(Reason::InvalidSpec, field_messages(errors))
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn account_verdict(result: &CycleResult) -> Verdict {
    let failed: Vec<&ObjectOutcome> = result
        .objects
        .values()
        .filter(|o| matches!(o.verdict, Verdict::Failed { .. }))
        .collect();
    if let Some(first) = failed.first() {
        return Verdict::failed(
            first.verdict.reason(),
            format!(
                "{} object(s) failed, first {}: {}",
                failed.len(),
                first.key,
                first.verdict.message()
            ),
            None,
        );
    }
    Verdict::synced(format!("{} object(s) in sync", result.objects.len()))
}

/// A cycle's desired state, execution and deletions by object, built once.
/// Scanning the lists for each object made a cycle of 10,000 objects
/// quadratic: most of 17 s between a change and its object's Ready.
struct Index<'a> {
    groups: HashMap<&'a ObjectKey, &'a DesiredGroup>,
    ports: HashMap<&'a ObjectKey, &'a DesiredPortGroups>,
    memberships: HashMap<&'a ObjectKey, &'a DesiredMembership>,
    rule_sets: HashMap<&'a ObjectKey, &'a DesiredRuleSet>,
    /// Rules created minus rules deleted by the steps that succeeded, by
    /// group id.
    rule_deltas: HashMap<String, i64>,
    deletions: HashMap<&'a ObjectKey, &'a GroupDeletion>,
    results: HashMap<&'a ObjectKey, Vec<&'a StepResult>>,
    skipped: HashSet<&'a ObjectKey>,
}

impl<'a> Index<'a> {
    fn new(d: &Derivation<'a>) -> Self {
        let mut results: HashMap<&ObjectKey, Vec<&StepResult>> = HashMap::new();
        let mut skipped = HashSet::new();
        let mut rule_deltas: HashMap<String, i64> = HashMap::new();
        if let Some(exec) = d.execution {
            for r in exec.results.iter().filter(|r| r.result.is_ok()) {
                let (group, delta) = match &r.step.op {
                    Operation::CreateRules { group, rules } => {
                        (group_id(group, Some(&exec.created)), rules.len() as i64)
                    }
                    Operation::DeleteRule { group, .. } => (Some(group.as_str()), -1),
                    _ => continue,
                };
                if let Some(id) = group {
                    *rule_deltas.entry(id.to_string()).or_insert(0) += delta;
                }
            }
            for r in &exec.results {
                for owner in &r.step.owners {
                    results.entry(owner).or_default().push(r);
                }
            }
            skipped.extend(exec.skipped.iter().flat_map(|s| s.owners.iter()));
        }
        let desired = d.desired;
        Self {
            groups: desired
                .groups
                .iter()
                .map(|g| (&g.intent.owner, g))
                .collect(),
            ports: desired.ports.iter().map(|p| (&p.intent.owner, p)).collect(),
            memberships: desired
                .memberships
                .iter()
                .map(|m| (&m.intent.owner, m))
                .collect(),
            deletions: desired
                .deletions
                .iter()
                .map(|d| (&d.intent.owner, d))
                .collect(),
            rule_sets: desired
                .rule_sets
                .iter()
                .map(|s| (&s.intent.owner, s))
                .collect(),
            rule_deltas,
            results,
            skipped,
        }
    }
}

fn withheld_verdict(w: &Withheld, report: &ObjectReport) -> Verdict {
    let pending: u32 = report.changes.values().sum();
    match w {
        Withheld::Paused => Verdict::ready(
            Reason::Paused,
            format!("paused by annotation; {pending} change(s) pending"),
        ),
        Withheld::Observe => Verdict::ready(
            Reason::Observing,
            format!("observe mode; {pending} change(s) would be made"),
        ),
        Withheld::MassChange(why) if why.contains(ANNOTATION_ALLOW_MASS_CHANGE) => {
            Verdict::stalled(Reason::MassChangeBlocked, why.clone())
        }
        Withheld::MassChange(why) => Verdict::stalled(
            Reason::MassChangeBlocked,
            format!("{why}; set {ANNOTATION_ALLOW_MASS_CHANGE}: \"true\" to apply"),
        ),
    }
}

/// The id of a group: its own, or the one its create returned.
fn group_id<'a>(
    handle: &'a GroupHandle,
    created: Option<&'a BTreeMap<ObjectKey, String>>,
) -> Option<&'a str> {
    match handle {
        GroupHandle::Existing(id) => Some(id),
        GroupHandle::New(owner) => created.and_then(|c| c.get(owner)).map(String::as_str),
    }
}

/// The identities of the rules an object owns after the cycle: those it
/// wants (a rule naming a group this cycle did not create has no identity
/// yet: nothing of it is in the cloud), and, until a cycle converges, the
/// ones it owned before, so a revoke that did not happen yet is not
/// forgotten.
fn managed_rules(
    wanted: &[Rule],
    before: &BTreeSet<String>,
    converged: bool,
    created: Option<&BTreeMap<ObjectKey, String>>,
) -> Vec<String> {
    let mut managed: BTreeSet<String> = wanted
        .iter()
        .filter_map(|r| match &r.remote {
            Remote::Group(h @ GroupHandle::New(_)) => group_id(h, created).map(|id| {
                Rule {
                    remote: Remote::Group(GroupHandle::Existing(id.to_string())),
                    ..r.clone()
                }
                .identity()
            }),
            _ => Some(r.identity()),
        })
        .collect();
    if !converged {
        managed.extend(before.iter().cloned());
    }
    managed.into_iter().collect()
}

/// Counts by operation kind as outcomes keep them.
/// The outcome of one object from the plan's report and the execution.
fn object_outcome(
    interner: &mut Interner,
    key: &ObjectKey,
    index: &Index<'_>,
    d: &Derivation<'_>,
) -> ObjectOutcome {
    let unplanned = Default::default();
    let report = d.plan.reports.get(key).unwrap_or(&unplanned);
    let mut o = ObjectOutcome::new(key.clone(), Verdict::synced("in sync"));
    o.planned = report.changes;

    let mut failure: Option<Verdict> = None;
    for r in index.results.get(key).into_iter().flatten() {
        match &r.result {
            Ok(()) => {
                o.applied.add(r.step.op.kind(), 1);
            }
            Err(e) => {
                failure = Some(match e {
                    StepError::Cloud(c) => Verdict::from_cloud(c, r.step.op.kind()),
                    _ => Verdict::failed(
                        Reason::ApplyFailed,
                        format!("{} failed: {e}", r.step.op.kind()),
                        None,
                    ),
                });
            }
        }
    }
    let skipped = index.skipped.contains(key);

    let created = d.execution.map(|e| &e.created);
    let id_of = |h: &GroupHandle| group_id(h, created).map(str::to_string);
    let converged = failure.is_none() && !skipped && report.withheld.is_none();
    let observed = &d.observation.observed;
    if let Some(g) = index.groups.get(key) {
        let group_id = id_of(&g.handle);
        // Every owner's rule changes to the group count, not only its own.
        let rule_delta = group_id
            .as_deref()
            .and_then(|id| index.rule_deltas.get(id))
            .copied()
            .unwrap_or(0);
        let before = group_id
            .as_ref()
            .and_then(|id| observed.groups.get(id))
            .map(|g| g.rules.len() as i64)
            .unwrap_or(0);
        let converged_rules = converged && !report.has_conflicts();
        o.facts = Facts::Group {
            group_id,
            rule_count: Some(u32::try_from((before + rule_delta).max(0)).unwrap_or(u32::MAX)),
            managed_rules: Some(managed_rules(
                g.rules.as_deref().unwrap_or(&[]),
                &g.managed_rules,
                converged_rules,
                created,
            )),
        };
    }
    if let Some(del) = index.deletions.get(key) {
        o.facts = Facts::Group {
            group_id: Some(del.group_id.clone()),
            rule_count: None,
            managed_rules: None,
        };
    }
    if let Some(rs) = index.rule_sets.get(key) {
        let converged_rules = converged && !report.has_conflicts();
        o.facts = Facts::Rules {
            group_id: id_of(&rs.group),
            rule_count: to_u32(rs.rules.len()),
            managed_rules: managed_rules(&rs.rules, &rs.managed_rules, converged_rules, created),
        };
    }
    if let Some(p) = index.ports.get(key) {
        let wanted = interner.ids(p.groups.iter().filter_map(|h| group_id(h, created)));
        let current = if converged && report.conflicts.is_empty() {
            wanted.clone()
        } else {
            let now = observed.ports.get(&p.port_id);
            interner.ids(
                now.into_iter()
                    .flat_map(|port| port.groups.iter().map(String::as_str)),
            )
        };
        o.facts = Facts::Port { wanted, current };
    }
    if let Some(m) = index.memberships.get(key) {
        let mut managed: BTreeSet<String> = m.ports.clone();
        if !converged {
            // Keep tracking ports whose removal is not confirmed yet.
            managed.extend(m.managed_ports.iter().cloned());
        }
        // And those whose removal waits for another group.
        managed.extend(held_of(report, &m.managed_ports));
        if let Some(selection) = &m.selection {
            // Ports of Nodes that are gone, while the group still holds
            // them: still not touched, and not taken for strays.
            managed.extend(selection.spared.intersection(&m.current_members).cloned());
        }
        o.facts = Facts::Membership {
            group_id: id_of(&m.group),
            managed_ports: managed.into_iter().collect(),
            nodes: d.resolution.node_selections.get(key).map(node_facts),
        };
    }
    if key.kind == "NodeSecurityGroups"
        && let Some(expansion) = d.resolution.node_selections.get(key)
    {
        // Its ports all want the same groups; its releases name them too.
        let handles = index
            .ports
            .get(key)
            .map(|p| p.groups.clone())
            .or_else(|| {
                let groups: Vec<GroupHandle> = d
                    .desired
                    .memberships
                    .iter()
                    .filter(|m| m.intent.owner == *key)
                    .map(|m| m.group.clone())
                    .collect();
                (!groups.is_empty()).then_some(groups)
            })
            .unwrap_or_default();
        let wanted = interner.ids(handles.iter().filter_map(|h| group_id(h, created)));
        let mut managed: BTreeSet<String> = expansion.ports.clone();
        if let Some(m) = index.memberships.get(key) {
            // Ports whose release is not confirmed yet, or waits for
            // another group, stay tracked.
            if !converged {
                managed.extend(m.managed_ports.iter().cloned());
            }
            managed.extend(held_of(report, &m.managed_ports));
        }
        o.facts = Facts::NodeGroups {
            wanted,
            managed_ports: managed.into_iter().collect(),
            nodes: node_facts(expansion),
        };
    }

    o.verdict = if let Some(f) = failure {
        f
    } else if report.has_conflicts() {
        Verdict::stalled(Reason::Conflict, report.conflict_lines().join("; "))
    } else if let Some(w) = &report.withheld {
        withheld_verdict(w, report)
    } else if skipped && d.fenced {
        Verdict::waiting(
            Reason::NotLeader,
            "writes stopped: this replica could not renew its leader Lease in time",
            true,
        )
    } else if skipped {
        Verdict::waiting(
            Reason::Pending,
            "waiting for an earlier step of this account to succeed",
            true,
        )
    } else if !report.held.is_empty() {
        Verdict::waiting(
            Reason::PortHeld,
            if report.held.len() == 1 {
                format!(
                    "{} keeps its groups for now: leaving would leave it with no security group; it leaves once it holds another",
                    port_list(&report.held)
                )
            } else {
                format!(
                    "{} keep their groups for now: leaving would leave them with no security group; they leave once they hold another",
                    port_list(&report.held)
                )
            },
            false,
        )
    } else {
        let mut message = "in sync".to_string();
        if !report.warnings.is_empty() {
            message.push_str("; ");
            message.push_str(&report.warnings.join("; "));
        }
        Verdict::synced(message)
    };
    if let Some(dups) = d.observation.duplicates.get(key)
        && let Verdict::Ready { message, .. } = &mut o.verdict
    {
        message.push_str(&format!(
            "; other groups carry this object's owner tag: {}",
            dups.join(", ")
        ));
    }
    o
}

/// The ports of `managed` whose removal the plan holds back.
fn held_of<'r>(
    report: &'r ObjectReport,
    managed: &'r BTreeSet<String>,
) -> impl Iterator<Item = String> + 'r {
    report.held.iter().filter(|p| managed.contains(*p)).cloned()
}

/// "port a", "ports a, b and 3 more": short enough for a condition.
fn port_list(ports: &[String]) -> String {
    const SHOWN: usize = 5;
    match ports {
        [one] => format!("port {one}"),
        _ if ports.len() <= SHOWN => format!("ports {}", ports.join(", ")),
        _ => format!(
            "ports {} and {} more",
            ports[..SHOWN].join(", "),
            ports.len() - SHOWN
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{ApiErrorDetail, CloudError, ErrorKind};
    use crate::crd::resolve::{ObjectProblems, UnresolvedReason, UnresolvedRef};
    use crate::model::{
        DesiredPortGroups, Intent, Mode, ObservedPort, ObservedState, Plan, ProviderKind, Step,
    };
    use crate::plan::Conflict;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new("PortSecurityGroups", "ns", name)
    }

    fn port_intent(name: &str) -> DesiredPortGroups {
        DesiredPortGroups {
            intent: Intent {
                owner: key(name),
                mode: Mode::Apply,
                allow_mass_change: false,
            },
            port_id: format!("port-{name}"),
            groups: vec![
                GroupHandle::Existing("sg-a".into()),
                GroupHandle::Existing("sg-b".into()),
            ],
        }
    }

    fn add_step(name: &str) -> Step {
        Step {
            op: Operation::AddPortGroups {
                port: format!("port-{name}"),
                groups: vec![GroupHandle::Existing("sg-b".into())],
                index: None,
            },
            owners: vec![key(name)],
        }
    }

    fn report(changes: &[(&str, usize)]) -> ObjectReport {
        ObjectReport {
            changes: changes.iter().map(|(k, v)| (*k, to_u32(*v))).collect(),
            ..ObjectReport::default()
        }
    }

    /// One row: what the cycle knew of object `p`, and the verdict then.
    struct Row {
        what: &'static str,
        problems: Option<ObjectProblems>,
        rejected: bool,
        report: ObjectReport,
        step: Option<Result<(), StepError>>,
        skipped: bool,
        fenced: bool,
        deleting: bool,
        reason: Reason,
        message: &'static str,
        cleanup_done: bool,
    }

    fn row(what: &'static str, reason: Reason, message: &'static str) -> Row {
        Row {
            what,
            problems: None,
            rejected: false,
            report: ObjectReport::default(),
            step: None,
            skipped: false,
            fenced: false,
            deleting: false,
            reason,
            message,
            cleanup_done: false,
        }
    }

    fn run(r: &Row) -> ObjectOutcome {
        let account = ObjectKey::new("CloudAccount", "ns", "acct");
        let objects = vec![key("p")];
        let desired = DesiredState {
            provider: ProviderKind::Huawei,
            groups: vec![],
            ports: vec![port_intent("p")],
            memberships: vec![],
            deletions: vec![],
            rule_sets: Vec::new(),
        };
        let resolution = Resolution {
            desired: desired.clone(),
            problems: r.problems.iter().map(|p| (key("p"), p.clone())).collect(),
            objects: [account.clone(), key("p")].into(),
            node_selections: Default::default(),
        };
        let observation = Observation {
            observed: ObservedState {
                groups: Default::default(),
                ports: [(
                    "port-p".to_string(),
                    ObservedPort {
                        id: "port-p".into(),
                        groups: vec!["sg-a".into()],
                    },
                )]
                .into(),
            },
            ..Observation::default()
        };
        let plan = PlanOutcome {
            plan: Plan {
                steps: vec![add_step("p")],
            },
            reports: [(key("p"), r.report.clone())].into(),
        };
        let mut rejected = BTreeMap::new();
        if r.rejected {
            rejected.insert(
                key("p"),
                vec![FieldError::new(
                    Some(&key("p")),
                    "spec.securityGroups",
                    "too many",
                )],
            );
        }
        let execution = ExecuteReport {
            results: r
                .step
                .iter()
                .map(|res| StepResult {
                    index: 0,
                    step: add_step("p"),
                    result: res.clone(),
                })
                .collect(),
            skipped: if r.skipped {
                vec![add_step("p")]
            } else {
                vec![]
            },
            created: BTreeMap::new(),
            gated: r.fenced,
        };
        let deleting: HashSet<ObjectKey> = if r.deleting {
            [key("p")].into()
        } else {
            HashSet::new()
        };
        let result = derive(&Derivation {
            account: &account,
            objects: &objects,
            deleting: &deleting,
            resolution: &resolution,
            desired: &desired,
            observation: &observation,
            plan: &plan,
            rejected: &rejected,
            execution: Some(&execution),
            fenced: r.fenced,
        });
        result.objects.get(&key("p")).cloned().expect("p's outcome")
    }

    fn server_error() -> StepError {
        StepError::Cloud(CloudError::Server(ApiErrorDetail {
            status: 500,
            code: "VPC.9999".into(),
            message: "boom".into(),
            request_id: None,
        }))
    }

    #[test]
    fn each_verdict_and_its_precedence() {
        let invalid = ObjectProblems {
            errors: vec![FieldError::new(Some(&key("p")), "spec.portId", "empty")],
            unresolved: vec![],
        };
        let unresolved = ObjectProblems {
            errors: vec![],
            unresolved: vec![UnresolvedRef {
                field: "spec.securityGroups[0].name".into(),
                kind: "SecurityGroup".into(),
                name: "web".into(),
                reason: UnresolvedReason::NotFound,
            }],
        };
        let conflict = ObjectReport {
            conflicts: vec![Conflict {
                port: "port-p".into(),
                group: "sg-b".into(),
                with: ObjectKey::new("SecurityGroupMembership", "ns", "m"),
                message: "wants it out".into(),
            }],
            ..ObjectReport::default()
        };
        let held = ObjectReport {
            held: vec!["port-p".into()],
            warnings: vec!["port port-p keeps its groups for now".into()],
            ..ObjectReport::default()
        };
        let rows = vec![
            Row {
                step: Some(Ok(())),
                ..row("applied", Reason::Synced, "in sync")
            },
            Row {
                step: Some(Ok(())),
                report: held.clone(),
                ..row(
                    "a port it lets go keeps its last group",
                    Reason::PortHeld,
                    "port port-p keeps its groups for now: leaving would leave it with no security group; it leaves once it holds another",
                )
            },
            Row {
                skipped: true,
                report: held,
                ..row(
                    "held, and its steps did not run",
                    Reason::Pending,
                    "waiting for an earlier step of this account to succeed",
                )
            },
            Row {
                problems: Some(invalid.clone()),
                step: Some(Ok(())),
                ..row(
                    "invalid spec wins",
                    Reason::InvalidSpec,
                    "spec.portId: empty",
                )
            },
            Row {
                problems: Some(unresolved),
                ..row(
                    "reference missing",
                    Reason::ReferenceNotFound,
                    "waiting for spec.securityGroups[0].name: SecurityGroup \"web\" not found",
                )
            },
            Row {
                rejected: true,
                ..row(
                    "refused by the planner",
                    Reason::InvalidSpec,
                    "spec.securityGroups: too many",
                )
            },
            Row {
                step: Some(Err(server_error())),
                report: conflict.clone(),
                ..row(
                    "a failed step wins over a conflict",
                    Reason::Cloud(ErrorKind::Server),
                    "addPortGroups: server error: 500 VPC.9999: boom",
                )
            },
            Row {
                report: conflict,
                ..row(
                    "conflict",
                    Reason::Conflict,
                    "port port-p / group sg-b with SecurityGroupMembership/ns/m: wants it out",
                )
            },
            Row {
                report: ObjectReport {
                    withheld: Some(Withheld::Paused),
                    ..report(&[("addPortGroups", 1)])
                },
                ..row(
                    "paused",
                    Reason::Paused,
                    "paused by annotation; 1 change(s) pending",
                )
            },
            Row {
                report: ObjectReport {
                    withheld: Some(Withheld::MassChange("would remove 30 memberships".into())),
                    ..ObjectReport::default()
                },
                ..row(
                    "guard",
                    Reason::MassChangeBlocked,
                    "would remove 30 memberships; set secgroup.io/allow-mass-change: \"true\" to apply",
                )
            },
            Row {
                skipped: true,
                ..row(
                    "an earlier step failed",
                    Reason::Pending,
                    "waiting for an earlier step of this account to succeed",
                )
            },
            Row {
                skipped: true,
                fenced: true,
                ..row(
                    "writes fenced",
                    Reason::NotLeader,
                    "writes stopped: this replica could not renew its leader Lease in time",
                )
            },
            Row {
                report: ObjectReport {
                    warnings: vec!["port port-q not found".into()],
                    ..ObjectReport::default()
                },
                ..row(
                    "warnings ride along",
                    Reason::Synced,
                    "in sync; port port-q not found",
                )
            },
            Row {
                deleting: true,
                step: Some(Ok(())),
                cleanup_done: true,
                ..row("deleted and cleaned up", Reason::Synced, "in sync")
            },
            Row {
                deleting: true,
                problems: Some(invalid),
                ..row(
                    "deleting but invalid",
                    Reason::InvalidSpec,
                    "spec.portId: empty",
                )
            },
        ];
        for r in &rows {
            let o = run(r);
            assert_eq!(o.verdict.reason(), r.reason, "{}: {:?}", r.what, o.verdict);
            assert_eq!(o.verdict.message(), r.message, "{}", r.what);
            assert_eq!(o.cleanup_done, r.cleanup_done, "{}", r.what);
        }
    }

    #[test]
    fn a_ports_facts_show_the_wanted_groups_and_the_cloud_until_converged() {
        let converged = run(&Row {
            step: Some(Ok(())),
            ..row("applied", Reason::Synced, "in sync")
        });
        let Facts::Port { wanted, current } = &converged.facts else {
            panic!("{:?}", converged.facts)
        };
        assert_eq!(wanted.to_strings(), ["sg-a", "sg-b"]);
        assert_eq!(current, wanted);
        assert_eq!(converged.applied.get("addPortGroups"), Some(&1));

        let failed = run(&Row {
            step: Some(Err(server_error())),
            ..row("failed", Reason::Cloud(ErrorKind::Server), "")
        });
        let Facts::Port { current, .. } = &failed.facts else {
            panic!("{:?}", failed.facts)
        };
        assert_eq!(current.to_strings(), ["sg-a"], "what the cloud had");
        assert!(failed.applied.is_empty());
    }

    #[test]
    fn a_deleted_group_still_held_by_ports_is_not_released() {
        let account = ObjectKey::new("CloudAccount", "ns", "acct");
        let web = ObjectKey::new("SecurityGroup", "ns", "web");
        let desired = DesiredState {
            rule_sets: vec![],
            provider: ProviderKind::Huawei,
            groups: vec![],
            ports: vec![],
            memberships: vec![],
            deletions: vec![crate::model::GroupDeletion {
                intent: Intent {
                    owner: web.clone(),
                    mode: Mode::Apply,
                    allow_mass_change: false,
                },
                group_id: "sg-web".into(),
            }],
        };
        let mut observation = Observation::default();
        observation.observed.ports.insert(
            "p9".into(),
            ObservedPort {
                id: "p9".into(),
                groups: vec!["sg-web".into()],
            },
        );
        let resolution = Resolution {
            desired: desired.clone(),
            problems: BTreeMap::new(),
            objects: [account.clone(), web.clone()].into(),
            node_selections: Default::default(),
        };
        let derive_with = |observation: &Observation| {
            derive(&Derivation {
                account: &account,
                objects: std::slice::from_ref(&web),
                deleting: &[web.clone()].into(),
                resolution: &resolution,
                desired: &desired,
                observation,
                plan: &PlanOutcome::default(),
                rejected: &BTreeMap::new(),
                execution: None,
                fenced: false,
            })
        };
        let held = derive_with(&observation);
        let o = held.objects.get(&web).expect("web");
        assert_eq!(o.verdict.reason(), Reason::GroupInUse);
        assert_eq!(
            o.verdict.message(),
            "group sg-web is still used by ports p9; retrying"
        );
        assert!(!o.cleanup_done);
        assert!(o.verdict.wants_retry());
        let gone = derive_with(&Observation::default());
        assert!(gone.objects.get(&web).expect("web").cleanup_done);
    }

    #[test]
    fn held_ports_are_listed_up_to_five() {
        let ports: Vec<String> = (1..=7).map(|i| format!("p{i}")).collect();
        assert_eq!(port_list(&ports[..1]), "port p1");
        assert_eq!(port_list(&ports[..5]), "ports p1, p2, p3, p4, p5");
        assert_eq!(port_list(&ports), "ports p1, p2, p3, p4, p5 and 2 more");
    }

    #[test]
    fn held_and_spared_ports_stay_managed() {
        let account = ObjectKey::new("CloudAccount", "ns", "acct");
        let release = ObjectKey::new("NodeSecurityGroups", "ns", "pool");
        let exclusive = ObjectKey::new("SecurityGroupMembership", "ns", "pool");
        let intent = |owner: &ObjectKey| Intent {
            owner: owner.clone(),
            mode: Mode::Apply,
            allow_mass_change: false,
        };
        let set =
            |ports: &[&str]| -> BTreeSet<String> { ports.iter().map(|p| p.to_string()).collect() };
        let desired = DesiredState {
            provider: ProviderKind::Huawei,
            groups: vec![],
            ports: vec![],
            memberships: vec![
                // A Node left: p-left has gone from the group, p-held waits.
                DesiredMembership {
                    intent: intent(&release),
                    group: GroupHandle::Existing("sg-a".into()),
                    policy: crate::model::MembershipPolicy::Additive,
                    ports: BTreeSet::new(),
                    managed_ports: set(&["p-left", "p-held"]),
                    current_members: BTreeSet::new(),
                    selection: Some(crate::model::Selection::default()),
                },
                // Nodes were deleted: p-gone's server still holds the
                // group, p-away's does not any more.
                DesiredMembership {
                    intent: intent(&exclusive),
                    group: GroupHandle::Existing("sg-b".into()),
                    policy: crate::model::MembershipPolicy::Exclusive,
                    ports: set(&["p1"]),
                    managed_ports: BTreeSet::new(),
                    current_members: set(&["p1", "p-gone"]),
                    selection: Some(crate::model::Selection {
                        spared: set(&["p-gone", "p-away"]),
                    }),
                },
            ],
            deletions: vec![],
            rule_sets: vec![],
        };
        let resolution = Resolution {
            desired: desired.clone(),
            problems: BTreeMap::new(),
            objects: [account.clone(), release.clone(), exclusive.clone()].into(),
            node_selections: Default::default(),
        };
        let plan = PlanOutcome {
            plan: Plan::default(),
            reports: [(
                release.clone(),
                ObjectReport {
                    held: vec!["p-held".into()],
                    ..ObjectReport::default()
                },
            )]
            .into(),
        };
        let objects = [release.clone(), exclusive.clone()];
        let result = derive(&Derivation {
            account: &account,
            objects: &objects,
            deleting: &HashSet::new(),
            resolution: &resolution,
            desired: &desired,
            observation: &Observation::default(),
            plan: &plan,
            rejected: &BTreeMap::new(),
            execution: None,
            fenced: false,
        });
        let managed = |key: &ObjectKey| match &result.objects.get(key).expect("an outcome").facts {
            Facts::Membership { managed_ports, .. } => managed_ports.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(managed(&release), ["p-held"]);
        assert_eq!(
            result.objects.get(&release).map(|o| o.verdict.reason()),
            Some(Reason::PortHeld)
        );
        assert_eq!(managed(&exclusive), ["p-gone", "p1"]);
        assert_eq!(
            result.objects.get(&exclusive).map(|o| o.verdict.reason()),
            Some(Reason::Synced)
        );
    }

    #[test]
    fn the_account_fails_with_its_first_failed_object() {
        let account = ObjectKey::new("CloudAccount", "ns", "acct");
        let mut result = CycleResult::all(account, &[key("a"), key("b")], Verdict::synced(""));
        assert_eq!(account_verdict(&result).message(), "2 object(s) in sync");
        if let Some(b) = result.objects.get_mut(&key("b")) {
            b.verdict = Verdict::failed(Reason::Cloud(ErrorKind::Throttled), "slow down", None);
        }
        let v = account_verdict(&result);
        assert_eq!(v.reason(), Reason::Cloud(ErrorKind::Throttled));
        assert_eq!(
            v.message(),
            "1 object(s) failed, first PortSecurityGroups/ns/b: slow down"
        );
    }
}
