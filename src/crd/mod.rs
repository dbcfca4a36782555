//! The custom resources (`secgroup.io/v1alpha1`), their validation, and
//! their resolution into [`crate::model::DesiredState`].
//!
//! One file per kind, plus shared pieces:
//! - [`account`]: `CloudAccount` (short name `cloudacct`).
//! - [`security_group`]: `SecurityGroup` (`sg`) and its rules.
//! - [`port_security_groups`]: `PortSecurityGroups` (`psg`).
//! - [`membership`]: `SecurityGroupMembership` (`sgm`).
//! - [`node_security_groups`]: `NodeSecurityGroups` (`nodesg`).
//! - [`security_group_rules`]: `SecurityGroupRules` (`sgr`), rules one of
//!   several objects adds to a group.
//! - [`nodes`]: Kubernetes Nodes to cloud instances; [`selector`]: label
//!   selectors.
//! - [`conditions`]: kstatus conditions (`Ready`, `Reconciling`, `Stalled`).
//! - [`validate`]: the schema's checks again in code, plus the checks that
//!   need the account's provider, run before any cloud call.
//! - [`schema_check`]: validates an object against the generated CRD
//!   schema, CEL rules included (tests and `examples/`).
//! - [`resolve`]: turns one account's objects into a `DesiredState`.
//!
//! All kinds are namespaced, have a status subresource and the category
//! `secgroup` (`kubectl get secgroup` lists them all). Printer columns show
//! Ready, the cloud id and the Ready message.
//!
//! Fields and defaults (JSON names):
//!
//! | kind | field | default / rule |
//! |------|-------|----------------|
//! | CloudAccount | `provider` | required, `huawei` \| `baidu`, immutable |
//! | | `region` | required |
//! | | `projectId` | required when provider is `huawei` |
//! | | `endpoint` | provider's public endpoint |
//! | | `credentialsSecretRef.name` | required; Secret keys `accessKey`, `secretKey` |
//! | | `maxRequestsPerSecond` | client default; 1-10000 |
//! | | `nodeIdentity` | `spec.providerID` in the provider's form; at most one of `label`, `annotation`, `providerIdPattern` (one capture group) |
//! | SecurityGroup | `accountRef.name` | required, immutable |
//! | | `groupId` | absent: the controller creates the group |
//! | | `name` | `metadata.name` when created, the cloud's when adopted; 1-64 of letters, digits, `_-.` |
//! | | `description` | empty when created, the cloud's when adopted; ≤255, no `<` `>`, no control characters |
//! | | `vpcId` | none (Baidu needs it to create) |
//! | | `rules` | none; the rules this object owns |
//! | | `rulesPolicy` | `Authoritative` when `rules` is present (the group holds exactly the rules its objects own), else `Additive` (rules nobody owns are left alone) |
//! | | `deletionPolicy` | `Delete` when created, `Retain` when adopted |
//! | rule | `direction` | required, `ingress` \| `egress` |
//! | | `protocol` | `all`; `tcp` `udp` `icmp` `icmpv6` `all` or 0-255 |
//! | | `ports` | all ports (also `all`, `any`, `*`, `-1`, `0-65535`; not `""`); `80`, `8000-9000`, Huawei also `22,80,443`; ports 1-65535, ranges low-high; tcp/udp only |
//! | | `ethertype` | `IPv4`, or `IPv6` when the remote prefix is IPv6 or the protocol is `icmpv6` |
//! | | `remoteIpPrefix` | an address or CIDR; no IPv4 part with a leading zero (`010.0.0.0/8` is refused, not read as `10.0.0.0/8`) |
//! | | remote | exactly one of `remoteIpPrefix`, `remoteGroupRef.name`, `remoteGroupId`, `remoteAddressGroupId` |
//! | | `action` | `allow` (Huawei only) |
//! | | `priority` | 1 (Huawei only; 1-100) |
//! | | `description` | empty; ≤255, no `<` `>`, no control characters (Baidu: part of the rule's identity) |
//! | | (rules) | at most 200; rules equal after normalization are rejected |
//! | PortSecurityGroups | `accountRef.name`, `portId` | required, immutable |
//! | | `securityGroups` | 1-100 entries of `{name}` xor `{id}`, no repeats |
//! | | `deletionPolicy` | `Retain` |
//! | SecurityGroupMembership | `securityGroupRef.name` xor (`accountRef.name` + `securityGroupId`) | required, immutable |
//! | | `ports` | empty; at most 10,000 |
//! | | `nodeSelector` | none; instead of `ports` (not both) |
//! | | `portSelection` | `Primary` (with `nodeSelector` only) |
//! | | `policy` | `Additive` |
//! | | `deletionPolicy` | `Retain` (our choice: deleting a membership object leaves the ports in the group unless it says `Delete`) |
//! | NodeSecurityGroups | `accountRef.name` | required, immutable |
//! | | `nodeSelector` | required; `{}` matches every Node |
//! | | `portSelection` | `Primary` |
//! | | `securityGroups` | 1-100 entries of `{name}` xor `{id}`, no repeats |
//! | | `deletionPolicy` | `Retain` |
//! | SecurityGroupRules | `securityGroupRef.name` (with an optional `accountRef.name` that must be the group's) xor (`accountRef.name` + `securityGroupId`) | required, immutable |
//! | | `rules` | empty; at most 200, the SecurityGroup rule schema |
//! | | `deletionPolicy` | `Delete`: its rules no other object owns are revoked when it is deleted |
//!
//! Annotations: `secgroup.io/paused: "true"`, `secgroup.io/mode: observe`,
//! `secgroup.io/allow-mass-change: "true"`.
//!
//! `immutable` fields are enforced by CEL transition rules; a
//! membership's group target is immutable too, because its
//! `status.managedPorts` only makes sense for one group.
//!
//! No schema defaults are set where the default depends on other fields or
//! on the provider (`ethertype`, `action`, `priority`, a SecurityGroup's
//! `deletionPolicy`): the code applies them ([`validate`],
//! [`crate::plan::normalize`]). Constant defaults (`policy`, the
//! `deletionPolicy` of ports and memberships) are in the schema too.
//!
//! Status fields (JSON): every kind has `observedGeneration`, `conditions`,
//! `lastSyncTime` and `lastPlan` (operation kind → count); SecurityGroup adds
//! `groupId`, `ruleCount` and `managedRules`; SecurityGroupRules has
//! `securityGroupId`, `ruleCount` (the rules it owns) and `managedRules`
//! (the normalized identities of the rules it owns or owned and has not
//! seen revoked, as memberships keep `managedPorts`); PortSecurityGroups adds `securityGroupIds`
//! (the spec resolved, in order) and `currentGroups` (as read from the
//! cloud); SecurityGroupMembership adds `securityGroupId` and
//! `managedPorts`, and with a node selector `matchedNodes`,
//! `resolvedPorts` and `unresolvedNodes`; NodeSecurityGroups has
//! `securityGroupIds`, `matchedNodes`, `resolvedPorts`, `managedPorts` and
//! `unresolvedNodes`.

pub mod account;
pub mod conditions;
pub mod membership;
pub mod node_security_groups;
pub mod nodes;
pub mod plan_counts;
pub mod port_security_groups;
pub mod resolve;
pub mod schema_check;
pub mod security_group;
pub mod security_group_rules;
pub mod selector;
pub mod validate;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use account::{CloudAccount, CloudAccountSpec, CloudAccountStatus, Provider};
pub use membership::{
    MembershipPolicySpec, SecurityGroupMembership, SecurityGroupMembershipSpec,
    SecurityGroupMembershipStatus,
};
pub use node_security_groups::{
    NodeSecurityGroups, NodeSecurityGroupsSpec, NodeSecurityGroupsStatus,
};
pub use nodes::{NodeIdentity, PortSelection, UnresolvedNode};
pub use port_security_groups::{
    GroupRef, PortSecurityGroups, PortSecurityGroupsSpec, PortSecurityGroupsStatus,
};
pub use security_group::{
    RuleAction, RuleDirection, RuleEthertype, RuleSpec, RulesPolicySpec, SecurityGroup,
    SecurityGroupSpec, SecurityGroupStatus,
};
pub use security_group_rules::{
    SecurityGroupRules, SecurityGroupRulesSpec, SecurityGroupRulesStatus,
};

/// API group of every kind here.
pub const GROUP: &str = "secgroup.io";
/// The one served and stored version.
pub const VERSION: &str = "v1alpha1";

/// `"true"` stops all changes for the object.
pub const ANNOTATION_PAUSED: &str = "secgroup.io/paused";
/// `observe` computes and reports the plan without applying it.
pub const ANNOTATION_MODE: &str = "secgroup.io/mode";
/// `"true"` lifts the blast-radius guard.
pub const ANNOTATION_ALLOW_MASS_CHANGE: &str = "secgroup.io/allow-mass-change";

/// A reference to an object of a known kind in the same namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct LocalObjectRef {
    /// `metadata.name` of the object.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub name: String,
}

impl LocalObjectRef {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

/// What happens in the cloud when the object is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Undo in the cloud what the object did (delete the group, remove the
    /// memberships it added).
    Delete,
    /// Leave the cloud as it is.
    Retain,
}

/// The parts of status every kind has, so the controller can write them
/// without knowing the kind.
pub trait ResourceStatus {
    fn conditions(&self) -> &[Condition];
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    fn set_observed_generation(&mut self, generation: Option<i64>);
    fn set_last_sync_time(&mut self, time: Time);
    /// Counts of the last plan's operations by [`crate::model::Operation::kind`].
    fn set_last_plan(&mut self, counts: plan_counts::PlanCounts);
}

/// Implement [`ResourceStatus`] for a status struct with the common fields
/// (`conditions`, `observed_generation`, `last_sync_time`, `last_plan`).
macro_rules! impl_resource_status {
    ($status:ty) => {
        impl $crate::crd::ResourceStatus for $status {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
            fn set_observed_generation(&mut self, generation: Option<i64>) {
                self.observed_generation = generation;
            }
            fn set_last_sync_time(&mut self, time: Time) {
                self.last_sync_time = Some(time);
            }
            fn set_last_plan(&mut self, counts: $crate::crd::plan_counts::PlanCounts) {
                self.last_plan = Some(counts);
            }
        }
    };
}
pub(crate) use impl_resource_status;

/// The CRDs of every kind, in a stable order (accounts first, then the kinds
/// that reference them).
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![
        CloudAccount::crd(),
        SecurityGroup::crd(),
        PortSecurityGroups::crd(),
        SecurityGroupMembership::crd(),
        NodeSecurityGroups::crd(),
        SecurityGroupRules::crd(),
    ]
}

/// [`all_crds`] as multi-document YAML, what `crdgen` prints and
/// `crds/secgroup.io.yaml` holds.
pub fn crds_yaml() -> String {
    let mut out = String::new();
    for crd in all_crds() {
        out.push_str("---\n");
        // Serializing a CRD (plain data, string keys) cannot fail. Long
        // strings (descriptions, patterns, CEL rules) stay on one line, as
        // reviewers grep for them.
        let options = serde_saphyr::ser_options! { folded_wrap_chars: usize::MAX };
        out.push_str(&serde_saphyr::to_string_with_options(&crd, options).unwrap_or_default());
    }
    out
}
