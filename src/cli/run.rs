//! The plan/apply pipeline once the manifests are resolved: for each
//! account, observe and plan (all accounts before anything is applied),
//! print, execute in order with progress lines, then observe and plan again
//! to verify the cloud converged.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Instant;

use std::collections::BTreeMap;

use super::json;
use super::manifest::Origin;
use super::render::{self, AccountHeader};
use crate::cloud::CloudProvider;
use crate::model::text::printable;
use crate::model::{DesiredState, GroupHandle, ObjectKey, ProviderKind};
use crate::plan::{PlanOptions, PlanOutcome};
use crate::reconcile::{self, ExecEvent, ExecuteReport, Observation, execute};

/// How a command ends. `Changes` is only used by `plan --detailed-exitcode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: done; with `--detailed-exitcode`, also "no changes".
    Success = 0,
    /// 1: an error (bad manifests, cloud errors, failed operations).
    Error = 1,
    /// 2: `plan --detailed-exitcode` found changes pending.
    Changes = 2,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

/// One account, ready to talk to its cloud.
pub struct AccountRun {
    pub header: AccountHeader,
    pub desired: DesiredState,
    /// When the account selects Nodes: `desired` is resolved again once
    /// the Nodes' instances are read.
    pub nodes: Option<super::accounts::NodeInputs>,
    pub provider: Arc<dyn CloudProvider>,
}

/// An account after observe + plan.
pub struct Planned {
    pub run: AccountRun,
    pub observation: Observation,
    pub outcome: PlanOutcome,
}

/// Observe and plan every account. Nothing is written to any cloud. An
/// error names the account, or the object and field (and its file, from
/// `origins`) when the planner refused an object or the cloud lacks a port
/// or instance it names.
pub async fn plan_all(
    accounts: Vec<AccountRun>,
    opts: &PlanOptions,
    origins: &BTreeMap<ObjectKey, Origin>,
) -> Result<Vec<Planned>, Vec<json::Error>> {
    let mut planned = Vec::new();
    let mut errors = Vec::new();
    for mut run in accounts {
        let account = format!("CloudAccount {}/{}", run.header.namespace, run.header.name);
        // Node selectors: read the instances of the Nodes among the
        // manifests (in the cloud's batches) and expand them into ports.
        let mut node_warnings = BTreeMap::new();
        if let Some(nodes) = &run.nodes {
            let wanted: Vec<String> = nodes.instances().into_iter().collect();
            let cloud = if wanted.is_empty() {
                Ok(Default::default())
            } else {
                run.provider.instance_ports(&wanted).await
            };
            match cloud {
                Ok(cloud) => {
                    let (desired, warnings) = nodes.resolve(&cloud);
                    run.desired = desired;
                    node_warnings = warnings;
                }
                Err(e) => {
                    errors.push(json::Error {
                        object: Some(account.clone()),
                        ..json::Error::text(format!(
                            "{account}: reading the Nodes' instances: {}",
                            printable(&e.to_string())
                        ))
                    });
                    continue;
                }
            }
        }
        match plan_one(run.provider.as_ref(), &run.desired, opts).await {
            Ok(mut prepared) if prepared.rejected.is_empty() => {
                for (key, warnings) in node_warnings {
                    prepared
                        .outcome
                        .reports
                        .entry(key)
                        .or_default()
                        .warnings
                        .extend(warnings);
                }
                errors.extend(missing_in_cloud(
                    &run.desired,
                    &prepared.observation,
                    origins,
                ));
                planned.push(Planned {
                    run,
                    observation: prepared.observation,
                    outcome: prepared.outcome,
                });
            }
            Ok(prepared) => errors.extend(
                prepared
                    .rejected
                    .into_values()
                    .flatten()
                    .map(|e| object_error(origins, e.object.as_ref(), &e.field, &e.message)),
            ),
            Err(reconcile::PrepareError::Invalid(field_errors)) => errors.extend(
                field_errors
                    .iter()
                    .map(|e| object_error(origins, e.object.as_ref(), &e.field, &e.message)),
            ),
            Err(e) => errors.push(json::Error {
                object: Some(account.clone()),
                ..json::Error::text(format!("{account}: {}", printable(&e.to_string())))
            }),
        }
    }
    if errors.is_empty() {
        Ok(planned)
    } else {
        Err(errors)
    }
}

/// An error about `object`'s `field`, with the file it came from.
fn object_error(
    origins: &BTreeMap<ObjectKey, Origin>,
    object: Option<&ObjectKey>,
    field: &str,
    message: &str,
) -> json::Error {
    let origin = object.and_then(|o| origins.get(o));
    let name = object.map(|o| format!("{} {}/{}", o.kind, o.namespace, o.name));
    let mut text = String::new();
    for part in [origin.map(ToString::to_string), name.clone()]
        .into_iter()
        .flatten()
        .chain(Some(field.to_string()).filter(|f| !f.is_empty()))
    {
        text.push_str(&part);
        text.push_str(": ");
    }
    text.push_str(message);
    json::Error {
        file: origin.map(|o| o.file.display().to_string()),
        document: origin.map(|o| o.document).filter(|d| *d > 0),
        object: name,
        field: Some(field.to_string()).filter(|f| !f.is_empty()),
        ..json::Error::text(text)
    }
}

/// Ports (Huawei) and instances (Baidu) the manifests name, and groups
/// they adopt by id, that the cloud does not have. The planner only warns
/// about them (the controller keeps retrying); a one-shot run must not
/// report success while such a port stays unsecured.
pub fn missing_in_cloud(
    desired: &DesiredState,
    observation: &Observation,
    origins: &BTreeMap<ObjectKey, Origin>,
) -> Vec<json::Error> {
    let noun = match desired.provider {
        ProviderKind::Huawei => "port",
        ProviderKind::Baidu => "instance",
    };
    let absent = |id: &str| observation.absent_ports.contains(id);
    let mut errors = Vec::new();
    for p in desired.ports.iter().filter(|p| absent(&p.port_id)) {
        errors.push(object_error(
            origins,
            Some(&p.intent.owner),
            "spec.portId",
            &format!("{noun} {:?} does not exist in the cloud", p.port_id),
        ));
    }
    for m in &desired.memberships {
        for port in m.ports.iter().filter(|p| absent(p)) {
            errors.push(object_error(
                origins,
                Some(&m.intent.owner),
                "spec.ports",
                &format!("{noun} {port:?} does not exist in the cloud"),
            ));
        }
    }
    for g in &desired.groups {
        if let GroupHandle::Existing(id) = &g.handle
            && observation.absent_groups.contains(id)
        {
            errors.push(object_error(
                origins,
                Some(&g.intent.owner),
                "spec.groupId",
                &format!("security group {id:?} does not exist in the cloud"),
            ));
        }
    }
    errors
}

/// Observe and plan one account with the reconcile core's `prepare`.
async fn plan_one(
    provider: &dyn CloudProvider,
    desired: &DesiredState,
    opts: &PlanOptions,
) -> Result<reconcile::Prepared, reconcile::PrepareError> {
    reconcile::prepare(provider, desired.clone(), opts).await
}

/// Print every account's plan as a table.
pub fn print_plans(w: &mut dyn Write, planned: &[Planned]) -> io::Result<()> {
    for (i, p) in planned.iter().enumerate() {
        if i > 0 {
            writeln!(w)?;
        }
        writeln!(w, "{}", p.run.header.title())?;
        for (owner, id) in &p.observation.found_by_tag {
            let line = format!(
                "{}/{} was created earlier as {id} (found by its owner tag)",
                owner.kind, owner.name
            );
            writeln!(w, "  {}", printable(&line))?;
        }
        for (owner, ids) in &p.observation.duplicates {
            let line = format!(
                "warning: {}/{} has duplicate groups in the cloud: {} (not touched; delete them by hand)",
                owner.kind,
                owner.name,
                ids.join(", ")
            );
            writeln!(w, "  {}", printable(&line))?;
        }
        render::write_plan_table(w, &p.outcome.plan)?;
        render::write_reports(w, &p.outcome.reports)?;
    }
    Ok(())
}

/// Conflicts make the manifests contradictory: worth an error exit.
pub fn conflict_errors(planned: &[Planned]) -> Vec<String> {
    let mut out = Vec::new();
    for p in planned {
        for (key, report) in &p.outcome.reports {
            for c in &report.conflicts {
                out.push(format!(
                    "{key} and {} disagree about port {} in group {}: {}",
                    c.with, c.port, c.group, c.message
                ));
            }
            for c in &report.rule_conflicts {
                out.push(format!(
                    "{key} and {} disagree about a rule of group {}: {}",
                    c.with, c.group, c.message
                ));
            }
        }
    }
    out
}

/// Most execute-then-replan passes `apply` makes for one account. A second
/// pass is needed when the cloud itself changes what was just written: a
/// Huawei group is created with default rules, which an authoritative rule
/// set then revokes. More than that means something does not converge.
pub const MAX_PASSES: usize = 3;

/// What applying one account did.
pub struct Applied {
    /// One report per pass that executed something, in order.
    pub passes: Vec<ExecuteReport>,
    /// The plan after the last pass; `Err` when re-reading the cloud failed.
    pub verify: Result<PlanOutcome, String>,
}

impl Applied {
    /// The failed step of the last pass, if it stopped on one.
    pub fn failed(&self) -> Option<&crate::reconcile::StepResult> {
        self.passes.last().and_then(ExecuteReport::failed)
    }
}

/// Execute one account's plan with progress lines on `progress`, then plan
/// again from a fresh read of the cloud; repeat (up to [`MAX_PASSES`]) while
/// every step succeeded and the fresh plan still has steps.
pub async fn apply_one(
    planned: &Planned,
    opts: &PlanOptions,
    progress: &mut (dyn Write + Send),
) -> Applied {
    let mut passes = Vec::new();
    let mut plan = planned.outcome.plan.clone();
    let mut observed = planned.observation.observed.clone();
    let mut verify = Ok(planned.outcome.clone());
    for pass in 1..=MAX_PASSES {
        if plan.is_empty() {
            break;
        }
        if pass > 1 {
            let _ = writeln!(
                progress,
                "Pass {pass}: a fresh read of the cloud still differs ({}), e.g. default rules the cloud gave new groups; applying that too:",
                summary_text(&plan)
            );
        }
        let report =
            execute_with_progress(planned.run.provider.as_ref(), &plan, &observed, progress).await;
        let complete = report.complete();
        passes.push(report);
        // Verify from the original desired state: groups created just now
        // are found again by their owner tag, exactly as a second run would.
        match plan_one(planned.run.provider.as_ref(), &planned.run.desired, opts).await {
            Ok(prepared) => {
                plan = prepared.outcome.plan.clone();
                observed = prepared.observation.observed;
                verify = Ok(prepared.outcome);
            }
            Err(e) => {
                verify = Err(e.to_string());
                break;
            }
        }
        if !complete {
            break;
        }
    }
    Applied { passes, verify }
}

async fn execute_with_progress(
    provider: &dyn CloudProvider,
    plan: &crate::model::Plan,
    observed: &crate::model::ObservedState,
    progress: &mut (dyn Write + Send),
) -> ExecuteReport {
    let mut started = Instant::now();
    let mut on_event = |ev: ExecEvent<'_>| {
        // Progress is best effort: a closed pipe must not stop an apply.
        let _ = match ev {
            ExecEvent::Started { index, total, step } => {
                started = Instant::now();
                write!(progress, "{}", render::progress_start(index, total, step))
                    .and_then(|()| progress.flush())
            }
            ExecEvent::Finished { result, .. } => writeln!(
                progress,
                "{}",
                render::progress_end(result, started.elapsed())
            ),
        };
    };
    execute(provider, plan, observed, &mut on_event).await
}

fn summary_text(plan: &crate::model::Plan) -> String {
    plan.summary()
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether an account's apply fully succeeded and converged.
///
/// Changes the blast-radius guard withholds count as not converged (someone
/// must review them); paused and observe-only objects do not (their owners
/// asked for exactly that).
pub fn applied_ok(a: &Applied) -> bool {
    a.passes.iter().all(ExecuteReport::complete)
        && a.verify
            .as_ref()
            .is_ok_and(|o| o.plan.is_empty() && !render::has_guarded_changes(o))
}

/// The summary lines after an account was applied; the failures named.
pub fn write_apply_summary(
    w: &mut dyn Write,
    planned: &Planned,
    applied: &Applied,
) -> io::Result<()> {
    let header = &planned.run.header;
    let name = format!("CloudAccount {}/{}", header.namespace, header.name);
    if applied.passes.is_empty() {
        writeln!(w, "{name}: nothing to apply.")?;
    } else {
        let ran: usize = applied.passes.iter().map(|r| r.results.len()).sum();
        let ok: usize = applied.passes.iter().map(ExecuteReport::succeeded).sum();
        let created: Vec<String> = applied
            .passes
            .iter()
            .flat_map(|r| r.created.iter())
            .map(|(k, id)| format!("{}/{} = {id}", k.kind, k.name))
            .collect();
        let passes = if applied.passes.len() > 1 {
            format!(" in {} passes", applied.passes.len())
        } else {
            String::new()
        };
        let line = format!(
            "{name}: {ok} of {ran} operations succeeded{passes}{}.",
            if created.is_empty() {
                String::new()
            } else {
                format!("; created {}", created.join(", "))
            }
        );
        writeln!(w, "{}", printable(&line))?;
        if let (Some(failed), Some(last)) = (applied.failed(), applied.passes.last()) {
            let total = failed.index + 1 + last.skipped.len();
            let err = failed
                .result
                .as_ref()
                .err()
                .map(|e| printable(&e.to_string()).into_owned())
                .unwrap_or_default();
            writeln!(
                w,
                "  FAILED [{}/{total}] {} {}: {err}",
                failed.index + 1,
                failed.step.op.kind(),
                render::target(&failed.step.op)
            )?;
            if !last.skipped.is_empty() {
                writeln!(
                    w,
                    "  not run: {} later operations ({}); apply again once the cause is fixed",
                    last.skipped.len(),
                    last.skipped
                        .iter()
                        .map(|s| s.op.kind())
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
            }
        }
    }
    match &applied.verify {
        Ok(o) if o.plan.is_empty() && render::has_changes(o) => {
            writeln!(
                w,
                "  Verified: a fresh read of the cloud plans nothing more to apply, but changes are withheld:"
            )?;
            render::write_reports(w, &o.reports)
        }
        Ok(o) if o.plan.is_empty() => writeln!(
            w,
            "  Verified: a fresh read of the cloud plans no further changes."
        ),
        Ok(o) => writeln!(
            w,
            "  Not converged: a fresh read of the cloud still plans {} operations ({}).",
            o.plan.steps.len(),
            summary_text(&o.plan)
        ),
        Err(e) => writeln!(w, "  Could not verify: {}", printable(e)),
    }
}
