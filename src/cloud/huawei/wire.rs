//! Huawei VPC JSON: request and response bodies, their translation to and
//! from the domain model (through `crate::plan::normalize`), and the mapping
//! of both error body formats to [`CloudError`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cloud::transport::{RawResponse, excerpt, invalid, null_as_default, retry_after};
use crate::cloud::{ApiErrorDetail, BatchOutcome, CloudError, PortFailure, PortFailureKind};
use crate::model::{
    Action, Direction, Ethertype, GroupHandle, ObservedGroup, ObservedPort, ObservedRule,
    ProviderKind, Remote, Rule,
};
use crate::plan::normalize::{RawRule, normalize_rule, wire_ports, wire_protocol};

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct PortWire {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub security_groups: Vec<String>,
    /// The server the port is bound to (empty when unbound).
    #[serde(default, deserialize_with = "null_as_default")]
    pub device_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub private_ips: Vec<PrivateIpWire>,
}

/// One of a port's fixed addresses.
#[derive(Debug, Default, Deserialize)]
pub struct PrivateIpWire {
    #[serde(default, deserialize_with = "null_as_default")]
    pub ip_address: String,
}

impl From<PortWire> for ObservedPort {
    fn from(p: PortWire) -> Self {
        ObservedPort {
            id: p.id,
            groups: p.security_groups,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct PortBody {
    pub port: PortWire,
}

#[derive(Debug, Deserialize)]
pub struct PortList {
    #[serde(default, deserialize_with = "null_as_default")]
    pub ports: Vec<PortWire>,
    pub page_info: Option<PageInfo>,
}

/// `page_info` of v3 lists; `next_marker` is absent on the last page.
#[derive(Debug, Default, Deserialize)]
pub struct PageInfo {
    pub next_marker: Option<String>,
}

/// `{"port":{"security_groups":[...],"index":n},"dry_run":bool}` for
/// insert-security-groups and remove-security-groups.
#[derive(Debug, Serialize)]
pub struct PortGroupsBody<'a> {
    pub port: PortGroupsOption<'a>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

#[derive(Debug, Serialize)]
pub struct PortGroupsOption<'a> {
    pub security_groups: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

/// Batch associate/disassociate body (at most 20 ports):
/// `{"ports":[{"id"}],"action":"add"|"remove"}`.
#[derive(Debug, Serialize)]
pub struct InstanceActionBody<'a> {
    pub ports: Vec<PortRef<'a>>,
    pub action: &'static str,
}

#[derive(Debug, Serialize)]
pub struct PortRef<'a> {
    pub id: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct InstanceActionResult {
    #[serde(default, deserialize_with = "null_as_default")]
    pub fail: Vec<FailWire>,
}

#[derive(Debug, Deserialize)]
pub struct FailWire {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub error_code: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub error_msg: String,
}

/// Per-port failures of the batch call: `VPC.0608` is a missing port,
/// `VPC.0607` a removal that would leave the port with no group.
pub fn batch_outcome(result: InstanceActionResult) -> BatchOutcome {
    BatchOutcome {
        failed: result
            .fail
            .into_iter()
            .map(|f| PortFailure {
                kind: match f.error_code.as_str() {
                    "VPC.0608" => PortFailureKind::NotFound,
                    "VPC.0607" => PortFailureKind::LastGroup,
                    _ => PortFailureKind::Other,
                },
                port: f.id,
                code: f.error_code,
                message: f.error_msg,
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagWire {
    pub key: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
}

/// Tags come as `{key,value}` objects on groups; some resources spell them
/// `"key=value"`. Both are read.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TagAny {
    Object(TagWire),
    Text(String),
}

#[derive(Debug, Deserialize)]
pub struct GroupWire {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub description: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<TagAny>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub security_group_rules: Vec<RuleWire>,
}

impl GroupWire {
    /// The group with the rules it carries (a show answer carries them all;
    /// list items carry none).
    pub fn into_observed(self) -> Result<ObservedGroup, CloudError> {
        let tags = self.tag_map();
        let rules = self
            .security_group_rules
            .iter()
            .map(RuleWire::to_observed)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ObservedGroup {
            id: self.id,
            name: self.name,
            description: self.description,
            vpc_id: None,
            version: None,
            tags,
            rules,
        })
    }

    /// The tags, for filtering list items.
    pub fn tag_map(&self) -> BTreeMap<String, String> {
        self.tags
            .iter()
            .map(|t| match t {
                TagAny::Object(t) => (t.key.clone(), t.value.clone()),
                TagAny::Text(s) => match s.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (s.clone(), String::new()),
                },
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
pub struct GroupBody {
    pub security_group: GroupWire,
}

#[derive(Debug, Deserialize)]
pub struct GroupList {
    #[serde(default, deserialize_with = "null_as_default")]
    pub security_groups: Vec<GroupWire>,
    pub page_info: Option<PageInfo>,
}

#[derive(Debug, Serialize)]
pub struct CreateGroupBody<'a> {
    pub security_group: CreateGroupOption<'a>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

#[derive(Debug, Serialize)]
pub struct CreateGroupOption<'a> {
    pub name: &'a str,
    pub description: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagWire>,
}

/// Update security group body:
/// `{"security_group":{"name"?,"description"?},"dry_run"?}`.
#[derive(Debug, Serialize)]
pub struct UpdateGroupBody<'a> {
    pub security_group: UpdateGroupOption<'a>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

#[derive(Debug, Serialize)]
pub struct UpdateGroupOption<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
}

// ---------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------

/// A rule as Huawei returns it. Numbers may come as strings on older
/// gateways, so `priority` is read loosely.
#[derive(Debug, Deserialize)]
pub struct RuleWire {
    pub id: String,
    /// Present on every list and show answer; list rules needs it to tell
    /// which group a rule is in.
    pub security_group_id: Option<String>,
    pub description: Option<String>,
    pub direction: String,
    pub protocol: Option<String>,
    pub ethertype: Option<String>,
    pub multiport: Option<String>,
    pub action: Option<String>,
    pub priority: Option<serde_json::Value>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub remote_address_group_id: Option<String>,
    /// Default true; a console edit can disable a rule.
    pub enabled: Option<bool>,
}

impl RuleWire {
    pub fn to_observed(&self) -> Result<ObservedRule, CloudError> {
        let priority = match &self.priority {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => None,
            Some(serde_json::Value::String(s)) => Some(s.trim().parse::<i64>().map_err(|_| {
                CloudError::Decode(format!("rule {}: priority {s:?} is not a number", self.id))
            })?),
            Some(other) => {
                return Err(CloudError::Decode(format!(
                    "rule {}: priority {other} is not a number",
                    self.id
                )));
            }
        };
        let raw = RawRule {
            direction: &self.direction,
            ethertype: self.ethertype.as_deref(),
            protocol: self.protocol.as_deref(),
            ports: self.multiport.as_deref(),
            remote_ip_prefix: self.remote_ip_prefix.as_deref().filter(|s| !s.is_empty()),
            remote_group: self
                .remote_group_id
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(|id| GroupHandle::Existing(id.to_string())),
            remote_address_group_id: self
                .remote_address_group_id
                .as_deref()
                .filter(|s| !s.is_empty()),
            action: self.action.as_deref(),
            priority,
            description: self.description.as_deref(),
        };
        let rule = normalize_rule(&raw, ProviderKind::Huawei).map_err(|errors| {
            let what: Vec<String> = errors.iter().map(|(f, m)| format!("{f}: {m}")).collect();
            CloudError::Decode(format!(
                "rule {} of the cloud cannot be read: {}",
                self.id,
                what.join("; ")
            ))
        })?;
        Ok(ObservedRule {
            id: self.id.clone(),
            rule,
            enabled: self.enabled.unwrap_or(true),
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct RuleList {
    #[serde(default, deserialize_with = "null_as_default")]
    pub security_group_rules: Vec<RuleWire>,
    pub page_info: Option<PageInfo>,
}

/// One rule of a batch-create. Every field the controller manages is sent
/// explicitly (priority and action included) so the cloud's defaults,
/// which differ between single and batch create, never matter.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct NewRuleWire {
    pub description: String,
    pub direction: &'static str,
    pub ethertype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiport: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_ip_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_address_group_id: Option<String>,
    pub action: &'static str,
    pub priority: u8,
}

impl NewRuleWire {
    pub fn from_rule(rule: &Rule) -> Result<Self, CloudError> {
        let (mut ip, mut group, mut address_group) = (None, None, None);
        match &rule.remote {
            Remote::Cidr(net) => ip = Some(net.to_string()),
            Remote::Group(GroupHandle::Existing(id)) => group = Some(id.clone()),
            Remote::Group(GroupHandle::New(owner)) => {
                return Err(invalid(
                    "InvalidArgument",
                    format!("rule remote group of {owner} has no id yet; create it first"),
                ));
            }
            Remote::AddressGroup(id) => address_group = Some(id.clone()),
        }
        let protocol = wire_protocol(rule.protocol);
        Ok(Self {
            description: rule.description.clone(),
            direction: match rule.direction {
                Direction::Ingress => "ingress",
                Direction::Egress => "egress",
            },
            ethertype: match rule.ethertype {
                Ethertype::IPv4 => "IPv4",
                Ethertype::IPv6 => "IPv6",
            },
            protocol: (!protocol.is_empty()).then_some(protocol),
            multiport: wire_ports(&rule.ports),
            remote_ip_prefix: ip,
            remote_group_id: group,
            remote_address_group_id: address_group,
            action: match rule.action {
                Action::Allow => "allow",
                Action::Deny => "deny",
            },
            priority: rule
                .priority
                .unwrap_or(crate::plan::normalize::DEFAULT_PRIORITY),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct BatchCreateRulesBody {
    pub security_group_rules: Vec<NewRuleWire>,
    /// Rules already present are skipped instead of failing the call: this
    /// is what makes a retried batch-create safe.
    pub ignore_duplicate: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Either error body: v3 `{request_id,error_code,error_msg}` or the older
/// `{code,message}` (the batch associate call's), and the gateway's
/// `{error_code,error_msg}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    request_id: Option<String>,
    error_code: Option<String>,
    error_msg: Option<String>,
    code: Option<serde_json::Value>,
    message: Option<String>,
}

/// Turn a non-2xx answer into a typed error carrying the vendor's code,
/// message and request id (`X-Request-Id` when the body has none).
pub fn api_error(response: &RawResponse) -> CloudError {
    let body: Option<ErrorBody> = serde_json::from_slice(&response.body).ok();
    let body = body.unwrap_or_default();
    let code = body
        .error_code
        .or_else(|| match body.code {
            Some(serde_json::Value::String(s)) => Some(s),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .unwrap_or_default();
    let message = body
        .error_msg
        .or(body.message)
        .unwrap_or_else(|| excerpt(&response.body));
    let request_id = body
        .request_id
        .filter(|s| !s.is_empty())
        .or_else(|| response.header("x-request-id").map(str::to_string));
    let detail = ApiErrorDetail {
        status: response.status,
        code,
        message,
        request_id,
    };
    classify(detail, retry_after(response))
}

fn classify(detail: ApiErrorDetail, retry_after: Option<std::time::Duration>) -> CloudError {
    let code = detail.code.as_str();
    let message = detail.message.to_ascii_lowercase();
    match (detail.status, code) {
        (429, _) | (_, "APIG.0308") => CloudError::Throttled {
            detail,
            retry_after,
        },
        (401 | 403, _) => CloudError::Unauthorized(detail),
        (_, "VPC.0607") => CloudError::LastGroup(detail),
        _ if message.contains("at least one security group") => CloudError::LastGroup(detail),
        (_, "VPC.9905") => CloudError::QuotaExceeded(detail),
        (409, _) if message.contains("quota") || message.contains("exceed") => {
            CloudError::QuotaExceeded(detail)
        }
        (404, _) | (_, "VPC.9904") | (_, "VPC.0608") => CloudError::NotFound(detail),
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

    #[test]
    fn v3_error_body_is_read_whole() {
        let e = api_error(&response(
            404,
            r#"{"request_id":"r-1","error_code":"VPC.9904","error_msg":"Security group not found"}"#,
            &[("x-request-id", "header-id")],
        ));
        let CloudError::NotFound(d) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(d.code, "VPC.9904");
        assert_eq!(d.message, "Security group not found");
        assert_eq!(d.request_id.as_deref(), Some("r-1"), "body id wins");
    }

    #[test]
    fn old_error_body_with_header_request_id() {
        let e = api_error(&response(
            400,
            r#"{"code":"VPC.0606","message":"Request is invalid"}"#,
            &[("x-request-id", "hdr-7")],
        ));
        let CloudError::InvalidRequest(d) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(
            (d.code.as_str(), d.message.as_str()),
            ("VPC.0606", "Request is invalid")
        );
        assert_eq!(d.request_id.as_deref(), Some("hdr-7"));
        assert_eq!(d.status, 400);
    }

    #[test]
    fn every_mapped_kind() {
        let kind = |status, code: &str, msg: &str, headers: &[(&'static str, &str)]| {
            api_error(&response(
                status,
                &format!(r#"{{"error_code":"{code}","error_msg":"{msg}"}}"#),
                headers,
            ))
            .reason()
        };
        assert_eq!(kind(404, "VPC.9904", "x", &[]), "NotFound");
        assert_eq!(kind(400, "VPC.0608", "port not found", &[]), "NotFound");
        assert_eq!(
            kind(409, "VPC.9902", "Security group rule already exists", &[]),
            "Conflict"
        );
        assert_eq!(kind(409, "VPC.9902", "in use", &[]), "Conflict");
        assert_eq!(
            kind(409, "VPC.9905", "Quota exceeded", &[]),
            "QuotaExceeded"
        );
        assert_eq!(kind(400, "VPC.0607", "x", &[]), "LastGroup");
        assert_eq!(
            kind(401, "APIG.0301", "Incorrect IAM authentication", &[]),
            "Unauthorized"
        );
        assert_eq!(kind(403, "VPC.0001", "forbidden", &[]), "Unauthorized");
        assert_eq!(kind(400, "VPC.0606", "bad", &[]), "InvalidRequest");
        assert_eq!(
            kind(400, "VPC.0609", "Ports list exceeds limit", &[]),
            "InvalidRequest"
        );
        assert_eq!(kind(503, "VPC.0500", "busy", &[]), "ServerError");
        let throttled = api_error(&response(
            429,
            r#"{"error_code":"APIG.0308","error_msg":"The throttling threshold has been reached"}"#,
            &[("retry-after", "3")],
        ));
        assert_eq!(
            throttled.retry_after(),
            Some(std::time::Duration::from_secs(3))
        );
        assert!(throttled.is_retryable());
    }

    #[test]
    fn non_json_error_keeps_an_excerpt() {
        let e = api_error(&response(502, "<html>Bad Gateway</html>", &[]));
        let CloudError::Server(d) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(d.message, "<html>Bad Gateway</html>");
        assert_eq!(d.code, "");
    }

    #[test]
    fn batch_failures_map_per_port() {
        let r: InstanceActionResult = serde_json::from_str(
            r#"{"fail":[
                {"id":"p1","error_code":"VPC.0608","error_msg":"Port p1 could not be found."},
                {"id":"p2","error_code":"VPC.0607","error_msg":"An instance must belong to at least one security group"},
                {"id":"p3","error_code":"VPC.0999","error_msg":"?"}]}"#,
        )
        .unwrap();
        let kinds: Vec<(String, PortFailureKind)> = batch_outcome(r)
            .failed
            .into_iter()
            .map(|f| (f.port, f.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("p1".to_string(), PortFailureKind::NotFound),
                ("p2".to_string(), PortFailureKind::LastGroup),
                ("p3".to_string(), PortFailureKind::Other)
            ]
        );
        let empty: InstanceActionResult = serde_json::from_str(r#"{"fail":[]}"#).unwrap();
        assert_eq!(batch_outcome(empty), BatchOutcome::default());
    }

    #[test]
    fn rules_of_the_documented_example_normalize() {
        // The first and third rules of the update security group call's
        // example answer.
        let g: GroupBody = serde_json::from_str(
            r#"{"security_group":{"id":"69c9","name":"security_group_2","description":"modified description",
               "tags":[{"key":"secgroup-owner","value":"uid-1"}],
               "security_group_rules":[
                {"id":"f11a","security_group_id":"69c9","remote_group_id":"69c9","direction":"ingress",
                 "description":"","ethertype":"IPv6","action":"allow","priority":100,"protocol":null,
                 "multiport":null,"remote_ip_prefix":null,"remote_address_group_id":null,"enabled":true},
                {"id":"9581","security_group_id":"69c9","direction":"egress","description":"",
                 "ethertype":"IPv4","action":"allow","priority":"1","protocol":"TCP","multiport":"443,80",
                 "remote_ip_prefix":"10.0.0.1","remote_group_id":null,"remote_address_group_id":null}]}}"#,
        )
        .unwrap();
        let g = g.security_group.into_observed().unwrap();
        assert_eq!(
            g.tags.get("secgroup-owner").map(String::as_str),
            Some("uid-1")
        );
        assert_eq!(g.rules.len(), 2);
        // `enabled` as sent, and true when left out.
        assert!(g.rules[0].enabled && g.rules[1].enabled);
        let off: RuleWire =
            serde_json::from_str(r#"{"id":"r1","direction":"ingress","enabled":false}"#).unwrap();
        assert!(!off.to_observed().unwrap().enabled);
        assert_eq!(
            g.rules[0].rule.remote,
            Remote::Group(GroupHandle::Existing("69c9".into()))
        );
        assert_eq!(g.rules[0].rule.priority, Some(100));
        let r = &g.rules[1].rule;
        assert_eq!(
            r.to_string(),
            "egress IPv4 tcp 80,443 to 10.0.0.1/32 prio 1"
        );

        // And back: what we send for it.
        let wire = NewRuleWire::from_rule(r).unwrap();
        assert_eq!(
            serde_json::to_value(&wire).unwrap(),
            serde_json::json!({"description":"","direction":"egress","ethertype":"IPv4",
                "protocol":"tcp","multiport":"80,443","remote_ip_prefix":"10.0.0.1/32",
                "action":"allow","priority":1})
        );
    }

    #[test]
    fn unreadable_cloud_rule_is_a_decode_error_naming_the_rule() {
        let w: RuleWire = serde_json::from_str(
            r#"{"id":"r9","direction":"sideways","protocol":"tcp","multiport":"80"}"#,
        )
        .unwrap();
        let e = w.to_observed().unwrap_err();
        assert!(matches!(e, CloudError::Decode(_)));
        assert!(e.to_string().contains("r9") && e.to_string().contains("direction"));
    }

    fn bare(direction: &str) -> RuleWire {
        RuleWire {
            id: "x".into(),
            security_group_id: None,
            description: None,
            direction: direction.into(),
            protocol: None,
            ethertype: None,
            multiport: None,
            action: None,
            priority: None,
            remote_ip_prefix: None,
            remote_group_id: None,
            remote_address_group_id: None,
            enabled: None,
        }
    }

    #[test]
    fn bare_rule_means_everything_and_is_sent_explicitly() {
        let rule = bare("ingress").to_observed().unwrap().rule;
        let wire = NewRuleWire::from_rule(&rule).unwrap();
        assert_eq!(
            serde_json::to_value(&wire).unwrap(),
            serde_json::json!({"description":"","direction":"ingress","ethertype":"IPv4",
                "remote_ip_prefix":"0.0.0.0/0","action":"allow","priority":1})
        );
    }

    #[test]
    fn new_remote_group_is_refused() {
        use crate::model::ObjectKey;
        let rule = Rule {
            remote: Remote::Group(GroupHandle::New(ObjectKey::new(
                "SecurityGroup",
                "ns",
                "web",
            ))),
            ..bare("egress").to_observed().unwrap().rule
        };
        let err = NewRuleWire::from_rule(&rule).unwrap_err();
        assert!(matches!(err, CloudError::InvalidRequest(_)));
        assert!(err.to_string().contains("SecurityGroup/ns/web"));
    }
}
