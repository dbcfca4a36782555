//! Kubernetes Nodes to cloud instances: which instance a Node runs on,
//! read from `spec.providerID` in the form each cloud's Kubernetes service
//! writes, or from where a `CloudAccount` says for self-managed clusters.
//!
//! Formats (from the vendors' cloud controller managers):
//! - Huawei: `huaweicloud://<uuid>` or a bare `<uuid>`
//!   (kubernetes-sigs/cloud-provider-huaweicloud accepts both and writes
//!   the ECS server id bare); `openstack:///<uuid>` and
//!   `openstack://<region>/<uuid>` from OpenStack-style clusters. On
//!   managed CCE the UUID may be CCE's node id rather than the ECS server
//!   id; such a node's ports are then not found, the node is reported
//!   unresolved, and `spec.nodeIdentity` points at the server id instead.
//! - Baidu: `cce://<instance id>`, the instance's short id `i-` plus 8
//!   letters or digits (baidu/cloud-provider-baiducloud); a bare short id
//!   is accepted too.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::model::ProviderKind;

/// Where an account's Nodes name their cloud instance, when not (only) in
/// the provider's `spec.providerID` format.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeIdentity {
    /// A Node label whose value is the instance id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// A Node annotation whose value is the instance id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation: Option<String>,
    /// A regular expression over `spec.providerID` with one capture group:
    /// the instance id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id_pattern: Option<String>,
}

/// Which ports of a Node's server a node selector means
/// (`spec.portSelection`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum PortSelection {
    /// The port holding the Node's `InternalIP` (Huawei marks no port as
    /// primary on the port itself).
    #[default]
    Primary,
    /// Every port whose `device_id` is the Node's server.
    All,
}

/// A matching Node that changed nothing, as a status lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnresolvedNode {
    /// The Node's name.
    #[schemars(length(max = 253))]
    pub node: String,
    /// Why it has no port: no or an unreadable `spec.providerID`, an
    /// instance not found in the account's region, no port with the
    /// Node's address.
    #[schemars(length(max = 1024))]
    pub reason: String,
}

/// Why a Node has no instance id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// The label or annotation the account names is missing.
    MissingKey { what: &'static str, key: String },
    /// No `spec.providerID` (the cloud controller has not set it yet).
    NoProviderId,
    /// `spec.providerID` is not in the expected form.
    Unparsed {
        provider_id: String,
        expected: String,
    },
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unresolved::MissingKey { what, key } => write!(f, "the node has no {what} {key:?}"),
            Unresolved::NoProviderId => f.write_str("the node has no spec.providerID yet"),
            Unresolved::Unparsed {
                provider_id,
                expected,
            } => write!(f, "spec.providerID {provider_id:?} is not {expected}"),
        }
    }
}

/// A `NodeIdentity` ready to apply: its pattern compiled.
#[derive(Clone, Debug)]
pub struct Identity {
    label: Option<String>,
    annotation: Option<String>,
    pattern: Option<Regex>,
}

impl Identity {
    /// Compile `spec`; `Err` names what is wrong with the pattern.
    pub fn new(spec: Option<&NodeIdentity>) -> Result<Self, String> {
        let spec = spec.cloned().unwrap_or_default();
        let pattern = match &spec.provider_id_pattern {
            None => None,
            Some(p) => {
                let re = Regex::new(p).map_err(|e| format!("not a regular expression: {e}"))?;
                if re.captures_len() != 2 {
                    return Err("must have exactly one capture group: the instance id".into());
                }
                Some(re)
            }
        };
        Ok(Self {
            label: spec.label,
            annotation: spec.annotation,
            pattern,
        })
    }

    /// The instance `node` runs on. A label or annotation the account
    /// names wins; else `spec.providerID` by the account's pattern, or by
    /// the provider's own format.
    pub fn instance_of(&self, provider: ProviderKind, node: &Node) -> Result<String, Unresolved> {
        let labels = node.metadata.labels.as_ref();
        let annotations = node.metadata.annotations.as_ref();
        let value = |map: Option<&BTreeMap<String, String>>, key: &str| {
            map.and_then(|m| m.get(key))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if let Some(key) = &self.label {
            return value(labels, key).ok_or_else(|| Unresolved::MissingKey {
                what: "label",
                key: key.clone(),
            });
        }
        if let Some(key) = &self.annotation {
            return value(annotations, key).ok_or_else(|| Unresolved::MissingKey {
                what: "annotation",
                key: key.clone(),
            });
        }
        let provider_id = node
            .spec
            .as_ref()
            .and_then(|s| s.provider_id.as_deref())
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .ok_or(Unresolved::NoProviderId)?;
        match &self.pattern {
            Some(re) => re
                .captures(provider_id)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_string())
                .filter(|id| !id.is_empty())
                .ok_or_else(|| Unresolved::Unparsed {
                    provider_id: provider_id.to_string(),
                    expected: format!("matched by the account's pattern {:?}", re.as_str()),
                }),
            None => parse_provider_id(provider, provider_id),
        }
    }
}

/// The Node's `InternalIP` entries of `status.addresses`: what tells its
/// port among its server's.
pub fn internal_addresses(
    node: &Node,
) -> impl Iterator<Item = &k8s_openapi::api::core::v1::NodeAddress> {
    node.status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
        .filter(|a| a.type_ == "InternalIP")
}

/// `node` as a port source: its name, its instance (or why not known),
/// and its `InternalIP` addresses from `status.addresses`.
pub fn source_of(
    identity: &Identity,
    provider: ProviderKind,
    node: &Node,
) -> crate::plan::nodes::PortSource {
    let addresses = internal_addresses(node)
        .map(|a| a.address.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    crate::plan::nodes::PortSource {
        kind: crate::plan::nodes::SourceKind::Node,
        name: node.metadata.name.clone().unwrap_or_default(),
        instance: identity
            .instance_of(provider, node)
            .map_err(|e| e.to_string()),
        addresses,
    }
}

/// The instance id in a providerID of `provider`'s documented forms.
pub fn parse_provider_id(provider: ProviderKind, provider_id: &str) -> Result<String, Unresolved> {
    let unparsed = |expected: &str| Unresolved::Unparsed {
        provider_id: provider_id.to_string(),
        expected: expected.to_string(),
    };
    match provider {
        ProviderKind::Huawei => {
            let id = ["huaweicloud://", "openstack://"]
                .iter()
                .find_map(|scheme| provider_id.strip_prefix(scheme))
                .map(|rest| rest.rsplit('/').next().unwrap_or_default())
                .unwrap_or(provider_id);
            if is_uuid(id) {
                Ok(id.to_ascii_lowercase())
            } else {
                Err(unparsed(
                    "huaweicloud://<server id>, openstack:///<server id> or a bare server id (a UUID)",
                ))
            }
        }
        ProviderKind::Baidu => {
            let id = provider_id.strip_prefix("cce://").unwrap_or(provider_id);
            let short = id.strip_prefix("i-").unwrap_or_default();
            if short.len() == 8 && short.bytes().all(|b| b.is_ascii_alphanumeric()) {
                Ok(id.to_string())
            } else {
                Err(unparsed("cce://i-XXXXXXXX (the instance's short id)"))
            }
        }
    }
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    parts.len() == 5
        && parts
            .iter()
            .zip(lens)
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NodeSpec;
    use kube::api::ObjectMeta;

    const UUID: &str = "7d3a1f2c-9b4e-4c6d-8e0f-1a2b3c4d5e6f";

    fn node(
        provider_id: Option<&str>,
        labels: &[(&str, &str)],
        annotations: &[(&str, &str)],
    ) -> Node {
        let map = |pairs: &[(&str, &str)]| {
            (!pairs.is_empty()).then(|| {
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
        };
        Node {
            metadata: ObjectMeta {
                name: Some("n1".into()),
                labels: map(labels),
                annotations: map(annotations),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                provider_id: provider_id.map(str::to_string),
                ..NodeSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn huawei_forms() {
        let ok = |p: &str| parse_provider_id(ProviderKind::Huawei, p);
        assert_eq!(ok(&format!("huaweicloud://{UUID}")).as_deref(), Ok(UUID));
        assert_eq!(ok(UUID).as_deref(), Ok(UUID), "the CCM writes it bare");
        assert_eq!(ok(&format!("openstack:///{UUID}")).as_deref(), Ok(UUID));
        assert_eq!(
            ok(&format!("openstack://RegionOne/{UUID}")).as_deref(),
            Ok(UUID)
        );
        assert_eq!(
            ok(&UUID.to_uppercase()).as_deref(),
            Ok(UUID),
            "ids compare in lower case"
        );
        for bad in [
            "huaweicloud://not-a-uuid",
            "cce://i-QwUTCSuA",
            "",
            "aws:///us-east-1a/i-0abc",
        ] {
            assert!(
                matches!(ok(bad), Err(Unresolved::Unparsed { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn baidu_forms() {
        let ok = |p: &str| parse_provider_id(ProviderKind::Baidu, p);
        assert_eq!(ok("cce://i-QwUTCSuA").as_deref(), Ok("i-QwUTCSuA"));
        assert_eq!(ok("i-4PvLVv37").as_deref(), Ok("i-4PvLVv37"));
        for bad in [
            "cce://i-short",
            "cce://QwUTCSuA",
            &format!("huaweicloud://{UUID}"),
            "cce://i-QwUTCSuA/x",
        ] {
            let e = ok(bad).unwrap_err();
            assert!(e.to_string().contains("cce://i-XXXXXXXX"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn an_accounts_override_wins() {
        let plain = Identity::new(None).unwrap();
        let n = node(
            Some("cce://i-QwUTCSuA"),
            &[("example.com/instance", "i-AAAABBBB")],
            &[],
        );
        assert_eq!(
            plain.instance_of(ProviderKind::Baidu, &n).as_deref(),
            Ok("i-QwUTCSuA")
        );
        let by_label = Identity::new(Some(&NodeIdentity {
            label: Some("example.com/instance".into()),
            ..NodeIdentity::default()
        }))
        .unwrap();
        assert_eq!(
            by_label.instance_of(ProviderKind::Baidu, &n).as_deref(),
            Ok("i-AAAABBBB")
        );
        let by_annotation = Identity::new(Some(&NodeIdentity {
            annotation: Some("example.com/server".into()),
            ..NodeIdentity::default()
        }))
        .unwrap();
        assert_eq!(
            by_annotation.instance_of(ProviderKind::Huawei, &n),
            Err(Unresolved::MissingKey {
                what: "annotation",
                key: "example.com/server".into()
            })
        );
        let by_pattern = Identity::new(Some(&NodeIdentity {
            provider_id_pattern: Some(r"^kubeadm://[^/]+/(.+)$".into()),
            ..NodeIdentity::default()
        }))
        .unwrap();
        let self_managed = node(Some(&format!("kubeadm://zone-a/{UUID}")), &[], &[]);
        assert_eq!(
            by_pattern
                .instance_of(ProviderKind::Huawei, &self_managed)
                .as_deref(),
            Ok(UUID)
        );
        assert!(matches!(
            by_pattern.instance_of(ProviderKind::Huawei, &n),
            Err(Unresolved::Unparsed { .. })
        ));
        assert_eq!(
            plain.instance_of(ProviderKind::Huawei, &node(None, &[], &[])),
            Err(Unresolved::NoProviderId)
        );
    }

    #[test]
    fn a_node_as_a_source_keeps_only_its_internal_addresses() {
        use k8s_openapi::api::core::v1::{NodeAddress, NodeStatus};
        let mut n = node(Some(&format!("huaweicloud://{UUID}")), &[], &[]);
        let address = |t: &str, a: &str| NodeAddress {
            type_: t.into(),
            address: a.into(),
        };
        n.status = Some(NodeStatus {
            addresses: Some(vec![
                address("InternalIP", "192.168.0.12"),
                address("ExternalIP", "121.36.0.1"),
                address("Hostname", "n1"),
            ]),
            ..NodeStatus::default()
        });
        let identity = Identity::new(None).unwrap();
        let source = source_of(&identity, ProviderKind::Huawei, &n);
        assert_eq!(source.name, "n1");
        assert_eq!(source.instance.as_deref(), Ok(UUID));
        assert_eq!(source.addresses, ["192.168.0.12"]);
        let unparsed = source_of(&identity, ProviderKind::Baidu, &n);
        assert!(unparsed.instance.unwrap_err().contains("cce://i-XXXXXXXX"));
    }

    #[test]
    fn a_pattern_needs_one_capture_group() {
        let p = |s: &str| {
            Identity::new(Some(&NodeIdentity {
                provider_id_pattern: Some(s.into()),
                ..NodeIdentity::default()
            }))
            .err()
        };
        assert!(p("^x://(.+)$").is_none());
        assert!(p("^x://.+$").unwrap().contains("one capture group"));
        assert!(p("^(x)://(.+)$").unwrap().contains("one capture group"));
        assert!(p("(").unwrap().contains("not a regular expression"));
    }
}
