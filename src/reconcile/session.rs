//! A [`Session`]: what one account's cycles know of its cloud between
//! them, and when that is no longer enough. The controller keeps one per
//! account; tests drive one the same way.
//!
//! A full read (every group, member list and port the desired state
//! names) happens:
//! - at the account's first cycle (nothing is known);
//! - at its resync, so changes made outside the controller are found;
//! - when the `CloudAccount` itself changed (another endpoint, project or
//!   credentials may see another cloud);
//! - when the last cycle learnt that what it knew was wrong: a read of
//!   something the controller had not written found it changed (drift), or
//!   a write failed in a way that says so (not found, version mismatch, a
//!   port refused in a batch, a conflict with the cloud's state).
//!
//! Otherwise a cycle reads only what the changed objects' intents touch,
//! what objects that are retried touch, and what the last cycle wrote:
//! whatever a write may have changed is forgotten once it ran, so the next
//! cycle reads it again instead of trusting a model of the cloud.

use std::collections::{BTreeMap, BTreeSet};

use tokio::time::Instant;

use crate::cloud::{CloudProvider, ErrorKind};
use crate::model::{DesiredState, FieldError, GroupHandle, ObjectKey};
use crate::plan::{PlanOptions, PlanOutcome, plan_admitting};

use super::PrepareError;
use super::execute::{ExecEvent, ExecuteReport, StepError, execute_while};
use super::observe::{Observation, observe, refresh};
use super::scope::touched;

/// One account's cycles: what they know, and why the next must read
/// everything again, when it must.
#[derive(Debug, Default)]
pub struct Session {
    cache: Option<Cache>,
    invalid: Option<&'static str>,
}

/// What [`Session::prepare`] planned.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The desired state as planned (groups bound to their ids, refused
    /// objects taken out).
    pub desired: DesiredState,
    pub outcome: PlanOutcome,
    pub rejected: BTreeMap<ObjectKey, Vec<FieldError>>,
    /// Whether everything was read.
    pub full: bool,
    /// What a partial read found changed behind the controller's back (the
    /// next cycle reads everything).
    pub drift: Vec<String>,
}

impl Session {
    pub fn new() -> Self {
        Self::default()
    }

    /// How much the next cycle reads: `changed` objects' intents, or
    /// everything when nothing is known, the last cycle found the cache
    /// wrong, or `resync` asks for it.
    pub fn scope(&self, changed: BTreeSet<ObjectKey>, resync: Option<&'static str>) -> Scope {
        match (&self.cache, self.invalid, resync) {
            (None, _, _) => Scope::Full("first read"),
            (_, Some(why), _) | (_, None, Some(why)) => Scope::Full(why),
            _ => Scope::Changed(changed),
        }
    }

    /// When the last full read started.
    pub fn read_at(&self) -> Option<Instant> {
        self.cache.as_ref().map(|c| c.read_at)
    }

    /// What the cycles know.
    pub fn observation(&self) -> Option<&Observation> {
        self.cache.as_ref().map(|c| &c.observation)
    }

    /// Read (all, or what `scope` touches) and plan `desired`, leaving out
    /// objects the planner refuses. A failed read forgets what was known
    /// (the cache is taken out first and not put back).
    pub async fn prepare(
        &mut self,
        provider: &dyn CloudProvider,
        mut desired: DesiredState,
        scope: Scope,
        opts: &PlanOptions,
    ) -> Result<Planned, PrepareError> {
        let started = Instant::now();
        let mut drift = Vec::new();
        let full;
        let previous = self.cache.take();
        let cache = match (scope, previous) {
            (Scope::Changed(changed), Some(mut cache)) => {
                cache.bind(&mut desired);
                let touched = touched(&desired, &changed, &cache.observation);
                let refreshed =
                    refresh(provider, &mut desired, &mut cache.observation, &touched).await?;
                cache.remember_found(&desired);
                drift = refreshed.drift;
                full = false;
                cache
            }
            (_, previous) => {
                // What was known is let go before everything is read
                // again, not held beside the new observation.
                drop(previous);
                let observation = observe(provider, &mut desired).await?;
                self.invalid = None;
                full = true;
                Cache::from_full_read(observation, &desired, started)
            }
        };
        if !drift.is_empty() {
            self.invalid = Some("the cloud changed outside the controller");
        }
        let admitted = plan_admitting(desired, &cache.observation.observed, opts);
        self.cache = Some(cache);
        let admitted = admitted.map_err(PrepareError::Invalid)?;
        Ok(Planned {
            desired: admitted.desired,
            outcome: admitted.outcome,
            rejected: admitted.rejected,
            full,
            drift,
        })
    }

    /// Execute `planned`, asking `may_write` before each step. What is known
    /// stays as read until [`Session::settle`], so what the execution
    /// means can still be judged against the state it started from.
    pub async fn execute(
        &mut self,
        provider: &dyn CloudProvider,
        planned: &Planned,
        may_write: &(dyn Fn() -> bool + Send + Sync),
        on_event: &mut (dyn FnMut(ExecEvent<'_>) + Send),
    ) -> ExecuteReport {
        let Some(cache) = self.cache.as_ref() else {
            return ExecuteReport::default();
        };
        execute_while(
            provider,
            &planned.outcome.plan,
            &cache.observation.observed,
            may_write,
            on_event,
        )
        .await
    }

    /// After an execution has been judged: forget what the steps that ran
    /// may have changed, and remember the groups they created.
    pub fn settle(&mut self, planned: &Planned, report: &ExecuteReport) {
        if let Some(cache) = self.cache.as_mut()
            && let Some(why) = cache.after_execution(&planned.desired, report)
        {
            self.invalid = Some(why);
        }
    }

    /// Forget everything: the next cycle reads all.
    pub fn reset(&mut self) {
        self.cache = None;
        self.invalid = None;
    }
}

/// What the account's cycles know of the cloud.
#[derive(Debug)]
struct Cache {
    observation: Observation,
    /// Groups this controller created or found by their owner tag, by the
    /// owner's UID: bound even while the owner's status does not show the
    /// id yet (the store may lag behind the status write).
    created: BTreeMap<String, String>,
    /// When the last full read started.
    read_at: Instant,
}

/// How much a cycle reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything the desired state names; the reason, for logs.
    Full(&'static str),
    /// What the intents of these objects touch, and what is not known.
    Changed(BTreeSet<ObjectKey>),
}

impl Cache {
    /// A cache from a full read of `desired` (after its owner-tag lookups).
    fn from_full_read(observation: Observation, desired: &DesiredState, read_at: Instant) -> Self {
        let mut cache = Self {
            observation,
            created: BTreeMap::new(),
            read_at,
        };
        cache.remember_found(desired);
        cache
    }

    /// Bind the groups created or found earlier into `desired`.
    fn bind(&self, desired: &mut DesiredState) {
        let found: Vec<(ObjectKey, String)> = desired
            .groups
            .iter()
            .filter_map(|g| match &g.handle {
                GroupHandle::New(owner) => self
                    .created
                    .get(&g.owner_uid)
                    .map(|id| (owner.clone(), id.clone())),
                GroupHandle::Existing(_) => None,
            })
            .collect();
        for (owner, id) in found {
            desired.bind_group(&owner, &id);
        }
    }

    /// Remember the groups the observation found by owner tag.
    fn remember_found(&mut self, desired: &DesiredState) {
        for g in &desired.groups {
            if let Some(id) = self.observation.found_by_tag.get(&g.intent.owner) {
                self.created.insert(g.owner_uid.clone(), id.clone());
            }
        }
    }

    /// After an execution: remember created groups, forget what the steps
    /// that ran may have changed. Returns why a full read is due next,
    /// when a failure says the cache is wrong.
    fn after_execution(
        &mut self,
        desired: &DesiredState,
        report: &ExecuteReport,
    ) -> Option<&'static str> {
        for g in &desired.groups {
            if let Some(id) = report.created.get(&g.intent.owner) {
                self.created.insert(g.owner_uid.clone(), id.clone());
            }
        }
        let mut invalid = None;
        for r in &report.results {
            self.observation.forget_written(&r.step.op);
            if let Err(e) = &r.result {
                invalid = invalid.or(stale_by(e));
            }
        }
        invalid
    }
}

/// Whether a failed step says what the cache knows is wrong.
fn stale_by(e: &StepError) -> Option<&'static str> {
    match e {
        StepError::PartialBatch(_) => Some("a batch call refused ports"),
        StepError::Cloud(c) => match c.kind() {
            ErrorKind::NotFound => Some("a write found something gone"),
            ErrorKind::VersionMismatch => Some("a group's version moved"),
            ErrorKind::LastGroup | ErrorKind::Conflict => {
                Some("a write conflicted with the cloud's state")
            }
            _ => None,
        },
        StepError::UnresolvedGroup(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{ApiErrorDetail, CloudError};
    use crate::model::{DesiredGroup, Intent, Mode, ObservedPort, Operation, ProviderKind, Step};
    use crate::reconcile::StepResult;

    fn owner() -> ObjectKey {
        ObjectKey::new("SecurityGroup", "ns", "web")
    }

    fn desired() -> DesiredState {
        DesiredState {
            provider: ProviderKind::Huawei,
            groups: vec![DesiredGroup {
                intent: Intent {
                    owner: owner(),
                    mode: Mode::Apply,
                    allow_mass_change: false,
                },
                handle: GroupHandle::New(owner()),
                owner_uid: "uid-web".into(),
                name: "web".into(),
                description: String::new(),
                unmanaged: Default::default(),
                vpc_id: None,
                rules: None,
                rules_policy: crate::model::RulesPolicy::Additive,
                managed_rules: Default::default(),
            }],
            ports: vec![],
            memberships: vec![],
            deletions: vec![],
            rule_sets: Vec::new(),
        }
    }

    fn step(op: Operation, result: Result<(), StepError>) -> StepResult {
        StepResult {
            index: 0,
            step: Step {
                op,
                owners: vec![owner()],
            },
            result,
        }
    }

    #[test]
    fn created_groups_bind_by_owner_uid() {
        let mut cache = Cache::from_full_read(Observation::default(), &desired(), Instant::now());
        let report = ExecuteReport {
            created: [(owner(), "sg-new".to_string())].into(),
            ..ExecuteReport::default()
        };
        assert_eq!(cache.after_execution(&desired(), &report), None);
        let mut d = desired();
        cache.bind(&mut d);
        assert_eq!(d.groups[0].handle, GroupHandle::Existing("sg-new".into()));
        // A new object of the same name (another UID) is not bound.
        let mut other = desired();
        other.groups[0].owner_uid = "uid-recreated".into();
        cache.bind(&mut other);
        assert_eq!(other.groups[0].handle, GroupHandle::New(owner()));
    }

    #[test]
    fn what_a_write_touched_is_forgotten_and_some_failures_invalidate() {
        let mut observation = Observation::default();
        for id in ["p1", "p2"] {
            observation.observed.ports.insert(
                id.into(),
                ObservedPort {
                    id: id.into(),
                    groups: vec!["sg-1".into()],
                },
            );
        }
        observation
            .members
            .insert("sg-1".into(), ["p1".to_string(), "p2".to_string()].into());
        let mut cache = Cache::from_full_read(observation, &desired(), Instant::now());
        let detach = Operation::DetachPorts {
            group: "sg-1".into(),
            ports: vec!["p1".into()],
        };
        let report = ExecuteReport {
            results: vec![step(detach.clone(), Ok(()))],
            ..ExecuteReport::default()
        };
        assert_eq!(cache.after_execution(&desired(), &report), None);
        assert!(!cache.observation.knows_port("p1"), "p1 is read again");
        assert!(cache.observation.knows_port("p2"));
        assert!(!cache.observation.members.contains_key("sg-1"));

        let gone = StepError::Cloud(CloudError::NotFound(ApiErrorDetail::default()));
        let throttled = StepError::Cloud(CloudError::Throttled {
            detail: ApiErrorDetail::default(),
            retry_after: None,
        });
        let failed = |e| ExecuteReport {
            results: vec![step(detach.clone(), Err(e))],
            ..ExecuteReport::default()
        };
        assert!(cache.after_execution(&desired(), &failed(gone)).is_some());
        assert_eq!(cache.after_execution(&desired(), &failed(throttled)), None);
    }
}
