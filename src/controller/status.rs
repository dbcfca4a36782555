//! Pure status and event logic: the status an [`ObjectOutcome`] gives an
//! object, whether it must be written, and the Events a transition
//! deserves. No I/O; the time is passed in.
//!
//! A status is written only when something a user reads in it changed.
//! `lastSyncTime` says when that last happened, and `lastPlan` keeps the
//! last plan that had changes for the object, so an object that stays in
//! sync across resyncs gets no write. The `CloudAccount`'s own
//! `lastSyncTime` moves with every cycle that read the cloud
//! ([`Stamp::Always`]): one write per account says when it was last
//! compared.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::events::EventType;

use crate::crd::ResourceStatus;
use crate::crd::conditions::{self, READY};

use super::objects::Managed;
use super::outcome::{ObjectOutcome, Reason, Verdict};

/// When `lastSyncTime` moves to now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// Only when something else in the status changed.
    OnChange,
    /// Always (the account, after a cycle that read the cloud).
    Always,
}

/// The status `obj` should have after `outcome`, starting from its current
/// status (so condition transition times survive).
pub fn desired_status<K: Managed>(
    obj: &K,
    outcome: &ObjectOutcome,
    now: Time,
    stamp: Stamp,
) -> K::Status {
    let old = obj.status().cloned().unwrap_or_default();
    let mut status = old.clone();
    let generation = obj.meta().generation;
    status.set_observed_generation(generation);
    let (ready, reconciling, stalled) = match &outcome.verdict {
        Verdict::Ready { .. } => (true, false, false),
        Verdict::Progressing { .. } | Verdict::Failed { .. } => (false, true, false),
        Verdict::Stalled { .. } => (false, false, true),
    };
    let reason = outcome.verdict.reason().as_str();
    let message = outcome.verdict.message();
    let conditions = status.conditions_mut();
    conditions::set_condition(
        conditions,
        conditions::ready(ready, reason, message, generation, now.clone()),
    );
    conditions::set_condition(
        conditions,
        conditions::reconciling(
            reconciling,
            reason,
            if reconciling { message } else { "" },
            generation,
            now.clone(),
        ),
    );
    conditions::set_condition(
        conditions,
        conditions::stalled(
            stalled,
            reason,
            if stalled { message } else { "" },
            generation,
            now.clone(),
        ),
    );
    if !outcome.planned.is_empty() || obj.status().is_none() {
        status.set_last_plan(outcome.planned.iter().map(|(k, v)| (k, *v)).collect());
    }
    K::fill_status(&mut status, outcome);
    if stamp == Stamp::Always || status != old || obj.status().is_none() {
        status.set_last_sync_time(now);
    }
    status
}

/// Whether `new` must be written over `old`.
pub fn needs_write<S: PartialEq>(old: Option<&S>, new: &S) -> bool {
    old != Some(new)
}

/// An Event to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    pub type_: EventType,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
}

fn normal(reason: &'static str, action: &'static str, note: String) -> EventSpec {
    EventSpec {
        type_: EventType::Normal,
        reason,
        action,
        note,
    }
}

/// Whether this pass repaired drift: the object's current generation was
/// already observed and it was in sync, yet changes had to be applied.
pub fn is_drift_repair<K: Managed>(obj: &K, outcome: &ObjectOutcome) -> bool {
    let Some(old) = obj.status() else {
        return false;
    };
    let applied: u32 = outcome.applied.values().sum();
    let was_synced = conditions::find(old.conditions(), READY)
        .is_some_and(|c| c.status == conditions::TRUE && c.reason == Reason::Synced.as_str());
    let observed = conditions::find(old.conditions(), READY).and_then(|c| c.observed_generation)
        == obj.meta().generation;
    applied > 0 && was_synced && observed
}

/// Events for a pass: what was applied, and transitions into blocked or
/// failed states (not repeated while the reason stays the same).
pub fn events(
    old_ready: Option<&Condition>,
    outcome: &ObjectOutcome,
    drift: bool,
) -> Vec<EventSpec> {
    let mut out = Vec::new();
    let n = |kinds: &[&str]| -> u32 { kinds.iter().filter_map(|k| outcome.applied.get(k)).sum() };
    if n(&["createGroup"]) > 0 {
        let id = outcome.facts.group_id().unwrap_or_default();
        out.push(normal(
            "Created",
            "CreateGroup",
            format!("created security group {id}"),
        ));
    }
    let (created, deleted, updated) =
        (n(&["createRules"]), n(&["deleteRule"]), n(&["updateGroup"]));
    if created + deleted + updated > 0 {
        let mut parts = Vec::new();
        if created > 0 {
            parts.push(format!("{created} rule create call(s)"));
        }
        if deleted > 0 {
            parts.push(format!("{deleted} rule(s) revoked"));
        }
        if updated > 0 {
            parts.push("name/description updated".to_string());
        }
        out.push(normal("RulesChanged", "UpdateRules", parts.join(", ")));
    }
    let attached = n(&["addPortGroups", "attachPorts"]);
    if attached > 0 {
        out.push(normal(
            "PortsAttached",
            "AttachPorts",
            format!("{attached} attach call(s) succeeded"),
        ));
    }
    let detached = n(&["removePortGroups", "detachPorts"]);
    if detached > 0 {
        out.push(normal(
            "PortsDetached",
            "DetachPorts",
            format!("{detached} detach call(s) succeeded"),
        ));
    }
    if n(&["deleteGroup"]) > 0 {
        let id = outcome.facts.group_id().unwrap_or_default();
        out.push(normal(
            "Deleted",
            "DeleteGroup",
            format!("deleted security group {id}"),
        ));
    }
    if drift {
        out.push(normal(
            "DriftRepaired",
            "Reconcile",
            "the cloud had drifted from the spec; changes were applied".to_string(),
        ));
    }
    let reason_changed = old_ready.is_none_or(|c| c.reason != outcome.verdict.reason().as_str());
    match &outcome.verdict {
        Verdict::Stalled { reason, message } if reason_changed => out.push(EventSpec {
            type_: EventType::Warning,
            reason: "Blocked",
            action: "Reconcile",
            note: format!("{reason}: {message}"),
        }),
        Verdict::Failed {
            reason, message, ..
        } if reason_changed => out.push(EventSpec {
            type_: EventType::Warning,
            reason: "Failed",
            action: "Reconcile",
            note: format!("{reason}: {message}"),
        }),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {

    use kube::api::ObjectMeta;

    use super::*;
    use crate::controller::outcome::{ChangeCounts, Facts};
    use crate::crd::{LocalObjectRef, SecurityGroup, SecurityGroupSpec, SecurityGroupStatus};
    use crate::model::ObjectKey;

    fn now(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn sg(generation: i64, status: Option<SecurityGroupStatus>) -> SecurityGroup {
        SecurityGroup {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("prod".into()),
                generation: Some(generation),
                ..ObjectMeta::default()
            },
            spec: SecurityGroupSpec {
                account_ref: LocalObjectRef::new("acct"),
                group_id: None,
                name: None,
                description: None,
                vpc_id: None,
                rules: None,
                deletion_policy: None,
                rules_policy: None,
            },
            status,
        }
    }

    fn outcome(verdict: Verdict, applied: &[(&'static str, u32)]) -> ObjectOutcome {
        let counts: ChangeCounts = applied.iter().copied().collect();
        ObjectOutcome {
            key: ObjectKey::new("SecurityGroup", "prod", "web"),
            verdict,
            planned: counts,
            applied: counts,
            facts: Facts::Group {
                group_id: Some("sg-1".into()),
                rule_count: Some(3),
                managed_rules: None,
            },
            cleanup_done: false,
        }
    }

    fn synced() -> Verdict {
        Verdict::synced("in sync")
    }

    #[test]
    fn ready_status_carries_ids_generation_and_kstatus_conditions() {
        let obj = sg(3, None);
        let s = desired_status(
            &obj,
            &outcome(synced(), &[("createGroup", 1)]),
            now("2026-01-01T00:00:00Z"),
            Stamp::OnChange,
        );
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(s.group_id.as_deref(), Some("sg-1"));
        assert_eq!(s.rule_count, Some(3));
        let get = |t: &str| conditions::find(&s.conditions, t).unwrap().status.clone();
        assert_eq!(get("Ready"), "True");
        assert_eq!(get("Reconciling"), "False");
        assert_eq!(get("Stalled"), "False");
        assert_eq!(
            s.last_plan,
            Some([("createGroup", 1)].into_iter().collect())
        );
        assert_eq!(s.last_sync_time, Some(now("2026-01-01T00:00:00Z")));
    }

    #[test]
    fn an_unchanged_status_is_never_rewritten_and_keeps_its_times() {
        let t0 = now("2026-01-01T00:00:00Z");
        let first = desired_status(
            &sg(1, None),
            &outcome(synced(), &[("createRules", 1)]),
            t0.clone(),
            Stamp::OnChange,
        );
        let stored = sg(1, Some(first.clone()));
        // The next cycle finds it in sync: nothing planned, nothing to say.
        let later = now("2026-01-01T10:00:00Z");
        let second = desired_status(
            &stored,
            &outcome(synced(), &[]),
            later.clone(),
            Stamp::OnChange,
        );
        assert!(!needs_write(Some(&first), &second), "{second:?}");
        assert_eq!(second.last_sync_time, Some(t0.clone()));
        assert_eq!(
            second.last_plan,
            Some([("createRules", 1)].into_iter().collect()),
            "the last plan with changes stays"
        );
        assert_eq!(
            conditions::find(&second.conditions, "Ready")
                .unwrap()
                .last_transition_time,
            t0,
            "no transition: the time is kept"
        );

        // A status a user reads differently is written, stamped now.
        let stalled = desired_status(
            &stored,
            &outcome(Verdict::stalled(Reason::Conflict, "x"), &[]),
            later.clone(),
            Stamp::OnChange,
        );
        assert!(needs_write(Some(&first), &stalled));
        assert_eq!(stalled.last_sync_time, Some(later.clone()));
        assert!(needs_write(None, &stalled));

        // The account stamps every cycle that read the cloud.
        let stamped = desired_status(
            &stored,
            &outcome(synced(), &[]),
            later.clone(),
            Stamp::Always,
        );
        assert!(needs_write(Some(&first), &stamped));
        assert_eq!(stamped.last_sync_time, Some(later));
    }

    #[test]
    fn events_on_changes_and_on_transitions_only() {
        let o = outcome(
            synced(),
            &[("createGroup", 1), ("createRules", 1), ("attachPorts", 2)],
        );
        let reasons: Vec<&str> = events(None, &o, false).iter().map(|e| e.reason).collect();
        assert_eq!(reasons, ["Created", "RulesChanged", "PortsAttached"]);

        let blocked = outcome(
            Verdict::stalled(Reason::MassChangeBlocked, "would revoke 9 of 10 rules"),
            &[],
        );
        let ev = events(None, &blocked, false);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].type_, EventType::Warning);
        assert!(ev[0].note.contains("9 of 10"));

        // Still blocked for the same reason: no new event.
        let s = desired_status(
            &sg(1, None),
            &blocked,
            now("2026-01-01T00:00:00Z"),
            Stamp::OnChange,
        );
        let old_ready = conditions::find(&s.conditions, "Ready");
        assert!(events(old_ready, &blocked, false).is_empty());
    }

    #[test]
    fn drift_needs_an_observed_generation_that_was_in_sync() {
        let t0 = now("2026-01-01T00:00:00Z");
        let in_sync = desired_status(
            &sg(2, None),
            &outcome(synced(), &[]),
            t0.clone(),
            Stamp::OnChange,
        );
        let repaired = outcome(synced(), &[("createRules", 1)]);
        assert!(is_drift_repair(&sg(2, Some(in_sync.clone())), &repaired));
        assert!(
            !is_drift_repair(&sg(3, Some(in_sync)), &repaired),
            "a spec change is not drift"
        );
        assert!(!is_drift_repair(&sg(2, None), &repaired), "first pass");
        let waiting = desired_status(
            &sg(2, None),
            &outcome(Verdict::waiting(Reason::ReferenceNotFound, "", false), &[]),
            t0,
            Stamp::OnChange,
        );
        assert!(!is_drift_repair(&sg(2, Some(waiting)), &repaired));
        let ev = events(None, &repaired, true);
        assert!(ev.iter().any(|e| e.reason == "DriftRepaired"));
    }
}
