//! One account cycle: resolve every object of one `CloudAccount` from the
//! reflector stores, observe the cloud, plan, execute, and say what it
//! means for each object ([`ObjectOutcome`]).
//!
//! Working per account, not per object, is what lets many objects that
//! change the same group share batches, and lets conflicts between objects
//! be seen at all. The caller holds the account's lock around a cycle.
//!
//! One object with an invalid spec does not block its account: when the
//! planner rejects objects, their intents are taken out and the rest is
//! planned again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;

use crate::cloud::{CloudError, CloudProvider, Credentials};
use crate::crd::{
    ANNOTATION_ALLOW_MASS_CHANGE, CloudAccount, PortSecurityGroups, SecurityGroup,
    SecurityGroupMembership,
};
use crate::model::{
    DesiredGroup, DesiredMembership, DesiredPortGroups, DesiredState, FieldError, GroupDeletion,
    GroupHandle, ObjectKey, Operation,
};
use crate::plan::{ObjectReport, PlanOptions, Withheld, plan};
use crate::reconcile::{ExecuteReport, Observation, StepError, StepResult, execute, observe};

use super::accounts::{AccountCache, ClientKey, CredentialsError, credentials_from_secret};
use super::metrics::{MeteredProvider, Metrics};
use super::objects::key_of;

/// An account and every object of its namespace, as the stores hold them
/// now (resolution decides which of them belong to the account).
#[derive(Clone, Debug)]
pub struct AccountObjects {
    pub account: Arc<CloudAccount>,
    pub groups: Vec<Arc<SecurityGroup>>,
    pub ports: Vec<Arc<PortSecurityGroups>>,
    pub memberships: Vec<Arc<SecurityGroupMembership>>,
}

impl AccountObjects {
    /// Key and metadata of every object but the account.
    pub fn members(&self) -> impl Iterator<Item = (ObjectKey, &kube::api::ObjectMeta)> {
        let groups = self
            .groups
            .iter()
            .map(|o| (key_of(o.as_ref()), &o.metadata));
        let ports = self.ports.iter().map(|o| (key_of(o.as_ref()), &o.metadata));
        let memberships = self
            .memberships
            .iter()
            .map(|o| (key_of(o.as_ref()), &o.metadata));
        groups.chain(ports).chain(memberships)
    }
}

pub use crate::crd::resolve::Resolution;

/// Turns one account's objects into desired state (`crate::crd`'s job).
pub type Resolver = Arc<dyn Fn(&AccountObjects) -> Resolution + Send + Sync>;

/// The resolver of `run`: [`crate::crd::resolve::resolve`].
pub fn crd_resolver() -> Resolver {
    Arc::new(|o: &AccountObjects| {
        crate::crd::resolve::resolve(&o.account, &o.groups, &o.ports, &o.memberships)
    })
}

/// Builds a cloud client for an account.
pub trait ProviderFactory: Send + Sync {
    fn build(
        &self,
        account: &CloudAccount,
        credentials: Credentials,
    ) -> Result<Arc<dyn CloudProvider>, String>;
}

/// How one object stands after a cycle.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Converged (or nothing to do).
    Ready { reason: String, message: String },
    /// Waiting for something that will come by itself (a reference, an
    /// earlier step of another object); `retry` says whether to poll.
    Progressing {
        reason: String,
        message: String,
        retry: bool,
    },
    /// Needs someone to act: invalid spec, conflict, withheld mass change,
    /// rejected credentials.
    Stalled { reason: String, message: String },
    /// A cloud call failed; retried with backoff (or after `retry_after`).
    Failed {
        reason: String,
        message: String,
        retry_after: Option<Duration>,
    },
}

impl Verdict {
    pub fn reason(&self) -> &str {
        match self {
            Verdict::Ready { reason, .. }
            | Verdict::Progressing { reason, .. }
            | Verdict::Stalled { reason, .. }
            | Verdict::Failed { reason, .. } => reason,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Verdict::Ready { message, .. }
            | Verdict::Progressing { message, .. }
            | Verdict::Stalled { message, .. }
            | Verdict::Failed { message, .. } => message,
        }
    }

    fn stalled(reason: &str, message: impl Into<String>) -> Self {
        Verdict::Stalled {
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn failed(reason: &str, message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Verdict::Failed {
            reason: reason.into(),
            message: message.into(),
            retry_after,
        }
    }
}

/// What a cycle means for one object.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectOutcome {
    pub key: ObjectKey,
    pub verdict: Verdict,
    /// Changes the plan had for this object, by operation kind, whether
    /// applied or not.
    pub planned: BTreeMap<String, u32>,
    /// Changes applied successfully in this cycle, by operation kind.
    pub applied: BTreeMap<String, u32>,
    /// SecurityGroup: its cloud id. Membership: its group's id.
    pub group_id: Option<String>,
    /// SecurityGroup: rules in the cloud after this cycle.
    pub rule_count: Option<u32>,
    /// PortSecurityGroups: the ids `spec.securityGroups` resolved to.
    pub group_ids: Option<Ids>,
    /// PortSecurityGroups: the port's groups after this cycle.
    pub current_groups: Option<Ids>,
    /// Membership: ports listed and not yet removed.
    pub managed_ports: Option<Vec<String>>,
    /// Deleting object: everything its deletion policy asks is done.
    pub cleanup_done: bool,
}

impl ObjectOutcome {
    /// An outcome with nothing planned or applied and no cloud facts.
    pub fn new(key: ObjectKey, verdict: Verdict) -> Self {
        Self {
            key,
            verdict,
            planned: BTreeMap::new(),
            applied: BTreeMap::new(),
            group_id: None,
            rule_count: None,
            group_ids: None,
            current_groups: None,
            managed_ports: None,
            cleanup_done: false,
        }
    }
}

/// Group ids as an outcome keeps them: one allocation per list, each id
/// shared by the cycle's outcomes ([`Interner`]). Ports in sync list the
/// same ids twice (wanted and current) and share the list. As `String`s,
/// 10,000 ports' ids were ~3 MB of a kept cycle result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ids(Arc<[Arc<str>]>);

impl Ids {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|id| &**id)
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }
}

/// Each distinct id of a cycle, once.
#[derive(Default)]
struct Interner(HashSet<Arc<str>>);

impl Interner {
    fn ids<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) -> Ids {
        Ids(ids.into_iter().map(|id| self.one(id)).collect())
    }

    fn one(&mut self, id: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(id) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(id);
        self.0.insert(shared.clone());
        shared
    }
}

/// The outcomes of a cycle's objects, sorted by key in one allocation.
/// An account's latest result is kept until its next cycle starts; a map
/// keeps about half its node space empty (10,000 objects: ~2 MB).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcomes(Vec<ObjectOutcome>);

impl Outcomes {
    pub fn get(&self, key: &ObjectKey) -> Option<&ObjectOutcome> {
        let i = self.0.binary_search_by(|o| o.key.cmp(key)).ok()?;
        self.0.get(i)
    }

    pub fn get_mut(&mut self, key: &ObjectKey) -> Option<&mut ObjectOutcome> {
        let i = self.0.binary_search_by(|o| o.key.cmp(key)).ok()?;
        self.0.get_mut(i)
    }

    /// In key order.
    pub fn values(&self) -> std::slice::Iter<'_, ObjectOutcome> {
        self.0.iter()
    }

    pub fn values_mut(&mut self) -> std::slice::IterMut<'_, ObjectOutcome> {
        self.0.iter_mut()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Sorted by key; of two outcomes for one key the last wins.
impl FromIterator<ObjectOutcome> for Outcomes {
    fn from_iter<I: IntoIterator<Item = ObjectOutcome>>(iter: I) -> Self {
        let mut all: Vec<ObjectOutcome> = iter.into_iter().collect();
        all.reverse();
        // Stable: among equal keys the last given comes first, and stays.
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all.dedup_by(|later, kept| later.key == kept.key);
        all.shrink_to_fit();
        Self(all)
    }
}

/// The result of one cycle for the whole account.
#[derive(Clone, Debug, PartialEq)]
pub struct CycleResult {
    pub account: ObjectOutcome,
    pub objects: Outcomes,
    /// Counts of the whole plan by operation kind.
    pub plan_summary: BTreeMap<String, u32>,
}

impl CycleResult {
    /// The outcome of `key` (the account's own for the account).
    pub fn outcome(&self, key: &ObjectKey) -> Option<&ObjectOutcome> {
        if *key == self.account.key {
            Some(&self.account)
        } else {
            self.objects.get(key)
        }
    }

    /// Every object gets the same verdict (a failure before planning).
    fn all(keys: &[ObjectKey], verdict: Verdict) -> Self {
        let account = ObjectOutcome::new(keys[0].clone(), verdict.clone());
        let objects = keys[1..]
            .iter()
            .map(|k| ObjectOutcome::new(k.clone(), verdict.clone()))
            .collect();
        Self {
            account,
            objects,
            plan_summary: BTreeMap::new(),
        }
    }
}

/// What a cycle needs from the controller's context.
pub struct CycleDeps<'a> {
    pub client: &'a kube::Client,
    pub accounts: &'a AccountCache,
    pub providers: &'a dyn ProviderFactory,
    pub resolver: &'a Resolver,
    pub metrics: &'a Metrics,
    pub plan_options: &'a PlanOptions,
}

/// The account and every object of its namespace found in the stores.
pub fn collect(
    account: Arc<CloudAccount>,
    groups: &[Arc<SecurityGroup>],
    ports: &[Arc<PortSecurityGroups>],
    memberships: &[Arc<SecurityGroupMembership>],
) -> AccountObjects {
    let namespace = account.namespace();
    AccountObjects {
        groups: groups
            .iter()
            .filter(|o| o.namespace() == namespace)
            .cloned()
            .collect(),
        ports: ports
            .iter()
            .filter(|o| o.namespace() == namespace)
            .cloned()
            .collect(),
        memberships: memberships
            .iter()
            .filter(|o| o.namespace() == namespace)
            .cloned()
            .collect(),
        account,
    }
}

/// Read the account's Secret and return a (cached) metered client.
async fn provider_for(
    deps: &CycleDeps<'_>,
    account: &CloudAccount,
) -> Result<Arc<dyn CloudProvider>, Verdict> {
    let namespace = account.namespace().unwrap_or_default();
    let secret_name = account.spec.credentials_secret_ref.name.clone();
    let secrets: Api<Secret> = Api::namespaced(deps.client.clone(), &namespace);
    let secret = match secrets.get_opt(&secret_name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            let e = CredentialsError::SecretNotFound {
                namespace,
                name: secret_name,
            };
            return Err(Verdict::stalled("CredentialsInvalid", e.to_string()));
        }
        Err(e) => {
            return Err(Verdict::failed(
                "KubernetesAPI",
                format!("reading Secret {namespace}/{secret_name}: {e}"),
                None,
            ));
        }
    };
    let key = ClientKey {
        account_uid: account.uid().unwrap_or_default(),
        account_version: account.resource_version().unwrap_or_default(),
        secret_version: secret.resource_version().unwrap_or_default(),
    };
    deps.accounts.client(&key, || {
        let credentials = credentials_from_secret(&secret)
            .map_err(|e| Verdict::stalled("CredentialsInvalid", e.to_string()))?;
        let inner = deps
            .providers
            .build(account, credentials)
            .map_err(|e| Verdict::stalled("AccountInvalid", e))?;
        Ok(Arc::new(MeteredProvider::new(inner, deps.metrics.clone())) as Arc<dyn CloudProvider>)
    })
}

fn cloud_verdict(e: &CloudError, context: &str) -> Verdict {
    match e {
        CloudError::Unauthorized(_) => Verdict::stalled(
            "CredentialsInvalid",
            format!("{}", CredentialsError::Rejected(format!("{context}: {e}"))),
        ),
        _ => Verdict::failed(e.reason(), format!("{context}: {e}"), e.retry_after()),
    }
}

fn remove_owners(desired: &mut DesiredState, owners: &BTreeSet<ObjectKey>) {
    desired.groups.retain(|g| !owners.contains(&g.intent.owner));
    desired.ports.retain(|p| !owners.contains(&p.intent.owner));
    desired
        .memberships
        .retain(|m| !owners.contains(&m.intent.owner));
    desired
        .deletions
        .retain(|d| !owners.contains(&d.intent.owner));
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A cycle's desired state, execution and deletions by object, built once.
/// Scanning the lists for each object made a cycle of 10,000 objects
/// quadratic: most of 17 s between a change and its object's Ready.
struct Index<'a> {
    groups: HashMap<&'a ObjectKey, &'a DesiredGroup>,
    ports: HashMap<&'a ObjectKey, &'a DesiredPortGroups>,
    memberships: HashMap<&'a ObjectKey, &'a DesiredMembership>,
    deletions: HashMap<&'a ObjectKey, &'a GroupDeletion>,
    results: HashMap<&'a ObjectKey, Vec<&'a StepResult>>,
    skipped: HashSet<&'a ObjectKey>,
    deleting: HashSet<ObjectKey>,
}

impl<'a> Index<'a> {
    fn new(
        objects: &AccountObjects,
        desired: &'a DesiredState,
        execution: Option<&'a ExecuteReport>,
    ) -> Self {
        let mut results: HashMap<&ObjectKey, Vec<&StepResult>> = HashMap::new();
        let mut skipped = HashSet::new();
        if let Some(exec) = execution {
            for r in &exec.results {
                for owner in &r.step.owners {
                    results.entry(owner).or_default().push(r);
                }
            }
            skipped.extend(exec.skipped.iter().flat_map(|s| s.owners.iter()));
        }
        let deleting = objects
            .members()
            .filter(|(_, meta)| meta.deletion_timestamp.is_some())
            .map(|(key, _)| key)
            .collect();
        Self {
            groups: desired
                .groups
                .iter()
                .map(|g| (&g.intent.owner, g))
                .collect(),
            ports: desired.ports.iter().map(|p| (&p.intent.owner, p)).collect(),
            memberships: desired
                .memberships
                .iter()
                .map(|m| (&m.intent.owner, m))
                .collect(),
            deletions: desired
                .deletions
                .iter()
                .map(|d| (&d.intent.owner, d))
                .collect(),
            results,
            skipped,
            deleting,
        }
    }
}

/// The keys of the cycle: the account first, then every object that
/// belongs to it.
fn keys_of(objects: &AccountObjects, resolution: &Resolution) -> Vec<ObjectKey> {
    let account = key_of(objects.account.as_ref());
    let mut keys = vec![account.clone()];
    keys.extend(
        resolution
            .objects
            .iter()
            .filter(|k| **k != account)
            .cloned(),
    );
    keys
}

/// Run one cycle over `resolution` (of `objects`). `apply: false` plans and
/// reports without executing.
pub async fn run(
    deps: &CycleDeps<'_>,
    objects: &AccountObjects,
    resolution: &Resolution,
    apply: bool,
) -> CycleResult {
    let keys = keys_of(objects, resolution);
    if let Some(problems) = resolution.problems.get(&keys[0])
        && !problems.errors.is_empty()
    {
        let verdict = Verdict::stalled(
            "AccountInvalid",
            format!(
                "CloudAccount {}: {}",
                keys[0].name,
                field_messages(&problems.errors)
            ),
        );
        return CycleResult::all(&keys, verdict);
    }
    let provider = match provider_for(deps, &objects.account).await {
        Ok(p) => p,
        Err(verdict) => {
            if matches!(verdict, Verdict::Stalled { .. }) {
                // Rebuild on the next attempt: the Secret may be fixed.
                deps.accounts
                    .forget_client(&objects.account.uid().unwrap_or_default());
            }
            return CycleResult::all(&keys, verdict);
        }
    };
    let mut desired = resolution.desired.clone();

    let observation = match observe(provider.as_ref(), &mut desired).await {
        Ok(o) => o,
        Err(e) => {
            if matches!(e, CloudError::Unauthorized(_)) {
                deps.accounts
                    .forget_client(&objects.account.uid().unwrap_or_default());
            }
            let verdict = cloud_verdict(&e, "reading the cloud");
            return with_resolution(CycleResult::all(&keys, verdict), resolution);
        }
    };

    // Plan; objects the planner rejects are taken out and the rest planned
    // again, so one bad object does not hold up its account.
    let mut rejected: BTreeMap<ObjectKey, Vec<FieldError>> = BTreeMap::new();
    let outcome = loop {
        match plan(&desired, &observation.observed, deps.plan_options) {
            Ok(outcome) => break outcome,
            Err(errors) => {
                let owners: BTreeSet<ObjectKey> =
                    errors.iter().filter_map(|e| e.object.clone()).collect();
                let unattributed: Vec<&FieldError> =
                    errors.iter().filter(|e| e.object.is_none()).collect();
                let progress = owners.iter().any(|o| !rejected.contains_key(o));
                if !unattributed.is_empty() || !progress {
                    let message = errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ");
                    let verdict = Verdict::stalled("PlanFailed", message);
                    return with_resolution(CycleResult::all(&keys, verdict), resolution);
                }
                for e in errors {
                    if let Some(o) = e.object.clone() {
                        rejected.entry(o).or_default().push(e);
                    }
                }
                remove_owners(&mut desired, &owners);
            }
        }
    };

    let report = if apply && !outcome.plan.is_empty() {
        Some(
            execute(
                provider.as_ref(),
                &outcome.plan,
                &observation.observed,
                &mut |_| {},
            )
            .await,
        )
    } else {
        None
    };

    let index = Index::new(objects, &desired, report.as_ref());
    let mut outcomes = Vec::with_capacity(keys.len());
    let mut interner = Interner::default();
    for key in keys.iter().skip(1) {
        let mut o = object_outcome(
            &mut interner,
            key,
            &index,
            &observation,
            outcome.reports.get(key),
            report.as_ref(),
        );
        if let Some(errors) = rejected.get(key) {
            o.verdict = invalid_verdict(errors);
        }
        if index.deleting.contains(key) {
            // Paused or observed objects withhold their cleanup too.
            o.cleanup_done =
                matches!(&o.verdict, Verdict::Ready { reason, .. } if reason == "Synced");
            if let Some(m) = &mut o.managed_ports
                && o.cleanup_done
            {
                m.clear();
            }
        }
        outcomes.push(o);
    }
    let mut result = CycleResult {
        account: ObjectOutcome::new(
            keys[0].clone(),
            Verdict::Ready {
                reason: "Synced".into(),
                message: String::new(),
            },
        ),
        objects: outcomes.into_iter().collect(),
        plan_summary: outcome
            .plan
            .summary()
            .into_iter()
            .map(|(k, v)| (k.to_string(), to_u32(v)))
            .collect(),
    };
    // A failed step: say which ports still hold a group that would not go.
    for o in result.objects.values_mut() {
        if let Verdict::Failed {
            reason, message, ..
        } = &mut o.verdict
            && reason == "Conflict"
            && o.planned.contains_key("deleteGroup")
            && let Some(id) = &o.group_id
            && let Ok(ports) = provider.list_group_ports(id).await
            && !ports.is_empty()
        {
            *reason = "GroupInUse".into();
            *message = format!(
                "group {id} is still used by ports {}; retrying ({message})",
                ports.join(", ")
            );
        }
    }
    result.account.verdict = account_verdict(&result);
    result.account.planned = result.plan_summary.clone();
    with_resolution(result, resolution)
}

fn field_messages(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn invalid_verdict(errors: &[FieldError]) -> Verdict {
    Verdict::stalled("InvalidSpec", field_messages(errors))
}

/// Put the resolver's invalid and unresolved verdicts over the others.
fn with_resolution(mut result: CycleResult, resolution: &Resolution) -> CycleResult {
    for (key, problems) in &resolution.problems {
        let Some(o) = result.objects.get_mut(key) else {
            continue;
        };
        if !problems.errors.is_empty() {
            o.verdict = invalid_verdict(&problems.errors);
        } else if !problems.unresolved.is_empty() {
            let missing = problems
                .unresolved
                .iter()
                .map(|u| format!("{}: {u}", u.field))
                .collect::<Vec<_>>()
                .join("; ");
            o.verdict = Verdict::Progressing {
                reason: "ReferenceNotFound".into(),
                message: format!("waiting for {missing}"),
                retry: false,
            };
        }
        o.cleanup_done = false;
    }
    result
}

fn account_verdict(result: &CycleResult) -> Verdict {
    let failed: Vec<&ObjectOutcome> = result
        .objects
        .values()
        .filter(|o| matches!(o.verdict, Verdict::Failed { .. }))
        .collect();
    if let Some(first) = failed.first() {
        return Verdict::Failed {
            reason: first.verdict.reason().to_string(),
            message: format!(
                "{} object(s) failed, first {}: {}",
                failed.len(),
                first.key,
                first.verdict.message()
            ),
            retry_after: None,
        };
    }
    Verdict::Ready {
        reason: "Synced".into(),
        message: format!("{} object(s) in sync", result.objects.len()),
    }
}

fn withheld_verdict(w: &Withheld, report: &ObjectReport) -> Verdict {
    let pending: u32 = report.changes.values().map(|n| to_u32(*n)).sum();
    match w {
        Withheld::Paused => Verdict::Ready {
            reason: "Paused".into(),
            message: format!("paused by annotation; {pending} change(s) pending"),
        },
        Withheld::Observe => Verdict::Ready {
            reason: "Observing".into(),
            message: format!("observe mode; {pending} change(s) would be made"),
        },
        Withheld::MassChange(why) if why.contains(ANNOTATION_ALLOW_MASS_CHANGE) => {
            Verdict::stalled("MassChangeBlocked", why.clone())
        }
        Withheld::MassChange(why) => Verdict::stalled(
            "MassChangeBlocked",
            format!("{why}; set {ANNOTATION_ALLOW_MASS_CHANGE}: \"true\" to apply"),
        ),
    }
}

/// The id of a group: its own, or the one its create returned.
fn group_id<'a>(
    handle: &'a GroupHandle,
    created: Option<&'a BTreeMap<ObjectKey, String>>,
) -> Option<&'a str> {
    match handle {
        GroupHandle::Existing(id) => Some(id),
        GroupHandle::New(owner) => created.and_then(|c| c.get(owner)).map(String::as_str),
    }
}

/// The outcome of one object from the plan's report and the execution.
fn object_outcome(
    interner: &mut Interner,
    key: &ObjectKey,
    index: &Index<'_>,
    observation: &Observation,
    report: Option<&ObjectReport>,
    execution: Option<&ExecuteReport>,
) -> ObjectOutcome {
    let report = report.cloned().unwrap_or_default();
    let mut o = ObjectOutcome::new(
        key.clone(),
        Verdict::Ready {
            reason: "Synced".into(),
            message: "in sync".into(),
        },
    );
    o.planned = report
        .changes
        .iter()
        .map(|(k, v)| (k.clone(), to_u32(*v)))
        .collect();

    let mut failure: Option<Verdict> = None;
    let mut skipped = false;
    let mut rule_delta: i64 = 0;
    if execution.is_some() {
        for r in index.results.get(key).into_iter().flatten() {
            match &r.result {
                Ok(()) => {
                    *o.applied.entry(r.step.op.kind().to_string()).or_insert(0) += 1;
                    match &r.step.op {
                        Operation::CreateRules { rules, .. } => rule_delta += rules.len() as i64,
                        Operation::DeleteRule { .. } => rule_delta -= 1,
                        _ => {}
                    }
                }
                Err(e) => {
                    let message = format!("{} failed: {e}", r.step.op.kind());
                    failure = Some(match e {
                        StepError::Cloud(c) => cloud_verdict(c, r.step.op.kind()),
                        _ => Verdict::failed("ApplyFailed", message, None),
                    });
                }
            }
        }
        skipped = index.skipped.contains(key);
    }

    // Kind-specific facts.
    let created = execution.map(|e| &e.created);
    let id_of = |h: &GroupHandle| group_id(h, created).map(str::to_string);
    let converged = failure.is_none() && !skipped && report.withheld.is_none();
    if let Some(g) = index.groups.get(key) {
        o.group_id = id_of(&g.handle);
        let before = o
            .group_id
            .as_ref()
            .and_then(|id| observation.observed.groups.get(id))
            .map(|g| g.rules.len() as i64)
            .unwrap_or(0);
        o.rule_count = Some(u32::try_from((before + rule_delta).max(0)).unwrap_or(u32::MAX));
    }
    if let Some(d) = index.deletions.get(key) {
        o.group_id = Some(d.group_id.clone());
    }
    if let Some(p) = index.ports.get(key) {
        let ids = interner.ids(p.groups.iter().filter_map(|h| group_id(h, created)));
        o.current_groups = Some(if converged && report.conflicts.is_empty() {
            ids.clone()
        } else {
            let now = observation.observed.ports.get(&p.port_id);
            interner.ids(
                now.into_iter()
                    .flat_map(|port| port.groups.iter().map(String::as_str)),
            )
        });
        o.group_ids = Some(ids);
    }
    if let Some(m) = index.memberships.get(key) {
        o.group_id = id_of(&m.group);
        let mut managed: BTreeSet<String> = m.ports.clone();
        if !converged {
            // Keep tracking ports whose removal is not confirmed yet.
            managed.extend(m.managed_ports.iter().cloned());
        }
        o.managed_ports = Some(managed.into_iter().collect());
    }

    o.verdict = if let Some(f) = failure {
        f
    } else if !report.conflicts.is_empty() {
        let list = report
            .conflicts
            .iter()
            .map(|c| {
                format!(
                    "port {} / group {} with {}: {}",
                    c.port, c.group, c.with, c.message
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        Verdict::stalled("Conflict", list)
    } else if let Some(w) = &report.withheld {
        withheld_verdict(w, &report)
    } else if skipped {
        Verdict::Progressing {
            reason: "Pending".into(),
            message: "waiting for an earlier step of this account to succeed".into(),
            retry: true,
        }
    } else {
        let applied: u32 = o.applied.values().sum();
        let mut message = if applied > 0 {
            format!("applied {applied} change(s)")
        } else {
            "in sync".to_string()
        };
        if !report.warnings.is_empty() {
            message.push_str("; ");
            message.push_str(&report.warnings.join("; "));
        }
        Verdict::Ready {
            reason: "Synced".into(),
            message,
        }
    };
    if let Some(dups) = observation.duplicates.get(key)
        && let Verdict::Ready { message, .. } = &mut o.verdict
    {
        message.push_str(&format!(
            "; other groups carry this object's owner tag: {}",
            dups.join(", ")
        ));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, message: &str) -> ObjectOutcome {
        ObjectOutcome::new(
            ObjectKey::new("PortSecurityGroups", "ns", name),
            Verdict::Ready {
                reason: "Synced".into(),
                message: message.into(),
            },
        )
    }

    #[test]
    fn a_cycles_ids_are_kept_once() {
        let mut interner = Interner::default();
        let wanted = interner.ids(["sg-1", "sg-2"]);
        let current = interner.ids(["sg-2".to_string().as_str()]);
        assert_eq!(wanted.to_strings(), ["sg-1", "sg-2"]);
        assert_eq!(current.iter().collect::<Vec<_>>(), ["sg-2"]);
        assert!(Arc::ptr_eq(&wanted.0[1], &current.0[0]), "one copy of sg-2");
        assert_eq!(wanted, Interner::default().ids(["sg-1", "sg-2"]));
    }

    #[test]
    fn outcomes_are_found_by_key_in_order_and_the_last_of_a_key_wins() {
        let mut all: Outcomes = [
            outcome("c", "1"),
            outcome("a", "2"),
            outcome("b", "3"),
            outcome("a", "4"),
        ]
        .into_iter()
        .collect();
        let names: Vec<&str> = all.values().map(|o| o.key.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let a = ObjectKey::new("PortSecurityGroups", "ns", "a");
        assert_eq!(all.get(&a).map(|o| o.verdict.message()), Some("4"));
        assert!(
            all.get(&ObjectKey::new("SecurityGroup", "ns", "a"))
                .is_none()
        );
        if let Some(o) = all.get_mut(&a) {
            o.cleanup_done = true;
        }
        assert!(all.get(&a).is_some_and(|o| o.cleanup_done));
        assert_eq!(all.len(), 3);
    }
}
