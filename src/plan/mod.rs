//! The planner: pure code, no I/O. Desired state plus observed state in, an
//! ordered, batched, make-before-break [`Plan`] out (or field errors).
//!
//! The public entry point is [`plan`]; [`simulate`] is a
//! pure model of both clouds that applies a plan's steps to an
//! [`ObservedState`] (for tests and benchmarks).
//!
//! # Groups and rules
//!
//! - A `SecurityGroup` whose handle is `New` gets a `CreateGroup` (Baidu
//!   needs `spec.vpcId` for it), then its rules in `CreateRules` calls.
//! - An existing group whose name or description differs gets an
//!   `UpdateGroup` on Huawei (only for the fields it manages: an adopted
//!   group's fields its spec leaves out are not, see
//!   [`crate::model::UnmanagedFields`]); Baidu has no such call, so the object gets a
//!   warning instead. An existing group absent from the cloud gets a warning
//!   ("group X not found") and no steps.
//! - A group's rules have owners: its `SecurityGroup` (`DesiredGroup::rules`)
//!   and every [`crate::model::DesiredRuleSet`] naming it. Rules are
//!   normalized already, so equal rules are `==`; a rule several owners
//!   want counts once. Wanted rules the group lacks are created.
//! - [`crate::model::RulesPolicy::Authoritative`]: observed rules nobody
//!   wants are deleted (on behalf of the group's object, and of every owner
//!   that recorded them). `Additive` (also a group with no `SecurityGroup`
//!   object): an observed rule is deleted only when some owner recorded its
//!   [`crate::model::Rule::identity`] (`managed_rules`) and no owner wants
//!   it; rules nobody ever owned are left alone. Duplicate observed rules
//!   that are wanted are left alone (they mean the same thing).
//! - Owners wanting rules of one identity ([`crate::model::Rule::slot`]:
//!   Huawei without action, priority and description; Baidu with the
//!   remark) but not the same variants are a [`RuleConflict`] on each:
//!   no variant is created and no observed rule of that identity deleted.
//!   It depends on the desired state only, so nothing flaps.
//! - Baidu can change a rule in place (`UpdateRule`, by rule id): a rule
//!   to delete and a rule to create that are recognisably the same rule
//!   (same direction and ethertype, and the same remote or the same
//!   protocol and ports: [`rules::updatable`]) become one update, in the
//!   creates' phase. One call instead of two, atomic, so never both rules
//!   and never neither. The guard counts an update as a delete.
//! - A Huawei rule disabled in the cloud (`enabled: false`, a console edit)
//!   filters nothing: it does not count as had. When the spec wants it, it
//!   is deleted right before the group's `CreateRules` and created again
//!   enabled (Huawei has no rule update, and refuses to create a rule equal
//!   to one the group holds); the object gets a warning naming the rule.
//!   These deletes are not counted by the guard: every one comes back.
//! - Creates go in `CreateRules` calls of at most
//!   [`ProviderKind::max_rules_per_create`] rules (200 on Huawei, one per
//!   call on Baidu), shared by all owners of the group: a call names every
//!   owner whose rule it carries, and is made when one of them is not
//!   withheld. A rule naming a group that this plan cannot create (its
//!   object paused or in observe mode) waits, with a warning; so do the
//!   rules of a `SecurityGroupRules` for such a group.
//! - `GroupDeletion` becomes a `DeleteGroup` at the very end, unless ports
//!   would still hold the group after the plan (the clouds refuse); then the
//!   object gets a warning and the deletion waits for a later pass.
//!
//! # Port membership: votes and conflicts
//!
//! Every intent's say about a (port, group) pair is a vote:
//! - `PortSecurityGroups` (port-centric) votes *in* for each group it lists
//!   and *out* for every other group of the port, and gives the order.
//! - `SecurityGroupMembership` `Additive` votes *in* for its `ports` and
//!   *out* for `managed_ports` it no longer lists; ports it never listed get
//!   no vote from it.
//! - `Exclusive` votes *in* for its `ports` and *out* for every other port
//!   (`current_members`, ports the cloud shows in the group, and ports other
//!   objects want in it), except the ports its `selection.spared` names
//!   (those of Nodes gone from the cluster), which get no vote from it.
//!
//! All votes *in* → the port joins (if not a member); all *out* → it leaves
//! (if a member); no votes → unchanged. Mixed votes are a conflict: neither
//! change is planned, the pair stays as the cloud has it, and every object on
//! each side gets a [`Conflict`] naming the port, the group and the other
//! object. Votes depend on the desired state only, so re-planning gives the
//! same conflicts and no steps for the pair: nothing flaps.
//!
//! Errors (the whole call returns `Err`): a port whose resolved groups would
//! be empty (on each object removing its groups: `spec.securityGroups` or
//! `spec.ports`), more groups than [`ProviderKind::max_groups_per_port`] (on
//! the objects adding), a port-centric list longer than that limit, and
//! creating a Baidu group without `spec.vpcId`. One exception: when every
//! object taking a port's last groups away has a `selection` (its ports
//! come from a Node selector, so the cluster moved the port, not a spec),
//! the port is held instead: it keeps its groups, no step touches it, and
//! those objects list it in [`ObjectReport::held`].
//!
//! Warnings: a port absent from the observed state ("port X not found") or a
//! group absent from it and not created by the plan: no steps for them.
//! When withheld or unavailable changes mean a port's end state would be
//! empty, its removals wait too (warning, and the port in `held`).
//!
//! # Order of the plan
//!
//! 1. `CreateGroup`, 2. `UpdateGroup`, 3. `CreateRules` (each group's
//!    rules disabled in the cloud that its spec wants are deleted just
//!    before, and Baidu's in-place `UpdateRule`s go first: see below),
//! 4. quota room (see below), 5. membership adds (`AddPortGroups`, then
//!    `AttachPorts`), 6. membership removes (`RemovePortGroups`, then
//!    `DetachPorts`), 7. Huawei re-inserts of out-of-order groups,
//! 8. `DeleteRule`, 9. `DeleteGroup`.
//!
//! So every add precedes every remove (make before break), a changed rule
//! is created before the old one is deleted, and since each port already
//! holds its whole end state when removals start, no step leaves a port
//! with zero groups. Two documented exceptions:
//! - Quota room: when adding first would push a port over
//!   `max_groups_per_port` (Baidu: 10), the removals it needs anyway go
//!   first (phase 4), keeping at least one group; adds that still do not fit
//!   wait for the next pass (warning).
//! - Huawei re-inserts (phase 7) are adds after removes, but the port keeps
//!   its in-order groups throughout, so it never has zero groups.
//!
//! # Batching: fewest calls
//!
//! Each (port, group) removal rides either in one `RemovePortGroups` call of
//! its port (all that port's removals at once) or in a `DetachPorts` batch
//! of its group (at most [`ProviderKind::MAX_BATCH_PORTS`] = 20 ports).
//! Adds likewise: one `AddPortGroups` of the port, or `AttachPorts` batches.
//! Choosing is a set cover; the planner is greedy: take the call that
//! covers the most pairs not yet covered (a batch call counts at most 20),
//! ties to the batch call; batch calls take the ports with the fewest
//! pending pairs first. This is optimal on the structured cases below.
//!
//! Lower bound on calls (and what the plan makes; tests check these):
//! - N ports joining one group: ceil(N/20) (`AttachPorts`); 45 ports → 3.
//! - K ports moving from A to B: 2·ceil(K/20).
//! - One port leaving three groups: 1 (`RemovePortGroups`).
//! - 20 ports each leaving the same 3 groups: 3 (one `DetachPorts` each).
//! - N ports each leaving the same L groups: ⌊N/20⌋·L + min(L, N mod 20)
//!   (full batches, then the rest by batch or by port, whichever is fewer;
//!   21 ports leaving 2 groups: 3).
//! - In general: one call carries at most max(20, r) pairs, r being the
//!   most pairs one port has, so a change of P pairs needs at least
//!   ceil(P / max(20, r)) calls.
//! - A Huawei rule set change: ceil(creates/200) + deletes (Huawei deletes
//!   one rule per call); Baidu: creates + deletes.
//! - A group inserted in front of or between a port's groups (Huawei) needs
//!   one `AddPortGroups` with `index` per port: no batch call takes a
//!   position.
//!
//! # Order on Huawei
//!
//! On Huawei ([`ProviderKind::ordered_port_groups`]) a port-centric port
//! ends with exactly its list, in order (Baidu membership is a set: order is
//! ignored). Batch attach appends, so:
//! - The kept groups already in the right relative order (a longest
//!   increasing subsequence of their list positions) are *stable* and stay;
//!   the other kept groups are *movers*.
//! - Add phase: the new groups between two stable groups go in one
//!   `AddPortGroups` with `index` = the position of the next stable group
//!   (inserted in list order). The new groups after the last stable group
//!   are appended: by `AttachPorts` when the order of the attach calls
//!   (groups ranked by their mean position in such tails) gives the right
//!   order, else by one `AddPortGroups` of the port.
//! - Remove phase: movers leave with the port's removals.
//! - Re-insert phase: each stretch of movers goes back in one
//!   `AddPortGroups` just before the list group that follows it (or at the
//!   end). The stable groups stay on the port throughout, so it never has
//!   zero groups, and new groups never wait for a removal.
//! - Groups kept because of a conflict are not in the list; they stay where
//!   they are and the list's groups are ordered around them.
//! - Two `PortSecurityGroups` for one port: the first by key gives the
//!   order; the other gets a warning when its list differs.
//!
//! # Modes and the blast-radius guard
//!
//! Steps name the objects whose intent they carry out (`Step::owners`).
//! An object in `Mode::Paused` or `Mode::Observe` is withheld; so is an
//! object (without `allow_mass_change`) whose changes would delete more than
//! [`PlanOptions::max_revoke_fraction`] of a group's existing rules (counted
//! over all the group's owners: each owner with a share in the deletes is
//! held) or
//! remove more than [`PlanOptions::max_membership_removals`] memberships
//! ([`Withheld::MassChange`] says how many). A withheld object's changes
//! are left out before batching, so they never ride in a batch; a pair that
//! several objects want is still planned if one of them is not withheld.
//!
//! [`ObjectReport::changes`] counts, by [`Operation::kind`], the steps an
//! object has a share in: for objects not withheld, in the plan; for
//! withheld objects, in the plan that would be made if nothing were
//! withheld. Every object of the desired state has a report.
//!
//! # Performance
//!
//! Built for 100,000 port-group memberships in well under 50 ms on one
//! core (`benches/planner.rs`): objects, groups and ports are interned to
//! `u32` (port ids copied into one arena behind a hash table, so lookups
//! touch cache-local bytes); votes sit in one flat array bucketed by port
//! with a counting sort; observed ports are walked in their own sorted
//! order; the cover runs on bucket queues in time linear in the pairs that
//! change. Nothing scans all ports per group or all groups per port.
//!
//! [`ProviderKind::max_rules_per_create`]: crate::model::ProviderKind::max_rules_per_create
//! [`ProviderKind::max_groups_per_port`]: crate::model::ProviderKind::max_groups_per_port
//! [`ProviderKind::MAX_BATCH_PORTS`]: crate::model::ProviderKind::MAX_BATCH_PORTS
//! [`ProviderKind::ordered_port_groups`]: crate::model::ProviderKind::ordered_port_groups

mod admit;
mod batch;
mod cx;
mod membership;
pub mod nodes;
pub mod normalize;
mod rules;
pub mod simulate;

pub use admit::{Admitted, plan_admitting};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{
    ChangeCounts, DesiredState, FieldError, Mode, ObjectKey, ObservedRule, ObservedState,
    Operation, Plan, Step,
};

use cx::{Cx, Obj, Planned};

/// Thresholds of the blast-radius guard (settable by flag).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanOptions {
    /// A plan that would revoke more than this fraction of a group's rules
    /// is withheld unless the object allows mass change. Default 0.5.
    pub max_revoke_fraction: f64,
    /// A plan that would remove more than this many memberships for one
    /// object is withheld likewise. Default 20.
    pub max_membership_removals: usize,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            max_revoke_fraction: 0.5,
            max_membership_removals: 20,
        }
    }
}

/// Why an object's changes were planned but not put in the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Withheld {
    Paused,
    Observe,
    /// The blast-radius guard: the message says what and how much.
    MassChange(String),
}

/// Two objects disagree about whether `port` belongs to `group`; neither
/// side's change for that pair is planned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub port: String,
    pub group: String,
    pub with: ObjectKey,
    pub message: String,
}

/// Two owners of one group want a rule of the same identity with different
/// attributes (say priority 1 and priority 50): neither variant is created
/// and the cloud's rules of that identity stay as they are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleConflict {
    pub group: String,
    /// The rule as this object wants it.
    pub rule: String,
    pub with: ObjectKey,
    pub message: String,
}

/// What the plan means for one object, for its status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectReport {
    /// Changes for this object, counted by operation kind, whether or not
    /// they were put in the plan.
    pub changes: ChangeCounts,
    pub withheld: Option<Withheld>,
    pub conflicts: Vec<Conflict>,
    /// Disagreements with other owners of a group's rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_conflicts: Vec<RuleConflict>,
    /// Things the user should know that block nothing.
    pub warnings: Vec<String>,
    /// Ports whose removal waits because they would be left with no
    /// security group (in the order found).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<String>,
}

impl ObjectReport {
    /// Whether the object disagrees with another about a port or a rule.
    pub fn has_conflicts(&self) -> bool {
        !self.conflicts.is_empty() || !self.rule_conflicts.is_empty()
    }

    /// One line per conflict, for conditions and errors.
    pub fn conflict_lines(&self) -> Vec<String> {
        let ports = self.conflicts.iter().map(|c| {
            format!(
                "port {} / group {} with {}: {}",
                c.port, c.group, c.with, c.message
            )
        });
        let rules = self.rule_conflicts.iter().map(|c| {
            format!(
                "group {} rule \"{}\" with {}: {}",
                c.group, c.rule, c.with, c.message
            )
        });
        ports.chain(rules).collect()
    }
}

/// The planner's answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanOutcome {
    /// Steps to execute, in order.
    pub plan: Plan,
    /// One report per object of the desired state.
    pub reports: BTreeMap<ObjectKey, ObjectReport>,
}

/// Plan the calls that take `observed` to `desired`. See the module docs
/// for the rules; `Err` lists every field error found.
pub fn plan(
    desired: &DesiredState,
    observed: &ObservedState,
    opts: &PlanOptions,
) -> Result<PlanOutcome, Vec<FieldError>> {
    let mut cx = Cx::new(desired, observed);
    let (groups, rule_work) = rules::resolve(desired, &mut cx);
    let deletions = rules::deletions(desired, &mut cx);
    let (ports, removals) = membership::resolve(desired, &mut cx);
    if !cx.errors.is_empty() {
        let mut errors = std::mem::take(&mut cx.errors);
        errors.sort_by_key(|e| e.to_string());
        errors.dedup();
        return Err(errors);
    }

    let withheld = guard(&mut cx, &rule_work, &removals, opts);
    let allowed: Vec<bool> = withheld.iter().map(Option::is_none).collect();
    let work = Work {
        groups: &groups,
        rules: &rule_work,
        deletions: &deletions,
        ports: &ports,
    };
    let steps = assemble(&mut cx, &work, &allowed, true);
    let mut reports = std::mem::take(&mut cx.reports);
    count(&steps, &mut reports, |o| allowed[o as usize]);
    if allowed.contains(&false) {
        // What the withheld objects would do: the plan as if nothing were
        // withheld (no warnings from this pass; they were given above).
        cx.reports = vec![ObjectReport::default(); reports.len()];
        let everything = vec![true; allowed.len()];
        let hypothetical = assemble(&mut cx, &work, &everything, false);
        count(&hypothetical, &mut reports, |o| !allowed[o as usize]);
    }
    for (report, w) in reports.iter_mut().zip(withheld) {
        report.withheld = w;
    }
    Ok(PlanOutcome {
        plan: Plan {
            steps: publish(&cx, steps),
        },
        reports: cx
            .obj_keys
            .iter()
            .map(|k| (*k).clone())
            .zip(reports)
            .collect(),
    })
}

/// Decide, per object, whether its changes are withheld and why. The
/// rule guard counts a group's deletions over all its owners (several
/// objects letting go of rules at once add up), and holds every owner with
/// a share in them that does not allow mass change.
fn guard(
    cx: &mut Cx<'_>,
    groups: &[rules::RuleWork<'_>],
    removals: &[usize],
    opts: &PlanOptions,
) -> Vec<Option<Withheld>> {
    let mut withheld: Vec<Option<Withheld>> = cx
        .obj_intents
        .iter()
        .map(|i| match i.mode {
            Mode::Apply => None,
            Mode::Paused => Some(Withheld::Paused),
            Mode::Observe => Some(Withheld::Observe),
        })
        .collect();
    for g in groups {
        // The cloud's default rules of a group this controller created do
        // not count towards the fraction, but the message counts every
        // rule the plan deletes.
        // A rule changed in place counts as one revoked: the guard holds
        // back a mass change either way.
        let deletes = g.delete_rules.len() + g.update_rules.len() - g.default_deletes;
        let existing = g.existing_rules - g.default_deletes;
        if deletes as f64 <= opts.max_revoke_fraction * existing as f64 {
            continue;
        }
        let mut owners: Vec<Obj> = g
            .delete_rules
            .iter()
            .flat_map(|(_, _, owners)| owners.iter().copied())
            .chain(
                g.update_rules
                    .iter()
                    .flat_map(|u| u.deleters.iter().copied()),
            )
            .collect();
        owners.sort_unstable();
        owners.dedup();
        let verb = if g.update_rules.is_empty() {
            "delete"
        } else {
            "delete or change"
        };
        let pct = opts.max_revoke_fraction * 100.0;
        let counted = if g.default_deletes == 0 {
            format!("(more than {pct:.0}%)")
        } else {
            let n = g.default_deletes;
            let rules = if n == 1 { "rule" } else { "rules" };
            format!(
                "(not counting the {n} default {rules} the cloud gave it, it would delete {deletes} of the {existing} rules: more than {pct:.0}%)"
            )
        };
        let others = if owners.len() > 1 {
            " (with the other objects owning its rules)"
        } else {
            ""
        };
        for o in owners {
            let o = o as usize;
            if withheld[o].is_none() && !cx.obj_intents[o].allow_mass_change {
                withheld[o] = Some(Withheld::MassChange(format!(
                    "would {verb}{others} {} of the {} rules of group {} {counted}; set secgroup.io/allow-mass-change: \"true\" to allow",
                    g.delete_rules.len() + g.update_rules.len(),
                    g.existing_rules,
                    g.target,
                )));
            }
        }
    }
    for (o, &n) in removals.iter().enumerate() {
        if withheld[o].is_none()
            && !cx.obj_intents[o].allow_mass_change
            && n > opts.max_membership_removals
        {
            withheld[o] = Some(Withheld::MassChange(format!(
                "would remove {n} port memberships (more than {}); set secgroup.io/allow-mass-change: \"true\" to allow",
                opts.max_membership_removals
            )));
        }
    }
    withheld
}

/// What the planner found to do, before the guard and batching.
struct Work<'w, 'a> {
    groups: &'w [rules::GroupWork],
    rules: &'w [rules::RuleWork<'a>],
    deletions: &'w [rules::DeletionWork<'a>],
    ports: &'w [membership::PortWork<'a>],
}

/// The allowed objects among `owners`, or `None` when there are none.
fn allowed_owners(owners: &[Obj], allowed: &[bool]) -> Option<Vec<Obj>> {
    let mine: Vec<Obj> = owners
        .iter()
        .copied()
        .filter(|&o| allowed[o as usize])
        .collect();
    (!mine.is_empty()).then_some(mine)
}

/// Build the ordered steps from the changes of the `allowed` objects.
/// A rule several objects own is changed when one of them is allowed, and
/// a group's rule creates share `CreateRules` calls whoever owns them.
fn assemble(cx: &mut Cx<'_>, work: &Work<'_, '_>, allowed: &[bool], warn: bool) -> Vec<Planned> {
    let step = |op: Operation, owner: Obj| Planned {
        op,
        owners: vec![owner],
    };
    let groups: Vec<&rules::GroupWork> = work
        .groups
        .iter()
        .filter(|g| allowed[g.owner as usize])
        .collect();
    let mut steps = Vec::new();
    for g in &groups {
        if let Some(op) = &g.create {
            steps.push(step(op.clone(), g.owner));
        }
    }
    for g in &groups {
        if let Some(op) = &g.update {
            steps.push(step(op.clone(), g.owner));
        }
    }
    let delete = |id: &str, r: &ObservedRule| Operation::DeleteRule {
        group: id.to_string(),
        rule_id: r.id.clone(),
        rule: r.rule.clone(),
    };
    let per_call = cx.provider.max_rules_per_create();
    // An update whose one side is withheld makes only the other side's
    // half: the create (with the creates), or the delete (with the deletes).
    let mut late_deletes: Vec<Planned> = Vec::new();
    for g in work.rules {
        for (id, r, owners) in &g.repair_rules {
            if let Some(owners) = allowed_owners(owners, allowed) {
                steps.push(Planned {
                    op: delete(id, r),
                    owners,
                });
            }
        }
        let mut creates: Vec<(&crate::model::Rule, Vec<Obj>)> = Vec::new();
        for u in &g.update_rules {
            match (
                allowed_owners(&u.deleters, allowed),
                allowed_owners(&u.creators, allowed),
            ) {
                (Some(mut owners), Some(more)) => {
                    owners.extend(more);
                    owners.sort_unstable();
                    owners.dedup();
                    steps.push(Planned {
                        op: Operation::UpdateRule {
                            group: u.group.to_string(),
                            rule_id: u.from.id.clone(),
                            from: u.from.rule.clone(),
                            to: u.to.clone(),
                        },
                        owners,
                    });
                }
                (None, Some(owners)) => creates.push((u.to, owners)),
                (Some(owners), None) => late_deletes.push(Planned {
                    op: delete(u.group, u.from),
                    owners,
                }),
                (None, None) => {}
            }
        }
        creates.extend(
            g.create_rules
                .iter()
                .filter_map(|(r, owners)| allowed_owners(owners, allowed).map(|o| (*r, o))),
        );
        for chunk in creates.chunks(per_call) {
            let mut owners: Vec<Obj> = chunk.iter().flat_map(|(_, o)| o.iter().copied()).collect();
            owners.sort_unstable();
            owners.dedup();
            steps.push(Planned {
                op: Operation::CreateRules {
                    group: g.target.clone(),
                    rules: chunk.iter().map(|(r, _)| (*r).clone()).collect(),
                },
                owners,
            });
        }
    }
    let membership = batch::build(cx, work.ports, allowed, warn);
    steps.extend(membership.early);
    steps.extend(membership.adds);
    steps.extend(membership.removes);
    steps.extend(membership.reinserts);
    steps.extend(late_deletes);
    for g in work.rules {
        for (id, r, owners) in &g.delete_rules {
            let Some(owners) = allowed_owners(owners, allowed) else {
                continue;
            };
            steps.push(Planned {
                op: delete(id, r),
                owners,
            });
        }
    }
    for d in work.deletions.iter().filter(|d| allowed[d.owner as usize]) {
        let holders = cx
            .observed
            .ports
            .values()
            .filter(|p| p.groups.iter().any(|g| g == d.group))
            .filter(|p| {
                !membership
                    .removed
                    .iter()
                    .any(|(port, g)| *port == p.id && cx.group_id(*g) == Some(d.group))
            })
            .count();
        if holders > 0 {
            if warn {
                cx.warn(
                    d.owner,
                    format!("group {} is still attached to {holders} port(s); it is deleted once they leave it", d.group),
                );
            }
            continue;
        }
        steps.push(step(
            Operation::DeleteGroup {
                group: d.group.to_string(),
            },
            d.owner,
        ));
    }
    steps
}

/// Add each step's kind to the `changes` of its owners that `pick` selects.
fn count(steps: &[Planned], reports: &mut [ObjectReport], pick: impl Fn(Obj) -> bool) {
    for step in steps {
        for &o in step.owners.iter().filter(|&&o| pick(o)) {
            reports[o as usize].changes.add(step.op.kind(), 1);
        }
    }
}

/// The public form of a step: owners by key, in key order.
fn publish(cx: &Cx<'_>, planned: Vec<Planned>) -> Vec<Step> {
    planned
        .into_iter()
        .map(|p| {
            let mut owners: Vec<ObjectKey> = p.owners.iter().map(|&o| cx.key(o).clone()).collect();
            owners.sort();
            Step { op: p.op, owners }
        })
        .collect()
}
