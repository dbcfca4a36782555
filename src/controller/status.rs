//! Pure status and event logic: the status an [`ObjectOutcome`] gives an
//! object, whether it differs from the stored one enough to write, and the
//! Events a transition deserves. No I/O; the time is passed in.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::events::EventType;
use serde_json::Value;

use crate::crd::ResourceStatus;
use crate::crd::conditions::{self, READY};

use super::cycle::{ObjectOutcome, Verdict};
use super::objects::Managed;

/// The status `obj` should have after `outcome`, starting from its current
/// status (so condition transition times survive).
pub fn desired_status<K: Managed>(obj: &K, outcome: &ObjectOutcome, now: Time) -> K::Status {
    let mut status = obj.status().cloned().unwrap_or_default();
    let generation = obj.meta().generation;
    status.set_observed_generation(generation);
    let (ready, reconciling, stalled) = match &outcome.verdict {
        Verdict::Ready { .. } => (true, false, false),
        Verdict::Progressing { .. } | Verdict::Failed { .. } => (false, true, false),
        Verdict::Stalled { .. } => (false, false, true),
    };
    let reason = outcome.verdict.reason();
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
    status.set_last_plan(outcome.planned.clone());
    status.set_last_sync_time(now);
    K::fill_status(&mut status, outcome);
    status
}

fn without_sync_time(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("lastSyncTime");
    }
    v
}

fn sync_time(v: &Value) -> Option<jiff::Timestamp> {
    v.get("lastSyncTime")?.as_str()?.parse().ok()
}

/// Whether `new` must be written over `old`: anything but `lastSyncTime`
/// changed, or `lastSyncTime` is older than `refresh` (so it still says
/// roughly when the object was last compared, without a write per pass).
pub fn needs_write<S: serde::Serialize>(
    old: Option<&S>,
    new: &S,
    now: jiff::Timestamp,
    refresh: Duration,
) -> bool {
    let Some(old) = old else {
        return true;
    };
    let (Ok(old), Ok(new)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return true;
    };
    if without_sync_time(&old) != without_sync_time(&new) {
        return true;
    }
    let refresh = jiff::SignedDuration::try_from(refresh).unwrap_or(jiff::SignedDuration::MAX);
    match sync_time(&old) {
        Some(t) => now.duration_since(t) >= refresh,
        None => true,
    }
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
        .is_some_and(|c| c.status == conditions::TRUE && c.reason == "Synced");
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
    let n = |kinds: &[&str]| -> u32 { kinds.iter().filter_map(|k| outcome.applied.get(*k)).sum() };
    if n(&["createGroup"]) > 0 {
        let id = outcome.group_id.clone().unwrap_or_default();
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
        let id = outcome.group_id.clone().unwrap_or_default();
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
    let reason_changed = old_ready.is_none_or(|c| c.reason != outcome.verdict.reason());
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
    use std::collections::BTreeMap;

    use kube::api::ObjectMeta;

    use super::*;
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
            },
            status,
        }
    }

    fn outcome(verdict: Verdict, applied: &[(&str, u32)]) -> ObjectOutcome {
        ObjectOutcome {
            key: ObjectKey::new("SecurityGroup", "prod", "web"),
            verdict,
            planned: applied.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            applied: applied.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            group_id: Some("sg-1".into()),
            rule_count: Some(3),
            group_ids: None,
            current_groups: None,
            managed_ports: None,
            cleanup_done: false,
        }
    }

    fn synced() -> Verdict {
        Verdict::Ready {
            reason: "Synced".into(),
            message: "in sync".into(),
        }
    }

    #[test]
    fn ready_status_carries_ids_generation_and_kstatus_conditions() {
        let obj = sg(3, None);
        let s = desired_status(
            &obj,
            &outcome(synced(), &[("createGroup", 1)]),
            now("2026-01-01T00:00:00Z"),
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
            Some(BTreeMap::from([("createGroup".to_string(), 1)]))
        );
    }

    #[test]
    fn unchanged_status_is_not_rewritten_until_the_sync_time_is_stale() {
        let t0 = now("2026-01-01T00:00:00Z");
        let first = desired_status(&sg(1, None), &outcome(synced(), &[]), t0);
        let stored = sg(1, Some(first.clone()));
        let t1 = now("2026-01-01T00:01:00Z");
        let second = desired_status(&stored, &outcome(synced(), &[]), t1.clone());
        let ten_min = Duration::from_secs(600);
        assert!(!needs_write(Some(&first), &second, t1.0, ten_min));
        assert_eq!(
            conditions::find(&second.conditions, "Ready")
                .unwrap()
                .last_transition_time,
            conditions::find(&first.conditions, "Ready")
                .unwrap()
                .last_transition_time,
            "no transition: the time is kept"
        );
        let later = now("2026-01-01T00:10:00Z");
        assert!(needs_write(Some(&first), &second, later.0, ten_min));

        let stalled = desired_status(
            &stored,
            &outcome(
                Verdict::Stalled {
                    reason: "Conflict".into(),
                    message: "x".into(),
                },
                &[],
            ),
            t1.clone(),
        );
        assert!(needs_write(Some(&first), &stalled, t1.0, ten_min));
        assert!(needs_write(None, &stalled, t1.0, ten_min));
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
            Verdict::Stalled {
                reason: "MassChangeBlocked".into(),
                message: "would revoke 9 of 10 rules".into(),
            },
            &[],
        );
        let ev = events(None, &blocked, false);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].type_, EventType::Warning);
        assert!(ev[0].note.contains("9 of 10"));

        // Still blocked for the same reason: no new event.
        let s = desired_status(&sg(1, None), &blocked, now("2026-01-01T00:00:00Z"));
        let old_ready = conditions::find(&s.conditions, "Ready");
        assert!(events(old_ready, &blocked, false).is_empty());
    }

    #[test]
    fn drift_needs_an_observed_generation_that_was_in_sync() {
        let t0 = now("2026-01-01T00:00:00Z");
        let in_sync = desired_status(&sg(2, None), &outcome(synced(), &[]), t0.clone());
        let repaired = outcome(synced(), &[("createRules", 1)]);
        assert!(is_drift_repair(&sg(2, Some(in_sync.clone())), &repaired));
        assert!(
            !is_drift_repair(&sg(3, Some(in_sync)), &repaired),
            "a spec change is not drift"
        );
        assert!(!is_drift_repair(&sg(2, None), &repaired), "first pass");
        let waiting = desired_status(
            &sg(2, None),
            &outcome(
                Verdict::Progressing {
                    reason: "ReferenceNotFound".into(),
                    message: String::new(),
                    retry: false,
                },
                &[],
            ),
            t0,
        );
        assert!(!is_drift_repair(&sg(2, Some(waiting)), &repaired));
        let ev = events(None, &repaired, true);
        assert!(ev.iter().any(|e| e.reason == "DriftRepaired"));
    }
}
