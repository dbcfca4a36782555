//! The reconcile function shared by the four kinds, and its context.
//!
//! A reconcile of one object: find its account, take the account's lock,
//! resolve every object of the account from the stores, and either use the
//! result a cycle just computed for this object (when nothing it depends on
//! changed since) or run a new cycle. Then write this object's status (only
//! when it changed), publish Events on transitions, and requeue the other
//! objects of the account whose status the cycle changed, handing them
//! their outcome so they need not read the cloud again.
//!
//! Deletion runs through kube-rs `finalizer()`: cleanup is a cycle with the
//! object marked as deleting; the finalizer goes once the cycle says its
//! deletion policy is carried out.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;
use tracing::Instrument;

use crate::crd::ResourceStatus;
use crate::crd::conditions::{self, READY};
use crate::crd::{CloudAccount, PortSecurityGroups, SecurityGroup, SecurityGroupMembership};
use crate::model::ObjectKey;
use crate::plan::PlanOptions;

use super::accounts::AccountCache;
use super::cycle::{
    self, CycleDeps, CycleResult, ObjectOutcome, ProviderFactory, Resolver, Verdict,
};
use super::error::Error;
use super::metrics::Metrics;
use super::objects::{FIELD_MANAGER, FINALIZER, Managed, key_of};
use super::requeue::{self, FailureCounts, Requeue};
use super::status;
use super::telemetry;

/// The reflector stores of the four kinds.
#[derive(Clone)]
pub struct Stores {
    pub accounts: Store<CloudAccount>,
    pub groups: Store<SecurityGroup>,
    pub ports: Store<PortSecurityGroups>,
    pub memberships: Store<SecurityGroupMembership>,
}

/// Senders that requeue an object of each kind (fed to `reconcile_on`).
#[derive(Clone)]
pub struct Requeuers {
    pub accounts: UnboundedSender<ObjectRef<CloudAccount>>,
    pub groups: UnboundedSender<ObjectRef<SecurityGroup>>,
    pub ports: UnboundedSender<ObjectRef<PortSecurityGroups>>,
    pub memberships: UnboundedSender<ObjectRef<SecurityGroupMembership>>,
}

/// Everything a reconcile needs, shared by all controllers.
pub struct Context {
    pub client: kube::Client,
    pub metrics: Metrics,
    pub recorder: Recorder,
    pub accounts: AccountCache,
    pub providers: Arc<dyn ProviderFactory>,
    pub resolver: Resolver,
    pub plan_options: PlanOptions,
    pub resync: Duration,
    pub max_backoff: Duration,
    pub stores: Stores,
    pub requeue: Requeuers,
    pub failures: FailureCounts,
    /// Outcomes a cycle computed for objects it did not run for, keyed by
    /// object, with a fingerprint of the resolved account they were
    /// computed from. Taken (once) by that object's next reconcile.
    handed_over: Mutex<HashMap<ObjectKey, (u64, ObjectOutcome)>>,
}

impl Context {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: kube::Client,
        metrics: Metrics,
        recorder: Recorder,
        providers: Arc<dyn ProviderFactory>,
        resolver: Resolver,
        plan_options: PlanOptions,
        resync: Duration,
        max_backoff: Duration,
        stores: Stores,
        requeue: Requeuers,
    ) -> Self {
        Self {
            client,
            metrics,
            recorder,
            accounts: AccountCache::new(),
            providers,
            resolver,
            plan_options,
            resync,
            max_backoff,
            stores,
            requeue,
            failures: FailureCounts::default(),
            handed_over: Mutex::new(HashMap::new()),
        }
    }

    fn deps(&self) -> CycleDeps<'_> {
        CycleDeps {
            client: &self.client,
            accounts: &self.accounts,
            providers: self.providers.as_ref(),
            resolver: &self.resolver,
            metrics: &self.metrics,
            plan_options: &self.plan_options,
        }
    }

    fn take_handed_over(&self, key: &ObjectKey, fingerprint: u64) -> Option<ObjectOutcome> {
        let mut map = self.handed_over.lock().unwrap_or_else(|e| e.into_inner());
        match map.remove(key) {
            Some((f, outcome)) if f == fingerprint => Some(outcome),
            _ => None,
        }
    }

    fn hand_over(&self, outcome: ObjectOutcome, fingerprint: u64) {
        let mut map = self.handed_over.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(outcome.key.clone(), (fingerprint, outcome));
    }
}

/// A stable hash of what a cycle's result depends on in Kubernetes.
fn fingerprint(resolution: &cycle::Resolution) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&resolution.desired)
        .unwrap_or_default()
        .hash(&mut h);
    format!("{:?}", resolution.problems).hash(&mut h);
    h.finish()
}

fn lookup<K: Managed>(store: &Store<K>, key: &ObjectKey) -> Option<Arc<K>> {
    store.get(&ObjectRef::new(&key.name).within(&key.namespace))
}

/// The reconcile entry point for every kind.
pub async fn reconcile<K: Managed>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let span = telemetry::reconcile_span(K::KIND, &namespace, &obj.name_any());
    async move {
        let _timer = ctx.metrics.reconcile_started(K::KIND);
        let result = if K::FINALIZED {
            let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
            finalizer(&api, FINALIZER, obj, |event| async {
                match event {
                    finalizer::Event::Apply(o) => apply(o, &ctx).await,
                    finalizer::Event::Cleanup(o) => cleanup(o, &ctx).await,
                }
            })
            .await
            .map_err(|e| match e {
                finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
                finalizer::Error::AddFinalizer(e) | finalizer::Error::RemoveFinalizer(e) => {
                    Error::Kube(e)
                }
                finalizer::Error::UnnamedObject => Error::MissingMetadata("name"),
                finalizer::Error::InvalidFinalizer => {
                    Error::Config(format!("invalid finalizer name {FINALIZER}"))
                }
            })
        } else {
            apply(obj, &ctx).await
        };
        if let Err(e) = &result {
            tracing::warn!(error = %e, "reconcile failed");
        }
        result
    }
    .instrument(span)
    .await
}

/// The requeue after an `Err` from [`reconcile`].
pub fn error_policy<K: Managed>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed(K::KIND, err.reason());
    let attempt = ctx.failures.failed(&key_of(obj.as_ref()).to_string());
    requeue::after_error(err, attempt, ctx.max_backoff).into()
}

/// Where the object stands before any cycle: its account, or why none.
enum Target {
    Account(Arc<CloudAccount>),
    Missing(Verdict),
}

fn target<K: Managed>(obj: &K, ctx: &Context) -> Target {
    let namespace = obj.namespace().unwrap_or_default();
    let Some(account) = obj.account_name(&ctx.stores.groups) else {
        return Target::Missing(Verdict::Progressing {
            reason: "ReferenceNotFound".into(),
            message: "waiting for the referenced SecurityGroup to exist".into(),
            retry: false,
        });
    };
    match ctx
        .stores
        .accounts
        .get(&ObjectRef::new(&account).within(&namespace))
    {
        Some(a) => Target::Account(a),
        None => Target::Missing(Verdict::Progressing {
            reason: "AccountNotFound".into(),
            message: format!("waiting for CloudAccount {namespace}/{account}"),
            retry: false,
        }),
    }
}

/// Run (or take over) the cycle covering `obj`; returns its outcome.
async fn outcome_for<K: Managed>(
    obj: &K,
    account: Arc<CloudAccount>,
    ctx: &Context,
) -> ObjectOutcome {
    let key = key_of(obj);
    let lock = ctx.accounts.lock_for(&account.uid().unwrap_or_default());
    let _guard = lock.lock().await;
    let objects = cycle::collect(
        account,
        &ctx.stores.groups.state(),
        &ctx.stores.ports.state(),
        &ctx.stores.memberships.state(),
    );
    let resolution = (ctx.resolver)(&objects);
    let fp = fingerprint(&resolution);
    if let Some(outcome) = ctx.take_handed_over(&key, fp) {
        tracing::debug!("using the outcome of the account's last cycle");
        return outcome;
    }
    let result = cycle::run(&ctx.deps(), &objects, &resolution, true).await;
    hand_over_changed(&result, &key, fp, ctx);
    result
        .outcome(&key)
        .cloned()
        .unwrap_or_else(|| ObjectOutcome {
            verdict: Verdict::Progressing {
                reason: "Pending".into(),
                message: "the object was not in its account's cycle".into(),
                retry: true,
            },
            ..empty_outcome(key.clone())
        })
}

/// Requeue the other objects of the cycle whose status it changed.
fn hand_over_changed(result: &CycleResult, own: &ObjectKey, fp: u64, ctx: &Context) {
    let now = jiff::Timestamp::now();
    let mut all: Vec<&ObjectOutcome> = result.objects.values().collect();
    all.push(&result.account);
    for outcome in all {
        if outcome.key == *own {
            continue;
        }
        let key = &outcome.key;
        let changed = match key.kind.as_str() {
            "CloudAccount" => changed(&ctx.stores.accounts, outcome, now, ctx),
            "SecurityGroup" => changed(&ctx.stores.groups, outcome, now, ctx),
            "PortSecurityGroups" => changed(&ctx.stores.ports, outcome, now, ctx),
            "SecurityGroupMembership" => changed(&ctx.stores.memberships, outcome, now, ctx),
            _ => false,
        };
        if !changed && outcome.applied.is_empty() && !outcome.cleanup_done {
            continue;
        }
        ctx.hand_over(outcome.clone(), fp);
        let (name, ns) = (key.name.as_str(), key.namespace.as_str());
        // A closed channel means shutdown; nothing to requeue then.
        let _ = match key.kind.as_str() {
            "CloudAccount" => ctx
                .requeue
                .accounts
                .send(ObjectRef::new(name).within(ns))
                .is_ok(),
            "SecurityGroup" => ctx
                .requeue
                .groups
                .send(ObjectRef::new(name).within(ns))
                .is_ok(),
            "PortSecurityGroups" => ctx
                .requeue
                .ports
                .send(ObjectRef::new(name).within(ns))
                .is_ok(),
            "SecurityGroupMembership" => ctx
                .requeue
                .memberships
                .send(ObjectRef::new(name).within(ns))
                .is_ok(),
            _ => false,
        };
    }
}

fn changed<K: Managed>(
    store: &Store<K>,
    outcome: &ObjectOutcome,
    now: jiff::Timestamp,
    ctx: &Context,
) -> bool {
    let Some(obj) = lookup(store, &outcome.key) else {
        return false;
    };
    let new = status::desired_status(
        obj.as_ref(),
        outcome,
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now),
    );
    status::needs_write(obj.status(), &new, now, ctx.resync)
}

/// Write the status (when changed) and publish the Events of a pass.
async fn report<K: Managed>(obj: &K, outcome: &ObjectOutcome, ctx: &Context) -> Result<(), Error> {
    let now = jiff::Timestamp::now();
    let drift = status::is_drift_repair(obj, outcome);
    if drift {
        ctx.metrics.drift_repaired(K::KIND);
    }
    let old_ready = obj
        .status()
        .and_then(|s| conditions::find(s.conditions(), READY).cloned());
    let new = status::desired_status(
        obj,
        outcome,
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now),
    );
    if status::needs_write(obj.status(), &new, now, ctx.resync) {
        let api: Api<K> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
        let patch = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": new,
        });
        api.patch_status(
            &obj.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    }
    publish(obj, status::events(old_ready.as_ref(), outcome, drift), ctx).await;
    Ok(())
}

/// Publish Events; best effort: a failed publish must not fail the pass.
async fn publish<K: Managed>(obj: &K, events: Vec<status::EventSpec>, ctx: &Context) {
    let reference = obj.object_ref(&());
    for ev in events {
        let event = Event {
            type_: ev.type_,
            reason: ev.reason.to_string(),
            note: Some(ev.note),
            action: ev.action.to_string(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            tracing::warn!(error = %e, reason = ev.reason, "cannot publish event");
        }
    }
}

fn action_for(outcome: &ObjectOutcome, key: &str, kind: &str, ctx: &Context) -> Action {
    match &outcome.verdict {
        Verdict::Ready { .. } => {
            ctx.failures.succeeded(key);
            requeue::after_success(ctx.resync).into()
        }
        Verdict::Progressing { retry: false, .. } => {
            ctx.failures.succeeded(key);
            requeue::after_success(ctx.resync).into()
        }
        Verdict::Stalled { reason, .. } if reason == "InvalidSpec" => Requeue::AwaitChange.into(),
        Verdict::Stalled { reason, .. }
            if reason != "CredentialsInvalid" && reason != "AccountInvalid" =>
        {
            requeue::after_success(ctx.resync).into()
        }
        Verdict::Failed {
            reason,
            retry_after: Some(d),
            ..
        } => {
            ctx.metrics.reconcile_failed(kind, reason);
            Action::requeue(*d)
        }
        other => {
            ctx.metrics.reconcile_failed(kind, other.reason());
            let attempt = ctx.failures.failed(key);
            Requeue::After(requeue::backoff(attempt, ctx.max_backoff)).into()
        }
    }
}

async fn apply<K: Managed>(obj: Arc<K>, ctx: &Context) -> Result<Action, Error> {
    let key = key_of(obj.as_ref());
    let outcome = match target(obj.as_ref(), ctx) {
        Target::Missing(verdict) => ObjectOutcome {
            verdict,
            ..empty_outcome(key.clone())
        },
        Target::Account(account) => outcome_for(obj.as_ref(), account, ctx).await,
    };
    report(obj.as_ref(), &outcome, ctx).await?;
    Ok(action_for(&outcome, &key.to_string(), K::KIND, ctx))
}

async fn cleanup<K: Managed>(obj: Arc<K>, ctx: &Context) -> Result<Action, Error> {
    let key = key_of(obj.as_ref());
    let account = match target(obj.as_ref(), ctx) {
        Target::Account(a) => a,
        Target::Missing(verdict) => {
            // Without an account nothing can be done in the cloud; holding
            // the object forever would only block its namespace.
            let note = format!("released without cloud cleanup: {}", verdict.message());
            let event = Event {
                type_: EventType::Warning,
                reason: "CleanupSkipped".into(),
                note: Some(note),
                action: "Cleanup".into(),
                secondary: None,
            };
            if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
                tracing::warn!(error = %e, "cannot publish event");
            }
            return Ok(Action::await_change());
        }
    };
    let outcome = outcome_for(obj.as_ref(), account, ctx).await;
    if outcome.cleanup_done {
        // The object is about to go: no status to write, but say what the
        // cleanup did (group deleted, ports detached).
        publish(obj.as_ref(), status::events(None, &outcome, false), ctx).await;
        ctx.failures.succeeded(&key.to_string());
        return Ok(Action::await_change());
    }
    report(obj.as_ref(), &outcome, ctx).await?;
    Err(Error::CleanupBlocked(format!(
        "{}: {}",
        outcome.verdict.reason(),
        outcome.verdict.message()
    )))
}

fn empty_outcome(key: ObjectKey) -> ObjectOutcome {
    ObjectOutcome {
        key,
        verdict: Verdict::Ready {
            reason: "Synced".into(),
            message: String::new(),
        },
        planned: Default::default(),
        applied: Default::default(),
        group_id: None,
        rule_count: None,
        group_ids: None,
        current_groups: None,
        managed_ports: None,
        cleanup_done: false,
    }
}
