//! The reconcile function shared by the four kinds, and its context.
//!
//! A reconcile of one object: find its account, take the outcome of the
//! account's latest cycle when it may be shared (see [`super::sharing`]),
//! else run a new cycle under the account's lock. Then write this object's
//! status (only when it changed), publish Events on transitions, and
//! requeue the other objects of the account whose status the cycle
//! changed; they take their outcome from that cycle without reading the
//! cloud again.
//!
//! Deletion runs through kube-rs `finalizer()`: cleanup is a cycle with the
//! object marked as deleting; the finalizer goes once the cycle says its
//! deletion policy is carried out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
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
use super::events::{Event, EventRecorder, EventType};
use super::metrics::Metrics;
use super::objects::{FIELD_MANAGER, FINALIZER, Managed, key_of};
use super::requeue::{self, FailureCounts, Requeue};
use super::sharing::{self, AccountRuns, Record, Shared};
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
    pub recorder: EventRecorder,
    pub accounts: AccountCache,
    pub providers: Arc<dyn ProviderFactory>,
    pub resolver: Resolver,
    pub plan_options: PlanOptions,
    pub resync: Duration,
    pub max_backoff: Duration,
    pub stores: Stores,
    pub requeue: Requeuers,
    pub failures: FailureCounts,
}

impl Context {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: kube::Client,
        metrics: Metrics,
        recorder: EventRecorder,
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

/// What a reconcile got for its object, and the account's cycles it came
/// from (to record when the object was answered).
struct Answer {
    shared: Shared,
    runs: Arc<AccountRuns>,
}

impl Answer {
    fn outcome(&self) -> &ObjectOutcome {
        match &self.shared {
            Shared::Fresh { outcome, .. } | Shared::Repeat { outcome, .. } => outcome,
        }
    }

    /// The requeue of this pass; a fresh answer is recorded as answered.
    fn requeue(&self, key: &ObjectKey, fresh: impl FnOnce() -> Requeue) -> Requeue {
        match &self.shared {
            Shared::Repeat { requeue, .. } => *requeue,
            Shared::Fresh { seq, .. } => {
                let r = fresh();
                self.runs.answered(key, *seq, Instant::now(), r);
                r
            }
        }
    }
}

/// The outcome of `obj` from a cycle of its account: the latest one when
/// it may be shared (see [`sharing`]), else a new one.
async fn outcome_for<K: Managed>(obj: &K, account: Arc<CloudAccount>, ctx: &Context) -> Answer {
    let key = key_of(obj);
    let runs = ctx.accounts.runs_for(&account.uid().unwrap_or_default());
    let deps = sharing::dependencies(&account, &ctx.stores.groups.state());
    let input = sharing::input_of(obj.meta(), deps);
    let shared = |runs: &AccountRuns| {
        let s = runs.shared(&key, input, Instant::now(), ctx.resync);
        if s.is_some() {
            ctx.metrics.shared_answers.inc();
        }
        s
    };
    if let Some(shared) = shared(&runs) {
        tracing::debug!("answered by the account's latest cycle");
        return Answer { shared, runs };
    }
    let _guard = runs.lock().await;
    // A cycle may have ended while this reconcile waited for the lock.
    if let Some(shared) = shared(&runs) {
        tracing::debug!("answered by the cycle that ran while waiting");
        return Answer {
            shared,
            runs: runs.clone(),
        };
    }
    let seq = runs.begin();
    let started = Instant::now();
    let objects = cycle::collect(
        account,
        &ctx.stores.groups.state(),
        &ctx.stores.ports.state(),
        &ctx.stores.memberships.state(),
    );
    let resolution = (ctx.resolver)(&objects);
    let inputs = sharing::inputs_of(&objects, &resolution);
    let result = cycle::run(&ctx.deps(), &objects, &resolution, true).await;
    let record = runs.record(Record {
        seq,
        started,
        inputs,
        result,
    });
    ctx.metrics.account_cycles.inc();
    requeue_changed(&record.result, &key, ctx);
    let outcome = record
        .result
        .outcome(&key)
        .cloned()
        .unwrap_or_else(|| ObjectOutcome {
            verdict: Verdict::Progressing {
                reason: "Pending".into(),
                message: "the object was not in its account's cycle".into(),
                retry: true,
            },
            ..empty_outcome(key.clone())
        });
    Answer {
        shared: Shared::Fresh {
            seq: record.seq,
            outcome,
        },
        runs: runs.clone(),
    }
}

/// Requeue the other objects of the cycle whose status it changes; they
/// take their outcome from it (it is the account's latest now).
fn requeue_changed(result: &CycleResult, own: &ObjectKey, ctx: &Context) {
    let now = jiff::Timestamp::now();
    let mut all: Vec<&ObjectOutcome> = result.objects.values().collect();
    all.push(&result.account);
    for outcome in all {
        if outcome.key == *own {
            continue;
        }
        let key = &outcome.key;
        let changed = match key.kind.as_ref() {
            "CloudAccount" => changed(&ctx.stores.accounts, outcome, now, ctx),
            "SecurityGroup" => changed(&ctx.stores.groups, outcome, now, ctx),
            "PortSecurityGroups" => changed(&ctx.stores.ports, outcome, now, ctx),
            "SecurityGroupMembership" => changed(&ctx.stores.memberships, outcome, now, ctx),
            _ => false,
        };
        if !changed && outcome.applied.is_empty() && !outcome.cleanup_done {
            continue;
        }
        send_requeue(key, ctx);
    }
}

/// Requeue `key` through its kind's controller.
fn send_requeue(key: &ObjectKey, ctx: &Context) {
    fn send<K: Managed>(tx: &UnboundedSender<ObjectRef<K>>, key: &ObjectKey) {
        // A closed channel means shutdown; nothing to requeue then.
        let _ = tx.send(ObjectRef::new(&key.name).within(&key.namespace));
    }
    let to = &ctx.requeue;
    match key.kind.as_ref() {
        "CloudAccount" => send(&to.accounts, key),
        "SecurityGroup" => send(&to.groups, key),
        "PortSecurityGroups" => send(&to.ports, key),
        "SecurityGroupMembership" => send(&to.memberships, key),
        _ => {}
    }
}

/// The account-level resync: every tick, requeue the objects whose resync
/// is due (see [`sharing`]), until `stop` completes.
pub async fn resync_timer(ctx: Arc<Context>, stop: impl std::future::Future<Output = ()>) {
    let mut tick = tokio::time::interval(requeue::resync_tick(ctx.resync));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
        let due = ctx.accounts.take_resyncs(Instant::now(), ctx.resync);
        if !due.is_empty() {
            tracing::debug!(objects = due.len(), "resync");
        }
        for key in &due {
            send_requeue(key, &ctx);
        }
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
    // Its first reconcile is adding the finalizer; the reconcile that the
    // added finalizer triggers takes the outcome. A requeue now would only
    // race that patch (and fail its JSON-patch test on the stale object).
    if K::FINALIZED && !obj.finalizers().iter().any(|f| f == FINALIZER) {
        return false;
    }
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

fn requeue_for(outcome: &ObjectOutcome, key: &str, kind: &str, ctx: &Context) -> Requeue {
    match &outcome.verdict {
        Verdict::Ready { .. } | Verdict::Progressing { retry: false, .. } => {
            ctx.failures.succeeded(key);
            Requeue::Resync
        }
        Verdict::Stalled { reason, .. } if reason == "InvalidSpec" => Requeue::AwaitChange,
        Verdict::Stalled { reason, .. }
            if reason != "CredentialsInvalid" && reason != "AccountInvalid" =>
        {
            Requeue::Resync
        }
        Verdict::Failed {
            reason,
            retry_after: Some(d),
            ..
        } => {
            ctx.metrics.reconcile_failed(kind, reason);
            Requeue::After(*d)
        }
        other => {
            ctx.metrics.reconcile_failed(kind, other.reason());
            let attempt = ctx.failures.failed(key);
            Requeue::After(requeue::backoff(attempt, ctx.max_backoff))
        }
    }
}

async fn apply<K: Managed>(obj: Arc<K>, ctx: &Context) -> Result<Action, Error> {
    let key = key_of(obj.as_ref());
    match target(obj.as_ref(), ctx) {
        Target::Missing(verdict) => {
            let outcome = ObjectOutcome {
                verdict,
                ..empty_outcome(key.clone())
            };
            report(obj.as_ref(), &outcome, ctx).await?;
            // No account's timer resyncs it: the object requeues itself.
            let requeue = match requeue_for(&outcome, &key.to_string(), K::KIND, ctx) {
                Requeue::Resync => requeue::after_success_alone(ctx.resync),
                other => other,
            };
            Ok(requeue.into())
        }
        Target::Account(account) => {
            let answer = outcome_for(obj.as_ref(), account, ctx).await;
            report(obj.as_ref(), answer.outcome(), ctx).await?;
            let requeue = answer.requeue(&key, || {
                requeue_for(answer.outcome(), &key.to_string(), K::KIND, ctx)
            });
            Ok(requeue.into())
        }
    }
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
    let answer = outcome_for(obj.as_ref(), account, ctx).await;
    // If cleanup is not done, the retry (error_policy's backoff) wants a
    // new cycle: the object is due at once.
    answer.requeue(&key, || Requeue::After(Duration::ZERO));
    let outcome = answer.outcome();
    if outcome.cleanup_done {
        // The object is about to go: no status to write, but say what the
        // cleanup did (group deleted, ports detached).
        publish(obj.as_ref(), status::events(None, outcome, false), ctx).await;
        ctx.failures.succeeded(&key.to_string());
        return Ok(Action::await_change());
    }
    report(obj.as_ref(), outcome, ctx).await?;
    Err(Error::CleanupBlocked(format!(
        "{}: {}",
        outcome.verdict.reason(),
        outcome.verdict.message()
    )))
}

fn empty_outcome(key: ObjectKey) -> ObjectOutcome {
    ObjectOutcome::new(
        key,
        Verdict::Ready {
            reason: "Synced".into(),
            message: String::new(),
        },
    )
}
