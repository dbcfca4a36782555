//! Cloud clients: one [`CloudProvider`] trait in domain terms and one
//! implementation per cloud. Nothing above this module knows a vendor's JSON,
//! paths or signing; nothing in here knows Kubernetes.
//!
//! Start-up builds one HTTP client ([`http::build_http_client`]) and calls
//! [`connect`] (or [`connect_with`]) once per cloud account. Both clients
//! send every call through one transport: it takes a token from the
//! account's bucket ([`ratelimit`]), asks the write gate before each
//! attempt of a write ([`WriteGate`]), signs the request (`huawei::sign`,
//! `baidu::sign`; the `Authorization` header marked sensitive), retries
//! only what is safe to repeat ([`retry`]), and traces every call
//! (provider, operation, status, latency, request id) at `debug` under a
//! `cloud` span. Credentials never reach a log, an error or a `Debug`
//! output.

pub mod baidu;
mod error;
pub mod http;
pub mod huawei;
mod percent;
pub mod ratelimit;
pub mod retry;
mod transport;

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;

use async_trait::async_trait;

pub use error::{ApiErrorDetail, CloudError, ErrorKind};

use crate::model::{ObservedGroup, ObservedPort, ProviderKind, Rule};

/// Where and how to reach one cloud account (from a `CloudAccount`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderSettings {
    pub kind: ProviderKind,
    /// Region id, e.g. `cn-north-4` (Huawei) or `bj` (Baidu); names the
    /// default endpoint.
    pub region: String,
    /// Huawei project id (required there); unused on Baidu.
    pub project_id: Option<String>,
    /// Overrides the region's endpoint, e.g. the simulator's URL.
    pub endpoint: Option<String>,
    /// Client-side limit for the account; `None` is unlimited.
    pub max_requests_per_second: Option<u32>,
}

fn settings_error(field: &str, message: impl fmt::Display) -> CloudError {
    CloudError::InvalidRequest(ApiErrorDetail {
        status: 0,
        code: "InvalidSettings".into(),
        message: format!("{field}: {message}"),
        request_id: None,
    })
}

/// The endpoint a client for `settings` talks to.
pub fn endpoint_for(settings: &ProviderSettings) -> Result<String, CloudError> {
    if let Some(endpoint) = &settings.endpoint {
        return Ok(endpoint.clone());
    }
    let region = settings.region.trim();
    if region.is_empty() {
        return Err(settings_error(
            "region",
            "required when no endpoint is given",
        ));
    }
    // The region becomes part of a host name.
    if !region
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(settings_error(
            "region",
            format!("{region:?} may hold only lower-case letters, digits and '-'"),
        ));
    }
    Ok(match settings.kind {
        ProviderKind::Huawei => huawei::default_endpoint(region),
        ProviderKind::Baidu => baidu::default_endpoint(region),
    })
}

/// Whether cloud writes may be sent now. The transport asks it right
/// before each attempt of every call that may change the cloud (retries
/// included, reads never); `false` fails the call with
/// [`CloudError::Fenced`] before anything is sent. A leader that can no
/// longer renew its Lease closes it at its deadline.
pub type WriteGate = Arc<dyn Fn() -> bool + Send + Sync>;

/// What [`connect_with`] takes beyond the account's settings.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// `None`: writes are always open.
    pub write_gate: Option<WriteGate>,
    /// `None`: [`retry::RetryPolicy::default`].
    pub retry: Option<retry::RetryPolicy>,
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("write_gate", &self.write_gate.as_ref().map(|_| "set"))
            .field("retry", &self.retry)
            .finish()
    }
}

/// Build the client for one account. `http` is the shared client from
/// [`http::build_http_client`]. Accounts with the same provider, endpoint
/// and access key share one rate-limit bucket. Writes are always open; see
/// [`connect_with`] for a write gate.
pub fn connect(
    settings: &ProviderSettings,
    credentials: Credentials,
    http: reqwest::Client,
) -> Result<Arc<dyn CloudProvider>, CloudError> {
    connect_with(settings, credentials, http, ConnectOptions::default())
}

/// [`connect`] with a retry policy other than the default (the one-shot
/// CLI gives reads a time budget).
pub fn connect_with_retry(
    settings: &ProviderSettings,
    credentials: Credentials,
    http: reqwest::Client,
    retry: retry::RetryPolicy,
) -> Result<Arc<dyn CloudProvider>, CloudError> {
    let options = ConnectOptions {
        retry: Some(retry),
        ..ConnectOptions::default()
    };
    connect_with(settings, credentials, http, options)
}

/// [`connect`], with `options` (retry policy, write gate).
pub fn connect_with(
    settings: &ProviderSettings,
    credentials: Credentials,
    http: reqwest::Client,
    options: ConnectOptions,
) -> Result<Arc<dyn CloudProvider>, CloudError> {
    let endpoint = endpoint_for(settings)?;
    let retry = options.retry.clone().unwrap_or_default();
    if credentials.access_key.trim().is_empty() {
        return Err(settings_error("accessKey", "must not be empty"));
    }
    if credentials.secret_key().is_empty() {
        return Err(settings_error("secretKey", "must not be empty"));
    }
    let limiter = match settings.max_requests_per_second {
        None => None,
        Some(n) => {
            let rate = NonZeroU32::new(n)
                .ok_or_else(|| settings_error("maxRequestsPerSecond", "must be at least 1"))?;
            let account = format!("{}|{endpoint}|{}", settings.kind, credentials.access_key);
            Some(ratelimit::shared_limiter(&account, rate))
        }
    };
    if endpoint.starts_with("http://") {
        tracing::warn!(
            provider = %settings.kind,
            endpoint,
            "cloud endpoint is plain http: requests are not encrypted (fine for the simulator)"
        );
    }
    Ok(match settings.kind {
        ProviderKind::Huawei => {
            let project = settings
                .project_id
                .as_deref()
                .filter(|p| !p.trim().is_empty())
                .ok_or_else(|| settings_error("projectId", "required for Huawei"))?;
            let mut client = huawei::HuaweiClient::new(&endpoint, project, credentials, http)?
                .with_retry_policy(retry);
            if let Some(l) = limiter {
                client = client.with_rate_limit(l);
            }
            if let Some(gate) = options.write_gate {
                client = client.with_write_gate(gate);
            }
            Arc::new(client)
        }
        ProviderKind::Baidu => {
            let mut client =
                baidu::BaiduClient::new(&endpoint, credentials, http)?.with_retry_policy(retry);
            if let Some(l) = limiter {
                client = client.with_rate_limit(l);
            }
            if let Some(gate) = options.write_gate {
                client = client.with_write_gate(gate);
            }
            Arc::new(client)
        }
    })
}

/// Access key and secret key. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    secret_key: String,
}

impl Credentials {
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        }
    }

    /// The secret key, for signers only.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// A group to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewGroup {
    pub name: String,
    pub description: String,
    /// Required on Baidu.
    pub vpc_id: Option<String>,
    /// Tags to set on create (the owner tag, see [`OWNER_TAG`]).
    pub tags: Vec<(String, String)>,
}

/// The owner tag's key, a domain fact the clients write on create;
/// re-exported for callers that build [`NewGroup`]s.
pub use crate::model::OWNER_TAG;

/// Why one port of a batch call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortFailureKind {
    /// The port or instance does not exist (Huawei `VPC.0608`).
    NotFound,
    /// Removing the group would leave the port with none (Huawei `VPC.0607`).
    LastGroup,
    Other,
}

/// One port that a batch call could not change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortFailure {
    pub port: String,
    pub kind: PortFailureKind,
    pub code: String,
    pub message: String,
}

/// The per-port result of a batch attach/detach that the cloud accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub failed: Vec<PortFailure>,
}

/// The operations the controller needs from a cloud, in domain terms.
///
/// Group handles in rules (`Remote::Group`) must be `Existing`; the executor
/// substitutes ids for groups created earlier in the same plan.
#[async_trait]
pub trait CloudProvider: Send + Sync {
    fn kind(&self) -> ProviderKind;

    /// A group with its rules (and `sgVersion` on Baidu); `None` if absent.
    async fn get_group(&self, id: &str) -> Result<Option<ObservedGroup>, CloudError>;

    /// Groups carrying tag `key=value`, following every page of the list.
    async fn find_groups_by_tag(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<ObservedGroup>, CloudError>;

    /// A port's (Huawei) or instance's (Baidu) groups in order; `None` if absent.
    async fn get_port(&self, id: &str) -> Result<Option<ObservedPort>, CloudError>;

    /// Several groups at once with their rules (and `sgVersion` on
    /// Baidu), keyed by id; absent groups are left out. The default reads
    /// each distinct id once with [`Self::get_group`] (what Baidu needs:
    /// see `BaiduClient::group_detail`); a client whose cloud lists groups
    /// and rules by many ids (Huawei) overrides it to save calls. A wrapper
    /// that forwards calls must forward this one too, or it reads one by
    /// one.
    async fn get_groups(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, ObservedGroup>, CloudError> {
        let ids: std::collections::BTreeSet<&String> = ids.iter().collect();
        let mut found = BTreeMap::new();
        for id in ids {
            if let Some(group) = self.get_group(id).await? {
                found.insert(group.id.clone(), group);
            }
        }
        Ok(found)
    }

    /// Several ports at once, keyed by id; absent ports are left out. The
    /// default reads them one by one; a client whose cloud can filter a
    /// list by many ids (Huawei list ports, Baidu listByInstanceId)
    /// overrides it to save calls.
    async fn get_ports(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, ObservedPort>, CloudError> {
        let mut found = BTreeMap::new();
        for id in ids {
            if let Some(port) = self.get_port(id).await? {
                found.insert(port.id.clone(), port);
            }
        }
        Ok(found)
    }

    /// Every port (Huawei) or instance (Baidu) holding any of `group_ids`,
    /// each with all its groups in the cloud's order, keyed by id, every
    /// page. The default lists each group's members and reads them with
    /// [`Self::get_ports`]; the clients override it with one filtered
    /// list.
    async fn ports_in_groups(
        &self,
        group_ids: &[String],
    ) -> Result<BTreeMap<String, ObservedPort>, CloudError> {
        let mut members = Vec::new();
        for id in group_ids {
            members.extend(self.list_group_ports(id).await?);
        }
        members.sort_unstable();
        members.dedup();
        self.get_ports(&members).await
    }

    /// The ports of each of `instance_ids` that exists, with their fixed
    /// addresses, keyed by instance id. The default is Baidu's: the
    /// instance is the member, read with [`Self::get_ports`] (its bulk
    /// instance read); an instance not found is left out. Huawei
    /// overrides it with list ports filtered by `device_id`, many servers
    /// a call. A wrapper that forwards calls must forward this one too.
    async fn instance_ports(
        &self,
        instance_ids: &[String],
    ) -> Result<crate::plan::nodes::InstancePorts, CloudError> {
        let found = self.get_ports(instance_ids).await?;
        Ok(found
            .into_keys()
            .map(|id| {
                let port = crate::plan::nodes::InstancePort {
                    id: id.clone(),
                    addresses: Vec::new(),
                };
                (id, vec![port])
            })
            .collect())
    }

    /// Ids of every port (Huawei) or instance (Baidu) in the group, all pages.
    async fn list_group_ports(&self, group_id: &str) -> Result<Vec<String>, CloudError>;

    /// Create a group; returns its id.
    async fn create_group(&self, group: &NewGroup) -> Result<String, CloudError>;

    /// Change a group's name and/or description.
    async fn update_group(
        &self,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<(), CloudError>;

    /// Delete a group. Not found counts as done (`Ok`).
    async fn delete_group(&self, id: &str) -> Result<(), CloudError>;

    /// Create rules in a group: Huawei batch-create (at most 200 a call),
    /// Baidu one authorizeRule per rule. `version` is the Baidu `sgVersion`
    /// the caller last read; each successful change is taken to add one.
    async fn create_rules(
        &self,
        group_id: &str,
        rules: &[Rule],
        version: Option<u64>,
    ) -> Result<(), CloudError>;

    /// Change one rule in place, by its id (Baidu
    /// `updateSecurityGroupRule`); the planner plans it only for a cloud
    /// whose [`ProviderKind::updates_rules`] says so.
    async fn update_rule(
        &self,
        group_id: &str,
        rule_id: &str,
        rule: &Rule,
        version: Option<u64>,
    ) -> Result<(), CloudError>;

    /// Remove one rule: Huawei by id, Baidu revokeRule by its 6-tuple.
    /// Not found counts as done (`Ok`).
    async fn delete_rule(
        &self,
        group_id: &str,
        rule_id: &str,
        rule: &Rule,
        version: Option<u64>,
    ) -> Result<(), CloudError>;

    /// Add groups to one port; `index` is the 0-based position (Huawei;
    /// ignored on Baidu). Returns the port as the cloud now has it.
    async fn add_port_groups(
        &self,
        port_id: &str,
        groups: &[String],
        index: Option<u32>,
    ) -> Result<ObservedPort, CloudError>;

    /// Remove groups from one port in one call. Returns the port after.
    async fn remove_port_groups(
        &self,
        port_id: &str,
        groups: &[String],
    ) -> Result<ObservedPort, CloudError>;

    /// Associate up to 20 ports with a group in one call.
    async fn attach_ports(
        &self,
        group_id: &str,
        ports: &[String],
    ) -> Result<BatchOutcome, CloudError>;

    /// Disassociate up to 20 ports from a group in one call.
    async fn detach_ports(
        &self,
        group_id: &str,
        ports: &[String],
    ) -> Result<BatchOutcome, CloudError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(kind: ProviderKind) -> ProviderSettings {
        ProviderSettings {
            kind,
            region: "cn-north-4".into(),
            project_id: Some("p1".into()),
            endpoint: None,
            max_requests_per_second: Some(10),
        }
    }

    fn http() -> reqwest::Client {
        http::build_http_client(&http::HttpOptions::default()).unwrap()
    }

    fn creds() -> Credentials {
        Credentials::new("AK", "SK-very-secret")
    }

    #[test]
    fn default_endpoints_follow_the_region() {
        assert_eq!(
            endpoint_for(&settings(ProviderKind::Huawei)).unwrap(),
            "https://vpc.cn-north-4.myhuaweicloud.com"
        );
        let baidu = ProviderSettings {
            region: "bj".into(),
            ..settings(ProviderKind::Baidu)
        };
        assert_eq!(endpoint_for(&baidu).unwrap(), "https://bcc.bj.baidubce.com");
        let overridden = ProviderSettings {
            endpoint: Some("http://127.0.0.1:1".into()),
            region: String::new(),
            ..baidu
        };
        assert_eq!(endpoint_for(&overridden).unwrap(), "http://127.0.0.1:1");
    }

    #[test]
    fn connect_builds_each_kind() {
        let h = connect(&settings(ProviderKind::Huawei), creds(), http()).unwrap();
        assert_eq!(h.kind(), ProviderKind::Huawei);
        let b = connect(&settings(ProviderKind::Baidu), creds(), http()).unwrap();
        assert_eq!(b.kind(), ProviderKind::Baidu);
    }

    #[test]
    fn bad_settings_name_the_field_and_never_the_secret() {
        let cases = [
            (
                ProviderSettings {
                    project_id: None,
                    ..settings(ProviderKind::Huawei)
                },
                "projectId",
            ),
            (
                ProviderSettings {
                    region: "cn north".into(),
                    ..settings(ProviderKind::Huawei)
                },
                "region",
            ),
            (
                ProviderSettings {
                    region: String::new(),
                    ..settings(ProviderKind::Baidu)
                },
                "region",
            ),
            (
                ProviderSettings {
                    max_requests_per_second: Some(0),
                    ..settings(ProviderKind::Baidu)
                },
                "maxRequestsPerSecond",
            ),
            (
                ProviderSettings {
                    endpoint: Some("not a url".into()),
                    ..settings(ProviderKind::Baidu)
                },
                "endpoint",
            ),
        ];
        for (s, field) in cases {
            let err = match connect(&s, creds(), http()) {
                Ok(_) => panic!("{s:?} was accepted"),
                Err(e) => e,
            };
            let text = format!("{err} {err:?}");
            assert!(text.contains(field), "{field}: {text}");
            assert!(!text.contains("SK-very-secret"));
        }
        let err = match connect(
            &settings(ProviderKind::Baidu),
            Credentials::new("AK", ""),
            http(),
        ) {
            Ok(_) => panic!("empty secret accepted"),
            Err(e) => e,
        };
        assert!(err.to_string().contains("secretKey"));
    }

    #[test]
    fn credentials_debug_is_redacted() {
        let text = format!("{:?}", creds());
        assert!(text.contains("AK") && !text.contains("SK-very-secret"));
    }
}
