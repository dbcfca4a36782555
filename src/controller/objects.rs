//! What the controller needs to know about each kind, in one trait, so the
//! reconcile pipeline is written once: its kind name, the account it
//! belongs to, whether deleting it must first undo cloud state (finalizer),
//! and how the cycle's [`ObjectOutcome`] fills its kind-specific status.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::crd::{
    CloudAccount, CloudAccountStatus, PortSecurityGroups, PortSecurityGroupsStatus, ResourceStatus,
    SecurityGroup, SecurityGroupMembership, SecurityGroupMembershipStatus, SecurityGroupStatus,
};
use crate::model::ObjectKey;

use super::cycle::ObjectOutcome;

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
        if outcome.group_id.is_some() {
            status.group_id = outcome.group_id.clone();
        }
        if outcome.rule_count.is_some() {
            status.rule_count = outcome.rule_count;
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
        if let Some(ids) = &outcome.group_ids {
            status.security_group_ids = ids.to_strings();
        }
        if let Some(groups) = &outcome.current_groups {
            status.current_groups = groups.to_strings();
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
        if let Some(account) = &self.spec.account_ref {
            return Some(account.name.clone());
        }
        let group = self.spec.security_group_ref.as_ref()?;
        let namespace = self.namespace().unwrap_or_default();
        groups
            .state()
            .into_iter()
            .find(|g| g.name_any() == group.name && g.namespace().as_deref() == Some(&namespace))
            .map(|g| g.spec.account_ref.name.clone())
    }

    fn fill_status(status: &mut Self::Status, outcome: &ObjectOutcome) {
        if outcome.group_id.is_some() {
            status.security_group_id = outcome.group_id.clone();
        }
        if let Some(ports) = &outcome.managed_ports {
            status.managed_ports = ports.clone();
        }
    }
}
