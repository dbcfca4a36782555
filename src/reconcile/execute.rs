//! Execute a plan, step by step, in order.
//!
//! The plan is already safe at every point when each step succeeds (adds
//! before removes, never zero groups). Execution keeps it safe when a step
//! fails: it stops at the first failed step and runs nothing after it, so a
//! removal never runs after the add it depended on went wrong. The caller
//! re-reads the cloud and re-plans; the next plan picks up from where the
//! cloud really is.

use std::collections::BTreeMap;

use crate::cloud::{BatchOutcome, CloudError, CloudProvider, NewGroup, PortFailure};
use crate::model::{
    GroupHandle, OWNER_TAG, ObjectKey, ObservedState, Operation, Plan, Remote, Rule, Step,
};

/// Progress of an execution, for CLI lines and logs.
#[derive(Clone, Debug)]
pub enum ExecEvent<'a> {
    Started {
        index: usize,
        total: usize,
        step: &'a Step,
    },
    Finished {
        index: usize,
        total: usize,
        step: &'a Step,
        result: &'a Result<(), StepError>,
    },
}

/// Why a step failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Cloud(#[from] CloudError),
    /// The cloud accepted a batch call but refused some ports.
    #[error("{} of the ports failed: {}", .0.len(), describe_failures(.0))]
    PartialBatch(Vec<PortFailure>),
    /// A step names a group this plan was to create, but its create did not
    /// happen (cannot occur when steps run in plan order; kept as an error
    /// rather than a panic).
    #[error("group of {0} was not created earlier in this plan")]
    UnresolvedGroup(ObjectKey),
}

fn describe_failures(failures: &[PortFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("{} ({} {})", f.port, f.code, f.message))
        .collect::<Vec<_>>()
        .join(", ")
}

impl StepError {
    /// The cloud error behind the failure, if any.
    pub fn cloud(&self) -> Option<&CloudError> {
        match self {
            StepError::Cloud(e) => Some(e),
            _ => None,
        }
    }
}

/// One step's outcome.
#[derive(Clone, Debug)]
pub struct StepResult {
    pub index: usize,
    pub step: Step,
    pub result: Result<(), StepError>,
}

/// What an execution did.
#[derive(Clone, Debug, Default)]
pub struct ExecuteReport {
    /// Steps that ran, in order (the last one failed if `failed()` is some).
    pub results: Vec<StepResult>,
    /// Steps not run because an earlier one failed.
    pub skipped: Vec<Step>,
    /// Ids of groups created, by owning object.
    pub created: BTreeMap<ObjectKey, String>,
    /// Execution stopped because the caller's gate closed before a step
    /// (the steps from there on are in `skipped`).
    pub gated: bool,
}

impl ExecuteReport {
    /// The failed step, if execution stopped early.
    pub fn failed(&self) -> Option<&StepResult> {
        self.results.iter().find(|r| r.result.is_err())
    }

    pub fn succeeded(&self) -> usize {
        self.results.iter().filter(|r| r.result.is_ok()).count()
    }

    /// Whether every step ran and succeeded.
    pub fn complete(&self) -> bool {
        self.failed().is_none() && self.skipped.is_empty()
    }
}

/// Run `plan` against `provider`. `observed` supplies Baidu `sgVersion`s;
/// `on_event` sees each step start and finish.
pub async fn execute(
    provider: &dyn CloudProvider,
    plan: &Plan,
    observed: &ObservedState,
    on_event: &mut (dyn FnMut(ExecEvent<'_>) + Send),
) -> ExecuteReport {
    execute_while(provider, plan, observed, &|| true, on_event).await
}

/// [`execute`], asking `may_write` before each step: once it says no, that
/// step and every later one are skipped (the controller's leader fence).
pub async fn execute_while(
    provider: &dyn CloudProvider,
    plan: &Plan,
    observed: &ObservedState,
    may_write: &(dyn Fn() -> bool + Send + Sync),
    on_event: &mut (dyn FnMut(ExecEvent<'_>) + Send),
) -> ExecuteReport {
    let mut report = ExecuteReport::default();
    let mut versions: BTreeMap<String, u64> = observed
        .groups
        .values()
        .filter_map(|g| g.version.map(|v| (g.id.clone(), v)))
        .collect();
    let total = plan.steps.len();
    for (index, step) in plan.steps.iter().enumerate() {
        if !may_write() {
            report.gated = true;
            report.skipped = plan.steps[index..].to_vec();
            break;
        }
        on_event(ExecEvent::Started { index, total, step });
        let result = run_step(provider, &step.op, &mut report.created, &mut versions).await;
        on_event(ExecEvent::Finished {
            index,
            total,
            step,
            result: &result,
        });
        let failed = result.is_err();
        report.results.push(StepResult {
            index,
            step: step.clone(),
            result,
        });
        if failed {
            report.skipped = plan.steps[index + 1..].to_vec();
            break;
        }
    }
    report
}

fn resolve(
    handle: &GroupHandle,
    created: &BTreeMap<ObjectKey, String>,
) -> Result<String, StepError> {
    match handle {
        GroupHandle::Existing(id) => Ok(id.clone()),
        GroupHandle::New(owner) => created
            .get(owner)
            .cloned()
            .ok_or_else(|| StepError::UnresolvedGroup(owner.clone())),
    }
}

fn resolve_rule(rule: &Rule, created: &BTreeMap<ObjectKey, String>) -> Result<Rule, StepError> {
    let mut rule = rule.clone();
    if let Remote::Group(handle) = &rule.remote {
        rule.remote = Remote::Group(GroupHandle::Existing(resolve(handle, created)?));
    }
    Ok(rule)
}

fn batch_result(outcome: BatchOutcome) -> Result<(), StepError> {
    if outcome.failed.is_empty() {
        Ok(())
    } else {
        Err(StepError::PartialBatch(outcome.failed))
    }
}

async fn run_step(
    provider: &dyn CloudProvider,
    op: &Operation,
    created: &mut BTreeMap<ObjectKey, String>,
    versions: &mut BTreeMap<String, u64>,
) -> Result<(), StepError> {
    match op {
        Operation::CreateGroup {
            owner,
            owner_uid,
            name,
            description,
            vpc_id,
        } => {
            let id = provider
                .create_group(&NewGroup {
                    name: name.clone(),
                    description: description.clone(),
                    vpc_id: vpc_id.clone(),
                    tags: vec![(OWNER_TAG.to_string(), owner_uid.clone())],
                })
                .await?;
            created.insert(owner.clone(), id);
            Ok(())
        }
        Operation::UpdateGroup {
            group,
            name,
            description,
        } => Ok(provider
            .update_group(group, name.as_deref(), description.as_deref())
            .await?),
        Operation::DeleteGroup { group } => Ok(provider.delete_group(group).await?),
        Operation::CreateRules { group, rules } => {
            let group = resolve(group, created)?;
            let rules = rules
                .iter()
                .map(|r| resolve_rule(r, created))
                .collect::<Result<Vec<_>, _>>()?;
            let version = versions.get(&group).copied();
            provider.create_rules(&group, &rules, version).await?;
            if let Some(v) = versions.get_mut(&group) {
                *v += rules.len() as u64;
            }
            Ok(())
        }
        Operation::UpdateRule {
            group, rule_id, to, ..
        } => {
            let to = resolve_rule(to, created)?;
            let version = versions.get(group).copied();
            provider.update_rule(group, rule_id, &to, version).await?;
            if let Some(v) = versions.get_mut(group) {
                *v += 1;
            }
            Ok(())
        }
        Operation::DeleteRule {
            group,
            rule_id,
            rule,
        } => {
            let version = versions.get(group).copied();
            provider.delete_rule(group, rule_id, rule, version).await?;
            if let Some(v) = versions.get_mut(group) {
                *v += 1;
            }
            Ok(())
        }
        Operation::AddPortGroups {
            port,
            groups,
            index,
        } => {
            let groups = groups
                .iter()
                .map(|g| resolve(g, created))
                .collect::<Result<Vec<_>, _>>()?;
            provider.add_port_groups(port, &groups, *index).await?;
            Ok(())
        }
        Operation::RemovePortGroups { port, groups } => {
            provider.remove_port_groups(port, groups).await?;
            Ok(())
        }
        Operation::AttachPorts { group, ports } => {
            let group = resolve(group, created)?;
            batch_result(provider.attach_ports(&group, ports).await?)
        }
        Operation::DetachPorts { group, ports } => {
            batch_result(provider.detach_ports(group, ports).await?)
        }
    }
}
