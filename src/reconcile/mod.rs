//! The I/O core shared by the controller, the one-shot CLI and the tests:
//! read what a desired state needs from the cloud and plan against it
//! ([`prepare`]), then execute the plan in order ([`execute`]). Nothing is
//! written before the whole desired state has been read and planned.

mod execute;
mod instances;
mod observe;
mod scope;
mod session;

pub use execute::{ExecEvent, ExecuteReport, StepError, StepResult, execute, execute_while};
pub use instances::Instances;
pub use observe::{Observation, Refreshed, Touched, observe, refresh};
pub use scope::touched;
pub use session::{Planned, Scope, Session};

use std::collections::BTreeMap;

use crate::cloud::{CloudError, CloudProvider};
use crate::model::{DesiredState, FieldError, ObjectKey};
use crate::plan::{PlanOptions, PlanOutcome, plan_admitting};

/// Why [`prepare`] could not plan.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// Reading the cloud failed; nothing was changed.
    #[error("reading the cloud failed: {0}")]
    Read(#[from] CloudError),
    /// The planner refused the desired state, and not because of any one
    /// object it could leave out; nothing was changed.
    #[error("invalid desired state: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
}

/// What the cloud has, and the plan that converges it.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The desired state as planned: groups found by their owner tag are
    /// bound to their ids, and objects the planner refused are taken out.
    pub desired: DesiredState,
    pub observation: Observation,
    pub outcome: PlanOutcome,
    /// Objects the planner refused, with why; their intents are not in
    /// the plan. The CLI treats any as an error; the controller reports
    /// them on the objects and applies the rest.
    pub rejected: BTreeMap<ObjectKey, Vec<FieldError>>,
}

/// Observe what `desired` touches and plan. Nothing is written.
pub async fn prepare(
    provider: &dyn CloudProvider,
    mut desired: DesiredState,
    opts: &PlanOptions,
) -> Result<Prepared, PrepareError> {
    let observation = observe(provider, &mut desired).await?;
    let admitted =
        plan_admitting(desired, &observation.observed, opts).map_err(PrepareError::Invalid)?;
    Ok(Prepared {
        desired: admitted.desired,
        observation,
        outcome: admitted.outcome,
        rejected: admitted.rejected,
    })
}
