//! `SecurityGroup`: one cloud security group, adopted (`groupId`) or created
//! by the controller, the rules it owns, and its `rulesPolicy` (whether
//! rules nobody owns are revoked).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{DeletionPolicy, LocalObjectRef};

/// `spec.rules[].direction`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleDirection {
    #[default]
    Ingress,
    Egress,
}

/// `spec.rules[].ethertype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RuleEthertype {
    /// IPv4 traffic.
    IPv4,
    /// IPv6 traffic.
    IPv6,
}

/// `spec.rules[].action` (Huawei only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Let matching traffic through.
    Allow,
    /// Drop matching traffic (Huawei).
    Deny,
}

/// `spec.rulesPolicy`: what happens to a group's rules no object owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RulesPolicySpec {
    /// The group's rules are exactly `spec.rules` plus the rules of every
    /// `SecurityGroupRules` naming it; all others are revoked.
    Authoritative,
    /// Only rules some object owns are managed; rules nobody owns are left
    /// alone.
    Additive,
}

/// One rule of a group. Exactly one remote must be given.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[x_kube(validation = kube::core::Rule::new(
    "(has(self.remoteIpPrefix) ? 1 : 0) + (has(self.remoteGroupRef) ? 1 : 0) + (has(self.remoteGroupId) ? 1 : 0) + (has(self.remoteAddressGroupId) ? 1 : 0) == 1"
).message("give exactly one of remoteIpPrefix, remoteGroupRef, remoteGroupId, remoteAddressGroupId"))]
#[x_kube(validation = kube::core::Rule::new(
    "!(has(self.protocol) && self.protocol in ['icmp', '1']) || (has(self.ethertype) ? self.ethertype == 'IPv4' : !(has(self.remoteIpPrefix) && self.remoteIpPrefix.contains(':')))"
).message("icmp needs ethertype IPv4 (use icmpv6 for IPv6)").field_path(".protocol"))]
#[x_kube(validation = kube::core::Rule::new(
    "!(has(self.protocol) && self.protocol in ['icmpv6', '58']) || (has(self.ethertype) ? self.ethertype == 'IPv6' : !(has(self.remoteIpPrefix) && !self.remoteIpPrefix.contains(':')))"
).message("icmpv6 needs ethertype IPv6 (use icmp for IPv4)").field_path(".protocol"))]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.remoteIpPrefix) || !has(self.ethertype) || (self.ethertype == 'IPv6') == self.remoteIpPrefix.contains(':')"
).message("remoteIpPrefix does not match ethertype").field_path(".remoteIpPrefix"))]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.ports) || self.ports in ['all', 'any', '*', '-1', '1-65535', '0-65535'] || (has(self.protocol) && self.protocol in ['tcp', 'udp', '6', '17'])"
).message("ports only apply to tcp and udp; leave ports empty").field_path(".ports"))]
#[serde(rename_all = "camelCase")]
pub struct RuleSpec {
    /// `ingress` or `egress`.
    pub direction: RuleDirection,
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `all`, or a protocol number 0-255.
    /// Default `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 6),
        regex(
            pattern = r"^(tcp|udp|icmp|icmpv6|all|[0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])$"
        )
    )]
    pub protocol: Option<String>,
    /// `"80"`, `"8000-9000"`, on Huawei also a list `"22,80,443"`; `all`,
    /// `any`, `*`, `-1` or `0-65535` for all ports. Default (left out) all.
    /// An empty string is refused: all ports or a forgotten value?
    /// Ports are 1-65535 (the pattern says so, at no CEL cost); CEL checks
    /// that ranges are written low-high.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 128),
        regex(
            pattern = r"^((6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})(-(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(,(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})(-(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?)*|0-65535|all|any|\*|-1)?$"
        )
    )]
    #[x_kube(validation = kube::core::Rule::new(
        "!self.matches('^[0-9]{1,5}(-[0-9]{1,5})?(,[0-9]{1,5}(-[0-9]{1,5})?)*$') || self.split(',').all(r, !r.contains('-') || int(r.split('-')[0]) <= int(r.split('-')[1]))"
    ).message("port ranges must be written low-high, e.g. 8000-9000"))]
    pub ports: Option<String>,
    /// `IPv4` or `IPv6`. Default `IPv4`, or `IPv6` when `remoteIpPrefix` is
    /// IPv6 or the protocol is `icmpv6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethertype: Option<RuleEthertype>,
    /// An IP address or CIDR (`10.0.0.0/8`, `0.0.0.0/0`, `2001:db8::/32`).
    /// No IPv4 part may have a leading zero: `010` is octal to some tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(
        "!self.matches('(^|[.:])0[0-9]+[.]|[.]0[0-9]+(/|$)')"
    ).message("an IPv4 part with a leading zero is ambiguous (octal or decimal?): write 10.0.0.0/8, not 010.0.0.0/8"))]
    #[schemars(
        length(max = 64),
        regex(
            pattern = r"^([0-9]{1,3}(\.[0-9]{1,3}){3}(/([0-9]|[12][0-9]|3[0-2]))?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))?)$"
        )
    )]
    pub remote_ip_prefix: Option<String>,
    /// A `SecurityGroup` object in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_group_ref: Option<LocalObjectRef>,
    /// A security group by cloud id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    )]
    pub remote_group_id: Option<String>,
    /// A Huawei IP address group by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    )]
    pub remote_address_group_id: Option<String>,
    /// `allow` or `deny` (Huawei only). Default `allow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<RuleAction>,
    /// 1 (highest) to 100 (Huawei only). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub priority: Option<i32>,
    /// Free text, at most 255 characters, no `<` or `>` and no control
    /// characters. On Baidu this is the rule's remark, which is part of the
    /// rule's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255), regex(pattern = r"^[^<>\x00-\x1F\x7F-\x9F]*$"))]
    pub description: Option<String>,
}

/// A security group in the cloud. With `groupId` the controller adopts an
/// existing group; without, it creates one (tagged with this object's UID
/// so a crash between create and status write never duplicates it).
// clippy reads the repeated `type_ = ...` of several printer columns as
// duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "secgroup.io",
    version = "v1alpha1",
    kind = "SecurityGroup",
    plural = "securitygroups",
    singular = "securitygroup",
    shortname = "sg",
    category = "secgroup",
    namespaced,
    status = "SecurityGroupStatus",
    derive = "PartialEq",
    doc = "A cloud security group and, optionally, its authoritative rule set.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Group ID", type_ = "string", json_path = ".status.groupId"),
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
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupSpec {
    /// The `CloudAccount` in this namespace. Immutable.
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("accountRef is immutable"))]
    pub account_ref: LocalObjectRef,
    /// Adopt this existing group instead of creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    )]
    pub group_id: Option<String>,
    /// The group's name in the cloud. Default: `metadata.name` for a group
    /// the controller creates; an adopted group keeps its cloud name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_.-]+$"))]
    pub name: Option<String>,
    /// The group's description, at most 255 characters, no `<` or `>` and
    /// no control characters. Default: empty for a group the controller
    /// creates; an adopted group keeps its cloud description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255), regex(pattern = r"^[^<>\x00-\x1F\x7F-\x9F]*$"))]
    pub description: Option<String>,
    /// The VPC of the group (Baidu needs it to create one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    )]
    pub vpc_id: Option<String>,
    /// Rules this object owns in the group. `SecurityGroupRules` objects
    /// may add more; `rulesPolicy` says what happens to the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub rules: Option<Vec<RuleSpec>>,
    /// `Authoritative`: the group's rules are exactly `rules` plus those of
    /// every `SecurityGroupRules` naming it, all others revoked.
    /// `Additive`: only rules some object owns are managed. Default
    /// `Authoritative` when `rules` is present, else `Additive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_policy: Option<RulesPolicySpec>,
    /// `Delete` or `Retain`. Default `Delete` for groups the controller
    /// creates, `Retain` for adopted ones (`groupId` set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

impl SecurityGroupSpec {
    /// The rules policy in force: the explicit one, else `Authoritative`
    /// when `rules` is present and `Additive` when not.
    pub fn effective_rules_policy(&self) -> RulesPolicySpec {
        match (self.rules_policy, &self.rules) {
            (Some(p), _) => p,
            (None, Some(_)) => RulesPolicySpec::Authoritative,
            (None, None) => RulesPolicySpec::Additive,
        }
    }

    /// The policy in force: the explicit one, else `Retain` when adopted and
    /// `Delete` when created.
    pub fn effective_deletion_policy(&self) -> DeletionPolicy {
        match (self.deletion_policy, &self.group_id) {
            (Some(p), _) => p,
            (None, Some(_)) => DeletionPolicy::Retain,
            (None, None) => DeletionPolicy::Delete,
        }
    }
}

/// Observed state of a `SecurityGroup`.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupStatus {
    /// `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// kstatus conditions: `Ready`, `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The cloud id of the group (adopted or created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub group_id: Option<String>,
    /// Rules the group has in the cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_count: Option<u32>,
    /// The normalized identity of every rule of `spec.rules` this object
    /// owns or owned and has not yet seen revoked. When it lets a rule go,
    /// an `Additive` group revokes it only if it is in here and no other
    /// object owns it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Set)]
    pub managed_rules: Vec<String>,
    /// When the group was last compared with the cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// The last plan for this object, counted by operation kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    pub last_plan: Option<super::plan_counts::PlanCounts>,
}

super::impl_resource_status!(SecurityGroupStatus);
