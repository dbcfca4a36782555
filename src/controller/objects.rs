//! What the controller needs to know about each kind, in one trait, so the
//! reconcile pipeline is written once: its kind name, the account it
//! belongs to, whether deleting it must first undo cloud state (finalizer),
//! and how a cycle's [`ObjectOutcome`] fills its kind-specific status.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::crd::{
    CloudAccount, CloudAccountStatus, NodeSecurityGroups, NodeSecurityGroupsStatus,
    PortSecurityGroups, PortSecurityGroupsStatus, ResourceStatus, SecurityGroup,
    SecurityGroupMembership, SecurityGroupMembershipStatus, SecurityGroupRules,
    SecurityGroupRulesStatus, SecurityGroupStatus, UnresolvedNode,
};
use crate::model::ObjectKey;

use super::outcome::{Facts, NodeFacts, ObjectOutcome};

/// The finalizer on every kind that owns cloud state.
pub const FINALIZER: &str = "secgroup.io/cleanup";

/// Field manager of every server-side apply the controller makes.
pub const FIELD_MANAGER: &str = "secgroup-controller";

pub trait Managed:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    const KIND: &'static str;
    /// Whether the object gets [`FINALIZER`] (it owns cloud state).
    const FINALIZED: bool;
    type Status: ResourceStatus
        + Clone
        + Default
        + PartialEq
        + Debug
        + Serialize
        + DeserializeOwned
        + Send
        + Sync;

    fn status(&self) -> Option<&Self::Status>;

    /// Name of the `CloudAccount` (same namespace) this object acts in.
    /// `None` when it names a `SecurityGroup` that is not there yet.
    fn account_name(&self, groups: &Store<SecurityGroup>) -> Option<String>;

    /// Copy the kind-specific parts of the outcome into the status.
    fn fill_status(status: &mut Self::Status, outcome: &ObjectOutcome);

    /// The `SecurityGroup` (same namespace) whose account the object acts
    /// in, when it names one by `securityGroupRef` and has no `accountRef`
    /// of its own.
    fn group_name(&self) -> Option<&str> {
        None
    }
}

/// The account of the `SecurityGroup` `obj` names, as `groups` has it.
fn account_of_group<K: Managed>(obj: &K, groups: &Store<SecurityGroup>) -> Option<String> {
    let group = obj.group_name()?;
    let namespace = obj.namespace().unwrap_or_default();
    groups
        .state()
        .into_iter()
        .find(|g| g.name_any() == group && g.namespace().as_deref() == Some(&namespace))
        .map(|g| g.spec.account_ref.name.clone())
}

/// `Kind/namespace/name` of an object.
pub fn key_of<K: Managed>(obj: &K) -> ObjectKey {
    ObjectKey::new(
        K::KIND,
        &obj.namespace().unwrap_or_default(),
        &obj.name_any(),
    )
}

impl Managed for CloudAccount {
    const KIND: &'static str = "CloudAccount";
    const FINALIZED: bool = false;
    type Status = CloudAccountStatus;

    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }

    fn account_name(&self, _: &Store<SecurityGroup>) -> Option<String> {
        Some(self.name_any())
    }

    fn fill_status(_: &mut Self::Status, _: &ObjectOutcome) {}
}

impl Managed for SecurityGroup {
    const KIND: &'static str = "SecurityGroup";
    const FINALIZED: bool = true;
    type Status = SecurityGroupStatus;

    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }

    fn account_name(&self, _: &Store<SecurityGroup>) -> Option<String> {
        Some(self.spec.account_ref.name.clone())
    }

    fn fill_status(status: &mut Self::Status, outcome: &ObjectOutcome) {
        if let Facts::Group {
            group_id,
            rule_count,
            managed_rules,
        } = &outcome.facts
        {
            if group_id.is_some() {
                status.group_id = group_id.clone();
            }
            if rule_count.is_some() {
                status.rule_count = *rule_count;
            }
            if let Some(managed) = managed_rules {
                status.managed_rules = managed.clone();
            }
        }
    }
}

impl Managed for SecurityGroupRules {
    const KIND: &'static str = "SecurityGroupRules";
    const FINALIZED: bool = true;
    type Status = SecurityGroupRulesStatus;

    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }

    fn account_name(&self, groups: &Store<SecurityGroup>) -> Option<String> {
        match &self.spec.account_ref {
            Some(account) => Some(account.name.clone()),
            None => account_of_group(self, groups),
        }
    }

    fn group_name(&self) -> Option<&str> {
        // With an accountRef of its own it keeps that account.
        match &self.spec.account_ref {
            Some(_) => None,
            None => self
                .spec
                .security_group_ref
                .as_ref()
                .map(|r| r.name.as_str()),
        }
    }

    fn fill_status(status: &mut Self::Status, outcome: &ObjectOutcome) {
        if let Facts::Rules {
            group_id,
            rule_count,
            managed_rules,
        } = &outcome.facts
        {
            if group_id.is_some() {
                status.security_group_id = group_id.clone();
            }
            status.rule_count = Some(*rule_count);
            status.managed_rules = managed_rules.clone();
        }
    }
}

impl Managed for PortSecurityGroups {
    const KIND: &'static str = "PortSecurityGroups";
    const FINALIZED: bool = true;
    type Status = PortSecurityGroupsStatus;

    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }

    fn account_name(&self, _: &Store<SecurityGroup>) -> Option<String> {
        Some(self.spec.account_ref.name.clone())
    }

    fn fill_status(status: &mut Self::Status, outcome: &ObjectOutcome) {
        if let Facts::Port { wanted, current } = &outcome.facts {
            status.security_group_ids = wanted.to_strings();
            status.current_groups = current.to_strings();
        }
    }
}

impl Managed for SecurityGroupMembership {
    const KIND: &'static str = "SecurityGroupMembership";
    const FINALIZED: bool = true;
    type Status = SecurityGroupMembershipStatus;

    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }

    fn account_name(&self, groups: &Store<SecurityGroup>) -> Option<String> {
        match &self.spec.account_ref {
            Some(account) => Some(account.name.clone()),
            None => account_of_group(self, groups),
        }
    }

    fn group_name(&self) -> Option<&str> {
        self.spec
            .security_group_ref
            .as_ref()
            .map(|r| r.name.as_str())
    }

    fn fill_status(status: &mut Self::Status, outcome: &ObjectOutcome) {
        if let Facts::Membership {
            group_id,
            managed_ports,
            nodes,
        } = &outcome.facts
        {
            if group_id.is_some() {
                status.security_group_id = group_id.clone();
            }
            status.managed_ports = managed_ports.clone();
            let (matched, resolved, unresolved) = node_status(nodes.as_ref());
            status.matched_nodes = matched;
            status.resolved_ports = resolved;
            status.unresolved_nodes = unresolved;
        }
    }
}

impl Managed for NodeSecurityGroups {
    const KIND: &'static str = "NodeSecurityGroups";
    const FINALIZED: bool = true;
    type Status = NodeSecurityGroupsStatus;

    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }

    fn account_name(&self, _: &Store<SecurityGroup>) -> Option<String> {
        Some(self.spec.account_ref.name.clone())
    }

    fn fill_status(status: &mut Self::Status, outcome: &ObjectOutcome) {
        if let Facts::NodeGroups {
            wanted,
            managed_ports,
            nodes,
        } = &outcome.facts
        {
            if wanted.iter().next().is_some() {
                status.security_group_ids = wanted.to_strings();
            }
            status.managed_ports = managed_ports.clone();
            let (matched, resolved, unresolved) = node_status(Some(nodes));
            status.matched_nodes = matched;
            status.resolved_ports = resolved;
            status.unresolved_nodes = unresolved;
        }
    }
}

/// The most unresolved Nodes a status lists (the schema's limit).
const MAX_UNRESOLVED_LISTED: usize = 100;

/// A status's node fields from what a selector matched.
fn node_status(nodes: Option<&NodeFacts>) -> (Option<u32>, Option<u32>, Vec<UnresolvedNode>) {
    let Some(n) = nodes else {
        return (None, None, Vec::new());
    };
    let unresolved = n
        .unresolved
        .iter()
        .take(MAX_UNRESOLVED_LISTED)
        .map(|(node, reason)| UnresolvedNode {
            node: node.clone(),
            reason: reason.clone(),
        })
        .collect();
    (Some(n.matched), Some(n.resolved), unresolved)
}

/// Whether `obj` carries [`FINALIZER`].
pub fn has_finalizer<K: Managed>(obj: &K) -> bool {
    obj.finalizers().iter().any(|f| f == FINALIZER)
}

/// Add [`FINALIZER`] with a JSON patch that first tests the list is as
/// read, so a concurrent writer makes it fail instead of being overwritten.
/// Returns the object as the API server now has it.
pub async fn add_finalizer<K: Managed>(api: &kube::Api<K>, obj: &K) -> Result<K, kube::Error> {
    let ops = match obj.meta().finalizers.as_ref().filter(|f| !f.is_empty()) {
        None => serde_json::json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
        ]),
        Some(list) => serde_json::json!([
            {"op": "test", "path": "/metadata/finalizers", "value": list},
            {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER},
        ]),
    };
    patch_json(api, obj, ops).await
}

/// Remove [`FINALIZER`] (a no-op when it is not there), testing its
/// position first.
pub async fn remove_finalizer<K: Managed>(api: &kube::Api<K>, obj: &K) -> Result<(), kube::Error> {
    let Some(i) = obj.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{i}");
    let ops = serde_json::json!([
        {"op": "test", "path": path, "value": FINALIZER},
        {"op": "remove", "path": path},
    ]);
    patch_json(api, obj, ops).await.map(|_| ())
}

async fn patch_json<K: Managed>(
    api: &kube::Api<K>,
    obj: &K,
    ops: serde_json::Value,
) -> Result<K, kube::Error> {
    // Built from literals above: always a valid JSON patch.
    let patch: json_patch::Patch = serde_json::from_value(ops).map_err(kube::Error::SerdeError)?;
    api.patch::<K>(
        &obj.name_any(),
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Json(patch),
    )
    .await
}

/// Write `status` whole with server-side apply, as the controller's field
/// manager.
pub async fn patch_status<K: Managed>(
    api: &kube::Api<K>,
    obj: &K,
    status: &K::Status,
) -> Result<(), kube::Error> {
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &kube::api::PatchParams::apply(FIELD_MANAGER).force(),
        &kube::api::Patch::Apply(&patch),
    )
    .await
    .map(|_| ())
}

/// Drop what the controller never reads before an object is stored:
/// managed fields, and the copy of the whole object that `kubectl apply`
/// keeps in an annotation. In a real cluster they are often most of an
/// object's size; the stores hold every object of their kinds.
pub fn slim<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
    obj.annotations_mut().remove(LAST_APPLIED);
}

pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
