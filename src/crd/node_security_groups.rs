//! `NodeSecurityGroups`: the port-centric view for Kubernetes Nodes. Every
//! port of every Node its `nodeSelector` matches ends with exactly the
//! listed groups, in that order, as a `PortSecurityGroups` would per port.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::nodes::{PortSelection, UnresolvedNode};
use super::{DeletionPolicy, GroupRef, LocalObjectRef};

fn default_retain() -> DeletionPolicy {
    DeletionPolicy::Retain
}

/// The groups of every matching Node's ports, in order.
// clippy reads the repeated `type_ = ...` of several printer columns as
// duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "secgroup.io",
    version = "v1alpha1",
    kind = "NodeSecurityGroups",
    plural = "nodesecuritygroups",
    singular = "nodesecuritygroup",
    shortname = "nodesg",
    category = "secgroup",
    namespaced,
    status = "NodeSecurityGroupsStatus",
    derive = "PartialEq",
    doc = "The exact, ordered security groups of the ports (Huawei) or instances (Baidu) of every Kubernetes Node a label selector matches.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Nodes", type_ = "integer", json_path = ".status.matchedNodes"),
    printcolumn(name = "Ports", type_ = "integer", json_path = ".status.resolvedPorts"),
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
#[serde(rename_all = "camelCase")]
pub struct NodeSecurityGroupsSpec {
    /// The `CloudAccount` in this namespace. Immutable.
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("accountRef is immutable"))]
    pub account_ref: LocalObjectRef,
    /// Which Nodes (a `metav1.LabelSelector`; `{}` matches every Node).
    pub node_selector: LabelSelector,
    /// `Primary` (default): the port holding the Node's `InternalIP`;
    /// `All`: every port of the Node's server. On Baidu the instance is the
    /// member either way.
    #[serde(default)]
    pub port_selection: PortSelection,
    /// The groups every selected port ends with, in this order (earlier
    /// groups take precedence on Huawei; Baidu keeps a set). At least one:
    /// a port always keeps a group.
    #[schemars(length(min = 1, max = 100))]
    #[x_kube(validation = kube::core::Rule::new("self.all(a, self.exists_one(b, b == a))")
        .message("a group may be listed only once"))]
    pub security_groups: Vec<GroupRef>,
    /// `Delete` removes the listed groups from the selected ports when this
    /// object is deleted; `Retain` (default) leaves them as they are.
    #[serde(default = "default_retain")]
    pub deletion_policy: DeletionPolicy,
}

/// Observed state of a `NodeSecurityGroups`.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSecurityGroupsStatus {
    /// `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// kstatus conditions: `Ready`, `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The cloud ids `spec.securityGroups` resolved to, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(max = 128)))]
    pub security_group_ids: Vec<String>,
    /// Nodes the selector matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_nodes: Option<u32>,
    /// Ports (Huawei) or instances (Baidu) those Nodes resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_ports: Option<u32>,
    /// Every port this object has given its groups and not yet released:
    /// a port whose Node stops matching loses the groups only when it is
    /// in here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Set)]
    pub managed_ports: Vec<String>,
    /// Matching Nodes that changed nothing, and why (at most 100 listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub unresolved_nodes: Vec<UnresolvedNode>,
    /// When the ports were last compared with the cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// The last plan for this object, counted by operation kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    pub last_plan: Option<super::plan_counts::PlanCounts>,
}

super::impl_resource_status!(NodeSecurityGroupsStatus);
