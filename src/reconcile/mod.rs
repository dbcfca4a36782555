//! The I/O core shared by the controller and the one-shot CLI: read the
//! observed state a desired state needs ([`observe`]), plan (pure,
//! [`crate::plan`]), and execute the plan in order ([`execute`]).
//! [`sync`] runs the three in sequence.

mod execute;
mod observe;

pub use execute::{ExecEvent, ExecuteReport, StepError, StepResult, execute};
pub use observe::{Observation, observe};

use crate::cloud::{CloudError, CloudProvider};
use crate::model::{DesiredState, FieldError};
use crate::plan::{PlanOptions, PlanOutcome, plan};

/// Why a sync could not plan.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The desired state is invalid; nothing was changed.
    #[error("invalid desired state: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// Reading the cloud failed; nothing was changed.
    #[error("reading the cloud failed: {0}")]
    Read(#[from] CloudError),
}

/// What one sync saw, planned and did.
#[derive(Debug)]
pub struct SyncOutcome {
    /// The desired state after groups found by owner tag were bound.
    pub desired: DesiredState,
    pub observation: Observation,
    pub outcome: PlanOutcome,
    /// `None` when only planning (or the plan was empty).
    pub execution: Option<ExecuteReport>,
}

/// Observe, plan, and (when `apply`) execute. Nothing is written to the
/// cloud before the whole desired state has been read and planned.
pub async fn sync(
    provider: &dyn CloudProvider,
    mut desired: DesiredState,
    opts: &PlanOptions,
    apply: bool,
    on_event: &mut (dyn FnMut(ExecEvent<'_>) + Send),
) -> Result<SyncOutcome, SyncError> {
    let observation = observe(provider, &mut desired).await?;
    let outcome = plan(&desired, &observation.observed, opts).map_err(SyncError::Invalid)?;
    let execution = if apply && !outcome.plan.is_empty() {
        Some(execute(provider, &outcome.plan, &observation.observed, on_event).await)
    } else {
        None
    };
    Ok(SyncOutcome {
        desired,
        observation,
        outcome,
        execution,
    })
}
