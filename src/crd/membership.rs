//! `SecurityGroupMembership`: the group-centric view. Ports that must be
//! members of one group, added to (`Additive`) or exactly so (`Exclusive`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::nodes::{PortSelection, UnresolvedNode};
use super::{DeletionPolicy, LocalObjectRef};

/// `spec.policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum MembershipPolicySpec {
    /// Ensure the listed ports are members; a port that leaves the list is
    /// removed, but ports this object never listed are never touched.
    #[default]
    Additive,
    /// The group holds exactly the listed ports.
    Exclusive,
}

fn default_retain() -> DeletionPolicy {
    DeletionPolicy::Retain
}

/// Ports that are members of one group.
// clippy reads the repeated `type_ = ...` of several printer columns as
// duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "secgroup.io",
    version = "v1alpha1",
    kind = "SecurityGroupMembership",
    plural = "securitygroupmemberships",
    singular = "securitygroupmembership",
    shortname = "sgm",
    category = "secgroup",
    namespaced,
    status = "SecurityGroupMembershipStatus",
    derive = "PartialEq",
    doc = "Ports (Huawei) or instances (Baidu) that are members of one security group.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Group ID",
        type_ = "string",
        json_path = ".status.securityGroupId"
    ),
    printcolumn(name = "Policy", type_ = "string", json_path = ".spec.policy"),
    printcolumn(
        name = "Nodes",
        type_ = "integer",
        json_path = ".status.matchedNodes",
        priority = 1
    ),
    printcolumn(
        name = "Ports",
        type_ = "integer",
        json_path = ".status.resolvedPorts",
        priority = 1
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = kube::core::Rule::new(
    "has(self.securityGroupRef) ? !has(self.accountRef) && !has(self.securityGroupId) : has(self.accountRef) && has(self.securityGroupId)"
).message("give securityGroupRef, or accountRef together with securityGroupId"))]
#[x_kube(validation = kube::core::Rule::new(
    "has(self.securityGroupRef) == has(oldSelf.securityGroupRef) && has(self.accountRef) == has(oldSelf.accountRef) && has(self.securityGroupId) == has(oldSelf.securityGroupId)"
).message("the group a membership targets (securityGroupRef, accountRef, securityGroupId) is immutable"))]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.nodeSelector) || size(self.ports) == 0"
).message("give ports or nodeSelector, not both"))]
#[x_kube(validation = kube::core::Rule::new(
    "has(self.nodeSelector) || !has(self.portSelection)"
).message("portSelection needs nodeSelector"))]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupMembershipSpec {
    /// A `SecurityGroup` object in this namespace (its account is used).
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("securityGroupRef is immutable"))]
    pub security_group_ref: Option<LocalObjectRef>,
    /// The `CloudAccount` in this namespace, with `securityGroupId`.
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("accountRef is immutable"))]
    pub account_ref: Option<LocalObjectRef>,
    /// A group by cloud id, with `accountRef`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    )]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("securityGroupId is immutable"))]
    pub security_group_id: Option<String>,
    /// Port ids (Huawei) or instance ids (Baidu); at most 10,000 (which
    /// keeps the object well inside the API server's size limit).
    #[serde(default)]
    #[schemars(
        length(max = 10000),
        inner(
            length(min = 1, max = 128),
            regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
        )
    )]
    #[x_kube(merge_strategy = kube::core::ListMerge::Set)]
    pub ports: Vec<String>,
    /// Instead of `ports`: the ports of every Kubernetes Node this
    /// `metav1.LabelSelector` matches (`{}` matches every Node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// With `nodeSelector`: `Primary` (default), the port holding the
    /// Node's `InternalIP`, or `All` its server's ports. On Baidu the
    /// instance is the member either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_selection: Option<PortSelection>,
    /// `Additive` (default) or `Exclusive`.
    #[serde(default)]
    pub policy: MembershipPolicySpec,
    /// `Delete` removes the ports this object added (listed or managed)
    /// when it is deleted; `Retain` (default) leaves them.
    #[serde(default = "default_retain")]
    pub deletion_policy: DeletionPolicy,
}

/// Observed state of a `SecurityGroupMembership`.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupMembershipStatus {
    /// `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// kstatus conditions: `Ready`, `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The cloud id of the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub security_group_id: Option<String>,
    /// Every port this object has listed and not yet removed from the
    /// group. `Additive` removes a port only when it is in here and no
    /// longer in `spec.ports`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Set)]
    pub managed_ports: Vec<String>,
    /// With `nodeSelector`: the Nodes it matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_nodes: Option<u32>,
    /// With `nodeSelector`: the ports (Huawei) or instances (Baidu) those
    /// Nodes resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_ports: Option<u32>,
    /// Matching Nodes that changed nothing, and why (at most 100 listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub unresolved_nodes: Vec<UnresolvedNode>,
    /// When the membership was last compared with the cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// The last plan for this object, counted by operation kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    pub last_plan: Option<super::plan_counts::PlanCounts>,
}

super::impl_resource_status!(SecurityGroupMembershipStatus);
