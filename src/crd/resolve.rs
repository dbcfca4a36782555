//! Resolution: one `CloudAccount` and the objects of its namespace in, the
//! account's [`DesiredState`] out, with every object's validation errors and
//! unresolved references on the side.
//!
//! Rules:
//! - An object belongs to the account when it is in the account's namespace
//!   and its `spec.accountRef.name` names the account; a membership with
//!   `securityGroupRef` belongs to the account of that group. Objects of
//!   other accounts are ignored. A membership whose group cannot be found
//!   cannot be attributed and is reported by every account it is resolved
//!   against.
//! - Objects with validation errors or unresolved references are left out
//!   of the desired state and reported in [`Resolution::problems`].
//! - SecurityGroup handle: `Existing(spec.groupId)` when adopting, else
//!   `Existing(status.groupId)` when known, else `New(key)`. A reference to
//!   a group resolves to its handle; a `New` handle only when that group is
//!   itself in this desired state (so the plan creates it), otherwise it is
//!   "has no groupId yet". This is computed to a fixed point, so a group
//!   left out makes the objects that need its id wait too.
//! - Name and description: from the spec, defaulting to `metadata.name`
//!   and empty; for a group adopted by `spec.groupId`, a field the spec
//!   leaves out is not managed ([`UnmanagedFields`]).
//! - `owner_uid`: `metadata.uid`, or for objects without one (manifests of
//!   the one-shot CLI) a UUID v5 of `namespace/name` (see [`owner_uid`]).
//! - Mode and mass-change from annotations (see [`super::validate::intent_of`]).
//! - Objects being deleted (`deletionTimestamp` set): a SecurityGroup with
//!   effective policy `Delete` and a known id becomes a [`GroupDeletion`]; a
//!   PortSecurityGroups with `Delete` becomes, per group with a known id, an
//!   Additive membership with no ports and `managed_ports = {portId}` (the
//!   planner's "remove what I added" rule); a membership with `Delete`
//!   becomes Additive with no ports and `managed_ports` = managed ∪ listed.
//!   `Retain` contributes nothing. References that cannot be resolved
//!   during deletion are skipped (there is nothing known to undo), so a
//!   missing group never blocks a deletion. Spec validation is not run on
//!   objects being deleted; only the annotations must parse.
//! - Node selectors (a membership's `nodeSelector`, a `NodeSecurityGroups`)
//!   are matched against [`Objects::nodes`] and expanded with
//!   [`Objects::instances`] (what the cloud has of [`node_instances`]):
//!   a membership's `ports` become its Nodes' ports; a
//!   `NodeSecurityGroups` becomes one `DesiredPortGroups` per selected
//!   port, plus, per listed group, an Additive membership with no ports
//!   and `managed_ports` = the ports it gave the groups whose Node no
//!   longer matches (or all of them when deleted with `Delete`). A
//!   managed port that no Node in the cluster holds any more (its Node
//!   was deleted) is forgotten, not removed; a port of a matching Node
//!   that does not resolve is left as it is. What each selector matched
//!   is in [`Resolution::node_selections`].

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::num::NonZeroU32;

use kube::{Resource, ResourceExt};
use uuid::Uuid;

use crate::model::{
    DesiredGroup, DesiredMembership, DesiredPortGroups, DesiredRuleSet, DesiredState, FieldError,
    GroupDeletion, GroupHandle, MembershipPolicy, ObjectKey, ProviderKind, RulesPolicy, Selection,
    UnmanagedFields,
};

use super::nodes::{Identity, PortSelection, source_of};
use super::validate::{
    intent_of, normalize_rules, object_key, provider_kind, validate_account, validate_membership,
    validate_port_security_groups, validate_security_group,
};
use super::{
    CloudAccount, DeletionPolicy, GroupRef, MembershipPolicySpec, NodeSecurityGroups,
    PortSecurityGroups, RulesPolicySpec, SecurityGroup, SecurityGroupMembership,
    SecurityGroupRules,
};
use crate::plan::nodes::{
    Expansion, InstancePorts, PortChoice, PortSource, expand, instance_port_ids,
};
use k8s_openapi::api::core::v1::Node;

/// The cloud an account talks to.
pub fn provider_of(account: &CloudAccount) -> ProviderKind {
    provider_kind(account.spec.provider)
}

/// What a cloud client needs to connect for one account. Holds no
/// credentials: the keys stay in the Secret named by
/// `credentials_secret`, read by whoever builds the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSettings {
    pub provider: ProviderKind,
    pub region: String,
    /// Huawei project id (always `Some` for Huawei).
    pub project_id: Option<String>,
    /// Endpoint override; `None` means the provider's public endpoint.
    pub endpoint: Option<String>,
    /// `None` means the client's default limit.
    pub max_requests_per_second: Option<NonZeroU32>,
    /// Namespace of the account (and of its Secret).
    pub namespace: String,
    /// Name of the Secret with `accessKey` and `secretKey`.
    pub credentials_secret: String,
}

/// The connection settings of `account`, or its validation errors.
pub fn account_settings(account: &CloudAccount) -> Result<AccountSettings, Vec<FieldError>> {
    let errors = validate_account(account);
    if !errors.is_empty() {
        return Err(errors);
    }
    let spec = &account.spec;
    Ok(AccountSettings {
        provider: provider_of(account),
        region: spec.region.clone(),
        project_id: spec.project_id.clone(),
        endpoint: spec.endpoint.clone(),
        max_requests_per_second: spec.max_requests_per_second.and_then(NonZeroU32::new),
        namespace: account.namespace().unwrap_or_default(),
        credentials_secret: spec.credentials_secret_ref.name.clone(),
    })
}

/// The UID to tag a created group with: `metadata.uid`, or when absent a
/// UUID v5 of `namespace/name` in the namespace `v5(DNS, "secgroup.io")`,
/// so repeated CLI runs over the same manifests find the same group.
///
/// `namespace/name` names one object only because validation holds the
/// namespace to a DNS-1123 label and the name to a DNS-1123 subdomain,
/// neither of which can hold a `/`: the first `/` is where they meet.
/// (Unvalidated, namespace `a/b` + name `c` and `a` + `b/c` would share
/// a tag.) Only objects that passed [`super::validate`] reach the desired
/// state, and the spelling is kept so groups tagged by earlier runs are
/// still found.
pub fn owner_uid<K: Resource>(obj: &K) -> String {
    match &obj.meta().uid {
        Some(uid) if !uid.is_empty() => uid.clone(),
        _ => {
            let project = Uuid::new_v5(&Uuid::NAMESPACE_DNS, super::GROUP.as_bytes());
            let name = format!(
                "{}/{}",
                obj.meta().namespace.as_deref().unwrap_or_default(),
                obj.meta().name.as_deref().unwrap_or_default()
            );
            Uuid::new_v5(&project, name.as_bytes()).to_string()
        }
    }
}

/// Why a reference did not resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnresolvedReason {
    /// No object of that name in the namespace.
    NotFound,
    /// The object exists but its cloud id is not known yet, and this plan
    /// will not create it (it is invalid, waiting itself, or being deleted).
    NoGroupIdYet,
}

/// A reference to another object that did not resolve. Waiting, not
/// wrong: it resolves once the other object exists or has its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnresolvedRef {
    /// Path of the referencing field, e.g. `spec.securityGroups[1].name`.
    pub field: String,
    /// Kind of the object referred to (`SecurityGroup`).
    pub kind: String,
    pub name: String,
    pub reason: UnresolvedReason,
}

impl fmt::Display for UnresolvedRef {
    /// `SecurityGroup "web" not found` / `SecurityGroup "web" has no groupId yet`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            UnresolvedReason::NotFound => write!(f, "{} {:?} not found", self.kind, self.name),
            UnresolvedReason::NoGroupIdYet => {
                write!(f, "{} {:?} has no groupId yet", self.kind, self.name)
            }
        }
    }
}

/// What kept one object out of the desired state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectProblems {
    /// Bad input: waits for the user to change the object.
    pub errors: Vec<FieldError>,
    /// References that do not resolve yet: retry later.
    pub unresolved: Vec<UnresolvedRef>,
}

impl ObjectProblems {
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.unresolved.is_empty()
    }
}

/// The outcome of [`resolve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub desired: DesiredState,
    /// Objects left out, with why. Only objects with problems appear.
    pub problems: BTreeMap<ObjectKey, ObjectProblems>,
    /// Every object that belongs to the account (in the desired state,
    /// left out with problems, or contributing nothing, e.g. deleted with
    /// `Retain`), the account itself included.
    pub objects: BTreeSet<ObjectKey>,
    /// What each node selector of the account (a membership's or a
    /// `NodeSecurityGroups`') matched and resolved to, for its status.
    pub node_selections: BTreeMap<ObjectKey, Expansion>,
}

/// A SecurityGroup as other objects see it.
struct GroupEntry<'a> {
    obj: &'a SecurityGroup,
    handle: GroupHandle,
}

fn is_deleting<K: Resource>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

/// Resolves group names of one namespace to handles. `available` holds
/// the groups the desired state will contain (so a `New` handle is fine).
struct GroupIndex<'a> {
    by_name: BTreeMap<&'a str, GroupEntry<'a>>,
    available: BTreeSet<ObjectKey>,
}

impl<'a> GroupIndex<'a> {
    fn new(namespace: &str, groups: &[&'a SecurityGroup]) -> Self {
        let mut by_name = BTreeMap::new();
        for &g in groups {
            if g.meta().namespace.as_deref().unwrap_or_default() != namespace {
                continue;
            }
            let key = object_key(g);
            let known_id = g
                .spec
                .group_id
                .clone()
                .or_else(|| g.status.as_ref().and_then(|s| s.group_id.clone()));
            let handle = match known_id {
                Some(id) if !id.is_empty() => GroupHandle::Existing(id),
                _ => GroupHandle::New(key.clone()),
            };
            if let Some(name) = g.meta().name.as_deref() {
                by_name.insert(name, GroupEntry { obj: g, handle });
            }
        }
        Self {
            by_name,
            available: BTreeSet::new(),
        }
    }

    fn lookup(&self, field: String, name: &str) -> Result<GroupHandle, UnresolvedRef> {
        let unresolved = |reason| UnresolvedRef {
            field: field.clone(),
            kind: "SecurityGroup".into(),
            name: name.to_string(),
            reason,
        };
        match self.by_name.get(name) {
            None => Err(unresolved(UnresolvedReason::NotFound)),
            Some(e) => match &e.handle {
                GroupHandle::Existing(_) => Ok(e.handle.clone()),
                GroupHandle::New(key) if self.available.contains(key) => Ok(e.handle.clone()),
                GroupHandle::New(_) => Err(unresolved(UnresolvedReason::NoGroupIdYet)),
            },
        }
    }

    /// A group's cloud id, if known (for undoing on deletion).
    fn known_id(&self, name: &str) -> Option<String> {
        self.by_name
            .get(name)
            .and_then(|e| e.handle.existing_id().map(str::to_string))
    }

    fn resolve_ref(&self, field: String, r: &GroupRef) -> Result<GroupHandle, UnresolvedRef> {
        match (&r.name, &r.id) {
            (Some(name), _) => self.lookup(field + ".name", name),
            (None, Some(id)) => Ok(GroupHandle::Existing(id.clone())),
            // Validation reports the empty reference.
            (None, None) => Err(UnresolvedRef {
                field,
                kind: "SecurityGroup".into(),
                name: String::new(),
                reason: UnresolvedReason::NotFound,
            }),
        }
    }
}

fn rules_policy(p: RulesPolicySpec) -> RulesPolicy {
    match p {
        RulesPolicySpec::Authoritative => RulesPolicy::Authoritative,
        RulesPolicySpec::Additive => RulesPolicy::Additive,
    }
}

fn membership_policy(p: MembershipPolicySpec) -> MembershipPolicy {
    match p {
        MembershipPolicySpec::Additive => MembershipPolicy::Additive,
        MembershipPolicySpec::Exclusive => MembershipPolicy::Exclusive,
    }
}

/// Resolve `account` and the objects of its namespace into the account's
/// desired state. Pass every SecurityGroup of the namespace (so names
/// resolve), and the namespace's PortSecurityGroups and memberships;
/// objects of other accounts and other namespaces are ignored. The lists
/// may hold the objects or anything that borrows them (the controller
/// passes its stores' `Arc`s rather than copy 10,000 objects a cycle).
pub fn resolve<G, P, M>(
    account: &CloudAccount,
    groups: &[G],
    ports: &[P],
    memberships: &[M],
) -> Resolution
where
    G: Borrow<SecurityGroup>,
    P: Borrow<PortSecurityGroups>,
    M: Borrow<SecurityGroupMembership>,
{
    resolve_objects(
        account,
        &Objects {
            groups: groups.iter().map(Borrow::borrow).collect(),
            ports: ports.iter().map(Borrow::borrow).collect(),
            memberships: memberships.iter().map(Borrow::borrow).collect(),
            ..Objects::default()
        },
    )
}

/// The objects of an account's namespace that resolution reads, by kind
/// (borrowed: the controller passes its stores' objects without copying).
#[derive(Clone, Debug, Default)]
pub struct Objects<'a> {
    pub groups: Vec<&'a SecurityGroup>,
    pub ports: Vec<&'a PortSecurityGroups>,
    pub memberships: Vec<&'a SecurityGroupMembership>,
    pub node_groups: Vec<&'a NodeSecurityGroups>,
    pub rule_sets: Vec<&'a SecurityGroupRules>,
    /// The cluster's Nodes (cluster-scoped: every account sees them all).
    pub nodes: Vec<&'a Node>,
    /// What the cloud has of the instances [`node_instances`] names. `None`
    /// (not read) resolves like an empty answer: every matching Node is
    /// unresolved and contributes no port.
    pub instances: Option<&'a InstancePorts>,
}

/// The Nodes of `objects` as port sources of `account`'s cloud, with
/// their labels for selectors to match.
fn node_sources<'a>(
    account: &CloudAccount,
    nodes: &[&'a Node],
) -> Vec<(Option<&'a BTreeMap<String, String>>, PortSource)> {
    // A bad pattern is the account's own validation error; until fixed,
    // Nodes are read by the provider's format.
    let identity = Identity::new(account.spec.node_identity.as_ref())
        .or_else(|_| Identity::new(None))
        .ok();
    let provider = provider_of(account);
    identity
        .map(|identity| {
            nodes
                .iter()
                .map(|n| {
                    (
                        n.metadata.labels.as_ref(),
                        source_of(&identity, provider, n),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn matching(
    sources: &[(Option<&BTreeMap<String, String>>, PortSource)],
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> Vec<PortSource> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    sources
        .iter()
        .filter(|(labels, _)| super::selector::matches(selector, labels.unwrap_or(&EMPTY)))
        .map(|(_, s)| s.clone())
        .collect()
}

fn port_choice(selection: PortSelection) -> PortChoice {
    match selection {
        PortSelection::Primary => PortChoice::Primary,
        PortSelection::All => PortChoice::All,
    }
}

/// The selectors of `account`'s objects (memberships with `nodeSelector`
/// and `NodeSecurityGroups`, being deleted or not).
fn node_selectors<'a>(
    account: &CloudAccount,
    objects: &Objects<'a>,
) -> Vec<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector> {
    let namespace = account.namespace().unwrap_or_default();
    let name = account.name_any();
    let in_namespace =
        |meta: &kube::api::ObjectMeta| meta.namespace.as_deref().unwrap_or_default() == namespace;
    let group_account = |group: &str| {
        objects
            .groups
            .iter()
            .find(|g| in_namespace(g.meta()) && g.meta().name.as_deref() == Some(group))
            .map(|g| g.spec.account_ref.name.clone())
    };
    let mut out = Vec::new();
    for m in objects
        .memberships
        .iter()
        .filter(|m| in_namespace(m.meta()))
    {
        let Some(selector) = &m.spec.node_selector else {
            continue;
        };
        let account_name = match (&m.spec.account_ref, &m.spec.security_group_ref) {
            (Some(a), _) => Some(a.name.clone()),
            (None, Some(r)) => group_account(&r.name),
            (None, None) => None,
        };
        if account_name.as_deref() == Some(name.as_str()) {
            out.push(selector);
        }
    }
    for n in objects
        .node_groups
        .iter()
        .filter(|n| in_namespace(n.meta()))
    {
        if n.spec.account_ref.name == name {
            out.push(&n.spec.node_selector);
        }
    }
    out
}

/// The cloud instances of the cluster's Nodes, when `account` has a node
/// selector (else none):
/// what the caller reads (Huawei list ports by `device_id`, Baidu's bulk
/// instance read) and passes back as [`Objects::instances`].
pub fn node_instances(account: &CloudAccount, objects: &Objects<'_>) -> BTreeSet<String> {
    let selectors = node_selectors(account, objects);
    if selectors.is_empty() {
        return BTreeSet::new();
    }
    // Every Node's, not only the matching ones': the ports of Nodes still
    // in the cluster tell a Node that stopped matching (its port leaves)
    // from one that is gone (its instance is not touched).
    let sources = node_sources(account, &objects.nodes);
    crate::plan::nodes::instances(sources.iter().map(|(_, s)| s))
}

/// Whether any object of `objects` selects Nodes (so Node changes matter).
pub fn selects_nodes(objects: &Objects<'_>) -> bool {
    objects
        .memberships
        .iter()
        .any(|m| m.spec.node_selector.is_some())
        || !objects.node_groups.is_empty()
}

/// [`resolve`], with the namespace's objects gathered in one [`Objects`].
pub fn resolve_objects(account: &CloudAccount, objects: &Objects<'_>) -> Resolution {
    let input = objects;
    let groups = objects.groups.as_slice();
    let ports = objects.ports.as_slice();
    let memberships = objects.memberships.as_slice();
    let provider = provider_of(account);
    let namespace = account.namespace().unwrap_or_default();
    let account_name = account.name_any();
    let mut problems: BTreeMap<ObjectKey, ObjectProblems> = BTreeMap::new();
    let mut objects: BTreeSet<ObjectKey> = BTreeSet::new();
    let mut desired = DesiredState::new(provider);

    let account_key = object_key(account);
    objects.insert(account_key.clone());
    let account_errors = validate_account(account);
    if !account_errors.is_empty() {
        problems.entry(account_key).or_default().errors = account_errors;
    }

    let in_namespace =
        |meta: &kube::api::ObjectMeta| meta.namespace.as_deref().unwrap_or_default() == namespace;
    let mut index = GroupIndex::new(&namespace, groups);
    let mut node_selections: BTreeMap<ObjectKey, Expansion> = BTreeMap::new();
    let no_instances = InstancePorts::new();
    let instances = input.instances.unwrap_or(&no_instances);
    let sources = if selects_nodes(input) {
        node_sources(account, &input.nodes)
    } else {
        Vec::new()
    };
    // What a selector stands for, and the ports it must leave as they
    // are: every port of a matching Node that did not resolve (its own
    // port is not known, so none of its server's is removed).
    let select = |selector, selection| {
        let matched = matching(&sources, selector);
        let expansion = expand(provider, &matched, port_choice(selection), instances);
        let unresolved: BTreeSet<&str> = expansion
            .unresolved
            .iter()
            .map(|u| u.name.as_str())
            .collect();
        let keep = instance_port_ids(
            provider,
            matched
                .iter()
                .filter(|s| unresolved.contains(s.name.as_str())),
            instances,
        );
        (expansion, keep)
    };
    // The ports of every Node in the cluster: a managed port outside them
    // belonged to a Node that is gone, and is let go without a change.
    let node_ports = instance_port_ids(provider, sources.iter().map(|(_, s)| s), instances);
    let node_groups = input.node_groups.as_slice();

    // ---- SecurityGroups -------------------------------------------------
    let ours: Vec<&SecurityGroup> = groups
        .iter()
        .copied()
        .filter(|g| in_namespace(g.meta()) && g.spec.account_ref.name == account_name)
        .collect();

    // Two objects adopting the same cloud group would fight over it.
    let mut adopters: BTreeMap<&str, Vec<ObjectKey>> = BTreeMap::new();
    for g in ours.iter().filter(|g| !is_deleting(**g)) {
        if let Some(id) = g.spec.group_id.as_deref() {
            adopters.entry(id).or_default().push(object_key(*g));
        }
    }

    // First pass: spec errors, intents, deletions.
    struct Candidate<'a> {
        obj: &'a SecurityGroup,
        key: ObjectKey,
        intent: crate::model::Intent,
    }
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    for g in &ours {
        let key = object_key(*g);
        objects.insert(key.clone());
        let mut errors = Vec::new();
        let intent = match intent_of(*g) {
            Ok(i) => Some(i),
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        if is_deleting(*g) {
            if let Some(intent) = intent
                && g.spec.effective_deletion_policy() == DeletionPolicy::Delete
                && let Some(id) = index.known_id(&key.name)
            {
                desired.deletions.push(GroupDeletion {
                    intent,
                    group_id: id,
                });
            }
            if !errors.is_empty() {
                problems.entry(key).or_default().errors = errors;
            }
            continue;
        }
        errors.extend(validate_security_group(g, provider));
        if let Some(id) = g.spec.group_id.as_deref()
            && let Some(others) = adopters.get(id)
            && others.len() > 1
        {
            let names: Vec<String> = others
                .iter()
                .filter(|k| **k != key)
                .map(|k| format!("SecurityGroup {:?}", k.name))
                .collect();
            errors.push(FieldError::new(
                Some(&key),
                "spec.groupId",
                format!("group {id} is also adopted by {}", names.join(", ")),
            ));
        }
        match intent {
            Some(intent) if errors.is_empty() => candidates.push(Candidate {
                obj: g,
                key,
                intent,
            }),
            _ => problems.entry(key).or_default().errors = errors,
        }
    }

    // Second pass, to a fixed point: a group whose rules name a group that
    // will not be created waits, which may make others wait in turn.
    index.available = candidates.iter().map(|c| c.key.clone()).collect();
    let mut resolved_rules: BTreeMap<ObjectKey, Option<Vec<crate::model::Rule>>> = BTreeMap::new();
    loop {
        let mut waiting: BTreeMap<ObjectKey, Vec<UnresolvedRef>> = BTreeMap::new();
        resolved_rules.clear();
        for c in candidates
            .iter()
            .filter(|c| index.available.contains(&c.key))
        {
            let Some(rules) = &c.obj.spec.rules else {
                resolved_rules.insert(c.key.clone(), None);
                continue;
            };
            let mut unresolved = Vec::new();
            let lookup = |i: usize, name: &str| {
                let field = format!("spec.rules[{i}].remoteGroupRef");
                match index.lookup(field, name) {
                    Ok(h) => h,
                    Err(u) => {
                        unresolved.push(u);
                        GroupHandle::New(ObjectKey::new("SecurityGroup", &namespace, name))
                    }
                }
            };
            // Spec validation passed, so normalization cannot fail here but
            // for the handles; errors are kept anyway rather than dropped.
            match normalize_rules(&c.key, rules, provider, lookup) {
                Ok(normalized) if unresolved.is_empty() => {
                    resolved_rules.insert(c.key.clone(), Some(normalized));
                }
                Ok(_) => {
                    waiting.insert(c.key.clone(), unresolved);
                }
                Err(errors) => {
                    problems.entry(c.key.clone()).or_default().errors = errors;
                    waiting.insert(c.key.clone(), unresolved);
                }
            }
        }
        if waiting.is_empty() {
            break;
        }
        for (key, unresolved) in waiting {
            index.available.remove(&key);
            if !unresolved.is_empty() {
                problems.entry(key).or_default().unresolved = unresolved;
            }
        }
    }
    for c in &candidates {
        let Some(rules) = resolved_rules.remove(&c.key) else {
            continue;
        };
        let entry = &index.by_name[c.key.name.as_str()];
        let spec = &c.obj.spec;
        let adopted = spec.group_id.is_some();
        desired.groups.push(DesiredGroup {
            intent: c.intent.clone(),
            handle: entry.handle.clone(),
            owner_uid: owner_uid(entry.obj),
            name: spec.name.clone().unwrap_or_else(|| c.obj.name_any()),
            description: spec.description.clone().unwrap_or_default(),
            unmanaged: UnmanagedFields {
                name: adopted && spec.name.is_none(),
                description: adopted && spec.description.is_none(),
            },
            vpc_id: c.obj.spec.vpc_id.clone(),
            rules,
            rules_policy: rules_policy(spec.effective_rules_policy()),
            managed_rules: c
                .obj
                .status
                .iter()
                .flat_map(|s| s.managed_rules.iter().cloned())
                .collect(),
        });
    }

    // ---- PortSecurityGroups ---------------------------------------------
    let our_ports: Vec<&PortSecurityGroups> = ports
        .iter()
        .copied()
        .filter(|p| in_namespace(p.meta()) && p.spec.account_ref.name == account_name)
        .collect();
    let mut port_owners: BTreeMap<&str, Vec<ObjectKey>> = BTreeMap::new();
    for p in our_ports.iter().filter(|p| !is_deleting(**p)) {
        port_owners
            .entry(p.spec.port_id.as_str())
            .or_default()
            .push(object_key(*p));
    }
    for p in our_ports {
        let key = object_key(p);
        objects.insert(key.clone());
        let mut found = ObjectProblems::default();
        let intent = intent_of(p).map_err(|e| found.errors.extend(e)).ok();
        if is_deleting(p) {
            if let Some(intent) = intent
                && p.spec.deletion_policy == DeletionPolicy::Delete
            {
                for r in &p.spec.security_groups {
                    let id = match (&r.name, &r.id) {
                        (Some(name), _) => index.known_id(name),
                        (None, id) => id.clone(),
                    };
                    if let Some(id) = id {
                        desired.memberships.push(DesiredMembership {
                            intent: intent.clone(),
                            group: GroupHandle::Existing(id),
                            policy: MembershipPolicy::Additive,
                            ports: BTreeSet::new(),
                            managed_ports: BTreeSet::from([p.spec.port_id.clone()]),
                            current_members: BTreeSet::new(),
                            selection: None,
                        });
                    }
                }
            }
        } else {
            found
                .errors
                .extend(validate_port_security_groups(p, provider));
            if let Some(owners) = port_owners.get(p.spec.port_id.as_str())
                && owners.len() > 1
            {
                let names: Vec<String> = owners
                    .iter()
                    .filter(|k| **k != key)
                    .map(|k| format!("PortSecurityGroups {:?}", k.name))
                    .collect();
                found.errors.push(FieldError::new(
                    Some(&key),
                    "spec.portId",
                    format!(
                        "port {} is also managed by {}",
                        p.spec.port_id,
                        names.join(", ")
                    ),
                ));
            }
            let mut handles = Vec::with_capacity(p.spec.security_groups.len());
            for (i, r) in p.spec.security_groups.iter().enumerate() {
                match index.resolve_ref(format!("spec.securityGroups[{i}]"), r) {
                    Ok(h) => handles.push(h),
                    Err(u) if r.name.is_some() => found.unresolved.push(u),
                    Err(_) => {} // an empty reference: validation reported it
                }
            }
            if let Some(intent) = intent
                && found.is_empty()
            {
                desired.ports.push(DesiredPortGroups {
                    intent,
                    port_id: p.spec.port_id.clone(),
                    groups: handles,
                });
            }
        }
        if !found.is_empty() {
            problems.insert(key, found);
        }
    }

    // ---- SecurityGroupMemberships ---------------------------------------
    for m in memberships
        .iter()
        .copied()
        .filter(|m| in_namespace(m.meta()))
    {
        let key = object_key(m);
        let spec = &m.spec;
        // Which account the membership belongs to, and its group.
        let target: Result<GroupHandle, UnresolvedRef> = match (
            &spec.security_group_ref,
            &spec.account_ref,
            &spec.security_group_id,
        ) {
            (Some(r), _, _) => match index.by_name.get(r.name.as_str()) {
                Some(e) if e.obj.spec.account_ref.name != account_name => continue,
                _ => index.lookup("spec.securityGroupRef.name".into(), &r.name),
            },
            (None, Some(a), Some(id)) => {
                if a.name != account_name {
                    continue;
                }
                Ok(GroupHandle::Existing(id.clone()))
            }
            (None, Some(a), None) if a.name != account_name => continue,
            // Malformed: validation below says why.
            _ => Err(UnresolvedRef {
                field: "spec".into(),
                kind: "SecurityGroup".into(),
                name: String::new(),
                reason: UnresolvedReason::NotFound,
            }),
        };
        objects.insert(key.clone());
        let mut found = ObjectProblems::default();
        let intent = intent_of(m).map_err(|e| found.errors.extend(e)).ok();
        let managed: BTreeSet<String> = m
            .status
            .as_ref()
            .map(|s| s.managed_ports.iter().cloned().collect())
            .unwrap_or_default();
        if is_deleting(m) {
            let id = match &target {
                Ok(GroupHandle::Existing(id)) => Some(id.clone()),
                _ => None,
            };
            if let Some(intent) = intent
                && spec.deletion_policy == DeletionPolicy::Delete
                && let Some(id) = id
            {
                let mut undo = managed;
                undo.extend(spec.ports.iter().cloned());
                desired.memberships.push(DesiredMembership {
                    intent,
                    group: GroupHandle::Existing(id),
                    policy: MembershipPolicy::Additive,
                    ports: BTreeSet::new(),
                    managed_ports: undo,
                    current_members: BTreeSet::new(),
                    selection: None,
                });
            }
        } else {
            found.errors.extend(validate_membership(m, provider));
            let group = match target {
                Ok(h) => Some(h),
                Err(u) => {
                    if !u.name.is_empty() {
                        found.unresolved.push(u);
                    }
                    None
                }
            };
            if let (Some(intent), Some(group)) = (intent, group)
                && found.is_empty()
            {
                // A node selector stands for the ports its Nodes resolve
                // to; Nodes that resolve to none add nothing.
                let policy = membership_policy(spec.policy);
                let (ports, managed, selection) = match &spec.node_selector {
                    Some(selector) => {
                        let (expansion, keep) =
                            select(selector, spec.port_selection.unwrap_or_default());
                        let mut ports = expansion.ports.clone();
                        node_selections.insert(key.clone(), expansion);
                        // Ports of Nodes that are gone are not touched:
                        // Additive forgets them, Exclusive spares them
                        // (still tracked, so a later cycle does not take
                        // them for strays). Those of unresolved Nodes stay
                        // as they are (Exclusive keeps what it had added).
                        let (kept, left): (BTreeSet<String>, BTreeSet<String>) =
                            managed.into_iter().partition(|p| node_ports.contains(p));
                        let mut selection = Selection::default();
                        if policy == MembershipPolicy::Exclusive {
                            ports.extend(kept.iter().filter(|p| keep.contains(*p)).cloned());
                            selection.spared = left;
                        }
                        let managed = kept.into_iter().filter(|p| !keep.contains(p)).collect();
                        (ports, managed, Some(selection))
                    }
                    None => (spec.ports.iter().cloned().collect(), managed, None),
                };
                desired.memberships.push(DesiredMembership {
                    intent,
                    group,
                    policy,
                    ports,
                    managed_ports: managed,
                    current_members: BTreeSet::new(),
                    selection,
                });
            }
        }
        if !found.is_empty() {
            problems.insert(key, found);
        }
    }

    // ---- NodeSecurityGroups ---------------------------------------------
    for n in node_groups
        .iter()
        .copied()
        .filter(|n| in_namespace(n.meta()) && n.spec.account_ref.name == account_name)
    {
        let key = object_key(n);
        objects.insert(key.clone());
        let spec = &n.spec;
        let mut found = ObjectProblems::default();
        let intent = intent_of(n).map_err(|e| found.errors.extend(e)).ok();
        let managed: BTreeSet<String> = n
            .status
            .as_ref()
            .map(|s| s.managed_ports.iter().cloned().collect())
            .unwrap_or_default();
        if is_deleting(n) {
            if let Some(intent) = intent
                && spec.deletion_policy == DeletionPolicy::Delete
            {
                let handles: Vec<GroupHandle> = spec
                    .security_groups
                    .iter()
                    .filter_map(|r| match (&r.name, &r.id) {
                        (Some(name), _) => index.known_id(name),
                        (None, id) => id.clone(),
                    })
                    .map(GroupHandle::Existing)
                    .collect();
                release(&mut desired, &intent, &handles, managed);
            }
        } else {
            found
                .errors
                .extend(super::validate::validate_node_security_groups(n, provider));
            let mut handles = Vec::with_capacity(spec.security_groups.len());
            for (i, r) in spec.security_groups.iter().enumerate() {
                match index.resolve_ref(format!("spec.securityGroups[{i}]"), r) {
                    Ok(h) => handles.push(h),
                    Err(u) if r.name.is_some() => found.unresolved.push(u),
                    Err(_) => {}
                }
            }
            if let Some(intent) = intent
                && found.is_empty()
            {
                let (expansion, keep) = select(&spec.node_selector, spec.port_selection);
                // Every selected port, as a PortSecurityGroups of it would
                // say: two objects wanting different groups of one port
                // are the planner's conflict, as between port objects.
                for port in &expansion.ports {
                    desired.ports.push(DesiredPortGroups {
                        intent: intent.clone(),
                        port_id: port.clone(),
                        groups: handles.clone(),
                    });
                }
                // Ports whose Node stopped matching lose the groups; those
                // of Nodes that are gone, or did not resolve, are left.
                let gone: BTreeSet<String> = managed
                    .difference(&expansion.ports)
                    .filter(|p| node_ports.contains(*p) && !keep.contains(*p))
                    .cloned()
                    .collect();
                release(&mut desired, &intent, &handles, gone);
                node_selections.insert(key.clone(), expansion);
            }
        }
        if !found.is_empty() {
            problems.insert(key, found);
        }
    }

    // ---- SecurityGroupRules ---------------------------------------------
    for r in input
        .rule_sets
        .iter()
        .copied()
        .filter(|r| in_namespace(r.meta()))
    {
        let key = object_key(r);
        let spec = &r.spec;
        let mut found = ObjectProblems::default();
        // Which account the rules belong to, and their group.
        let target: Result<GroupHandle, UnresolvedRef> = match (
            &spec.security_group_ref,
            &spec.account_ref,
            &spec.security_group_id,
        ) {
            (Some(g), account, None) => {
                let group_account = index
                    .by_name
                    .get(g.name.as_str())
                    .map(|e| e.obj.spec.account_ref.name.as_str());
                let named = account.as_ref().map(|a| a.name.as_str());
                match (group_account, named) {
                    (Some(ga), _) if ga != account_name && named != Some(&account_name) => {
                        continue;
                    }
                    (None, Some(a)) if a != account_name => continue,
                    (Some(ga), Some(a)) if ga != a => {
                        found.errors.push(FieldError::new(
                            Some(&key),
                            "spec.accountRef.name",
                            format!(
                                "names CloudAccount {a:?}, but SecurityGroup {:?} is in CloudAccount {ga:?}",
                                g.name
                            ),
                        ));
                    }
                    _ => {}
                }
                index.lookup("spec.securityGroupRef.name".into(), &g.name)
            }
            (None, Some(a), Some(id)) => {
                if a.name != account_name {
                    continue;
                }
                Ok(GroupHandle::Existing(id.clone()))
            }
            (None, Some(a), None) if a.name != account_name => continue,
            // Malformed: validation below says why.
            _ => Err(UnresolvedRef {
                field: "spec".into(),
                kind: "SecurityGroup".into(),
                name: String::new(),
                reason: UnresolvedReason::NotFound,
            }),
        };
        objects.insert(key.clone());
        let intent = intent_of(r).map_err(|e| found.errors.extend(e)).ok();
        let managed: BTreeSet<String> = r
            .status
            .iter()
            .flat_map(|s| s.managed_rules.iter().cloned())
            .collect();
        if is_deleting(r) {
            // Its rules are let go: those it alone owned are revoked.
            if let Some(intent) = intent
                && spec.deletion_policy == DeletionPolicy::Delete
                && let Ok(group @ GroupHandle::Existing(_)) = target
                && !managed.is_empty()
            {
                desired.rule_sets.push(DesiredRuleSet {
                    intent,
                    group,
                    rules: Vec::new(),
                    managed_rules: managed,
                });
            }
            continue;
        }
        found
            .errors
            .extend(super::validate::validate_security_group_rules(r, provider));
        let group = match target {
            Ok(h) => Some(h),
            Err(u) => {
                if !u.name.is_empty() {
                    found.unresolved.push(u);
                }
                None
            }
        };
        let mut unresolved = Vec::new();
        let lookup = |i: usize, name: &str| {
            let field = format!("spec.rules[{i}].remoteGroupRef");
            match index.lookup(field, name) {
                Ok(h) => h,
                Err(u) => {
                    unresolved.push(u);
                    GroupHandle::New(ObjectKey::new("SecurityGroup", &namespace, name))
                }
            }
        };
        let rules = if found.errors.is_empty() {
            normalize_rules(&key, &spec.rules, provider, lookup)
                .map_err(|e| found.errors.extend(e))
                .ok()
        } else {
            None
        };
        found.unresolved.extend(unresolved);
        if let (Some(intent), Some(group), Some(rules)) = (intent, group, rules)
            && found.is_empty()
        {
            desired.rule_sets.push(DesiredRuleSet {
                intent,
                group,
                rules,
                managed_rules: managed,
            });
        }
        if !found.is_empty() {
            problems.insert(key, found);
        }
    }

    Resolution {
        desired,
        problems,
        objects,
        node_selections,
    }
}

/// The ports a `NodeSecurityGroups` gave its groups and now lets go (all
/// of them when it is deleted with `Delete`, else those whose Node no
/// longer matches): per group, the planner's "remove what I added".
fn release(
    desired: &mut DesiredState,
    intent: &crate::model::Intent,
    groups: &[GroupHandle],
    ports: BTreeSet<String>,
) {
    if ports.is_empty() {
        return;
    }
    for group in groups {
        desired.memberships.push(DesiredMembership {
            intent: intent.clone(),
            group: group.clone(),
            policy: MembershipPolicy::Additive,
            ports: BTreeSet::new(),
            managed_ports: ports.clone(),
            current_members: BTreeSet::new(),
            selection: Some(Selection::default()),
        });
    }
}
