//! kstatus-compatible conditions: `Ready`, `Reconciling` and `Stalled`,
//! kept as a list keyed by `type`.
//!
//! kstatus reads an object as in progress while `Reconciling` is `True`,
//! failed while `Stalled` is `True`, and current when neither is `True` and
//! `Ready` is `True` with `observedGeneration` equal to `metadata.generation`.
//! The builders here take the time as an argument so status code stays pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

pub const TRUE: &str = "True";
pub const FALSE: &str = "False";
pub const UNKNOWN: &str = "Unknown";

/// A condition of `type_` with `status` (`"True"`, `"False"`, `"Unknown"`).
pub fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Time,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: message.into(),
        observed_generation,
        last_transition_time: now,
    }
}

/// `Ready` with status `True` when `ready`, else `False`.
pub fn ready(
    ready: bool,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Time,
) -> Condition {
    let status = if ready { TRUE } else { FALSE };
    condition(READY, status, reason, message, observed_generation, now)
}

/// `Reconciling`: `True` while the controller is still changing the cloud.
pub fn reconciling(
    active: bool,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Time,
) -> Condition {
    let status = if active { TRUE } else { FALSE };
    condition(
        RECONCILING,
        status,
        reason,
        message,
        observed_generation,
        now,
    )
}

/// `Stalled`: `True` when progress needs someone to act (invalid spec,
/// conflict, withheld mass change, rejected credentials).
pub fn stalled(
    stalled: bool,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Time,
) -> Condition {
    let status = if stalled { TRUE } else { FALSE };
    condition(STALLED, status, reason, message, observed_generation, now)
}

/// Put `new` in place of the condition of the same type (or append it).
/// When the status is unchanged the old `lastTransitionTime` is kept, so the
/// time says when the status last flipped, not when we last looked.
/// Returns whether anything other than that time changed.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time.clone();
            }
            let changed = *old != new;
            *old = new;
            changed
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

/// The condition of `type_`, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of `type_` is present with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == TRUE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn appends_new_types_and_replaces_existing_ones() {
        let mut conds = Vec::new();
        assert!(set_condition(
            &mut conds,
            ready(false, "Pending", "", Some(1), at(10))
        ));
        assert!(set_condition(
            &mut conds,
            reconciling(true, "Applying", "2 steps", Some(1), at(10))
        ));
        assert_eq!(conds.len(), 2);
        assert!(set_condition(
            &mut conds,
            ready(true, "Synced", "in sync", Some(1), at(20))
        ));
        assert_eq!(conds.len(), 2);
        let r = find(&conds, READY).unwrap();
        assert_eq!((r.status.as_str(), r.reason.as_str()), (TRUE, "Synced"));
        assert_eq!(r.last_transition_time, at(20), "status flipped: new time");
        assert!(is_true(&conds, READY));
        assert!(is_true(&conds, RECONCILING));
        assert!(!is_true(&conds, STALLED));
    }

    #[test]
    fn keeps_transition_time_when_status_is_unchanged() {
        let mut conds = vec![ready(true, "Synced", "in sync", Some(1), at(10))];
        // Same status, new generation and message: changed, time kept.
        assert!(set_condition(
            &mut conds,
            ready(true, "Synced", "3 rules", Some(2), at(30))
        ));
        let r = find(&conds, READY).unwrap();
        assert_eq!(r.last_transition_time, at(10));
        assert_eq!(r.observed_generation, Some(2));
        assert_eq!(r.message, "3 rules");
        // Exactly the same apart from the time: nothing changed.
        assert!(!set_condition(
            &mut conds,
            ready(true, "Synced", "3 rules", Some(2), at(40))
        ));
        assert_eq!(find(&conds, READY).unwrap().last_transition_time, at(10));
    }

    #[test]
    fn stalled_builder_sets_type_and_status() {
        let c = stalled(
            true,
            "InvalidSpec",
            "spec.rules[0].ports: bad",
            Some(3),
            at(5),
        );
        assert_eq!(c.type_, STALLED);
        assert_eq!(c.status, TRUE);
        assert_eq!(c.reason, "InvalidSpec");
        assert_eq!(c.observed_generation, Some(3));
        assert_eq!(stalled(false, "Ok", "", None, at(5)).status, FALSE);
    }
}
