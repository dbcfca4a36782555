//! The domain model shared by the planner, the cloud clients, the controller
//! and the one-shot CLI. It knows no Kubernetes types and no vendor JSON:
//! `crate::crd` turns custom resources into [`DesiredState`], the clients in
//! `crate::cloud` fill [`ObservedState`] and execute [`Operation`]s, and
//! `crate::plan` maps one onto the other.

mod counts;
mod keys;
mod rule;
pub mod text;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

pub use counts::ChangeCounts;
pub use rule::{Action, Direction, Ethertype, PortRange, Ports, Protocol, Remote, Rule};

/// Tag key that marks a group as created by this controller; the value is
/// the owning object's UID. Letters, digits and `-` only, which both clouds'
/// tag-key rules accept.
pub const OWNER_TAG: &str = "secgroup-owner";

/// Which cloud an account talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Huawei,
    Baidu,
}

impl ProviderKind {
    /// Most ports Huawei's batch associate/disassociate call
    /// (`POST /v2.0/{project_id}/security-groups/{id}/instance/action`) takes.
    /// Baidu's batch bind documents no limit; we use the same chunk size.
    pub const MAX_BATCH_PORTS: usize = 20;

    /// Whether a rule can be changed in place (Baidu
    /// `updateSecurityGroupRule`; Huawei has no such call).
    pub fn updates_rules(self) -> bool {
        self == ProviderKind::Baidu
    }

    /// Most rules one batch-create call takes (Huawei only).
    pub fn max_rules_per_create(self) -> usize {
        match self {
            ProviderKind::Huawei => 200,
            ProviderKind::Baidu => 1,
        }
    }

    /// Whether the order of a port's groups is meaningful and settable.
    /// Huawei: yes (earlier groups take precedence, insert takes `index`).
    /// Baidu: membership is a set per instance.
    pub fn ordered_port_groups(self) -> bool {
        matches!(self, ProviderKind::Huawei)
    }

    /// Most groups one port (Huawei) or instance (Baidu) may hold.
    pub fn max_groups_per_port(self) -> usize {
        match self {
            ProviderKind::Huawei => 100,
            ProviderKind::Baidu => 10,
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProviderKind::Huawei => "huawei",
            ProviderKind::Baidu => "baidu",
        })
    }
}

/// Names the Kubernetes object an intent came from: `Kind/namespace/name`.
/// Used to attribute plan steps, conflicts and guard decisions to objects.
///
/// The parts sit behind one shared allocation: a key is copied into the
/// desired state, the plan's owners, a cycle's outcomes and the
/// controller's bookkeeping, and with 10,000 objects three `String`s per
/// copy were megabytes. Cloning a key is a reference count; fields read as
/// before (`key.name`) through `Deref`. [`ObjectKey::new`] hands out the
/// key already made for the same name while anything still holds it
/// (`keys`), so the keys made apart for one object share one allocation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ObjectKey(std::sync::Arc<KeyParts>);

/// What an [`ObjectKey`] names. The kind is one of a few known names and
/// not copied for those.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyParts {
    pub kind: Cow<'static, str>,
    pub namespace: String,
    pub name: String,
}

/// The kinds keys are made for; any other kind is kept as its own copy.
const KNOWN_KINDS: [&str; 8] = [
    "CloudAccount",
    "SecurityGroup",
    "PortSecurityGroups",
    "SecurityGroupMembership",
    "NodeSecurityGroups",
    "SecurityGroupRules",
    "Node",
    "Secret",
];

impl ObjectKey {
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        keys::shared(kind, namespace, name, || KeyParts {
            kind: match KNOWN_KINDS.iter().find(|k| **k == kind) {
                Some(known) => Cow::Borrowed(*known),
                None => Cow::Owned(kind.to_string()),
            },
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::ops::Deref for ObjectKey {
    type Target = KeyParts;

    fn deref(&self) -> &KeyParts {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// A security group as plan steps refer to it: one that exists in the cloud,
/// or one the same plan creates (named by its owning object until the create
/// returns an id; the executor substitutes it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GroupHandle {
    Existing(String),
    New(ObjectKey),
}

impl GroupHandle {
    pub fn existing_id(&self) -> Option<&str> {
        match self {
            GroupHandle::Existing(id) => Some(id),
            GroupHandle::New(_) => None,
        }
    }
}

impl fmt::Display for GroupHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupHandle::Existing(id) => f.write_str(id),
            GroupHandle::New(key) => write!(f, "<new {}>", key.name),
        }
    }
}

// ---------------------------------------------------------------------------
// Observed state: what the cloud says now.
// ---------------------------------------------------------------------------

/// A rule as read from the cloud, with the cloud's id for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedRule {
    /// Huawei rule id / Baidu `securityGroupRuleId`.
    pub id: String,
    pub rule: Rule,
    /// Huawei `enabled`: a rule disabled (in the console) is in the group
    /// but filters nothing. Baidu rules are always enabled.
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

/// A security group as read from the cloud.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub vpc_id: Option<String>,
    /// Baidu `sgVersion`; `None` on Huawei.
    pub version: Option<u64>,
    /// Tags as key → value (used to find groups this controller created).
    pub tags: BTreeMap<String, String>,
    pub rules: Vec<ObservedRule>,
}

/// A port (Huawei) or instance (Baidu) and its groups, in the cloud's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedPort {
    pub id: String,
    pub groups: Vec<String>,
}

/// Everything the planner needs to know about the cloud for one account.
/// Groups and ports the desired state names but the cloud lacks are simply
/// absent from the maps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedState {
    pub groups: BTreeMap<String, ObservedGroup>,
    pub ports: BTreeMap<String, ObservedPort>,
}

// ---------------------------------------------------------------------------
// Desired state: what the manifests say, references already resolved.
// ---------------------------------------------------------------------------

/// How the controller may act on one object's intent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Plan and apply.
    #[default]
    Apply,
    /// `secgroup.io/mode: observe`: plan and report, apply nothing.
    Observe,
    /// `secgroup.io/paused: "true"`: no changes at all.
    Paused,
}

/// Per-object policy carried with every intent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub owner: ObjectKey,
    pub mode: Mode,
    /// `secgroup.io/allow-mass-change: "true"`.
    pub allow_mass_change: bool,
}

/// A `SecurityGroup` object, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredGroup {
    pub intent: Intent,
    /// `Existing(id)` when adopted via `groupId` or already created (id from
    /// status, or found by its owner tag); `New(owner)` when it must be created.
    pub handle: GroupHandle,
    /// UID of the owning object, written as a tag on create so a group
    /// created before a crash is found again instead of duplicated.
    pub owner_uid: String,
    pub name: String,
    pub description: String,
    /// Of `name` and `description`, those the cloud's value stands for:
    /// an adopted group's fields the spec leaves out.
    pub unmanaged: UnmanagedFields,
    pub vpc_id: Option<String>,
    /// The rules this object itself owns (`spec.rules`); `None` when it
    /// lists none. Other objects may add rules to the group too
    /// ([`DesiredRuleSet`]).
    pub rules: Option<Vec<Rule>>,
    /// Whether rules nobody owns are revoked (`spec.rulesPolicy`).
    pub rules_policy: RulesPolicy,
    /// [`Rule::identity`] of every rule this object has owned and not yet
    /// seen revoked (from its status): `Additive` revokes such a rule once
    /// no object wants it any more.
    pub managed_rules: BTreeSet<String>,
}

/// `SecurityGroup.spec.rulesPolicy`: what happens to a group's rules that
/// no object owns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RulesPolicy {
    /// The group's rules are exactly those its owners want: its
    /// `SecurityGroup`'s `spec.rules` and every `SecurityGroupRules` naming
    /// it. Anything else is revoked.
    Authoritative,
    /// Only rules some object owns (or owned) are managed; rules nobody ever
    /// owned are left alone.
    #[default]
    Additive,
}

impl RulesPolicy {
    /// The default for a `SecurityGroup`: `Authoritative` when it lists
    /// rules (`spec.rules` present), else `Additive`.
    pub fn default_for(has_rules: bool) -> Self {
        if has_rules {
            RulesPolicy::Authoritative
        } else {
            RulesPolicy::Additive
        }
    }
}

/// A `SecurityGroupRules` object: rules it adds to one group, which other
/// objects may add rules to as well.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredRuleSet {
    pub intent: Intent,
    pub group: GroupHandle,
    /// Normalized; empty when the object is being deleted (its rules are
    /// let go).
    pub rules: Vec<Rule>,
    /// [`Rule::identity`] of every rule it has owned and not yet seen
    /// revoked (from its status).
    pub managed_rules: BTreeSet<String>,
}

/// Fields of a group the controller leaves as the cloud has them. A group
/// it creates gets every field from the spec (the defaults included); a
/// group adopted by id is someone else's, so a field its spec leaves out
/// is not managed rather than reset to a default (an empty description).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmanagedFields {
    pub name: bool,
    pub description: bool,
}

/// A `PortSecurityGroups` object: the port ends with exactly these groups, in
/// this order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredPortGroups {
    pub intent: Intent,
    pub port_id: String,
    pub groups: Vec<GroupHandle>,
}

/// `SecurityGroupMembership.spec.policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipPolicy {
    #[default]
    Additive,
    Exclusive,
}

/// A `SecurityGroupMembership` object: ports that must be in one group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredMembership {
    pub intent: Intent,
    pub group: GroupHandle,
    pub policy: MembershipPolicy,
    pub ports: BTreeSet<String>,
    /// Additive only: ports this object has ever listed (from its status).
    /// A port in here but not in `ports` is removed; a member port this
    /// object never listed is never touched.
    pub managed_ports: BTreeSet<String>,
    /// Exclusive only, filled by the reader: every port currently in the
    /// group (the cloud is the only one who knows). Ports not in `ports`
    /// are removed.
    pub current_members: BTreeSet<String>,
    /// Set when a label selector chose `ports` (a Node selector), not a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Selection>,
}

/// What a membership whose ports a selector chose adds to the rules: the
/// cluster, not the spec, moves its ports, so
/// - a port leaving it that would be left with no security group is held
///   (it keeps its groups, the object says so and keeps tracking it)
///   rather than the object refused as an invalid spec;
/// - `Exclusive` leaves `spared` ports as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// `Exclusive` only: member ports of Nodes that are gone from the
    /// cluster. Their instances are not touched: no vote either way.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub spared: BTreeSet<String>,
}

/// The desired state of one cloud account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredState {
    pub provider: ProviderKind,
    pub groups: Vec<DesiredGroup>,
    pub ports: Vec<DesiredPortGroups>,
    pub memberships: Vec<DesiredMembership>,
    /// Groups whose objects are being deleted with `deletionPolicy: Delete`.
    pub deletions: Vec<GroupDeletion>,
    /// `SecurityGroupRules` objects: rules added to groups by objects other
    /// than the group's own.
    pub rule_sets: Vec<DesiredRuleSet>,
}

impl DesiredState {
    /// Nothing desired yet in a `provider` account.
    pub fn new(provider: ProviderKind) -> Self {
        Self {
            provider,
            groups: Vec::new(),
            ports: Vec::new(),
            memberships: Vec::new(),
            deletions: Vec::new(),
            rule_sets: Vec::new(),
        }
    }

    /// Replace `GroupHandle::New(owner)` with `Existing(id)` everywhere (group
    /// handles, port lists, memberships, rule remotes), once the group is
    /// known to exist: created by this plan, or found by its owner tag.
    pub fn bind_group(&mut self, owner: &ObjectKey, id: &str) {
        let new = GroupHandle::New(owner.clone());
        let bind = |h: &mut GroupHandle| {
            if *h == new {
                *h = GroupHandle::Existing(id.to_string());
            }
        };
        for g in &mut self.groups {
            bind(&mut g.handle);
            for rule in g.rules.iter_mut().flatten() {
                if let Remote::Group(h) = &mut rule.remote {
                    bind(h);
                }
            }
        }
        for p in &mut self.ports {
            p.groups.iter_mut().for_each(bind);
        }
        for m in &mut self.memberships {
            bind(&mut m.group);
        }
        for s in &mut self.rule_sets {
            bind(&mut s.group);
            for rule in &mut s.rules {
                if let Remote::Group(h) = &mut rule.remote {
                    bind(h);
                }
            }
        }
    }
}

impl DesiredState {
    /// Take out every intent of `owners` (objects the planner refused).
    pub fn remove_owners(&mut self, owners: &BTreeSet<ObjectKey>) {
        self.groups.retain(|g| !owners.contains(&g.intent.owner));
        self.ports.retain(|p| !owners.contains(&p.intent.owner));
        self.memberships
            .retain(|m| !owners.contains(&m.intent.owner));
        self.deletions.retain(|d| !owners.contains(&d.intent.owner));
        self.rule_sets.retain(|s| !owners.contains(&s.intent.owner));
    }
}

/// A group to delete because its object is going away.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDeletion {
    pub intent: Intent,
    pub group_id: String,
}

// ---------------------------------------------------------------------------
// Operations: what the planner asks the cloud to do.
// ---------------------------------------------------------------------------

/// One provider call. Batching limits are already applied: `AttachPorts` and
/// `DetachPorts` carry at most [`ProviderKind::MAX_BATCH_PORTS`] ports, and
/// `CreateRules` at most [`ProviderKind::max_rules_per_create`] rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Operation {
    /// Create a group tagged with its owner's UID; the new id replaces
    /// `GroupHandle::New(owner)` in later steps.
    CreateGroup {
        owner: ObjectKey,
        owner_uid: String,
        name: String,
        description: String,
        vpc_id: Option<String>,
    },
    /// Change name and/or description (Huawei `UpdateSecurityGroup`).
    UpdateGroup {
        group: String,
        name: Option<String>,
        description: Option<String>,
    },
    DeleteGroup {
        group: String,
    },
    /// Huawei batch-create, or one Baidu authorizeRule per rule.
    CreateRules {
        group: GroupHandle,
        rules: Vec<Rule>,
    },
    /// Change one rule in place (Baidu `updateSecurityGroupRule`, by
    /// `securityGroupRuleId`): its remark, protocol, port range or remote
    /// of the same kind; direction and ethertype stay. Atomic, so the rule
    /// never is both or neither.
    UpdateRule {
        group: String,
        rule_id: String,
        from: Rule,
        to: Rule,
    },
    /// Remove one rule: Huawei deletes by id, Baidu revokes by its 6-tuple.
    DeleteRule {
        group: String,
        rule_id: String,
        rule: Rule,
    },
    /// Add groups to one port: Huawei insert-security-groups (with `index`
    /// when the position matters), Baidu bind on one instance.
    AddPortGroups {
        port: String,
        groups: Vec<GroupHandle>,
        index: Option<u32>,
    },
    /// Remove groups from one port in one call (Huawei
    /// `remove-security-groups`, Baidu unbind).
    RemovePortGroups {
        port: String,
        groups: Vec<String>,
    },
    /// Batch-associate up to 20 ports with one group (Huawei
    /// `instance/action`, action `add`).
    AttachPorts {
        group: GroupHandle,
        ports: Vec<String>,
    },
    /// Batch-disassociate up to 20 ports from one group (Huawei
    /// `instance/action`, action `remove`).
    DetachPorts {
        group: String,
        ports: Vec<String>,
    },
}

impl Operation {
    /// Every [`Operation::kind`], in plan order.
    pub const KINDS: [&'static str; 10] = [
        "createGroup",
        "updateGroup",
        "deleteGroup",
        "createRules",
        "updateRule",
        "deleteRule",
        "addPortGroups",
        "removePortGroups",
        "attachPorts",
        "detachPorts",
    ];

    /// A stable, short name for tables, metrics and plan summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            Operation::CreateGroup { .. } => "createGroup",
            Operation::UpdateGroup { .. } => "updateGroup",
            Operation::DeleteGroup { .. } => "deleteGroup",
            Operation::CreateRules { .. } => "createRules",
            Operation::UpdateRule { .. } => "updateRule",
            Operation::DeleteRule { .. } => "deleteRule",
            Operation::AddPortGroups { .. } => "addPortGroups",
            Operation::RemovePortGroups { .. } => "removePortGroups",
            Operation::AttachPorts { .. } => "attachPorts",
            Operation::DetachPorts { .. } => "detachPorts",
        }
    }
}

/// A planned operation and the objects whose intent it carries out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub op: Operation,
    pub owners: Vec<ObjectKey>,
}

/// An ordered list of steps. Executing them in order is safe at every
/// point: everything that adds (groups, rules, memberships) comes before
/// everything that removes, and no step leaves a port with zero groups.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Count of steps per [`Operation::kind`], for status summaries.
    pub fn summary(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for step in &self.steps {
            *counts.entry(step.op.kind()).or_insert(0) += 1;
        }
        counts
    }
}

// ---------------------------------------------------------------------------
// Validation errors, shared by spec validation and the planner.
// ---------------------------------------------------------------------------

/// Bad input, named down to the field: `SecurityGroup/prod/web:
/// spec.rules[2].remoteIpPrefix: "10.0.0.300" is not an IP address or CIDR`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The object, when known (spec validation always knows it).
    pub object: Option<ObjectKey>,
    /// JSON path of the field inside the object, e.g. `spec.rules[2].ports`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(
        object: Option<&ObjectKey>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            object: object.cloned(),
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_known_kinds_borrow_the_kind_and_compare_by_content() {
        let known = ObjectKey::new("SecurityGroup", "ns", "web");
        assert!(matches!(known.kind, Cow::Borrowed("SecurityGroup")));
        let other = ObjectKey::new("ConfigMap", "ns", "web");
        assert!(matches!(&other.kind, Cow::Owned(k) if k == "ConfigMap"));
        let copy = ObjectKey(std::sync::Arc::new(KeyParts {
            kind: Cow::Owned("SecurityGroup".into()),
            namespace: "ns".into(),
            name: "web".into(),
        }));
        assert_eq!(known, copy, "how the kind is held does not matter");
        assert_eq!(known.to_string(), "SecurityGroup/ns/web");
        let json = serde_json::to_value(&known).unwrap_or_default();
        assert_eq!(json["kind"], "SecurityGroup");
    }
}
