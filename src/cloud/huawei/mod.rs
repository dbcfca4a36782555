//! The Huawei Cloud VPC client: every call the controller needs (ports,
//! port groups, the batch associate/disassociate call, groups, rules),
//! signed with SDK-HMAC-SHA256 and sent through the shared transport
//! (retried where safe, rate-limited per account, writes behind the write
//! gate), and translated to domain types. `dry_run` variants of the calls
//! that take it are methods of [`HuaweiClient`] itself; the
//! [`CloudProvider`] trait never dry-runs.
//!
//! Bulk reads use the v3 list calls' filters. Multi-valued query
//! parameters go as the official SDK core sends them on the wire: the key
//! repeated once per value (`id=a&id=b`), whatever a call's model says
//! about commas (the core turns every query collection into this form).

pub mod sign;
mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use reqwest::Method;
use reqwest::header::HeaderMap;

use self::wire::{
    BatchCreateRulesBody, CreateGroupBody, CreateGroupOption, GroupBody, GroupList, GroupWire,
    InstanceActionBody, InstanceActionResult, NewRuleWire, PortBody, PortGroupsBody,
    PortGroupsOption, PortList, PortRef, RuleList, RuleWire, TagWire, UpdateGroupBody,
    UpdateGroupOption,
};
use super::ratelimit::AccountLimiter;
use super::retry::{Idempotency, RetryPolicy};
use super::transport::{
    ApiRequest, Dialect, Markers, RawResponse, Transport, decode, invalid, put_header, require_id,
    unique_ids,
};
use super::{BatchOutcome, CloudError, CloudProvider, Credentials, NewGroup, WriteGate};
use crate::model::{ObservedGroup, ObservedPort, ObservedRule, ProviderKind, Rule};

/// Most ports the batch associate/disassociate call takes.
pub const MAX_BATCH_PORTS: usize = ProviderKind::MAX_BATCH_PORTS;
/// Most rules one batch-create takes.
pub const MAX_RULES_PER_CREATE: usize = 200;
/// Items asked for per list page unless set with
/// [`HuaweiClient::with_page_size`]: the most the v3 lists give (`limit`
/// 0 to 2000).
pub const DEFAULT_PAGE_SIZE: u32 = 2000;
/// Ids per id-filtered list call (ports by `id` or `security_groups`,
/// groups by `id`, rules by `security_group_id`): 50 UUIDs, each sent as
/// its own `key=value`, keep the query string near 2 KB, well inside any
/// gateway's URL limit.
pub const IDS_PER_LIST: usize = 50;

/// The public endpoint of a region, e.g. `https://vpc.cn-north-4.myhuaweicloud.com`.
pub fn default_endpoint(region: &str) -> String {
    format!("https://vpc.{region}.myhuaweicloud.com")
}

/// Huawei's part of the shared call path: SDK-HMAC-SHA256 over `Host`,
/// `X-Project-Id` and `X-Sdk-Date` (and `Content-Type` with a body), and
/// both error body formats.
#[derive(Debug)]
struct HuaweiDialect {
    project_id: String,
}

impl Dialect for HuaweiDialect {
    const PROVIDER: &'static str = "huawei";
    const REQUEST_ID_HEADER: &'static str = "x-request-id";
    type Context = ();

    fn signed_headers(
        &self,
        host: &str,
        credentials: &Credentials,
        req: &ApiRequest,
        now: Timestamp,
    ) -> Result<HeaderMap, CloudError> {
        let mut signed = vec![
            ("Host".to_string(), host.to_string()),
            ("X-Project-Id".to_string(), self.project_id.clone()),
        ];
        if req.body.is_some() {
            signed.push(("Content-Type".to_string(), "application/json".to_string()));
        }
        let signature = sign::sign(
            &sign::SigningRequest {
                method: req.method.as_str(),
                path: &req.path,
                query: &req.query,
                headers: &signed,
                body: req.body.as_deref().unwrap_or_default(),
            },
            credentials,
            now,
        );
        let mut headers = HeaderMap::new();
        put_header(&mut headers, "host", host)?;
        put_header(&mut headers, "x-project-id", &self.project_id)?;
        if req.body.is_some() {
            put_header(&mut headers, "content-type", "application/json")?;
        }
        put_header(&mut headers, "x-sdk-date", &signature.sdk_date)?;
        put_header(&mut headers, "authorization", &signature.authorization)?;
        Ok(headers)
    }

    fn api_error(&self, response: &RawResponse, _: ()) -> CloudError {
        wire::api_error(response)
    }
}

/// A Huawei VPC client for one account (AK/SK) and project.
#[derive(Debug)]
pub struct HuaweiClient {
    transport: Transport<HuaweiDialect>,
    page_size: u32,
}

impl HuaweiClient {
    /// `endpoint` is `https://host[:port]`; `project_id` names the project
    /// every path is under and is sent as `X-Project-Id`.
    pub fn new(
        endpoint: &str,
        project_id: &str,
        credentials: Credentials,
        http: reqwest::Client,
    ) -> Result<Self, CloudError> {
        if project_id.is_empty()
            || !project_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "InvalidSettings",
                format!("projectId: {project_id:?} must be letters, digits, '-' or '_'"),
            ));
        }
        let dialect = HuaweiDialect {
            project_id: project_id.to_string(),
        };
        Ok(Self {
            transport: Transport::new(dialect, endpoint, credentials, http)?,
            page_size: DEFAULT_PAGE_SIZE,
        })
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.transport.set_retry_policy(retry);
        self
    }

    /// Share `limiter` (the account's token bucket) with this client.
    pub fn with_rate_limit(mut self, limiter: Arc<AccountLimiter>) -> Self {
        self.transport.set_rate_limit(limiter);
        self
    }

    /// Ask `gate` before sending each attempt of every write; closed, the
    /// write fails with [`CloudError::Fenced`] and nothing is sent.
    pub fn with_write_gate(mut self, gate: WriteGate) -> Self {
        self.transport.set_write_gate(gate);
        self
    }

    /// Items per list page (1 to 2000).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size.clamp(1, DEFAULT_PAGE_SIZE);
        self
    }

    fn project_id(&self) -> &str {
        &self.transport.dialect().project_id
    }

    fn v3(&self, rest: &str) -> String {
        format!("/v3/{}/{rest}", self.project_id())
    }

    async fn call(
        &self,
        req: &ApiRequest,
        idempotency: Idempotency,
    ) -> Result<RawResponse, CloudError> {
        self.transport.call(req, idempotency).await
    }

    /// A dry run answers 202 when the check passes; anything else 2xx means
    /// the cloud did not treat it as a dry run, which must not go unnoticed.
    async fn dry_run(&self, req: &ApiRequest) -> Result<(), CloudError> {
        // A dry run changes nothing, so repeating it is safe.
        let response = self.call(req, Idempotency::Safe).await?;
        if response.status == 202 {
            Ok(())
        } else {
            Err(CloudError::Decode(format!(
                "{}: dry run answered HTTP {} instead of 202",
                req.operation, response.status
            )))
        }
    }

    /// Follow `next_marker` through every page of a v3 list.
    async fn list_all<T>(
        &self,
        operation: &'static str,
        path: String,
        filters: &[(&str, &str)],
        page: impl Fn(RawResponse) -> Result<(Vec<T>, Option<String>), CloudError>,
    ) -> Result<Vec<T>, CloudError> {
        let mut items = Vec::new();
        let mut marker: Option<String> = None;
        let mut markers = Markers::default();
        loop {
            let mut req = ApiRequest::new(operation, Method::GET, path.clone())
                .query("limit", self.page_size);
            for (k, v) in filters {
                req = req.query(k, v);
            }
            if let Some(m) = &marker {
                req = req.query("marker", m);
            }
            // Reads are always safe to repeat.
            let response = self.call(&req, Idempotency::Read).await?;
            let (batch, next) = page(response)?;
            let last = batch.is_empty();
            items.extend(batch);
            match next.filter(|m| !m.is_empty()) {
                Some(next) if !last => marker = Some(markers.advance(operation, next)?),
                _ => return Ok(items),
            }
        }
    }

    /// Every item of a v3 list filtered by `key`, one of `ids`: the key
    /// repeated per id, [`IDS_PER_LIST`] ids a call, every page of each.
    async fn list_by_ids<T>(
        &self,
        operation: &'static str,
        path: String,
        key: &str,
        ids: &[String],
        page: impl Fn(RawResponse) -> Result<(Vec<T>, Option<String>), CloudError>,
    ) -> Result<Vec<T>, CloudError> {
        let mut items = Vec::new();
        for chunk in ids.chunks(IDS_PER_LIST) {
            let filters: Vec<(&str, &str)> = chunk.iter().map(|id| (key, id.as_str())).collect();
            items.extend(
                self.list_all(operation, path.clone(), &filters, &page)
                    .await?,
            );
        }
        Ok(items)
    }

    // -- ports -------------------------------------------------------------

    /// A port and its groups in order; `None` if it does not exist.
    pub async fn show_port(&self, port_id: &str) -> Result<Option<ObservedPort>, CloudError> {
        require_id("portId", port_id)?;
        let req = ApiRequest::new(
            "showPort",
            Method::GET,
            self.v3(&format!("ports/{port_id}")),
        );
        match self.call(&req, Idempotency::Read).await {
            Ok(r) => Ok(Some(decode::<PortBody>(req.operation, &r)?.port.into())),
            Err(CloudError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every port holding `group_id` (list ports filtered by
    /// `security_groups`, all pages).
    pub async fn list_ports_in_group(
        &self,
        group_id: &str,
    ) -> Result<Vec<ObservedPort>, CloudError> {
        require_id("groupId", group_id)?;
        self.list_ports("security_groups", &[group_id.to_string()])
            .await
    }

    /// List ports whose `key` (`id`, `security_groups`) is one of `values`,
    /// each with its groups in order, all pages.
    async fn list_ports(
        &self,
        key: &str,
        values: &[String],
    ) -> Result<Vec<ObservedPort>, CloudError> {
        let wires = self.list_port_wires(key, values).await?;
        Ok(wires.into_iter().map(Into::into).collect())
    }

    /// List ports whose `key` is one of `values` as the cloud sends them.
    async fn list_port_wires(
        &self,
        key: &str,
        values: &[String],
    ) -> Result<Vec<wire::PortWire>, CloudError> {
        self.list_by_ids("listPorts", self.v3("ports"), key, values, |r| {
            let list: PortList = decode("listPorts", &r)?;
            let next = list.page_info.and_then(|p| p.next_marker);
            Ok((list.ports, next))
        })
        .await
    }

    fn port_groups_request(
        &self,
        operation: &'static str,
        action: &str,
        port_id: &str,
        groups: &[String],
        index: Option<u32>,
        dry_run: bool,
    ) -> Result<ApiRequest, CloudError> {
        require_id("portId", port_id)?;
        if groups.is_empty() {
            return Err(invalid("InvalidArgument", "groups: must not be empty"));
        }
        for g in groups {
            require_id("groups[]", g)?;
        }
        ApiRequest::new(
            operation,
            Method::PUT,
            self.v3(&format!("ports/{port_id}/{action}")),
        )
        .json(&PortGroupsBody {
            port: PortGroupsOption {
                security_groups: groups,
                index,
            },
            dry_run,
        })
    }

    fn insert_request(
        &self,
        port_id: &str,
        groups: &[String],
        index: Option<u32>,
        dry_run: bool,
    ) -> Result<ApiRequest, CloudError> {
        self.port_groups_request(
            "insertSecurityGroups",
            "insert-security-groups",
            port_id,
            groups,
            index,
            dry_run,
        )
    }

    fn remove_request(
        &self,
        port_id: &str,
        groups: &[String],
        dry_run: bool,
    ) -> Result<ApiRequest, CloudError> {
        self.port_groups_request(
            "removeSecurityGroups",
            "remove-security-groups",
            port_id,
            groups,
            None,
            dry_run,
        )
    }

    /// Check an insert-security-groups without applying it (202).
    pub async fn add_port_groups_dry_run(
        &self,
        port_id: &str,
        groups: &[String],
        index: Option<u32>,
    ) -> Result<(), CloudError> {
        self.dry_run(&self.insert_request(port_id, groups, index, true)?)
            .await
    }

    /// Check a remove-security-groups without applying it (202).
    pub async fn remove_port_groups_dry_run(
        &self,
        port_id: &str,
        groups: &[String],
    ) -> Result<(), CloudError> {
        self.dry_run(&self.remove_request(port_id, groups, true)?)
            .await
    }

    /// When a retried port change fails, the first attempt may have been
    /// applied and its answer lost: read the port, and if it is as asked,
    /// the change is done.
    async fn settle_port_change(
        &self,
        port_id: &str,
        error: CloudError,
        done: impl Fn(&ObservedPort) -> bool,
    ) -> Result<ObservedPort, CloudError> {
        if matches!(
            error,
            CloudError::Conflict(_) | CloudError::NotFound(_) | CloudError::InvalidRequest(_)
        ) && let Ok(Some(port)) = self.show_port(port_id).await
            && done(&port)
        {
            return Ok(port);
        }
        Err(error)
    }

    fn batch_request(
        &self,
        group_id: &str,
        ports: &[String],
        action: &'static str,
    ) -> Result<ApiRequest, CloudError> {
        require_id("groupId", group_id)?;
        for p in ports {
            require_id("ports[]", p)?;
        }
        ApiRequest::new(
            if action == "add" {
                "associatePorts"
            } else {
                "disassociatePorts"
            },
            Method::POST,
            format!(
                "/v2.0/{}/security-groups/{group_id}/instance/action",
                self.project_id()
            ),
        )
        .json(&InstanceActionBody {
            ports: ports.iter().map(|id| PortRef { id }).collect(),
            action,
        })
    }

    /// Batch associate/disassociate in chunks of 20 ports; per-port
    /// failures merged.
    async fn batch_ports(
        &self,
        group_id: &str,
        ports: &[String],
        action: &'static str,
    ) -> Result<BatchOutcome, CloudError> {
        let mut outcome = BatchOutcome::default();
        for chunk in ports.chunks(MAX_BATCH_PORTS) {
            let req = self.batch_request(group_id, chunk, action)?;
            // Idempotent in effect: re-adding a member is not an error
            // (the batch call's documented behaviour) and removing a
            // non-member leaves it a non-member;
            // either way the retry reports per-port results for the same end state.
            let response = self.call(&req, Idempotency::Safe).await?;
            let result: InstanceActionResult = decode(req.operation, &response)?;
            outcome.failed.extend(wire::batch_outcome(result).failed);
        }
        Ok(outcome)
    }

    // -- groups ------------------------------------------------------------

    fn create_group_request(
        &self,
        group: &NewGroup,
        dry_run: bool,
    ) -> Result<ApiRequest, CloudError> {
        ApiRequest::new(
            "createSecurityGroup",
            Method::POST,
            self.v3("vpc/security-groups"),
        )
        .json(&CreateGroupBody {
            security_group: CreateGroupOption {
                name: &group.name,
                description: &group.description,
                tags: group
                    .tags
                    .iter()
                    .map(|(key, value)| TagWire {
                        key: key.clone(),
                        value: value.clone(),
                    })
                    .collect(),
            },
            dry_run,
        })
    }

    /// Check a create without applying it (202).
    pub async fn create_group_dry_run(&self, group: &NewGroup) -> Result<(), CloudError> {
        self.dry_run(&self.create_group_request(group, true)?).await
    }

    /// A group with its rules; `None` if it does not exist.
    pub async fn show_group(&self, group_id: &str) -> Result<Option<ObservedGroup>, CloudError> {
        require_id("groupId", group_id)?;
        let req = ApiRequest::new(
            "showSecurityGroup",
            Method::GET,
            self.v3(&format!("vpc/security-groups/{group_id}")),
        );
        match self.call(&req, Idempotency::Read).await {
            Ok(r) => Ok(Some(
                decode::<GroupBody>(req.operation, &r)?
                    .security_group
                    .into_observed()?,
            )),
            Err(CloudError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every group of the project, all pages, without rules (list items
    /// carry none).
    pub async fn list_groups(&self) -> Result<Vec<ObservedGroup>, CloudError> {
        let wires = self.list_group_wires().await?;
        wires.into_iter().map(GroupWire::into_observed).collect()
    }

    async fn list_group_wires(&self) -> Result<Vec<GroupWire>, CloudError> {
        self.list_all(
            "listSecurityGroups",
            self.v3("vpc/security-groups"),
            &[],
            group_page,
        )
        .await
    }

    fn update_group_request(
        &self,
        group_id: &str,
        name: Option<&str>,
        description: Option<&str>,
        dry_run: bool,
    ) -> Result<ApiRequest, CloudError> {
        require_id("groupId", group_id)?;
        ApiRequest::new(
            "updateSecurityGroup",
            Method::PUT,
            self.v3(&format!("vpc/security-groups/{group_id}")),
        )
        .json(&UpdateGroupBody {
            security_group: UpdateGroupOption { name, description },
            dry_run,
        })
    }

    /// Update a group's name/description with `dry_run`: check the update
    /// without applying it (202).
    pub async fn update_group_dry_run(
        &self,
        group_id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<(), CloudError> {
        self.dry_run(&self.update_group_request(group_id, name, description, true)?)
            .await
    }

    // -- rules -------------------------------------------------------------

    /// Every rule of a group (list rules filtered by `security_group_id`,
    /// all pages).
    pub async fn list_rules(&self, group_id: &str) -> Result<Vec<ObservedRule>, CloudError> {
        require_id("groupId", group_id)?;
        let wires = self.rule_wires(&[group_id.to_string()]).await?;
        wires.iter().map(RuleWire::to_observed).collect()
    }

    /// The rules of every group in `group_ids` (`security_group_id`
    /// repeated), all pages.
    async fn rule_wires(&self, group_ids: &[String]) -> Result<Vec<RuleWire>, CloudError> {
        self.list_by_ids(
            "listSecurityGroupRules",
            self.v3("vpc/security-group-rules"),
            "security_group_id",
            group_ids,
            |r| {
                let list: RuleList = decode("listSecurityGroupRules", &r)?;
                let next = list.page_info.and_then(|p| p.next_marker);
                Ok((list.security_group_rules, next))
            },
        )
        .await
    }

    fn create_rules_requests(
        &self,
        group_id: &str,
        rules: &[Rule],
        dry_run: bool,
    ) -> Result<Vec<ApiRequest>, CloudError> {
        require_id("groupId", group_id)?;
        rules
            .chunks(MAX_RULES_PER_CREATE)
            .map(|chunk| {
                let wires = chunk
                    .iter()
                    .map(NewRuleWire::from_rule)
                    .collect::<Result<Vec<_>, _>>()?;
                ApiRequest::new(
                    "batchCreateSecurityGroupRules",
                    Method::POST,
                    self.v3(&format!(
                        "vpc/security-groups/{group_id}/security-group-rules/batch-create"
                    )),
                )
                .json(&BatchCreateRulesBody {
                    security_group_rules: wires,
                    ignore_duplicate: true,
                    dry_run,
                })
            })
            .collect()
    }

    /// Check a batch-create without applying it (202 per chunk of 200).
    pub async fn create_rules_dry_run(
        &self,
        group_id: &str,
        rules: &[Rule],
    ) -> Result<(), CloudError> {
        for req in self.create_rules_requests(group_id, rules, true)? {
            self.dry_run(&req).await?;
        }
        Ok(())
    }
}

/// One page of list security groups (items carry no rules).
fn group_page(r: RawResponse) -> Result<(Vec<GroupWire>, Option<String>), CloudError> {
    let list: GroupList = decode("listSecurityGroups", &r)?;
    let next = list.page_info.and_then(|p| p.next_marker);
    Ok((list.security_groups, next))
}

#[async_trait]
impl CloudProvider for HuaweiClient {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Huawei
    }

    async fn get_group(&self, id: &str) -> Result<Option<ObservedGroup>, CloudError> {
        self.show_group(id).await
    }

    async fn find_groups_by_tag(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<ObservedGroup>, CloudError> {
        let mut found = Vec::new();
        for g in self.list_group_wires().await? {
            if g.tag_map().get(key).map(String::as_str) == Some(value) {
                // List items carry no rules: read each match whole. One
                // deleted in between is simply not found.
                if let Some(group) = self.show_group(&g.id).await? {
                    found.push(group);
                }
            }
        }
        Ok(found)
    }

    async fn get_port(&self, id: &str) -> Result<Option<ObservedPort>, CloudError> {
        self.show_port(id).await
    }

    /// List groups filtered by `id` (repeated, [`IDS_PER_LIST`] a call),
    /// then list rules filtered by `security_group_id` of the groups found
    /// (repeated, the same batches), every page of each: two calls for up
    /// to 50 groups with up to 2000 rules, instead of one show per group.
    async fn get_groups(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, ObservedGroup>, CloudError> {
        let ids = unique_ids("groupId", ids)?;
        let wires = self
            .list_by_ids(
                "listSecurityGroups",
                self.v3("vpc/security-groups"),
                "id",
                &ids,
                group_page,
            )
            .await?;
        let mut groups = BTreeMap::new();
        for g in wires {
            // A cloud that ignored the filter would answer more groups.
            if ids.binary_search(&g.id).is_ok() {
                let group = g.into_observed()?;
                groups.insert(group.id.clone(), group);
            }
        }
        let found: Vec<String> = groups.keys().cloned().collect();
        for r in self.rule_wires(&found).await? {
            let Some(group_id) = r.security_group_id.as_deref().filter(|g| !g.is_empty()) else {
                return Err(CloudError::Decode(format!(
                    "listSecurityGroupRules: rule {} carries no security_group_id",
                    r.id
                )));
            };
            if let Some(group) = groups.get_mut(group_id) {
                group.rules.push(r.to_observed()?);
            }
        }
        Ok(groups)
    }

    /// List ports filtered by `security_groups` (repeated, [`IDS_PER_LIST`]
    /// groups a call), every page: each port comes with all its groups in
    /// order.
    async fn ports_in_groups(
        &self,
        group_ids: &[String],
    ) -> Result<BTreeMap<String, ObservedPort>, CloudError> {
        let ids = unique_ids("groupId", group_ids)?;
        let ports = self.list_ports("security_groups", &ids).await?;
        Ok(ports.into_iter().map(|p| (p.id.clone(), p)).collect())
    }

    /// List ports filtered by `id` (repeated, [`IDS_PER_LIST`] a call)
    /// instead of one show call per port.
    async fn get_ports(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, ObservedPort>, CloudError> {
        let ids = unique_ids("portId", ids)?;
        let ports = self.list_ports("id", &ids).await?;
        Ok(ports
            .into_iter()
            .filter(|p| ids.binary_search(&p.id).is_ok())
            .map(|p| (p.id.clone(), p))
            .collect())
    }

    /// List ports filtered by `device_id` (repeated, [`IDS_PER_LIST`]
    /// servers a call), every page: a server's ports with their fixed
    /// addresses, so a Node's primary port is the one holding its
    /// `InternalIP`.
    async fn instance_ports(
        &self,
        instance_ids: &[String],
    ) -> Result<crate::plan::nodes::InstancePorts, CloudError> {
        let ids = unique_ids("serverId", instance_ids)?;
        let mut found = crate::plan::nodes::InstancePorts::new();
        for p in self.list_port_wires("device_id", &ids).await? {
            // A cloud that ignored the filter would answer more ports.
            if ids.binary_search(&p.device_id).is_err() {
                continue;
            }
            found
                .entry(p.device_id.clone())
                .or_default()
                .push(crate::plan::nodes::InstancePort {
                    addresses: p
                        .private_ips
                        .iter()
                        .map(|a| a.ip_address.clone())
                        .filter(|a| !a.is_empty())
                        .collect(),
                    id: p.id,
                });
        }
        Ok(found)
    }

    async fn list_group_ports(&self, group_id: &str) -> Result<Vec<String>, CloudError> {
        Ok(self
            .list_ports_in_group(group_id)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect())
    }

    async fn create_group(&self, group: &NewGroup) -> Result<String, CloudError> {
        let req = self.create_group_request(group, false)?;
        // Not idempotent: Huawei's create takes no client token, so a lost
        // answer cannot be told from a refusal. Retried only when the request
        // provably never arrived; otherwise the caller finds a group created
        // anyway by its owner tag (find_groups_by_tag) before creating again.
        let response = self.call(&req, Idempotency::Unsafe).await?;
        Ok(decode::<GroupBody>(req.operation, &response)?
            .security_group
            .id)
    }

    async fn update_group(
        &self,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<(), CloudError> {
        let req = self.update_group_request(id, name, description, false)?;
        // Idempotent by nature: it sets values.
        self.call(&req, Idempotency::Safe).await?;
        Ok(())
    }

    async fn delete_group(&self, id: &str) -> Result<(), CloudError> {
        require_id("groupId", id)?;
        let req = ApiRequest::new(
            "deleteSecurityGroup",
            Method::DELETE,
            self.v3(&format!("vpc/security-groups/{id}")),
        );
        // Idempotent by nature: a repeat finds nothing, which counts as done.
        match self.call(&req, Idempotency::Safe).await {
            Ok(_) | Err(CloudError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn create_rules(
        &self,
        group_id: &str,
        rules: &[Rule],
        _version: Option<u64>,
    ) -> Result<(), CloudError> {
        for req in self.create_rules_requests(group_id, rules, false)? {
            // Idempotent in effect: `ignore_duplicate` makes a repeat skip
            // the rules the lost first attempt created.
            self.call(&req, Idempotency::Safe).await?;
        }
        Ok(())
    }

    /// Huawei VPC v3 has no rule update: a changed rule is created, then
    /// the old one deleted, and the planner never asks for this.
    async fn update_rule(
        &self,
        _group_id: &str,
        rule_id: &str,
        _rule: &Rule,
        _version: Option<u64>,
    ) -> Result<(), CloudError> {
        Err(crate::cloud::transport::invalid(
            "Unsupported",
            format!("rule {rule_id}: Huawei VPC cannot update a rule in place"),
        ))
    }

    async fn delete_rule(
        &self,
        _group_id: &str,
        rule_id: &str,
        _rule: &Rule,
        _version: Option<u64>,
    ) -> Result<(), CloudError> {
        require_id("ruleId", rule_id)?;
        let req = ApiRequest::new(
            "deleteSecurityGroupRule",
            Method::DELETE,
            self.v3(&format!("vpc/security-group-rules/{rule_id}")),
        );
        // Idempotent by nature: a repeat finds nothing, which counts as done.
        match self.call(&req, Idempotency::Safe).await {
            Ok(_) | Err(CloudError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn add_port_groups(
        &self,
        port_id: &str,
        groups: &[String],
        index: Option<u32>,
    ) -> Result<ObservedPort, CloudError> {
        let req = self.insert_request(port_id, groups, index, false)?;
        // Idempotent in effect: inserting groups the port already holds
        // leaves the same list. Should the cloud call a repeat a conflict,
        // the port is read back to tell our own lost success from a refusal.
        let answer = self
            .transport
            .call_tracked(&req, Idempotency::Safe, ())
            .await;
        match answer.result {
            Ok(r) => Ok(decode::<PortBody>(req.operation, &r)?.port.into()),
            Err(e) if answer.retried => {
                self.settle_port_change(port_id, e, |p| groups.iter().all(|g| p.groups.contains(g)))
                    .await
            }
            Err(e) => Err(e),
        }
    }

    async fn remove_port_groups(
        &self,
        port_id: &str,
        groups: &[String],
    ) -> Result<ObservedPort, CloudError> {
        let req = self.remove_request(port_id, groups, false)?;
        // Idempotent in effect: removing groups the port no longer holds
        // leaves the same list; a repeat the cloud refuses is settled by
        // reading the port back.
        let answer = self
            .transport
            .call_tracked(&req, Idempotency::Safe, ())
            .await;
        match answer.result {
            Ok(r) => Ok(decode::<PortBody>(req.operation, &r)?.port.into()),
            Err(e) if answer.retried => {
                self.settle_port_change(port_id, e, |p| {
                    groups.iter().all(|g| !p.groups.contains(g))
                })
                .await
            }
            Err(e) => Err(e),
        }
    }

    async fn attach_ports(
        &self,
        group_id: &str,
        ports: &[String],
    ) -> Result<BatchOutcome, CloudError> {
        self.batch_ports(group_id, ports, "add").await
    }

    async fn detach_ports(
        &self,
        group_id: &str,
        ports: &[String],
    ) -> Result<BatchOutcome, CloudError> {
        self.batch_ports(group_id, ports, "remove").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> HuaweiClient {
        HuaweiClient::new(
            "http://127.0.0.1:9",
            "proj1",
            Credentials::new("AK", "SK"),
            crate::cloud::http::build_http_client(&Default::default()).unwrap(),
        )
        .unwrap()
    }

    fn body(req: &ApiRequest) -> serde_json::Value {
        serde_json::from_slice(req.body.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn insert_carries_index_and_dry_run_only_when_set() {
        let c = client();
        let groups = vec!["g1".to_string(), "g2".to_string()];
        let req = c.insert_request("p1", &groups, Some(0), false).unwrap();
        assert_eq!(req.method, Method::PUT);
        assert_eq!(req.path, "/v3/proj1/ports/p1/insert-security-groups");
        assert_eq!(
            body(&req),
            serde_json::json!({"port":{"security_groups":["g1","g2"],"index":0}})
        );
        let req = c.insert_request("p1", &groups, None, true).unwrap();
        assert_eq!(
            body(&req),
            serde_json::json!({"port":{"security_groups":["g1","g2"]},"dry_run":true})
        );
        let req = c.remove_request("p1", &groups[..1], false).unwrap();
        assert_eq!(req.path, "/v3/proj1/ports/p1/remove-security-groups");
        assert_eq!(
            body(&req),
            serde_json::json!({"port":{"security_groups":["g1"]}})
        );
    }

    #[test]
    fn empty_ids_and_lists_are_refused_before_sending() {
        let c = client();
        assert!(c.insert_request("", &["g".into()], None, false).is_err());
        assert!(c.insert_request("p", &[], None, false).is_err());
        assert!(c.insert_request("p", &["".into()], None, false).is_err());
        assert!(c.batch_request("", &["p".into()], "add").is_err());
    }

    #[test]
    fn batch_call_uses_the_v2_path() {
        let c = client();
        let req = c
            .batch_request("sg1", &["a".into(), "b".into()], "remove")
            .unwrap();
        assert_eq!(req.method, Method::POST);
        assert_eq!(req.path, "/v2.0/proj1/security-groups/sg1/instance/action");
        assert_eq!(
            body(&req),
            serde_json::json!({"ports":[{"id":"a"},{"id":"b"}],"action":"remove"})
        );
    }

    #[test]
    fn create_group_sends_owner_tag_and_update_only_given_fields() {
        let c = client();
        let req = c
            .create_group_request(
                &NewGroup {
                    name: "web".into(),
                    description: "d".into(),
                    vpc_id: None,
                    tags: vec![(crate::model::OWNER_TAG.into(), "uid-1".into())],
                },
                false,
            )
            .unwrap();
        assert_eq!(req.path, "/v3/proj1/vpc/security-groups");
        assert_eq!(
            body(&req),
            serde_json::json!({"security_group":{"name":"web","description":"d",
                "tags":[{"key":"secgroup-owner","value":"uid-1"}]}})
        );
        let req = c
            .update_group_request("g1", None, Some("new"), true)
            .unwrap();
        assert_eq!(
            body(&req),
            serde_json::json!({"security_group":{"description":"new"},"dry_run":true})
        );
    }

    #[test]
    fn rules_are_chunked_by_200_with_ignore_duplicate() {
        let c = client();
        let rule = crate::plan::normalize::normalize_rule(
            &crate::plan::normalize::RawRule {
                direction: "ingress",
                ..Default::default()
            },
            ProviderKind::Huawei,
        )
        .unwrap();
        let rules = vec![rule; 401];
        let reqs = c.create_rules_requests("g1", &rules, false).unwrap();
        let sizes: Vec<usize> = reqs
            .iter()
            .map(|r| body(r)["security_group_rules"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [200, 200, 1]);
        assert_eq!(body(&reqs[0])["ignore_duplicate"], true);
        assert_eq!(
            reqs[0].path,
            "/v3/proj1/vpc/security-groups/g1/security-group-rules/batch-create"
        );
    }

    #[test]
    fn signed_headers_cover_host_project_date_and_content_type() {
        let c = client();
        let req = c.insert_request("p1", &["g".into()], None, false).unwrap();
        let prepared = c
            .transport
            .prepare(&req, "2025-01-02T03:04:05Z".parse().unwrap())
            .unwrap();
        let auth = prepared.headers["authorization"].to_str().unwrap();
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-project-id;x-sdk-date,"),
            "{auth}"
        );
        assert_eq!(prepared.headers["x-sdk-date"], "20250102T030405Z");
        assert_eq!(prepared.headers["host"], "127.0.0.1:9");
        assert_eq!(
            prepared.url,
            "http://127.0.0.1:9/v3/proj1/ports/p1/insert-security-groups"
        );
        let get = ApiRequest::new("showPort", Method::GET, "/v3/proj1/ports/p1".into());
        let prepared = c
            .transport
            .prepare(&get, "2025-01-02T03:04:05Z".parse().unwrap())
            .unwrap();
        assert!(
            prepared.headers["authorization"]
                .to_str()
                .unwrap()
                .contains("SignedHeaders=host;x-project-id;x-sdk-date,")
        );
        assert!(!prepared.headers.contains_key("content-type"));
    }

    #[test]
    fn bad_project_id_is_refused_by_field() {
        let err = HuaweiClient::new(
            "https://h",
            "a/b",
            Credentials::new("AK", "SK"),
            crate::cloud::http::build_http_client(&Default::default()).unwrap(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("projectId"));
    }
}
