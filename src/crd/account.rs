//! `CloudAccount`: one cloud account (provider, region, project) and the
//! Secret holding its keys. Other objects name it with `spec.accountRef`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LocalObjectRef;
use super::nodes::NodeIdentity;

/// Which cloud an account talks to, as written in `spec.provider`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Huawei,
    Baidu,
}

/// A cloud account. The Secret named by `credentialsSecretRef` lives in the
/// same namespace and holds `accessKey` and `secretKey`; objects in other
/// namespaces cannot use the account.
// clippy reads the repeated `type_ = ...` of several printer columns as
// duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "secgroup.io",
    version = "v1alpha1",
    kind = "CloudAccount",
    plural = "cloudaccounts",
    singular = "cloudaccount",
    shortname = "cloudacct",
    category = "secgroup",
    namespaced,
    status = "CloudAccountStatus",
    derive = "PartialEq",
    doc = "A Huawei Cloud or Baidu AI Cloud account the controller acts in.",
    printcolumn(name = "Provider", type_ = "string", json_path = ".spec.provider"),
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.region"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
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
    "self.provider != 'huawei' || has(self.projectId)"
).message("projectId is required for provider huawei").field_path(".projectId"))]
#[serde(rename_all = "camelCase")]
pub struct CloudAccountSpec {
    /// `huawei` or `baidu`. Immutable.
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("provider is immutable"))]
    pub provider: Provider,
    /// Region, e.g. `cn-north-4` (Huawei) or `bj` (Baidu).
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
    )]
    pub region: String,
    /// Huawei project id of the region (required for Huawei).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub project_id: Option<String>,
    /// Override of the API endpoint (`https://host[:port]`), e.g. for a
    /// private endpoint or the simulator. Default: the provider's public
    /// endpoint for the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 2048),
        regex(pattern = r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    )]
    pub endpoint: Option<String>,
    /// Secret in this namespace with `accessKey` and `secretKey`.
    pub credentials_secret_ref: LocalObjectRef,
    /// Client-side rate limit for API calls of this account. Default: the
    /// client's built-in limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_requests_per_second: Option<u32>,
    /// Where this account's Kubernetes Nodes name their cloud instance,
    /// for clusters whose `spec.providerID` is not in the provider's own
    /// form (self-managed clusters). Give at most one of `label`,
    /// `annotation`, `providerIdPattern`. Default: `spec.providerID` as
    /// Huawei CCE or Baidu CCE writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_identity: Option<NodeIdentity>,
}

/// Observed state of a `CloudAccount`.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccountStatus {
    /// `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// kstatus conditions: `Ready`, `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// When the account's objects were last compared with the cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// The last plan for the whole account, counted by operation kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    pub last_plan: Option<super::plan_counts::PlanCounts>,
}

super::impl_resource_status!(CloudAccountStatus);
