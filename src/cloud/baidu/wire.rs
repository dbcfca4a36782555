//! Baidu BCC JSON: request and response bodies, their translation to and
//! from the domain model (through `crate::plan::normalize`), client tokens,
//! and the mapping of `{requestId,code,message}` errors to [`CloudError`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cloud::transport::{RawResponse, excerpt, invalid, null_as_default, retry_after};
use crate::cloud::{ApiErrorDetail, CloudError};
use crate::model::{
    Direction, Ethertype, GroupHandle, ObservedGroup, ObservedRule, ProviderKind, Remote, Rule,
};
use crate::plan::normalize::{RawRule, normalize_rule, wire_ports, wire_protocol};

// ---------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------

/// `SecurityGroupRuleModel`. On the wire every identity field is sent,
/// empty when unset, so the 6-tuple the cloud matches on is exactly ours.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleWire {
    #[serde(default, deserialize_with = "null_as_default")]
    pub remark: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub direction: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub ethertype: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub port_range: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub protocol: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub source_ip: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub source_group_id: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub dest_ip: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub dest_group_id: String,
    /// Present on reads only.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub security_group_rule_id: String,
}

/// Baidu spells "any address" as `all` or leaves it empty.
fn address(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty() && !s.eq_ignore_ascii_case("all")).then_some(s)
}

impl RuleWire {
    /// The rule to send for `rule`.
    pub fn from_rule(rule: &Rule) -> Result<Self, CloudError> {
        let mut wire = RuleWire {
            remark: rule.description.clone(),
            direction: match rule.direction {
                Direction::Ingress => "ingress".into(),
                Direction::Egress => "egress".into(),
            },
            ethertype: match rule.ethertype {
                Ethertype::IPv4 => "IPv4".into(),
                Ethertype::IPv6 => "IPv6".into(),
            },
            port_range: wire_ports(&rule.ports).unwrap_or_default(),
            protocol: wire_protocol(rule.protocol),
            ..Default::default()
        };
        let (ip, group) = match &rule.remote {
            Remote::Cidr(net) => (net.to_string(), String::new()),
            Remote::Group(GroupHandle::Existing(id)) => (String::new(), id.clone()),
            Remote::Group(GroupHandle::New(owner)) => {
                return Err(invalid(
                    "InvalidArgument",
                    format!("rule remote group of {owner} has no id yet; create it first"),
                ));
            }
            Remote::AddressGroup(id) => {
                return Err(invalid(
                    "InvalidArgument",
                    format!(
                        "rule remote address group {id}: Baidu rules cannot use address groups"
                    ),
                ));
            }
        };
        match rule.direction {
            Direction::Ingress => (wire.source_ip, wire.source_group_id) = (ip, group),
            Direction::Egress => (wire.dest_ip, wire.dest_group_id) = (ip, group),
        }
        Ok(wire)
    }

    pub fn to_observed(&self) -> Result<ObservedRule, CloudError> {
        let egress = self.direction.trim().eq_ignore_ascii_case("egress");
        let (ip, group) = if egress {
            (&self.dest_ip, &self.dest_group_id)
        } else {
            (&self.source_ip, &self.source_group_id)
        };
        let group = group.trim();
        let raw = RawRule {
            direction: &self.direction,
            ethertype: Some(&self.ethertype),
            protocol: Some(&self.protocol),
            ports: Some(&self.port_range),
            remote_ip_prefix: address(ip),
            remote_group: (!group.is_empty()).then(|| GroupHandle::Existing(group.to_string())),
            remote_address_group_id: None,
            action: None,
            priority: None,
            description: Some(&self.remark),
        };
        let rule = normalize_rule(&raw, ProviderKind::Baidu).map_err(|errors| {
            let what: Vec<String> = errors.iter().map(|(f, m)| format!("{f}: {m}")).collect();
            CloudError::Decode(format!(
                "rule {} of the cloud cannot be read: {}",
                self.security_group_rule_id,
                what.join("; ")
            ))
        })?;
        Ok(ObservedRule {
            id: self.security_group_rule_id.clone(),
            rule,
            enabled: true,
        })
    }

    /// The identity fields, in the order the token hashes them.
    fn identity(&self) -> [&str; 7] {
        let (ip, group) = if self.direction == "egress" {
            (&self.dest_ip, &self.dest_group_id)
        } else {
            (&self.source_ip, &self.source_group_id)
        };
        [
            &self.remark,
            &self.protocol,
            &self.direction,
            &self.port_range,
            ip,
            group,
            &self.ethertype,
        ]
    }
}

#[derive(Debug, Serialize)]
pub struct RuleBody<'a> {
    pub rule: &'a RuleWire,
}

/// `PUT /v2/securityGroup/rule/update`: the rule id and the fields to set.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRuleBody<'a> {
    pub security_group_rule_id: &'a str,
    pub remark: &'a str,
    pub protocol: &'a str,
    pub port_range: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub source_ip: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub source_group_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub dest_ip: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub dest_group_id: &'a str,
}

impl<'a> UpdateRuleBody<'a> {
    pub fn new(rule_id: &'a str, rule: &'a RuleWire) -> Self {
        Self {
            security_group_rule_id: rule_id,
            remark: &rule.remark,
            protocol: &rule.protocol,
            port_range: &rule.port_range,
            source_ip: &rule.source_ip,
            source_group_id: &rule.source_group_id,
            dest_ip: &rule.dest_ip,
            dest_group_id: &rule.dest_group_id,
        }
    }
}

// ---------------------------------------------------------------------------
// Client tokens
// ---------------------------------------------------------------------------

/// Most characters a `clientToken` may have.
pub const MAX_CLIENT_TOKEN_LEN: usize = 64;

/// `sgc-` and 56 hex digits fit the limit.
const _: () = assert!(4 + 56 <= MAX_CLIENT_TOKEN_LEN);

/// A client token: `sgc-` and 56 hex digits of SHA-256 over the parts
/// (each length-prefixed, so no two part lists hash alike). ASCII, 60
/// characters.
pub fn client_token(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hex::encode(hash.finalize());
    format!("sgc-{}", &digest[..56])
}

/// The token of a rule change: derived from the account, the operation,
/// the group, the rule's identity and the `sgVersion` the change expects.
/// The same intended change always gets the same token, so a retry after a
/// lost answer is de-duplicated by the cloud; the version makes a later,
/// separate change of the same rule (authorize, revoke, authorize again) a
/// new token. Without a version `nonce` must be unique per call (a token
/// repeated across separate changes would be answered with the first
/// change's result and not act).
pub fn rule_change_token(
    account: &str,
    operation: &str,
    group_id: &str,
    rule: &RuleWire,
    version: Option<u64>,
    nonce: &str,
) -> String {
    let version = version.map(|v| v.to_string()).unwrap_or_default();
    let mut parts = vec![account, operation, group_id];
    parts.extend(rule.identity());
    parts.push(&version);
    parts.push(nonce);
    client_token(&parts)
}

// ---------------------------------------------------------------------------
// Groups and instances
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagWire {
    pub tag_key: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tag_value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupWire {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub desc: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub vpc_id: String,
    pub sg_version: Option<u64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub rules: Vec<RuleWire>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<TagWire>,
}

impl GroupWire {
    pub fn tag_map(&self) -> BTreeMap<String, String> {
        self.tags
            .iter()
            .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
            .collect()
    }

    pub fn into_observed(self) -> Result<ObservedGroup, CloudError> {
        let rules = self
            .rules
            .iter()
            .map(RuleWire::to_observed)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ObservedGroup {
            tags: self.tag_map(),
            id: self.id,
            name: self.name,
            description: self.desc,
            vpc_id: (!self.vpc_id.is_empty()).then_some(self.vpc_id),
            version: self.sg_version,
            rules,
        })
    }
}

/// The detail answer: the group itself (as the Go SDK reads it), or the
/// same wrapped in `securityGroup`; both are accepted.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum GroupDetail {
    Wrapped {
        #[serde(rename = "securityGroup")]
        security_group: GroupWire,
    },
    Flat(GroupWire),
}

impl GroupDetail {
    pub fn into_group(self) -> GroupWire {
        match self {
            GroupDetail::Wrapped { security_group } => security_group,
            GroupDetail::Flat(g) => g,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupList {
    #[serde(default, deserialize_with = "null_as_default")]
    pub security_groups: Vec<GroupWire>,
    #[serde(default)]
    pub is_truncated: bool,
    pub next_marker: Option<String>,
}

/// `InstanceModel` as the instance reads (`GET /v2/instance`,
/// `POST /v2/instance/listByInstanceId`) answer it: the fields a
/// membership read needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceWire {
    pub id: String,
    /// How many elastic NICs the instance has (a string in the SDKs'
    /// model); read loosely, see [`InstanceWire::elastic_nics`].
    #[serde(default)]
    pub eni_num: Option<serde_json::Value>,
    #[serde(default)]
    pub nic_info: Option<NicInfoWire>,
}

/// `NicInfo`: the primary NIC, with `securityGroups` documented as the
/// short ids of the groups of the primary NIC plus the elastic NICs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NicInfoWire {
    #[serde(default, deserialize_with = "null_as_default")]
    pub security_groups: Vec<String>,
    /// The same count as the instance's `eniNum` (a number here).
    #[serde(default)]
    pub eni_num: Option<serde_json::Value>,
}

/// A count sent as a number or as a string of digits; `None` for anything
/// else.
fn count(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl InstanceWire {
    /// Whether the instance has elastic NICs: the instance model's
    /// `eniNum` (top level, and again in `nicInfo`). `None` when the
    /// answer carries no readable count.
    pub fn elastic_nics(&self) -> Option<bool> {
        let counts: Vec<u64> = [
            self.eni_num.as_ref(),
            self.nic_info.as_ref().and_then(|n| n.eni_num.as_ref()),
        ]
        .into_iter()
        .flatten()
        .filter_map(count)
        .collect();
        if counts.is_empty() {
            None
        } else {
            Some(counts.iter().any(|&n| n > 0))
        }
    }

    /// The instance's groups, in binding order, when this list item gives
    /// them exactly; `None` when they must be read with the per-instance
    /// call (`GET /v2/securityGroup?instanceId=`).
    ///
    /// `nicInfo.securityGroups` is the union of the primary NIC's groups
    /// and its elastic NICs' groups. The bind and unbind calls, and so the
    /// membership this controller manages, act on the primary NIC only, so
    /// the union is exact only for an instance the answer shows without
    /// elastic NICs (`eniNum` 0); an instance with any, or one whose
    /// answer does not say, is read exactly. The field must also be filled
    /// in: every instance holds at least one group, and one documentation
    /// sample of the plain list shows it empty, so an empty list (or, for
    /// a list filtered by `securityGroupIds`, one holding none of `wanted`)
    /// means "not given" and is read exactly too.
    pub fn exact_groups(&self, wanted: &[String]) -> Option<Vec<String>> {
        if self.elastic_nics() != Some(false) {
            return None;
        }
        let groups = &self.nic_info.as_ref()?.security_groups;
        let filled =
            !groups.is_empty() && (wanted.is_empty() || groups.iter().any(|g| wanted.contains(g)));
        filled.then(|| groups.clone())
    }
}

/// `POST /v2/instance/listByInstanceId` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceIdsBody<'a> {
    pub instance_ids: &'a [String],
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceList {
    #[serde(default, deserialize_with = "null_as_default")]
    pub instances: Vec<InstanceWire>,
    #[serde(default)]
    pub is_truncated: bool,
    pub next_marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateGroupBody<'a> {
    pub name: &'a str,
    pub desc: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<&'a str>,
    pub rules: Vec<RuleWire>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateGroupResult {
    pub security_group_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BindBody<'a> {
    pub security_group_id: &'a str,
}

/// Value of `securityGroupType` for ordinary (not enterprise) groups. The
/// SDKs only show `enterprise`; `normal` is the counterpart the console
/// uses (unverified against the live API).
pub const ORDINARY_GROUP_TYPE: &str = "normal";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchBindBody<'a> {
    pub instance_ids: &'a [String],
    pub security_group_ids: &'a [String],
    pub security_group_type: &'static str,
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    request_id: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

/// Codes that mean the caller is not allowed, rather than the request being wrong.
const AUTH_CODES: &[&str] = &[
    "SignatureDoesNotMatch",
    "RequestExpired",
    "AccessDenied",
    "InvalidAccessKeyId",
    "InvalidAuthorization",
    "InvalidSessionToken",
];

/// What a call was doing, where a status means different things per call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorContext {
    #[default]
    Other,
    /// Unbinding: a non-auth 403 is the refusal to leave an instance with
    /// no group.
    Unbind,
}

/// Turn a non-2xx answer into a typed error carrying the vendor's code,
/// message and request id (`x-bce-request-id` when the body has none).
pub fn api_error(response: &RawResponse, context: ErrorContext) -> CloudError {
    let body: ErrorBody = serde_json::from_slice(&response.body).unwrap_or_default();
    let detail = ApiErrorDetail {
        status: response.status,
        code: body.code.unwrap_or_default(),
        message: body.message.unwrap_or_else(|| excerpt(&response.body)),
        request_id: body
            .request_id
            .filter(|s| !s.is_empty())
            .or_else(|| response.header("x-bce-request-id").map(str::to_string)),
    };
    let code = detail.code.as_str();
    let lower = detail.message.to_ascii_lowercase();
    let throttle_code = code.contains("Throttl") || code.contains("RequestLimitExceeded");
    match (detail.status, code) {
        (_, "VersionMismatch") => CloudError::VersionMismatch(detail),
        (429, _) => CloudError::Throttled {
            detail,
            retry_after: retry_after(response),
        },
        _ if throttle_code => CloudError::Throttled {
            detail,
            retry_after: retry_after(response),
        },
        // A token reused for a different request: our bug or a collision,
        // not a permission problem.
        (_, "IdempotentParameterMismatch") => CloudError::InvalidRequest(detail),
        (401, _) => CloudError::Unauthorized(detail),
        (_, c) if AUTH_CODES.contains(&c) => CloudError::Unauthorized(detail),
        (403, _) if context == ErrorContext::Unbind => CloudError::LastGroup(detail),
        (403, _) if lower.contains("at least one") => CloudError::LastGroup(detail),
        (403, _) => CloudError::Unauthorized(detail),
        (413, _) => CloudError::QuotaExceeded(detail),
        (_, c) if c.contains("ExceededLimit") || c.contains("Quota") => {
            CloudError::QuotaExceeded(detail)
        }
        (404, _) | (_, "NoSuchObject") | (_, "SecurityGroup.RuleNotExist") => {
            CloudError::NotFound(detail)
        }
        (409, _) => CloudError::Conflict(detail),
        (500..=599, _) => CloudError::Server(detail),
        _ => CloudError::InvalidRequest(detail),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue};

    use super::*;

    fn response(status: u16, body: &str, headers: &[(&'static str, &str)]) -> RawResponse {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        RawResponse {
            status,
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    fn kind(status: u16, code: &str, context: ErrorContext) -> &'static str {
        api_error(
            &response(
                status,
                &format!(r#"{{"requestId":"r","code":"{code}","message":"m"}}"#),
                &[],
            ),
            context,
        )
        .reason()
    }

    #[test]
    fn every_documented_code_maps() {
        use ErrorContext::*;
        assert_eq!(kind(400, "VersionMismatch", Other), "VersionMismatch");
        assert_eq!(kind(404, "NoSuchObject", Other), "NotFound");
        assert_eq!(kind(404, "SecurityGroup.RuleNotExist", Other), "NotFound");
        assert_eq!(kind(409, "SecurityGroup.RuleDuplicated", Other), "Conflict");
        assert_eq!(
            kind(
                409,
                "SecurityGroup.InstancesAssociatedSecurityGroupCanNotBeDeleted",
                Other
            ),
            "Conflict"
        );
        assert_eq!(
            kind(413, "SecurityGroup.BindInstanceExceededLimit", Other),
            "QuotaExceeded"
        );
        assert_eq!(
            kind(400, "SecurityGroup.RulePortRangeInvalid", Other),
            "InvalidRequest"
        );
        assert_eq!(kind(400, "MalformedJSON", Other), "InvalidRequest");
        assert_eq!(kind(403, "SignatureDoesNotMatch", Other), "Unauthorized");
        assert_eq!(kind(400, "RequestExpired", Other), "Unauthorized");
        assert_eq!(kind(403, "AccessDenied", Unbind), "Unauthorized");
        assert_eq!(
            kind(403, "SecurityGroup.OnlyOneSecurityGroup", Unbind),
            "LastGroup"
        );
        assert_eq!(kind(500, "InternalError", Other), "ServerError");
        assert_eq!(
            kind(403, "IdempotentParameterMismatch", Unbind),
            "InvalidRequest"
        );
        assert_eq!(kind(429, "RequestLimitExceeded", Other), "Throttled");
    }

    #[test]
    fn request_id_falls_back_to_the_header() {
        let e = api_error(
            &response(
                400,
                r#"{"code":"VersionMismatch","message":"The sgVersion is mismatch."}"#,
                &[("x-bce-request-id", "hdr-1")],
            ),
            ErrorContext::Other,
        );
        let d = e.detail().unwrap();
        assert_eq!(d.request_id.as_deref(), Some("hdr-1"));
        assert_eq!(d.message, "The sgVersion is mismatch.");
        assert!(matches!(e, CloudError::VersionMismatch(_)));
    }

    #[test]
    fn revoke_rule_example_round_trips() {
        let wire: RuleWire = serde_json::from_str(
            r#"{"remark":"Remarks","protocol":"tcp","portRange":"1-65535","direction":"ingress",
                "sourceIp":"10.101.151.0/29","securityGroupRuleId":"r-1"}"#,
        )
        .unwrap();
        let observed = wire.to_observed().unwrap();
        assert_eq!(observed.id, "r-1");
        assert_eq!(
            observed.rule.to_string(),
            "ingress IPv4 tcp all from 10.101.151.0/29 \"Remarks\""
        );
        let back = RuleWire::from_rule(&observed.rule).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::json!({"remark":"Remarks","direction":"ingress","ethertype":"IPv4",
                "portRange":"","protocol":"tcp","sourceIp":"10.101.151.0/29"})
        );
    }

    #[test]
    fn egress_uses_dest_fields_and_all_means_any() {
        let wire: RuleWire = serde_json::from_str(
            r#"{"direction":"egress","protocol":"","portRange":"","destIp":"all","ethertype":"IPv6"}"#,
        )
        .unwrap();
        let rule = wire.to_observed().unwrap().rule;
        assert_eq!(rule.to_string(), "egress IPv6 all all to ::/0");
        let back = RuleWire::from_rule(&rule).unwrap();
        assert_eq!(back.dest_ip, "::/0");
        assert!(back.source_ip.is_empty());
        let to_group: RuleWire = serde_json::from_str(
            r#"{"direction":"egress","protocol":"udp","portRange":"53","destGroupId":"g-2"}"#,
        )
        .unwrap();
        assert_eq!(
            to_group.to_observed().unwrap().rule.remote,
            Remote::Group(GroupHandle::Existing("g-2".into()))
        );
    }

    #[test]
    fn tokens_are_stable_short_ascii_and_change_with_every_part() {
        let rule = RuleWire {
            remark: "web".into(),
            direction: "ingress".into(),
            protocol: "tcp".into(),
            port_range: "443".into(),
            source_ip: "10.0.0.0/8".into(),
            ethertype: "IPv4".into(),
            ..Default::default()
        };
        let t = rule_change_token("ak", "authorizeRule", "g-1", &rule, Some(3), "");
        assert_eq!(
            t,
            rule_change_token("ak", "authorizeRule", "g-1", &rule, Some(3), "")
        );
        assert!(t.len() <= MAX_CLIENT_TOKEN_LEN && t.is_ascii(), "{t}");
        let others = [
            rule_change_token("ak2", "authorizeRule", "g-1", &rule, Some(3), ""),
            rule_change_token("ak", "revokeRule", "g-1", &rule, Some(3), ""),
            rule_change_token("ak", "authorizeRule", "g-2", &rule, Some(3), ""),
            rule_change_token("ak", "authorizeRule", "g-1", &rule, Some(4), ""),
            rule_change_token("ak", "authorizeRule", "g-1", &rule, None, ""),
            rule_change_token("ak", "authorizeRule", "g-1", &rule, Some(3), "n"),
            rule_change_token(
                "ak",
                "authorizeRule",
                "g-1",
                &RuleWire {
                    remark: "web2".into(),
                    ..rule.clone()
                },
                Some(3),
                "",
            ),
            rule_change_token(
                "ak",
                "authorizeRule",
                "g-1",
                &RuleWire {
                    port_range: "80".into(),
                    ..rule.clone()
                },
                Some(3),
                "",
            ),
        ];
        for o in &others {
            assert_ne!(&t, o);
        }
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        assert_ne!(client_token(&["ab", "c"]), client_token(&["a", "bc"]));
    }

    #[test]
    fn listed_instances_are_exact_only_without_elastic_nics() {
        let read = |json: &str| -> InstanceWire { serde_json::from_str(json).unwrap() };
        let wanted = ["g-1".to_string()];
        let plain = read(
            r#"{"id":"i-1","eniNum":"0","nicInfo":{"eniNum":0,"securityGroups":["g-2","g-1"]}}"#,
        );
        assert_eq!(plain.elastic_nics(), Some(false));
        assert_eq!(plain.exact_groups(&wanted).unwrap(), ["g-2", "g-1"]);
        assert_eq!(plain.exact_groups(&[]).unwrap(), ["g-2", "g-1"]);
        // An elastic NIC, in either count: the union is not the membership.
        for json in [
            r#"{"id":"i-1","eniNum":"1","nicInfo":{"eniNum":1,"securityGroups":["g-1"]}}"#,
            r#"{"id":"i-1","eniNum":"0","nicInfo":{"eniNum":2,"securityGroups":["g-1"]}}"#,
            r#"{"id":"i-1","eniNum":3,"nicInfo":{"securityGroups":["g-1"]}}"#,
        ] {
            assert_eq!(read(json).elastic_nics(), Some(true), "{json}");
            assert_eq!(read(json).exact_groups(&wanted), None, "{json}");
        }
        // No readable count: cannot tell, read exactly.
        for json in [
            r#"{"id":"i-1","nicInfo":{"securityGroups":["g-1"]}}"#,
            r#"{"id":"i-1","eniNum":"","nicInfo":{"eniNum":null,"securityGroups":["g-1"]}}"#,
            r#"{"id":"i-1","eniNum":-1,"nicInfo":{"securityGroups":["g-1"]}}"#,
        ] {
            assert_eq!(read(json).elastic_nics(), None, "{json}");
            assert_eq!(read(json).exact_groups(&wanted), None, "{json}");
        }
        // The union left empty, or without the group the list was filtered
        // by: not filled in.
        let empty = read(r#"{"id":"i-1","eniNum":"0","nicInfo":{"securityGroups":[]}}"#);
        assert_eq!(empty.exact_groups(&[]), None);
        assert_eq!(plain.exact_groups(&["g-9".to_string()]), None);
        let no_nic = read(r#"{"id":"i-1","eniNum":"0"}"#);
        assert_eq!(no_nic.exact_groups(&[]), None);
    }

    #[test]
    fn detail_is_read_flat_or_wrapped() {
        let flat: GroupDetail = serde_json::from_str(
            r#"{"id":"g-1","name":"web","desc":"d","vpcId":"vpc-1","sgVersion":7,
                "rules":[],"tags":[{"tagKey":"secgroup-owner","tagValue":"u"}]}"#,
        )
        .unwrap();
        let g = flat.into_group().into_observed().unwrap();
        assert_eq!(g.version, Some(7));
        assert_eq!(g.vpc_id.as_deref(), Some("vpc-1"));
        assert_eq!(g.tags.get("secgroup-owner").map(String::as_str), Some("u"));
        let wrapped: GroupDetail =
            serde_json::from_str(r#"{"securityGroup":{"id":"g-2","sgVersion":1}}"#).unwrap();
        assert_eq!(wrapped.into_group().id, "g-2");
    }
}
