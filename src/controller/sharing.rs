//! How the objects of one account share cycles.
//!
//! A cycle covers every object of its account, so one cycle answers many
//! reconciles. Without sharing, a thousand objects changed at once would
//! each run a cycle that reads the whole account: reads grow with the
//! square of the objects, and under a cloud rate limit nothing converges.
//!
//! The rule: a reconcile takes its object's outcome from the account's
//! latest cycle when
//! - that cycle saw the object's current *inputs* (what a user can change
//!   of it: generation, annotations, deletion; and of what it depends on:
//!   the account and the namespace's `SecurityGroup`s), and
//! - it is fresh enough. An object is *due* for fresh cloud data once its
//!   requeue delay (the backoff after a failure, or 90% of the resync
//!   period after success) has passed since it was last answered; a due
//!   object needs a cycle that started after it fell due.
//!
//! Otherwise it runs a new cycle. Cycles of one account run one at a time;
//! reconciles that queue behind a running cycle check again when it ends,
//! so a burst of changes costs one or two cycles, not one per object. A
//! new cycle lets the previous result go when it starts: only one result
//! per account is held at a time.
//!
//! Objects in sync are not requeued one by one (kube-rs's scheduler held
//! one entry per object for that): they are answered with
//! [`Requeue::Resync`], and one timer for all accounts asks
//! [`AccountRuns::take_resyncs`] which of them are due. An account's
//! objects are due together (the jitter is per account), so its resync is
//! one cycle.
//!
//! An object answered twice from the same cycle (a requeue racing with a
//! watch event) gets a *repeat*: the same outcome and the rest of its
//! earlier requeue delay, so failures are not counted twice.
//!
//! Status fields are not inputs: they are the controller's own bookkeeping,
//! written from the outcome of the cycle that is being shared.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Resource;
use kube::api::ObjectMeta;

use crate::crd::{CloudAccount, SecurityGroup};
use crate::model::ObjectKey;

use super::cycle::{AccountObjects, CycleResult, ObjectOutcome, Resolution};
use super::objects::key_of;
use super::requeue::{Requeue, jittered};

/// What a user can change of an object that a cycle reads: its spec (via
/// the generation), annotations (paused, observe, mass-change) and whether
/// it is being deleted. Not status, labels or finalizers.
pub fn user_input(m: &ObjectMeta) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.uid.hash(&mut h);
    m.generation.hash(&mut h);
    m.annotations.hash(&mut h);
    m.deletion_timestamp.is_some().hash(&mut h);
    h.finish()
}

/// What every object of an account depends on besides itself: the account
/// and the `SecurityGroup`s of its namespace (which names resolve to).
pub fn dependencies(account: &CloudAccount, groups: &[Arc<SecurityGroup>]) -> u64 {
    let namespace = account.meta().namespace.as_deref();
    let mut inputs: Vec<(&str, u64)> = groups
        .iter()
        .filter(|g| g.meta().namespace.as_deref() == namespace)
        .map(|g| {
            (
                g.meta().name.as_deref().unwrap_or_default(),
                user_input(g.meta()),
            )
        })
        .collect();
    inputs.sort_unstable();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    user_input(account.meta()).hash(&mut h);
    inputs.hash(&mut h);
    h.finish()
}

/// An object's inputs: its own and the account-wide `dependencies`.
pub fn input_of(meta: &ObjectMeta, dependencies: u64) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    user_input(meta).hash(&mut h);
    dependencies.hash(&mut h);
    h.finish()
}

/// The inputs of every object of `objects`, as a cycle snapshots them.
/// Keys are the resolution's where it has them: one copy per object,
/// shared with the cycle's outcomes.
pub fn inputs_of(objects: &AccountObjects, resolution: &Resolution) -> HashMap<ObjectKey, u64> {
    let deps = dependencies(&objects.account, &objects.groups);
    let account = &objects.account;
    std::iter::once((key_of(account.as_ref()), account.meta()))
        .chain(objects.members())
        .map(|(key, meta)| {
            let key = resolution.objects.get(&key).cloned().unwrap_or(key);
            (key, input_of(meta, deps))
        })
        .collect()
}

/// A finished cycle.
#[derive(Debug)]
pub struct Record {
    /// Numbered from 1 per account.
    pub seq: u64,
    pub started: Instant,
    /// Each object's inputs when the cycle took its snapshot.
    pub inputs: HashMap<ObjectKey, u64>,
    pub result: CycleResult,
}

/// When an object was last answered, from which cycle, and its requeue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Answered {
    pub seq: u64,
    pub at: Instant,
    pub requeue: Requeue,
    /// A `Resync` requeue the timer has sent already.
    pub resync_sent: bool,
}

impl Answered {
    /// From when the object wants a cycle that started after it.
    pub fn due(&self, resync: Duration) -> Instant {
        let fresh = resync.mul_f64(0.9);
        self.at
            + match self.requeue {
                Requeue::AwaitChange | Requeue::Resync => fresh,
                Requeue::After(d) => d.min(fresh),
            }
    }

    /// The rest of the requeue delay at `now`.
    fn remaining(&self, now: Instant) -> Requeue {
        match self.requeue {
            Requeue::AwaitChange | Requeue::Resync => self.requeue,
            Requeue::After(d) => Requeue::After((self.at + d).saturating_duration_since(now)),
        }
    }
}

/// The answer a reconcile can take without running a cycle.
#[derive(Clone, Debug, PartialEq)]
pub enum Shared {
    /// An outcome this object has not been answered with yet.
    Fresh { seq: u64, outcome: ObjectOutcome },
    /// The outcome it was last answered with, and the rest of that requeue.
    Repeat {
        outcome: ObjectOutcome,
        requeue: Requeue,
    },
}

/// Whether `record` can answer the object `key` with inputs `input` at
/// `now`, given when it was last answered. Pure: the whole rule.
pub fn decide(
    record: &Record,
    key: &ObjectKey,
    input: u64,
    last: Option<&Answered>,
    now: Instant,
    resync: Duration,
) -> Option<Shared> {
    if record.inputs.get(key) != Some(&input) {
        return None;
    }
    let outcome = record.result.outcome(key)?.clone();
    match last {
        None => Some(Shared::Fresh {
            seq: record.seq,
            outcome,
        }),
        Some(last) => {
            let due = last.due(resync);
            if last.seq == record.seq {
                (now < due).then(|| Shared::Repeat {
                    outcome,
                    requeue: last.remaining(now),
                })
            } else if now < due || record.started >= due {
                Some(Shared::Fresh {
                    seq: record.seq,
                    outcome,
                })
            } else {
                None
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// The number of the latest cycle started.
    seq: u64,
    latest: Option<Arc<Record>>,
    answered: HashMap<ObjectKey, Answered>,
}

/// The cycles of one account: the lock that runs them one at a time, the
/// latest result, and when each object was last answered.
#[derive(Debug)]
pub struct AccountRuns {
    lock: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    /// This account's share (0..1) of the resync jitter.
    jitter: f64,
}

impl Default for AccountRuns {
    fn default() -> Self {
        Self::with_jitter(rand::random::<f64>())
    }
}

impl AccountRuns {
    /// With a given jitter fraction (`default` draws one).
    pub fn with_jitter(jitter: f64) -> Self {
        Self {
            lock: tokio::sync::Mutex::default(),
            state: Mutex::default(),
            jitter,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hold this while running a cycle of the account.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }

    /// The latest cycle's answer for `key`, if [`decide`] allows it.
    pub fn shared(
        &self,
        key: &ObjectKey,
        input: u64,
        now: Instant,
        resync: Duration,
    ) -> Option<Shared> {
        let state = self.state();
        let record = state.latest.as_ref()?;
        decide(record, key, input, state.answered.get(key), now, resync)
    }

    /// Start a cycle: its number, and the previous result goes (reconciles
    /// of the account wait for the new one). Call it holding [`Self::lock`].
    pub fn begin(&self) -> u64 {
        let mut state = self.state();
        state.latest = None;
        state.seq += 1;
        state.seq
    }

    /// Keep a finished cycle as the latest; forget objects it did not see.
    pub fn record(&self, record: Record) -> Arc<Record> {
        let record = Arc::new(record);
        let mut state = self.state();
        state
            .answered
            .retain(|key, _| record.inputs.contains_key(key));
        state.latest = Some(record.clone());
        record
    }

    /// `key` was answered with cycle `seq`'s outcome and requeued so.
    pub fn answered(&self, key: &ObjectKey, seq: u64, at: Instant, requeue: Requeue) {
        let answered = Answered {
            seq,
            at,
            requeue,
            resync_sent: false,
        };
        let mut state = self.state();
        // Keep the latest cycle's copy of the key, not the reconcile's: one
        // allocation per object. (`insert` would keep an older key.)
        let key = match state
            .latest
            .as_ref()
            .and_then(|r| r.inputs.get_key_value(key))
        {
            Some((shared, _)) => shared.clone(),
            None => key.clone(),
        };
        state.answered.remove(&key);
        state.answered.insert(key, answered);
    }

    /// The objects answered with [`Requeue::Resync`] whose resync is due at
    /// `now` (`resync` plus the account's jitter after their answer), each
    /// once per answer.
    pub fn take_resyncs(&self, now: Instant, resync: Duration) -> Vec<ObjectKey> {
        let after = jittered(resync, self.jitter);
        let mut state = self.state();
        state
            .answered
            .iter_mut()
            .filter(|(_, a)| a.requeue == Requeue::Resync && !a.resync_sent && a.at + after <= now)
            .map(|(key, a)| {
                a.resync_sent = true;
                key.clone()
            })
            .collect()
    }

    /// The latest cycle, if any.
    pub fn latest(&self) -> Option<Arc<Record>> {
        self.state().latest.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::controller::cycle::Verdict;

    const RESYNC: Duration = Duration::from_secs(600);

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new("PortSecurityGroups", "ns", name)
    }

    fn outcome(name: &str) -> ObjectOutcome {
        ObjectOutcome::new(
            key(name),
            Verdict::Ready {
                reason: "Synced".into(),
                message: "in sync".into(),
            },
        )
    }

    fn record(seq: u64, started: Instant, inputs: &[(&str, u64)]) -> Record {
        let account = ObjectOutcome::new(
            ObjectKey::new("CloudAccount", "ns", "acct"),
            Verdict::Ready {
                reason: "Synced".into(),
                message: String::new(),
            },
        );
        Record {
            seq,
            started,
            inputs: inputs.iter().map(|(n, i)| (key(n), *i)).collect(),
            result: CycleResult {
                account,
                objects: inputs.iter().map(|(n, _)| outcome(n)).collect(),
                plan_summary: BTreeMap::new(),
            },
        }
    }

    fn after(t: Instant, secs: u64) -> Instant {
        t + Duration::from_secs(secs)
    }

    #[test]
    fn a_cycle_that_saw_the_current_inputs_answers_a_new_object() {
        let t0 = Instant::now();
        let r = record(1, t0, &[("a", 7)]);
        let got = decide(&r, &key("a"), 7, None, after(t0, 1), RESYNC);
        assert_eq!(
            got,
            Some(Shared::Fresh {
                seq: 1,
                outcome: outcome("a")
            })
        );
    }

    #[test]
    fn changed_or_unseen_inputs_need_a_new_cycle() {
        let t0 = Instant::now();
        let r = record(1, t0, &[("a", 7)]);
        assert_eq!(decide(&r, &key("a"), 8, None, t0, RESYNC), None);
        assert_eq!(decide(&r, &key("b"), 7, None, t0, RESYNC), None);
    }

    #[test]
    fn a_second_answer_from_the_same_cycle_is_a_repeat_with_the_rest_of_the_delay() {
        let t0 = Instant::now();
        let r = record(3, t0, &[("a", 7)]);
        let last = Answered {
            seq: 3,
            at: after(t0, 1),
            requeue: Requeue::After(Duration::from_secs(630)),
            resync_sent: false,
        };
        let got = decide(&r, &key("a"), 7, Some(&last), after(t0, 11), RESYNC);
        assert_eq!(
            got,
            Some(Shared::Repeat {
                outcome: outcome("a"),
                requeue: Requeue::After(Duration::from_secs(620)),
            })
        );
    }

    #[test]
    fn a_due_object_needs_a_cycle_that_started_after_it_fell_due() {
        let t0 = Instant::now();
        // Failed at t0+1, back off 5 s: due at t0+6.
        let last = Answered {
            seq: 1,
            at: after(t0, 1),
            requeue: Requeue::After(Duration::from_secs(5)),
            resync_sent: false,
        };
        // The same cycle again, once due: no.
        let same = record(1, t0, &[("a", 7)]);
        assert_eq!(
            decide(&same, &key("a"), 7, Some(&last), after(t0, 6), RESYNC),
            None
        );
        // A later cycle that started before the object fell due: no.
        let early = record(2, after(t0, 3), &[("a", 7)]);
        assert_eq!(
            decide(&early, &key("a"), 7, Some(&last), after(t0, 7), RESYNC),
            None
        );
        // ... but before it is due, that later cycle is news: yes.
        assert!(matches!(
            decide(&early, &key("a"), 7, Some(&last), after(t0, 4), RESYNC),
            Some(Shared::Fresh { seq: 2, .. })
        ));
        // A cycle that started after it fell due: yes.
        let late = record(3, after(t0, 6), &[("a", 7)]);
        assert!(matches!(
            decide(&late, &key("a"), 7, Some(&last), after(t0, 8), RESYNC),
            Some(Shared::Fresh { seq: 3, .. })
        ));
    }

    #[test]
    fn a_resync_takes_any_cycle_from_the_last_tenth_of_the_period() {
        let t0 = Instant::now();
        let last = Answered {
            seq: 1,
            at: t0,
            requeue: Requeue::After(Duration::from_secs(630)),
            resync_sent: false,
        };
        // Due at 90% of the resync period (540 s), requeued at 630 s.
        assert_eq!(last.due(RESYNC), after(t0, 540));
        let recent = record(2, after(t0, 560), &[("a", 7)]);
        assert!(decide(&recent, &key("a"), 7, Some(&last), after(t0, 630), RESYNC).is_some());
        let stale = record(2, after(t0, 500), &[("a", 7)]);
        assert_eq!(
            decide(&stale, &key("a"), 7, Some(&last), after(t0, 630), RESYNC),
            None
        );
    }

    #[test]
    fn recording_a_cycle_forgets_objects_it_did_not_see() {
        let runs = AccountRuns::default();
        let t0 = Instant::now();
        assert_eq!(runs.begin(), 1);
        runs.record(record(1, t0, &[("a", 7), ("b", 1)]));
        runs.answered(&key("b"), 1, t0, Requeue::AwaitChange);
        assert_eq!(runs.begin(), 2);
        runs.record(record(2, t0, &[("a", 7)]));
        assert!(runs.state().answered.is_empty());
        assert!(runs.shared(&key("a"), 7, t0, RESYNC).is_some());
        assert!(runs.shared(&key("b"), 1, t0, RESYNC).is_none());
    }

    #[test]
    fn a_new_cycle_lets_the_previous_result_go() {
        let runs = AccountRuns::default();
        let t0 = Instant::now();
        runs.begin();
        runs.record(record(1, t0, &[("a", 7)]));
        assert!(runs.shared(&key("a"), 7, t0, RESYNC).is_some());
        assert_eq!(runs.begin(), 2);
        assert!(runs.latest().is_none());
        assert!(
            runs.shared(&key("a"), 7, t0, RESYNC).is_none(),
            "waits for the running cycle"
        );
    }

    #[test]
    fn resyncs_are_due_after_the_period_plus_the_accounts_jitter_once_per_answer() {
        let runs = AccountRuns::with_jitter(0.5);
        let t0 = Instant::now();
        runs.begin();
        runs.record(record(1, t0, &[("a", 7), ("b", 7), ("c", 7), ("d", 7)]));
        runs.answered(&key("a"), 1, t0, Requeue::Resync);
        runs.answered(&key("b"), 1, after(t0, 2), Requeue::Resync);
        runs.answered(&key("c"), 1, t0, Requeue::After(RESYNC));
        runs.answered(&key("d"), 1, t0, Requeue::AwaitChange);
        // 600 s plus half of 10%: 630 s after the answer.
        assert!(runs.take_resyncs(after(t0, 629), RESYNC).is_empty());
        assert_eq!(runs.take_resyncs(after(t0, 630), RESYNC), vec![key("a")]);
        assert!(
            runs.take_resyncs(after(t0, 631), RESYNC).is_empty(),
            "sent once"
        );
        assert_eq!(runs.take_resyncs(after(t0, 700), RESYNC), vec![key("b")]);
        // Answered again (from the resync's cycle): due again later.
        runs.answered(&key("a"), 2, after(t0, 640), Requeue::Resync);
        assert!(runs.take_resyncs(after(t0, 1269), RESYNC).is_empty());
        assert_eq!(runs.take_resyncs(after(t0, 1270), RESYNC), vec![key("a")]);
    }

    #[test]
    fn answered_objects_keep_the_cycles_copy_of_their_key() {
        let runs = AccountRuns::default();
        let t0 = Instant::now();
        runs.begin();
        let latest = runs.record(record(1, t0, &[("a", 7)]));
        let own = key("a");
        runs.answered(&own, 1, t0, Requeue::Resync);
        let state = runs.state();
        let stored = state.answered.get_key_value(&own).map(|(k, _)| k);
        let cycle = latest.inputs.get_key_value(&own).map(|(k, _)| k);
        let same =
            |a: &ObjectKey, b: &ObjectKey| std::ptr::eq::<crate::model::KeyParts>(&**a, &**b);
        assert!(stored.zip(cycle).is_some_and(|(s, c)| same(s, c)));
        assert!(stored.is_some_and(|s| !same(s, &own)));
    }

    #[test]
    fn inputs_ignore_status_and_finalizers_but_not_spec_or_annotations() {
        use crate::crd::PortSecurityGroups;
        let obj: PortSecurityGroups = serde_json::from_value(serde_json::json!({
            "apiVersion": "secgroup.io/v1alpha1", "kind": "PortSecurityGroups",
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "generation": 1},
            "spec": {"accountRef": {"name": "acct"}, "portId": "p1", "securityGroups": [{"id": "sg-1"}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let base = user_input(&obj.metadata);
        let mut o = obj.clone();
        o.metadata.finalizers = Some(vec!["secgroup.io/cleanup".into()]);
        o.metadata.resource_version = Some("99".into());
        o.status = Some(Default::default());
        assert_eq!(user_input(&o.metadata), base, "bookkeeping is not input");
        let mut o = obj.clone();
        o.metadata.generation = Some(2);
        assert_ne!(user_input(&o.metadata), base, "a spec change is");
        let mut o = obj.clone();
        o.metadata.annotations =
            Some([("secgroup.io/paused".to_string(), "true".to_string())].into());
        assert_ne!(user_input(&o.metadata), base, "an annotation is");
        assert_ne!(
            input_of(&obj.metadata, 1),
            input_of(&obj.metadata, 2),
            "dependencies are"
        );
    }
}
