//! One account cycle: the whole story of how the cloud is brought to what
//! the objects of one `CloudAccount` say.
//!
//! 1. **Answer or run.** When no object of the account changed since the
//!    last cycle and nothing is due (no retry, no resync), the last result
//!    stands and nothing is read ([`Memory`]).
//! 2. **Validate.** Resolve the account's objects into the desired state
//!    (`crate::crd::resolve`); objects with invalid specs or missing
//!    references are left out and reported. Objects that do not carry the
//!    finalizer yet are planned in observe mode: read and planned, never
//!    written, so deleting them can never leave cloud state behind.
//! 3. **Connect.** Read the account's Secret and take a (cached) client.
//! 4. **Observe.** Read what the desired state touches from the cloud.
//! 5. **Plan.** Pure: objects the planner refuses are taken out and the
//!    rest is planned again (`crate::plan::plan_admitting`).
//! 6. **Execute.** In plan order, stopping at the first failure, and
//!    before any step once this replica can no longer be sure it leads
//!    (the leader fence).
//! 7. **Derive.** What all that means for each object ([`verdict`]).
//!
//! A failure in steps 2-5 is a [`CycleError`]: every object gets its
//! verdict. Writing statuses and Events from the result is the caller's
//! job (`super::account`).
//!
//! Working per account, not per object, is what lets many objects that
//! change the same group share batches, and lets conflicts between objects
//! be seen at all.

mod error;
mod verdict;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta};
use kube::{Resource, ResourceExt};
use tokio::time::Instant;

use crate::cloud::{CloudError, CloudProvider, WriteGate};
use crate::crd::resolve::{Objects, Resolution, node_instances, resolve_objects, selects_nodes};
use crate::crd::{
    CloudAccount, NodeSecurityGroups, PortSecurityGroups, SecurityGroup, SecurityGroupMembership,
    SecurityGroupRules,
};
use crate::model::{DesiredState, Mode, ObjectKey};
use crate::plan::PlanOptions;
use crate::plan::nodes::InstancePorts;
use crate::reconcile::{ExecuteReport, Instances, PrepareError, Scope, Session};
use k8s_openapi::api::core::v1::Node;

pub use error::CycleError;

use super::clients::{ClientCache, ClientKey, ProviderFactory};
use super::credentials::{CredentialsError, credentials_from_secret};
use super::leader::Fence;
use super::metrics::{MeteredProvider, Metrics};
use super::objects::{FINALIZER, key_of};
use super::outcome::{CycleResult, Reason, Verdict};
use super::requeue;

/// An account and every object of its namespace, as the stores held them
/// when the cycle started (resolution decides which belong to the account).
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub account: Arc<CloudAccount>,
    pub groups: Vec<Arc<SecurityGroup>>,
    pub ports: Vec<Arc<PortSecurityGroups>>,
    pub memberships: Vec<Arc<SecurityGroupMembership>>,
    pub node_groups: Vec<Arc<NodeSecurityGroups>>,
    pub rule_sets: Vec<Arc<SecurityGroupRules>>,
    /// The cluster's Nodes, when an object of the namespace selects
    /// Nodes (else none).
    pub nodes: Vec<Arc<Node>>,
}

impl Snapshot {
    /// The account and the objects of its namespace among `groups`,
    /// `ports` and `memberships`.
    pub fn of(
        account: Arc<CloudAccount>,
        groups: Vec<Arc<SecurityGroup>>,
        ports: Vec<Arc<PortSecurityGroups>>,
        memberships: Vec<Arc<SecurityGroupMembership>>,
    ) -> Self {
        let namespace = account.namespace();
        let mine = |ns: Option<String>| ns == namespace;
        Self {
            groups: groups.into_iter().filter(|o| mine(o.namespace())).collect(),
            ports: ports.into_iter().filter(|o| mine(o.namespace())).collect(),
            memberships: memberships
                .into_iter()
                .filter(|o| mine(o.namespace()))
                .collect(),
            account,
            node_groups: Vec::new(),
            rule_sets: Vec::new(),
            nodes: Vec::new(),
        }
    }

    /// With the namespace's `SecurityGroupRules` among `rule_sets`.
    pub fn with_rule_sets(mut self, rule_sets: Vec<Arc<SecurityGroupRules>>) -> Self {
        let namespace = self.account.namespace();
        self.rule_sets = rule_sets
            .into_iter()
            .filter(|o| o.namespace() == namespace)
            .collect();
        self
    }

    /// With the namespace's `NodeSecurityGroups` among `node_groups`, and
    /// the cluster's Nodes (only taken when something selects Nodes).
    pub fn with_nodes(
        mut self,
        node_groups: Vec<Arc<NodeSecurityGroups>>,
        nodes: impl FnOnce() -> Vec<Arc<Node>>,
    ) -> Self {
        let namespace = self.account.namespace();
        self.node_groups = node_groups
            .into_iter()
            .filter(|o| o.namespace() == namespace)
            .collect();
        if selects_nodes(&self.objects()) {
            self.nodes = nodes();
        }
        self
    }

    /// The objects resolution reads (no cloud instances: see
    /// [`Objects::instances`]).
    pub fn objects(&self) -> Objects<'_> {
        Objects {
            groups: self.groups.iter().map(AsRef::as_ref).collect(),
            ports: self.ports.iter().map(AsRef::as_ref).collect(),
            memberships: self.memberships.iter().map(AsRef::as_ref).collect(),
            node_groups: self.node_groups.iter().map(AsRef::as_ref).collect(),
            rule_sets: self.rule_sets.iter().map(AsRef::as_ref).collect(),
            nodes: self.nodes.iter().map(AsRef::as_ref).collect(),
            instances: None,
        }
    }

    /// [`Self::objects`] with what the cloud has of the Nodes' instances.
    fn objects_with<'a>(&'a self, instances: &'a InstancePorts) -> Objects<'a> {
        Objects {
            instances: Some(instances),
            ..self.objects()
        }
    }

    /// Key and metadata of every object but the account.
    pub fn members(&self) -> impl Iterator<Item = (ObjectKey, &ObjectMeta)> {
        let groups = self
            .groups
            .iter()
            .map(|o| (key_of(o.as_ref()), &o.metadata));
        let ports = self.ports.iter().map(|o| (key_of(o.as_ref()), &o.metadata));
        let memberships = self
            .memberships
            .iter()
            .map(|o| (key_of(o.as_ref()), &o.metadata));
        let node_groups = self
            .node_groups
            .iter()
            .map(|o| (key_of(o.as_ref()), &o.metadata));
        let rule_sets = self
            .rule_sets
            .iter()
            .map(|o| (key_of(o.as_ref()), &o.metadata));
        groups
            .chain(ports)
            .chain(memberships)
            .chain(node_groups)
            .chain(rule_sets)
    }

    /// What a user can change of each object that a cycle reads: its spec
    /// (via the generation), annotations (paused, observe, mass-change),
    /// whether it is being deleted, and whether it carries the finalizer.
    /// Not status or labels: status is the controller's own bookkeeping.
    ///
    /// And each Node a selector of the namespace matches (what of it
    /// resolution reads, `Node//name`): a Node that starts or stops
    /// matching, or whose instance or address changed, makes a cycle.
    /// Its objects' inputs stay as they were, so the cycle reads only
    /// what is new (the ports of new Nodes), not every port of the
    /// selector again.
    pub fn inputs(&self) -> Inputs {
        let mut inputs: Inputs =
            std::iter::once((key_of(self.account.as_ref()), self.account.meta()))
                .chain(self.members())
                .map(|(key, meta)| (key, input_of(meta)))
                .collect();
        let selectors: Vec<_> = self
            .memberships
            .iter()
            .filter_map(|m| m.spec.node_selector.as_ref())
            .chain(self.node_groups.iter().map(|n| &n.spec.node_selector))
            .collect();
        let no_labels = std::collections::BTreeMap::new();
        for node in &self.nodes {
            let labels = node.metadata.labels.as_ref().unwrap_or(&no_labels);
            if selectors
                .iter()
                .any(|s| crate::crd::selector::matches(s, labels))
            {
                inputs.insert(
                    ObjectKey::new("Node", "", &node.name_any()),
                    super::nodes::node_input(node),
                );
            }
        }
        inputs
    }
}

/// Each object's inputs as a hash (see [`Snapshot::inputs`]).
pub type Inputs = HashMap<ObjectKey, u64>;

fn input_of(m: &ObjectMeta) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.uid.hash(&mut h);
    m.generation.hash(&mut h);
    m.annotations.hash(&mut h);
    m.deletion_timestamp.is_some().hash(&mut h);
    has_finalizer(m).hash(&mut h);
    h.finish()
}

fn has_finalizer(m: &ObjectMeta) -> bool {
    m.finalizers.iter().flatten().any(|f| f == FINALIZER)
}

/// What an account remembers between cycles: the last result, the inputs
/// it answered, and when the next cycle is due.
#[derive(Debug)]
pub struct Memory {
    kept: Option<Kept>,
    /// What the cycles know of the cloud.
    session: Session,
    /// What they know of the Nodes' cloud instances.
    instances: Instances,
    /// Cycles in a row that needed a retry (the backoff's attempt).
    retries: u32,
    /// This account's share (0..1) of the resync jitter.
    jitter: f64,
}

#[derive(Debug)]
struct Kept {
    inputs: Inputs,
    result: Arc<CycleResult>,
    due: Instant,
}

impl Memory {
    pub fn new(jitter: f64) -> Self {
        Self {
            kept: None,
            session: Session::new(),
            instances: Instances::new(),
            retries: 0,
            jitter,
        }
    }

    /// How much the next cycle with `inputs` must read at `now`: what the
    /// objects whose inputs changed, and those retried, touch; or all of
    /// it at the resync, when the `CloudAccount` changed, or when the
    /// session says so.
    pub fn scope(
        &self,
        inputs: &Inputs,
        account: &ObjectKey,
        now: Instant,
        resync: Duration,
    ) -> Scope {
        let Some(kept) = &self.kept else {
            return Scope::Full("first read");
        };
        let due = self
            .session
            .read_at()
            .is_none_or(|at| now >= at + resync)
            .then_some("resync")
            .or((inputs.get(account) != kept.inputs.get(account))
                .then_some("the CloudAccount changed"));
        let mut changed: BTreeSet<ObjectKey> = inputs
            .iter()
            .filter(|(key, input)| kept.inputs.get(*key) != Some(*input))
            .map(|(key, _)| key.clone())
            .collect();
        changed.extend(
            kept.result
                .objects
                .values()
                .filter(|o| o.verdict.wants_retry())
                .map(|o| o.key.clone()),
        );
        self.session.scope(changed, due)
    }

    /// The last result, while it still answers `inputs` at `now`: the same
    /// inputs, and its next cycle not due yet.
    pub fn answer(&self, inputs: &Inputs, now: Instant) -> Option<(Arc<CycleResult>, Instant)> {
        let kept = self.kept.as_ref()?;
        (kept.inputs == *inputs && now < kept.due).then(|| (kept.result.clone(), kept.due))
    }

    /// Keep a finished cycle; returns when the next one is due.
    fn keep(
        &mut self,
        inputs: Inputs,
        result: CycleResult,
        started: Instant,
        timing: &Timing,
    ) -> (Arc<CycleResult>, Instant) {
        self.retries = if requeue::needs_retry(&result) {
            self.retries.saturating_add(1)
        } else {
            0
        };
        let after = requeue::after_cycle(
            &result,
            self.retries,
            timing.resync,
            timing.max_backoff,
            self.jitter,
        );
        // Whatever was written is read again right away, so the cloud's
        // own answer to it (a new Huawei group's default rules) is seen.
        let wrote = result.iter().any(|o| !o.applied.is_empty());
        let after = if wrote {
            after.min(VERIFY_AFTER)
        } else {
            after
        };
        let result = Arc::new(result);
        let due = started + after;
        self.kept = Some(Kept {
            inputs,
            result: result.clone(),
            due,
        });
        (result, due)
    }
}

/// How soon after a cycle that wrote the next one reads what it wrote.
const VERIFY_AFTER: Duration = Duration::ZERO;

/// Resync and backoff periods.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub resync: Duration,
    pub max_backoff: Duration,
}

/// What a cycle needs from the controller.
pub struct Deps<'a> {
    pub client: &'a kube::Client,
    pub clients: &'a ClientCache,
    pub providers: &'a dyn ProviderFactory,
    pub metrics: &'a Metrics,
    pub plan_options: &'a PlanOptions,
    pub timing: Timing,
    pub fence: &'a Fence,
}

/// A cycle's result, and whether a cycle ran for it.
#[derive(Clone, Debug)]
pub struct Ran {
    pub result: Arc<CycleResult>,
    /// `false`: the last result answered (nothing was read or written).
    pub fresh: bool,
    /// When the account's next cycle is due.
    pub due: Instant,
}

/// Run (or answer) one cycle of `snapshot`'s account.
pub async fn run(deps: &Deps<'_>, snapshot: &Snapshot, memory: &mut Memory) -> Ran {
    let started = Instant::now();
    let inputs = snapshot.inputs();
    if let Some((result, due)) = memory.answer(&inputs, started) {
        return Ran {
            result,
            fresh: false,
            due,
        };
    }
    deps.metrics.account_cycles.inc();
    let account = key_of(snapshot.account.as_ref());
    let scope = memory.scope(&inputs, &account, started, deps.timing.resync);
    if let Scope::Full(why) = scope {
        tracing::debug!(reason = why, "full read");
        deps.metrics.account_full_reads.inc();
    }
    let result = cycle(deps, snapshot, memory, scope).await;
    if !result.account.verdict.is_synced() {
        deps.metrics.account_cycle_failures.inc();
    }
    let (result, due) = memory.keep(inputs, result, started, &deps.timing);
    Ran {
        result,
        fresh: true,
        due,
    }
}

/// Steps 2-7 (see the module docs).
async fn cycle(
    deps: &Deps<'_>,
    snapshot: &Snapshot,
    memory: &mut Memory,
    scope: Scope,
) -> CycleResult {
    let account = key_of(snapshot.account.as_ref());

    // 2. Validate (node selectors against the instances known so far).
    let mut resolution = resolve_objects(
        &snapshot.account,
        &snapshot.objects_with(memory.instances.known()),
    );
    let objects: Vec<ObjectKey> = resolution
        .objects
        .iter()
        .filter(|k| **k != account)
        .cloned()
        .collect();
    let fail = |e: CycleError, resolution: Option<&Resolution>| {
        tracing::warn!(step = e.category(), error = %e, "cycle failed");
        verdict::before_planning(&account, &objects, resolution, e.verdict())
    };
    if let Some(problems) = resolution.problems.get(&account)
        && !problems.errors.is_empty()
    {
        let e = CycleError::InvalidAccount {
            account: account.name.clone(),
            errors: problems.errors.clone(),
        };
        return fail(e, None);
    }

    // 3. Connect.
    let provider = match connect(deps, &snapshot.account).await {
        Ok(p) => p,
        Err(e) => {
            if matches!(e, CycleError::Credentials(_) | CycleError::Client(_)) {
                // Rebuild on the next attempt: the Secret may be fixed.
                deps.clients.forget_client(&uid(&snapshot.account));
            }
            return fail(e, Some(&resolution));
        }
    };

    // 4. Observe: the instances of new Nodes first, in the cloud's
    // batches (all of them at a full read), so node selectors stand for
    // their ports; then everything, or what changed on top of what is
    // known, and 5. plan.
    let wanted = node_instances(&snapshot.account, &snapshot.objects());
    if !wanted.is_empty() || !memory.instances.known().is_empty() {
        let full = matches!(scope, Scope::Full(_));
        match memory
            .instances
            .read(provider.as_ref(), &wanted, full)
            .await
        {
            Ok(false) => {}
            Ok(true) => {
                resolution = resolve_objects(
                    &snapshot.account,
                    &snapshot.objects_with(memory.instances.known()),
                );
            }
            Err(e) => return fail(CycleError::Observe(e), Some(&resolution)),
        }
    }
    // The desired state moves on to planning; what stays behind (each
    // object's problems) is what the verdicts read.
    let kind = resolution.desired.provider;
    let mut desired = std::mem::replace(&mut resolution.desired, DesiredState::new(kind));
    hold_unadmitted(&mut desired, &admitted(snapshot));
    let planned = match memory
        .session
        .prepare(provider.as_ref(), desired, scope, deps.plan_options)
        .await
    {
        Ok(p) => p,
        Err(PrepareError::Read(e)) => {
            if matches!(e, CloudError::Unauthorized(_)) {
                deps.clients.forget_client(&uid(&snapshot.account));
            }
            return fail(CycleError::Observe(e), Some(&resolution));
        }
        Err(PrepareError::Invalid(errors)) => {
            return fail(CycleError::Plan(errors), Some(&resolution));
        }
    };
    if !planned.drift.is_empty() {
        tracing::info!(changed = ?planned.drift, "the cloud changed outside the controller");
    }

    // 6. Execute.
    let execution: Option<ExecuteReport> = if planned.outcome.plan.is_empty() {
        None
    } else {
        let fence = deps.fence;
        let may_write = || fence.permits();
        Some(
            memory
                .session
                .execute(provider.as_ref(), &planned, &may_write, &mut |_| {})
                .await,
        )
    };

    // 7. Derive, against the cloud as it was read; then let the session
    // forget what was written.
    let empty = crate::reconcile::Observation::default();
    let observation_before = memory.session.observation().unwrap_or(&empty);
    let deleting: HashSet<ObjectKey> = snapshot
        .members()
        .filter(|(_, meta)| meta.deletion_timestamp.is_some())
        .map(|(key, _)| key)
        .collect();
    let mut result = verdict::derive(&verdict::Derivation {
        account: &account,
        objects: &objects,
        deleting: &deleting,
        resolution: &resolution,
        desired: &planned.desired,
        observation: observation_before,
        plan: &planned.outcome,
        rejected: &planned.rejected,
        execution: execution.as_ref(),
        fenced: execution.as_ref().is_some_and(|e| e.gated),
    });
    if let Some(report) = &execution {
        memory.session.settle(&planned, report);
    }
    explain_groups_in_use(provider.as_ref(), &mut result).await;
    result
}

/// Objects that carry the finalizer (and the account, which needs none).
fn admitted(snapshot: &Snapshot) -> HashSet<ObjectKey> {
    snapshot
        .members()
        .filter(|(_, meta)| has_finalizer(meta))
        .map(|(key, _)| key)
        .collect()
}

/// Objects without the finalizer may be read and planned, never written:
/// were one deleted before the finalizer is added, what it created would
/// stay behind.
fn hold_unadmitted(desired: &mut DesiredState, admitted: &HashSet<ObjectKey>) {
    let hold = |intent: &mut crate::model::Intent| {
        if !admitted.contains(&intent.owner) && intent.mode == Mode::Apply {
            intent.mode = Mode::Observe;
        }
    };
    desired.groups.iter_mut().for_each(|g| hold(&mut g.intent));
    desired.ports.iter_mut().for_each(|p| hold(&mut p.intent));
    desired
        .memberships
        .iter_mut()
        .for_each(|m| hold(&mut m.intent));
    desired
        .deletions
        .iter_mut()
        .for_each(|d| hold(&mut d.intent));
}

fn uid(account: &CloudAccount) -> String {
    account.uid().unwrap_or_default()
}

/// Read the account's Secret and return a (cached) metered client.
async fn connect(
    deps: &Deps<'_>,
    account: &CloudAccount,
) -> Result<Arc<dyn CloudProvider>, CycleError> {
    let namespace = account.namespace().unwrap_or_default();
    let name = account.spec.credentials_secret_ref.name.clone();
    let secrets: Api<Secret> = Api::namespaced(deps.client.clone(), &namespace);
    let secret = match secrets.get_opt(&name).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(CredentialsError::SecretNotFound { namespace, name }.into()),
        Err(source) => {
            return Err(CycleError::ReadSecret {
                secret: format!("{namespace}/{name}"),
                source,
            });
        }
    };
    let key = ClientKey {
        account_uid: uid(account),
        account_version: account.resource_version().unwrap_or_default(),
        secret_version: secret.resource_version().unwrap_or_default(),
    };
    deps.clients.client(&key, || {
        let credentials = credentials_from_secret(&secret)?;
        let fence = deps.fence.clone();
        let gate: WriteGate = Arc::new(move || fence.permits());
        let inner = deps
            .providers
            .build_gated(account, credentials, gate)
            .map_err(CycleError::Client)?;
        Ok(Arc::new(MeteredProvider::new(inner, deps.metrics.clone())) as Arc<dyn CloudProvider>)
    })
}

/// A group whose delete failed because ports still hold it: say which.
async fn explain_groups_in_use(provider: &dyn CloudProvider, result: &mut CycleResult) {
    for o in result.objects.values_mut() {
        if let Verdict::Failed {
            reason, message, ..
        } = &mut o.verdict
            && *reason == Reason::Cloud(crate::cloud::ErrorKind::Conflict)
            && o.planned.contains_key("deleteGroup")
            && let Some(id) = o.facts.group_id()
            && let Ok(ports) = provider.list_group_ports(id).await
            && !ports.is_empty()
        {
            *message = format!(
                "group {id} is still used by ports {}; retrying ({message})",
                ports.join(", ")
            );
            *reason = Reason::GroupInUse;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DesiredPortGroups, GroupHandle, Intent, ProviderKind};

    fn account(generation: i64) -> Arc<CloudAccount> {
        let mut a: CloudAccount = serde_json::from_value(serde_json::json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "CloudAccount",
            "metadata": {"name": "acct", "namespace": "prod", "uid": "u-acct"},
            "spec": {"provider": "huawei", "region": "cn-north-4", "projectId": "p",
                     "credentialsSecretRef": {"name": "creds"}}
        }))
        .expect("a CloudAccount");
        a.metadata.generation = Some(generation);
        Arc::new(a)
    }

    fn psg(name: &str, namespace: &str, finalized: bool) -> Arc<PortSecurityGroups> {
        let mut p: PortSecurityGroups = serde_json::from_value(serde_json::json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "PortSecurityGroups",
            "metadata": {"name": name, "namespace": namespace, "generation": 1},
            "spec": {"accountRef": {"name": "acct"}, "portId": "p1",
                     "securityGroups": [{"id": "sg-1"}]}
        }))
        .expect("a PortSecurityGroups");
        if finalized {
            p.metadata.finalizers = Some(vec![FINALIZER.into()]);
        }
        Arc::new(p)
    }

    fn timing() -> Timing {
        Timing {
            resync: Duration::from_secs(600),
            max_backoff: Duration::from_secs(300),
        }
    }

    #[test]
    fn a_snapshot_holds_the_accounts_namespace_only() {
        let s = Snapshot::of(
            account(1),
            vec![],
            vec![psg("a", "prod", true), psg("b", "dev", true)],
            vec![],
        );
        let names: Vec<String> = s.members().map(|(k, _)| k.name.clone()).collect();
        assert_eq!(names, ["a"]);
        assert_eq!(s.inputs().len(), 2, "the account and `a`");
    }

    #[test]
    fn inputs_change_with_spec_annotations_deletion_and_finalizer_not_status() {
        let base = Snapshot::of(account(1), vec![], vec![psg("a", "prod", false)], vec![]);
        let key = ObjectKey::new("PortSecurityGroups", "prod", "a");
        let input = |s: &Snapshot| s.inputs()[&key];
        let changed = |edit: &dyn Fn(&mut PortSecurityGroups)| {
            let mut p = (*base.ports[0]).clone();
            edit(&mut p);
            let s = Snapshot::of(account(1), vec![], vec![Arc::new(p)], vec![]);
            input(&s) != input(&base)
        };
        assert!(changed(&|p| p.metadata.generation = Some(2)));
        assert!(changed(&|p| {
            p.metadata.annotations = Some([("secgroup.io/paused".into(), "true".into())].into())
        }));
        assert!(changed(
            &|p| p.metadata.finalizers = Some(vec![FINALIZER.into()])
        ));
        assert!(changed(&|p| {
            p.metadata.deletion_timestamp = Some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
            )
        }));
        assert!(!changed(&|p| p.status = Some(Default::default())));
        assert!(!changed(&|p| {
            p.metadata.labels = Some([("team".into(), "web".into())].into())
        }));
        let other_account = Snapshot::of(account(2), vec![], vec![psg("a", "prod", false)], vec![]);
        assert_ne!(other_account.inputs(), base.inputs());
    }

    fn node(name: &str, pool: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": {"pool": pool}},
                "spec": {"providerID": "huaweicloud://7d3a1f2c-9b4e-4c6d-8e0f-1a2b3c4d5e6f"}
            }))
            .expect("a Node"),
        )
    }

    fn selecting(pool: &str) -> Arc<SecurityGroupMembership> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "secgroup.io/v1alpha1",
                "kind": "SecurityGroupMembership",
                "metadata": {"name": "by-nodes", "namespace": "prod", "generation": 1},
                "spec": {"accountRef": {"name": "acct"}, "securityGroupId": "sg-1",
                         "nodeSelector": {"matchLabels": {"pool": pool}}}
            }))
            .expect("a membership"),
        )
    }

    #[test]
    fn matching_nodes_are_inputs_and_other_nodes_are_not() {
        let snapshot = |nodes: Vec<Arc<Node>>, selector: Option<&str>| {
            Snapshot::of(
                account(1),
                vec![],
                vec![],
                selector.map(selecting).into_iter().collect(),
            )
            .with_nodes(vec![], || nodes)
        };
        let base = snapshot(vec![node("a1", "a"), node("b1", "b")], Some("a"));
        let node_key = |name: &str| ObjectKey::new("Node", "", name);
        assert!(base.inputs().contains_key(&node_key("a1")));
        assert!(!base.inputs().contains_key(&node_key("b1")));
        // A Node of another pool changing does not make a cycle; one
        // joining the selection does; its membership's own input stays.
        let other = snapshot(vec![node("a1", "a"), node("b1", "c")], Some("a"));
        assert_eq!(other.inputs(), base.inputs());
        let joined = snapshot(vec![node("a1", "a"), node("b1", "a")], Some("a"));
        assert_ne!(joined.inputs(), base.inputs());
        let membership = ObjectKey::new("SecurityGroupMembership", "prod", "by-nodes");
        assert_eq!(joined.inputs()[&membership], base.inputs()[&membership]);
        // Without a selector the Nodes are not even taken.
        assert!(snapshot(vec![node("a1", "a")], None).nodes.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn memory_answers_the_same_inputs_until_the_next_cycle_is_due() {
        let s = Snapshot::of(account(1), vec![], vec![psg("a", "prod", true)], vec![]);
        let mut memory = Memory::new(0.0);
        let now = Instant::now();
        assert!(
            memory.answer(&s.inputs(), now).is_none(),
            "nothing kept yet"
        );
        let keys = [ObjectKey::new("PortSecurityGroups", "prod", "a")];
        let account_key = ObjectKey::new("CloudAccount", "prod", "acct");
        let ok = CycleResult::all(account_key.clone(), &keys, Verdict::synced("in sync"));
        let (_, due) = memory.keep(s.inputs(), ok, now, &timing());
        assert_eq!(due, now + Duration::from_secs(600), "resync");
        assert!(
            memory
                .answer(&s.inputs(), now + Duration::from_secs(599))
                .is_some()
        );
        assert!(memory.answer(&s.inputs(), due).is_none(), "resync due");
        let changed = Snapshot::of(account(2), vec![], vec![psg("a", "prod", true)], vec![]);
        assert!(
            memory.answer(&changed.inputs(), now).is_none(),
            "a change runs"
        );

        // Failures back off, doubling per cycle in a row, until one succeeds.
        let failed = || {
            CycleResult::all(
                account_key.clone(),
                &keys,
                Verdict::failed(Reason::Cloud(crate::cloud::ErrorKind::Server), "", None),
            )
        };
        let (_, due) = memory.keep(s.inputs(), failed(), now, &timing());
        assert_eq!(due, now + Duration::from_secs(5));
        let (_, due) = memory.keep(s.inputs(), failed(), now, &timing());
        assert_eq!(due, now + Duration::from_secs(10));
        let ok = CycleResult::all(account_key.clone(), &keys, Verdict::synced(""));
        memory.keep(s.inputs(), ok, now, &timing());
        let (_, due) = memory.keep(s.inputs(), failed(), now, &timing());
        assert_eq!(due, now + Duration::from_secs(5), "the count starts again");
    }

    #[test]
    fn objects_without_the_finalizer_are_only_observed() {
        let owner = |name: &str| ObjectKey::new("PortSecurityGroups", "prod", name);
        let port = |name: &str, mode: Mode| DesiredPortGroups {
            intent: Intent {
                owner: owner(name),
                mode,
                allow_mass_change: false,
            },
            port_id: format!("port-{name}"),
            groups: vec![GroupHandle::Existing("sg-1".into())],
        };
        let mut desired = DesiredState {
            provider: ProviderKind::Huawei,
            groups: vec![],
            ports: vec![
                port("admitted", Mode::Apply),
                port("new", Mode::Apply),
                port("paused", Mode::Paused),
            ],
            memberships: vec![],
            deletions: vec![],
            rule_sets: Vec::new(),
        };
        hold_unadmitted(&mut desired, &HashSet::from([owner("admitted")]));
        let modes: Vec<Mode> = desired.ports.iter().map(|p| p.intent.mode).collect();
        assert_eq!(modes, [Mode::Apply, Mode::Observe, Mode::Paused]);
    }
}
