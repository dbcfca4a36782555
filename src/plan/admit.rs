//! Planning an account whose objects may be refused one by one: the
//! planner's field errors name their objects, those objects are taken out
//! and the rest is planned again, so one bad object does not hold up its
//! account. The controller plans this way; the one-shot CLI refuses the
//! whole run on any error instead.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{DesiredState, FieldError, ObjectKey, ObservedState};

use super::{PlanOptions, PlanOutcome, plan};

/// A plan of the objects the planner accepted.
#[derive(Clone, Debug, PartialEq)]
pub struct Admitted {
    pub outcome: PlanOutcome,
    /// The desired state that was planned: the input without the refused
    /// objects' intents.
    pub desired: DesiredState,
    /// Objects taken out, with the errors that refused them.
    pub rejected: BTreeMap<ObjectKey, Vec<FieldError>>,
}

/// Plan `desired`, leaving out each object the planner refuses. `Err` when
/// an error names no object, or planning without the refused objects still
/// fails on the same ones (nothing left to take out).
pub fn plan_admitting(
    mut desired: DesiredState,
    observed: &ObservedState,
    opts: &PlanOptions,
) -> Result<Admitted, Vec<FieldError>> {
    let mut rejected: BTreeMap<ObjectKey, Vec<FieldError>> = BTreeMap::new();
    loop {
        let errors = match plan(&desired, observed, opts) {
            Ok(outcome) => {
                return Ok(Admitted {
                    outcome,
                    desired,
                    rejected,
                });
            }
            Err(errors) => errors,
        };
        let owners: BTreeSet<ObjectKey> = errors.iter().filter_map(|e| e.object.clone()).collect();
        let unattributed = errors.iter().any(|e| e.object.is_none());
        let progress = owners.iter().any(|o| !rejected.contains_key(o));
        if unattributed || !progress {
            return Err(errors);
        }
        for e in errors {
            if let Some(o) = e.object.clone() {
                rejected.entry(o).or_default().push(e);
            }
        }
        desired.remove_owners(&owners);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        DesiredPortGroups, GroupHandle, Intent, Mode, ObservedGroup, ObservedPort, ProviderKind,
    };

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new("PortSecurityGroups", "ns", name)
    }

    fn port(name: &str, port: &str, groups: &[&str]) -> DesiredPortGroups {
        DesiredPortGroups {
            intent: Intent {
                owner: key(name),
                mode: Mode::Apply,
                allow_mass_change: false,
            },
            port_id: port.into(),
            groups: groups
                .iter()
                .map(|g| GroupHandle::Existing((*g).into()))
                .collect(),
        }
    }

    fn state(ports: Vec<DesiredPortGroups>) -> DesiredState {
        DesiredState {
            provider: ProviderKind::Huawei,
            groups: vec![],
            ports,
            memberships: vec![],
            deletions: vec![],
            rule_sets: Vec::new(),
        }
    }

    fn observed(ports: &[(&str, &[&str])]) -> ObservedState {
        let group = |id: &str| ObservedGroup {
            id: id.into(),
            name: id.into(),
            description: String::new(),
            vpc_id: None,
            version: None,
            tags: Default::default(),
            rules: vec![],
        };
        ObservedState {
            groups: ["sg-1", "sg-2"]
                .into_iter()
                .map(|id| (id.to_string(), group(id)))
                .collect(),
            ports: ports
                .iter()
                .map(|(id, groups)| {
                    (
                        id.to_string(),
                        ObservedPort {
                            id: id.to_string(),
                            groups: groups.iter().map(|g| g.to_string()).collect(),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_refused_object_is_left_out_and_the_rest_is_planned() {
        // `bad` would leave its port with no group: refused; `good` moves.
        let desired = state(vec![port("bad", "p1", &[]), port("good", "p2", &["sg-2"])]);
        let cloud = observed(&[("p1", &["sg-1"]), ("p2", &["sg-1"])]);
        let a = plan_admitting(desired, &cloud, &PlanOptions::default()).unwrap();
        assert_eq!(a.rejected.keys().cloned().collect::<Vec<_>>(), [key("bad")]);
        assert!(a.rejected[&key("bad")][0].field.contains("securityGroups"));
        assert_eq!(a.desired.ports.len(), 1);
        assert!(!a.outcome.plan.is_empty(), "good is still planned");
        assert!(
            a.outcome
                .plan
                .steps
                .iter()
                .all(|s| s.owners == [key("good")])
        );
    }

    #[test]
    fn nothing_refused_plans_everything_once() {
        let desired = state(vec![port("a", "p1", &["sg-1"])]);
        let cloud = observed(&[("p1", &["sg-1"])]);
        let a = plan_admitting(desired.clone(), &cloud, &PlanOptions::default()).unwrap();
        assert!(a.rejected.is_empty());
        assert_eq!(a.desired, desired);
        assert!(a.outcome.plan.is_empty());
    }
}
