//! `PortSecurityGroups`: the port-centric view. One port (Huawei) or
//! instance (Baidu) ends with exactly the listed groups, in that order.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::DeletionPolicy;

/// A group by `SecurityGroup` object name or by cloud id, exactly one.
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[x_kube(validation = kube::core::Rule::new("has(self.name) != has(self.id)")
    .message("give exactly one of name or id"))]
pub struct GroupRef {
    /// A `SecurityGroup` object in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub name: Option<String>,
    /// A security group by cloud id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    )]
    pub id: Option<String>,
}

impl GroupRef {
    pub fn by_name(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            id: None,
        }
    }

    pub fn by_id(id: impl Into<String>) -> Self {
        Self {
            name: None,
            id: Some(id.into()),
        }
    }
}

fn default_retain() -> DeletionPolicy {
    DeletionPolicy::Retain
}

/// The groups of one port, in order.
// clippy reads the repeated `type_ = ...` of several printer columns as
// duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "secgroup.io",
    version = "v1alpha1",
    kind = "PortSecurityGroups",
    plural = "portsecuritygroups",
    singular = "portsecuritygroup",
    shortname = "psg",
    category = "secgroup",
    namespaced,
    status = "PortSecurityGroupsStatus",
    derive = "PartialEq",
    doc = "The exact, ordered security groups of one port (Huawei) or instance (Baidu).",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Port", type_ = "string", json_path = ".spec.portId"),
    printcolumn(
        name = "Groups",
        type_ = "string",
        json_path = ".status.securityGroupIds"
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
#[serde(rename_all = "camelCase")]
pub struct PortSecurityGroupsSpec {
    /// The `CloudAccount` in this namespace. Immutable.
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("accountRef is immutable"))]
    pub account_ref: super::LocalObjectRef,
    /// Huawei port id, or Baidu instance id. Immutable.
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    )]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("portId is immutable"))]
    pub port_id: String,
    /// The groups the port ends with, in this order (earlier groups take
    /// precedence on Huawei; Baidu keeps a set). At least one: a port
    /// always keeps a group.
    #[schemars(length(min = 1, max = 100))]
    #[x_kube(validation = kube::core::Rule::new("self.all(a, self.exists_one(b, b == a))")
        .message("a group may be listed only once"))]
    pub security_groups: Vec<GroupRef>,
    /// `Delete` removes the listed groups from the port when this object is
    /// deleted; `Retain` (default) leaves the port as it is.
    #[serde(default = "default_retain")]
    pub deletion_policy: DeletionPolicy,
}

/// Observed state of a `PortSecurityGroups`.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortSecurityGroupsStatus {
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
    /// The port's groups in the cloud, in the cloud's order, as last read
    /// (neither cloud lets a port hold more than 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(max = 128)))]
    pub current_groups: Vec<String>,
    /// When the port was last compared with the cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// The last plan for this object, counted by operation kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    pub last_plan: Option<super::plan_counts::PlanCounts>,
}

super::impl_resource_status!(PortSecurityGroupsStatus);
