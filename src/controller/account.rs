//! The reconcile of one `CloudAccount`: take a snapshot of its objects, run
//! (or answer) its cycle, then report: write each object's status where a
//! user would read something new, publish Events on transitions, and let
//! deleted objects go once their cleanup is done.
//!
//! The account, not each object, is what kube-runtime schedules here: a
//! change to any object of the account (watched through the other kinds'
//! reflectors) triggers its account, changes that arrive while a cycle runs
//! make one more cycle after it, and a short coalescing window lets one
//! `kubectl apply` of many objects share a cycle and its batches.
//!
//! Before its cycle, the account adds the finalizer to each of its objects
//! that lacks it, so objects created together are admitted together and
//! share batches. An object whose finalizer the API server refuses is
//! planned in observe mode (never written) and says why on its status.
//! Objects that have no account get their status from their own
//! controllers (`super::admission`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use tracing::Instrument;

use crate::crd::conditions::{self, READY};
use crate::crd::{CloudAccount, ResourceStatus};
use crate::model::ObjectKey;

use super::context::{Context, Reported, Stores};
use super::cycle::{self, Snapshot};
use super::error::Error;
use super::events::Event;
use super::metrics::StalledLabels;
use super::objects::{
    FINALIZER, Managed, add_finalizer, has_finalizer, key_of, patch_status, remove_finalizer, slim,
};
use super::outcome::{CycleResult, ObjectOutcome, Reason, Verdict};
use super::status::{self, Stamp};
use super::telemetry;

/// Status writes in flight at once: after a mass change most objects of
/// an account have something new to say.
const STATUS_WRITES_IN_FLIGHT: usize = 16;
/// Status reports made at once, a few times the writes in flight so the
/// pipeline stays full between chunks.
const REPORT_CHUNK: usize = 8 * STATUS_WRITES_IN_FLIGHT;

/// The reconcile of the account controller.
pub async fn reconcile(account: Arc<CloudAccount>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = account.namespace().unwrap_or_default();
    let span = telemetry::reconcile_span(CloudAccount::KIND, &namespace, &account.name_any());
    async move {
        let _timer = ctx.metrics.reconcile_started(CloudAccount::KIND);
        let uid = account.uid().unwrap_or_default();
        let state = ctx.account_state(&uid);
        let mut state = state.lock().await;

        let mut snapshot = ctx.stores.snapshot(account.clone());
        let now = tokio::time::Instant::now();
        if state.memory.answer(&snapshot.inputs(), now).is_none() && !ctx.coalesce_window.is_zero()
        {
            // Let changes made together arrive, then read the stores again.
            tokio::time::sleep(ctx.coalesce_window).await;
            let latest = ctx
                .stores
                .account(&namespace, &account.name_any())
                .unwrap_or(account);
            snapshot = ctx.stores.snapshot(latest);
        }
        let refused = admit(&ctx, &mut snapshot).await;
        let ran = cycle::run(&ctx.cycle_deps(), &snapshot, &mut state.memory).await;
        let result = report(
            &ctx,
            &snapshot,
            &ran.result,
            ran.fresh,
            &refused,
            &mut state.reported,
        )
        .await;
        let wait = ran
            .due
            .saturating_duration_since(tokio::time::Instant::now());
        if let Err(e) = &result {
            tracing::warn!(error = %e, "reporting the cycle failed");
        }
        ctx.metrics.set_stalled(&stalled_counts(&ctx.stores));
        result.map(|()| Action::requeue(wait.max(Duration::from_millis(50))))
    }
    .instrument(span)
    .await
}

/// The requeue after an `Err` from the account reconcile.
pub fn error_policy(_account: Arc<CloudAccount>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .reconcile_failed(CloudAccount::KIND, err.reason());
    Action::requeue(super::requeue::BASE_BACKOFF)
}

/// Objects whose finalizer the API server refused to add, with its answer.
type Refused = HashMap<ObjectKey, String>;

/// Add the finalizer to each object of the account that lacks it and is
/// not being deleted, a few at a time. The snapshot then holds the objects
/// as the API server returned them (the store's copy, once the watch has
/// brought that version), so the cycle admits them at once.
async fn admit(ctx: &Context, snapshot: &mut Snapshot) -> Refused {
    let account = snapshot.account.name_any();
    let mut refused = Refused::new();
    let (stores, r) = (&ctx.stores, &mut refused);
    admit_kind(ctx, &account, &stores.groups, &mut snapshot.groups, r).await;
    admit_kind(ctx, &account, &stores.ports, &mut snapshot.ports, r).await;
    admit_kind(
        ctx,
        &account,
        &stores.memberships,
        &mut snapshot.memberships,
        r,
    )
    .await;
    admit_kind(
        ctx,
        &account,
        &stores.node_groups,
        &mut snapshot.node_groups,
        r,
    )
    .await;
    admit_kind(ctx, &account, &stores.rule_sets, &mut snapshot.rule_sets, r).await;
    refused
}

async fn admit_kind<K: Managed>(
    ctx: &Context,
    account: &str,
    store: &Store<K>,
    objects: &mut [Arc<K>],
    refused: &mut Refused,
) {
    let pending: Vec<(usize, Arc<K>)> = objects
        .iter()
        .enumerate()
        .filter(|(_, o)| {
            !has_finalizer(o.as_ref())
                && o.meta().deletion_timestamp.is_none()
                && o.account_name(&ctx.stores.groups).as_deref() == Some(account)
        })
        .map(|(i, o)| (i, o.clone()))
        .collect();
    // Each answer is taken as it arrives rather than collected: at start
    // every object is admitted, and 10,000 answers held at once were a
    // large part of the controller's memory peak.
    let mut added = futures::stream::iter(pending)
        .map(|(i, obj)| async move {
            let api: Api<K> =
                Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
            (i, add_finalizer(&api, obj.as_ref()).await)
        })
        .buffer_unordered(STATUS_WRITES_IN_FLIGHT);
    // Nor is an answer kept once the store holds the same version: the
    // watch delivers the patch too, and the snapshot holding its own copy
    // of each admitted object while the store held another was 10 MB of
    // the peak with 10,000 objects. `waiting` has the answers the store
    // has not caught up with yet, oldest first (the order the watch
    // delivers them in).
    let mut waiting: VecDeque<usize> = VecDeque::new();
    while let Some((i, result)) = added.next().await {
        match result {
            Ok(mut admitted) => {
                // As the stores keep them.
                slim(&mut admitted);
                objects[i] = Arc::new(admitted);
                waiting.push_back(i);
                while let Some(&j) = waiting.front() {
                    let Some(stored) = same_in_store(store, &objects[j]) else {
                        break;
                    };
                    objects[j] = stored;
                    waiting.pop_front();
                }
            }
            Err(e) => {
                tracing::warn!(object = %key_of(objects[i].as_ref()), error = %e, "cannot add the finalizer");
                refused.insert(key_of(objects[i].as_ref()), e.to_string());
            }
        }
    }
    for j in waiting {
        if let Some(stored) = same_in_store(store, &objects[j]) {
            objects[j] = stored;
        }
    }
}

/// The store's copy of `answer` once it holds that very version (same
/// object, same `resourceVersion`): the same content, slimmed alike.
fn same_in_store<K: Managed>(store: &Store<K>, answer: &Arc<K>) -> Option<Arc<K>> {
    let stored = store.get(&ObjectRef::from_obj(answer.as_ref()))?;
    let same = stored.meta().uid == answer.meta().uid
        && stored.meta().resource_version == answer.meta().resource_version;
    same.then_some(stored)
}

type Report<'a> =
    Pin<Box<dyn Future<Output = Result<Option<(ObjectKey, Reported)>, Error>> + Send + 'a>>;

/// Write what changed for every object of the cycle. `fresh`: the cycle
/// just ran (Events and metrics are published only then).
async fn report(
    ctx: &Context,
    snapshot: &Snapshot,
    result: &CycleResult,
    fresh: bool,
    refused: &Refused,
    reported: &mut HashMap<ObjectKey, Reported>,
) -> Result<(), Error> {
    // Futures are made and run a chunk at a time: a boxed status write is
    // a few kilobytes before it is first polled, and one per object for
    // 10,000 objects was most of the controller's memory peak.
    let mut work: Vec<Report<'_>> = Vec::with_capacity(REPORT_CHUNK);
    let mut first_error = None;
    let account_stamp = if fresh {
        Stamp::Always
    } else {
        Stamp::OnChange
    };
    work.push(Box::pin(report_one(
        ctx,
        snapshot.account.as_ref(),
        &result.account,
        fresh,
        account_stamp,
        None,
        reported.get(&result.account.key).copied(),
    )));
    macro_rules! each {
        ($objects:expr) => {
            for obj in $objects {
                let key = key_of(obj.as_ref());
                if let Some(outcome) = result.objects.get(&key) {
                    work.push(Box::pin(report_one(
                        ctx,
                        obj.as_ref(),
                        outcome,
                        fresh,
                        Stamp::OnChange,
                        refused.get(&key).map(String::as_str),
                        reported.get(&key).copied(),
                    )));
                    if work.len() >= REPORT_CHUNK {
                        run_reports(&mut work, reported, &mut first_error).await;
                    }
                }
            }
        };
    }
    each!(&snapshot.groups);
    each!(&snapshot.ports);
    each!(&snapshot.memberships);
    each!(&snapshot.node_groups);
    each!(&snapshot.rule_sets);
    run_reports(&mut work, reported, &mut first_error).await;
    // Forget objects that are gone.
    reported.retain(|key, _| result.outcome(key).is_some());
    first_error.map_or(Ok(()), Err)
}

/// Run the reports in `work` (emptying it), remembering what each wrote
/// and keeping the first error.
async fn run_reports(
    work: &mut Vec<Report<'_>>,
    reported: &mut HashMap<ObjectKey, Reported>,
    first_error: &mut Option<Error>,
) {
    let mut done =
        futures::stream::iter(std::mem::take(work)).buffer_unordered(STATUS_WRITES_IN_FLIGHT);
    while let Some(d) = done.next().await {
        match d {
            Ok(Some((key, r))) => {
                reported.insert(key, r);
            }
            Ok(None) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
}

/// A status's content without its times (`lastSyncTime`, conditions'
/// `lastTransitionTime`), which only say when it was written.
fn hash_of<S: serde::Serialize>(status: &S) -> u64 {
    let mut value = serde_json::to_value(status).unwrap_or_default();
    if let Some(fields) = value.as_object_mut() {
        fields.remove("lastSyncTime");
        if let Some(conditions) = fields.get_mut("conditions").and_then(|c| c.as_array_mut()) {
            for c in conditions.iter_mut().filter_map(|c| c.as_object_mut()) {
                c.remove("lastTransitionTime");
            }
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.to_string().hash(&mut h);
    h.finish()
}

/// Report one object: its status (when changed), its Events (when the
/// cycle is fresh), and its release once its cleanup is done. Returns what
/// was written, to remember. `refused`: the API server's answer when the
/// finalizer could not be added.
async fn report_one<K: Managed>(
    ctx: &Context,
    obj: &K,
    outcome: &ObjectOutcome,
    fresh: bool,
    stamp: Stamp,
    refused: Option<&str>,
    last: Option<Reported>,
) -> Result<Option<(ObjectKey, Reported)>, Error> {
    let mut refused_outcome;
    let outcome = match refused {
        Some(why) => {
            refused_outcome = ObjectOutcome::new(
                outcome.key.clone(),
                Verdict::failed(
                    Reason::FinalizerMissing,
                    format!(
                        "cannot add the finalizer {FINALIZER}: {why}; no cloud changes until it is added"
                    ),
                    None,
                ),
            );
            refused_outcome.planned = outcome.planned;
            &refused_outcome
        }
        // Being deleted before it was ever admitted: nothing of it to
        // report, it is about to go.
        None if K::FINALIZED && !has_finalizer(obj) => return Ok(None),
        None => outcome,
    };
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    if fresh && is_failure(&outcome.verdict) {
        ctx.metrics
            .reconcile_failed(K::KIND, outcome.verdict.reason().as_str());
    }
    if obj.meta().deletion_timestamp.is_some() && outcome.cleanup_done {
        // The object is about to go: no status to write, but say what the
        // cleanup did (group deleted, ports detached).
        if fresh {
            publish(ctx, obj, status::events(None, outcome, false)).await;
        }
        remove_finalizer(&api, obj).await?;
        return Ok(None);
    }
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
    let new = status::desired_status(obj, outcome, now, stamp);
    let reported = Reported {
        status: hash_of(&new),
        ready_reason: outcome.verdict.reason().as_str(),
    };
    if fresh {
        let drift = status::is_drift_repair(obj, outcome);
        if drift {
            ctx.metrics.drift_repaired(K::KIND);
        }
        let mut old_ready = obj
            .status()
            .and_then(|s| conditions::find(s.conditions(), READY).cloned());
        if let (Some(c), Some(last)) = (old_ready.as_mut(), last) {
            // The store may not show the last write yet.
            c.reason = last.ready_reason.to_string();
        }
        publish(ctx, obj, status::events(old_ready.as_ref(), outcome, drift)).await;
    }
    let written_already =
        stamp == Stamp::OnChange && last.is_some_and(|l| l.status == reported.status);
    if status::needs_write(obj.status(), &new) && !written_already {
        patch_status(&api, obj, &new).await?;
    }
    // The outcome's key, shared, rather than one more copy per object.
    Ok(Some((outcome.key.clone(), reported)))
}

/// What counts as a failed reconcile in metrics: a failed call, or
/// credentials or an account that cannot be used. Not a wait (`Pending`).
fn is_failure(verdict: &Verdict) -> bool {
    matches!(
        verdict,
        Verdict::Failed { .. }
            | Verdict::Stalled {
                reason: Reason::CredentialsInvalid | Reason::AccountInvalid,
                ..
            }
    )
}

/// Objects whose `Stalled` condition is `True`, by kind and reason, as the
/// stores hold them.
fn stalled_counts(stores: &Stores) -> BTreeMap<StalledLabels, i64> {
    let mut counts = BTreeMap::new();
    fn add<K: Managed>(
        store: &kube::runtime::reflector::Store<K>,
        counts: &mut BTreeMap<StalledLabels, i64>,
    ) {
        for obj in store.state() {
            let Some(status) = obj.status() else { continue };
            if let Some(c) = conditions::find(status.conditions(), conditions::STALLED)
                && c.status == conditions::TRUE
            {
                *counts
                    .entry(StalledLabels {
                        kind: K::KIND.to_string(),
                        reason: c.reason.clone(),
                    })
                    .or_insert(0) += 1;
            }
        }
    }
    add(&stores.accounts, &mut counts);
    add(&stores.groups, &mut counts);
    add(&stores.ports, &mut counts);
    add(&stores.memberships, &mut counts);
    add(&stores.node_groups, &mut counts);
    add(&stores.rule_sets, &mut counts);
    counts
}

/// Publish Events; best effort: a failed publish must not fail the pass.
pub async fn publish<K: Managed>(ctx: &Context, obj: &K, events: Vec<status::EventSpec>) {
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
