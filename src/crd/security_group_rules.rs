//! `SecurityGroupRules`: rules one object adds to a security group that
//! other objects may add rules to as well. The group is a `SecurityGroup`
//! object of the namespace (`securityGroupRef`) or a cloud id
//! (`securityGroupId`, with `accountRef`). The rules have exactly the
//! `SecurityGroup` rule schema, checks and normalization.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{DeletionPolicy, LocalObjectRef, RuleSpec};

fn default_delete() -> DeletionPolicy {
    DeletionPolicy::Delete
}

/// Rules added to one security group.
// clippy reads the repeated `type_ = ...` of several printer columns as
// duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "secgroup.io",
    version = "v1alpha1",
    kind = "SecurityGroupRules",
    plural = "securitygrouprules",
    singular = "securitygrouprules",
    shortname = "sgr",
    category = "secgroup",
    namespaced,
    status = "SecurityGroupRulesStatus",
    derive = "PartialEq",
    doc = "Rules one object adds to a security group that others may add rules to as well.",
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
    printcolumn(name = "Rules", type_ = "integer", json_path = ".status.ruleCount"),
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
    "has(self.securityGroupRef) ? !has(self.securityGroupId) : has(self.accountRef) && has(self.securityGroupId)"
).message("give securityGroupRef, or accountRef together with securityGroupId"))]
#[x_kube(validation = kube::core::Rule::new(
    "has(self.securityGroupRef) == has(oldSelf.securityGroupRef) && has(self.accountRef) == has(oldSelf.accountRef) && has(self.securityGroupId) == has(oldSelf.securityGroupId)"
).message("the group the rules are for (securityGroupRef, accountRef, securityGroupId) is immutable"))]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupRulesSpec {
    /// The `CloudAccount` in this namespace: required with
    /// `securityGroupId`; with `securityGroupRef` it may be given and must
    /// be that group's account. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("accountRef is immutable"))]
    pub account_ref: Option<LocalObjectRef>,
    /// A `SecurityGroup` object in this namespace (its account is used).
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("securityGroupRef is immutable"))]
    pub security_group_ref: Option<LocalObjectRef>,
    /// A group by cloud id, with `accountRef`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    )]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("securityGroupId is immutable"))]
    pub security_group_id: Option<String>,
    /// The rules this object owns in the group, as in a `SecurityGroup`'s
    /// `spec.rules`.
    #[serde(default)]
    #[schemars(length(max = 200))]
    pub rules: Vec<RuleSpec>,
    /// `Delete` (default) revokes, when this object is deleted, the rules
    /// no other object owns; `Retain` leaves them in the cloud (an
    /// `Authoritative` group then revokes them anyway, as nobody owns them).
    #[serde(default = "default_delete")]
    pub deletion_policy: DeletionPolicy,
}

/// Observed state of a `SecurityGroupRules`.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupRulesStatus {
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
    /// Rules this object owns (its `spec.rules`, normalized).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_count: Option<u32>,
    /// The normalized identity of every rule this object owns or owned
    /// and has not yet seen revoked. When it lets a rule go, the rule is
    /// revoked only if it is in here and no other object owns it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Set)]
    pub managed_rules: Vec<String>,
    /// When the rules were last compared with the cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// The last plan for this object, counted by operation kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    pub last_plan: Option<super::plan_counts::PlanCounts>,
}

super::impl_resource_status!(SecurityGroupRulesStatus);
