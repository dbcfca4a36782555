//! The planner: pure code, no I/O. Desired state plus observed state in, an
//! ordered, batched, make-before-break [`Plan`] out (or field errors).
//!
//! Owned by issue 2. The public entry point is [`plan`].

pub mod normalize;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{DesiredState, FieldError, ObjectKey, ObservedState, Plan};

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

/// What the plan means for one object, for its status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectReport {
    /// Changes for this object, counted by operation kind, whether or not
    /// they were put in the plan.
    pub changes: BTreeMap<String, usize>,
    pub withheld: Option<Withheld>,
    pub conflicts: Vec<Conflict>,
    /// Things the user should know that block nothing.
    pub warnings: Vec<String>,
}

/// The planner's answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanOutcome {
    /// Steps to execute, in order.
    pub plan: Plan,
    pub reports: BTreeMap<ObjectKey, ObjectReport>,
}

/// Plan the calls that take `observed` to `desired`.
pub fn plan(
    _desired: &DesiredState,
    _observed: &ObservedState,
    _opts: &PlanOptions,
) -> Result<PlanOutcome, Vec<FieldError>> {
    // Implemented by the planner work of issue 2.
    Err(vec![FieldError::new(
        None,
        "",
        "planner not implemented yet",
    )])
}
