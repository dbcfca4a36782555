//! The Baidu AI Cloud BCC client: groups, rules (authorize/revoke with a
//! deterministic `clientToken` and `sgVersion`), rule update/delete by id,
//! per-instance bind/unbind and the batch bind/unbind, signed with
//! bce-auth-v1 and sent through the shared transport (retried where safe,
//! rate-limited per account, writes behind the write gate).
//!
//! Bulk reads: instances by group (`GET /v2/instance?securityGroupIds=`)
//! and by id (`POST /v2/instance/listByInstanceId`), at most 100 ids a call
//! (comma-joined in the query, as the SDKs send them), with the
//! per-instance read kept for instances that have elastic NICs (see
//! `wire::InstanceWire::exact_groups`).
//!
//! Membership on Baidu is per instance: the "port" of the domain model is
//! the instance id, and an instance's groups are a set (order and `index`
//! are ignored). Groups cannot be renamed through this API
//! ([`CloudProvider::update_group`] answers `InvalidRequest`).

pub mod sign;
mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use reqwest::Method;
use reqwest::header::HeaderMap;

pub use self::wire::ORDINARY_GROUP_TYPE;
use self::wire::{
    BatchBindBody, BindBody, CreateGroupBody, CreateGroupResult, ErrorContext, GroupDetail,
    GroupList, GroupWire, InstanceIdsBody, InstanceList, InstanceWire, RuleBody, RuleWire, TagWire,
    UpdateRuleBody,
};
use super::ratelimit::AccountLimiter;
use super::retry::{Idempotency, RetryPolicy};
use super::transport::{
    Answer, ApiRequest, Dialect, Markers, RawResponse, Transport, decode, invalid, put_header,
    require_id, unique_ids,
};
use super::{
    BatchOutcome, CloudError, CloudProvider, Credentials, NewGroup, PortFailure, PortFailureKind,
    WriteGate,
};
use crate::model::{ObservedGroup, ObservedPort, ProviderKind, Rule};

/// Instances per batch bind/unbind call (no documented limit; the same
/// chunk as Huawei's batch call keeps one failure's blast radius small).
pub const MAX_BATCH_INSTANCES: usize = ProviderKind::MAX_BATCH_PORTS;
/// Items asked for per list page unless set with
/// [`BaiduClient::with_page_size`]: the most a page holds (`maxKeys`).
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
/// Most ids one instance read takes: `instanceIds` and `securityGroupIds`
/// of `GET /v2/instance`, and the body of listByInstanceId.
pub const MAX_IDS_PER_READ: usize = 100;

/// The public endpoint of a region, e.g. `https://bcc.bj.baidubce.com`.
pub fn default_endpoint(region: &str) -> String {
    format!("https://bcc.{region}.baidubce.com")
}

/// Baidu's part of the shared call path: bce-auth-v1 over `host` and
/// `x-bce-date` (and `content-type`, `content-length` with a body), and
/// `{requestId,code,message}` errors read in the call's context.
#[derive(Debug)]
struct BaiduDialect;

impl Dialect for BaiduDialect {
    const PROVIDER: &'static str = "baidu";
    const REQUEST_ID_HEADER: &'static str = "x-bce-request-id";
    type Context = ErrorContext;

    fn signed_headers(
        &self,
        host: &str,
        credentials: &Credentials,
        req: &ApiRequest,
        now: Timestamp,
    ) -> Result<HeaderMap, CloudError> {
        let date = sign::bce_date(now);
        let mut sent = vec![
            ("host".to_string(), host.to_string()),
            (sign::DATE_HEADER.to_string(), date.clone()),
        ];
        let mut listed = vec!["host", sign::DATE_HEADER];
        let length = req.body.as_ref().map(|b| b.len().to_string());
        if let Some(length) = &length {
            sent.push(("content-type".to_string(), "application/json".to_string()));
            sent.push(("content-length".to_string(), length.clone()));
            listed.extend(["content-type", "content-length"]);
        }
        let authorization = sign::sign(
            &sign::SigningRequest {
                method: req.method.as_str(),
                path: &req.path,
                query: &req.query,
                headers: &sent,
            },
            sign::HeadersToSign::Listed(&listed),
            credentials,
            now,
            sign::DEFAULT_EXPIRATION_SECS,
        );
        let mut headers = HeaderMap::new();
        put_header(&mut headers, "host", host)?;
        put_header(&mut headers, "x-bce-date", &date)?;
        if let Some(length) = &length {
            put_header(&mut headers, "content-type", "application/json")?;
            put_header(&mut headers, "content-length", length)?;
        }
        put_header(&mut headers, "authorization", &authorization)?;
        Ok(headers)
    }

    fn api_error(&self, response: &RawResponse, context: ErrorContext) -> CloudError {
        wire::api_error(response, context)
    }
}

/// A Baidu BCC client for one account (AK/SK).
#[derive(Debug)]
pub struct BaiduClient {
    transport: Transport<BaiduDialect>,
    page_size: u32,
}

impl BaiduClient {
    /// `endpoint` is `https://host[:port]`.
    pub fn new(
        endpoint: &str,
        credentials: Credentials,
        http: reqwest::Client,
    ) -> Result<Self, CloudError> {
        Ok(Self {
            transport: Transport::new(BaiduDialect, endpoint, credentials, http)?,
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

    /// Items per list page (1 to 1000).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size.clamp(1, 1000);
        self
    }

    async fn call_tracked(
        &self,
        req: &ApiRequest,
        idempotency: Idempotency,
        context: ErrorContext,
    ) -> Answer {
        self.transport.call_tracked(req, idempotency, context).await
    }

    async fn call(
        &self,
        req: &ApiRequest,
        idempotency: Idempotency,
    ) -> Result<RawResponse, CloudError> {
        self.transport.call(req, idempotency).await
    }

    /// Follow `nextMarker` while `isTruncated`, through every page of the
    /// list `base` asks for (its filters; `maxKeys` and `marker` added).
    async fn list_all<T>(
        &self,
        base: ApiRequest,
        page: impl Fn(RawResponse) -> Result<(Vec<T>, bool, Option<String>), CloudError>,
    ) -> Result<Vec<T>, CloudError> {
        let operation = base.operation;
        let mut items = Vec::new();
        let mut marker: Option<String> = None;
        let mut markers = Markers::default();
        loop {
            let mut req = base.clone().query("maxKeys", self.page_size);
            if let Some(m) = &marker {
                req = req.query("marker", m);
            }
            // Reads are always safe to repeat.
            let response = self.call(&req, Idempotency::Read).await?;
            let (batch, truncated, next) = page(response)?;
            items.extend(batch);
            match next.filter(|m| !m.is_empty()) {
                Some(next) if truncated => marker = Some(markers.advance(operation, next)?),
                None if truncated => {
                    return Err(CloudError::Decode(format!(
                        "{operation}: page is truncated but carries no nextMarker"
                    )));
                }
                _ => return Ok(items),
            }
        }
    }

    fn account(&self) -> &str {
        &self.transport.credentials().access_key
    }

    // -- groups ------------------------------------------------------------

    /// A group with its rules and `sgVersion`; `None` if it does not exist.
    ///
    /// Bulk reads of groups ([`CloudProvider::get_groups`]) keep one such
    /// call per group: the list call's items (the SDKs'
    /// `SecurityGroupModel`, like the list answer on the API page) carry
    /// rules but no `sgVersion`, which the executor sends with every rule
    /// change for the cloud's optimistic concurrency; only the detail
    /// (`GetSecurityGroupDetailResult`) gives it.
    pub async fn group_detail(&self, group_id: &str) -> Result<Option<ObservedGroup>, CloudError> {
        require_id("groupId", group_id)?;
        let req = ApiRequest::new(
            "getSecurityGroupDetail",
            Method::GET,
            format!("/v2/securityGroup/{group_id}"),
        );
        match self.call(&req, Idempotency::Read).await {
            Ok(r) => Ok(Some(
                decode::<GroupDetail>(req.operation, &r)?
                    .into_group()
                    .into_observed()?,
            )),
            Err(CloudError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_group_wires(
        &self,
        filters: &[(&str, &str)],
    ) -> Result<Vec<GroupWire>, CloudError> {
        let mut base = ApiRequest::new(
            "listSecurityGroups",
            Method::GET,
            "/v2/securityGroup".into(),
        );
        for (k, v) in filters {
            base = base.query(k, v);
        }
        self.list_all(base, |r| {
            let list: GroupList = decode("listSecurityGroups", &r)?;
            Ok((list.security_groups, list.is_truncated, list.next_marker))
        })
        .await
    }

    /// Every group of the account, all pages (with the rules list items
    /// carry; `sgVersion` only if the list gives it).
    pub async fn list_groups(&self) -> Result<Vec<ObservedGroup>, CloudError> {
        self.list_group_wires(&[])
            .await?
            .into_iter()
            .map(GroupWire::into_observed)
            .collect()
    }

    fn create_group_request(
        &self,
        group: &NewGroup,
        token: &str,
    ) -> Result<ApiRequest, CloudError> {
        let Some(vpc_id) = group.vpc_id.as_deref().filter(|v| !v.is_empty()) else {
            return Err(invalid(
                "InvalidArgument",
                "vpcId: required to create a group on Baidu",
            ));
        };
        ApiRequest::new(
            "createSecurityGroup",
            Method::POST,
            "/v2/securityGroup".into(),
        )
        .query("clientToken", token)
        .json(&CreateGroupBody {
            name: &group.name,
            desc: &group.description,
            vpc_id: Some(vpc_id),
            rules: Vec::new(),
            tags: group
                .tags
                .iter()
                .map(|(k, v)| TagWire {
                    tag_key: k.clone(),
                    tag_value: v.clone(),
                })
                .collect(),
        })
    }

    // -- rules -------------------------------------------------------------

    fn rule_change_request(
        &self,
        action: &'static str,
        group_id: &str,
        rule: &RuleWire,
        version: Option<u64>,
        nonce: &str,
    ) -> Result<ApiRequest, CloudError> {
        require_id("groupId", group_id)?;
        let token = wire::rule_change_token(self.account(), action, group_id, rule, version, nonce);
        let mut req = ApiRequest::new(action, Method::PUT, format!("/v2/securityGroup/{group_id}"))
            .query(action, "")
            .query("clientToken", token);
        if let Some(v) = version {
            req = req.query("sgVersion", v);
        }
        req.json(&RuleBody { rule })
    }

    /// A rule change, retried under its token; when the retried call is
    /// refused, the group is read back: if it is as the change intended and
    /// its version moved by exactly one, the lost first attempt did it.
    async fn change_rule(
        &self,
        action: &'static str,
        group_id: &str,
        rule: &Rule,
        version: Option<u64>,
    ) -> Result<(), CloudError> {
        let wire_rule = RuleWire::from_rule(rule)?;
        // Without a version the token cannot tell this change from an
        // earlier identical one, so it gets a nonce of its own (it stays
        // fixed across this call's retries).
        let nonce = if version.is_none() {
            uuid::Uuid::new_v4().to_string()
        } else {
            String::new()
        };
        let req = self.rule_change_request(action, group_id, &wire_rule, version, &nonce)?;
        // Idempotent by token: the cloud answers a repeated clientToken with
        // the first result without acting again.
        let change = self
            .call_tracked(&req, Idempotency::Safe, ErrorContext::Other)
            .await;
        let error = match change.result {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let ambiguous = matches!(
            error,
            CloudError::Conflict(_) | CloudError::VersionMismatch(_) | CloudError::NotFound(_)
        );
        if change.retried
            && ambiguous
            && let Ok(Some(group)) = self.group_detail(group_id).await
        {
            let present = group.rules.iter().any(|r| &r.rule == rule);
            let wanted = if action == "authorizeRule" {
                present
            } else {
                !present
            };
            let moved_once = match (version, group.version) {
                (Some(v), Some(now)) => now == v + 1,
                (None, _) => true,
                (Some(_), None) => false,
            };
            if wanted && moved_once {
                return Ok(());
            }
        }
        Err(error)
    }

    /// `PUT /v2/securityGroup/rule/update`: change a rule in place.
    pub async fn update_rule(
        &self,
        rule_id: &str,
        rule: &Rule,
        version: Option<u64>,
    ) -> Result<(), CloudError> {
        require_id("ruleId", rule_id)?;
        let wire_rule = RuleWire::from_rule(rule)?;
        let nonce = if version.is_none() {
            uuid::Uuid::new_v4().to_string()
        } else {
            String::new()
        };
        let token = wire::rule_change_token(
            self.account(),
            "updateRule",
            rule_id,
            &wire_rule,
            version,
            &nonce,
        );
        let mut req = ApiRequest::new(
            "updateSecurityGroupRule",
            Method::PUT,
            "/v2/securityGroup/rule/update".into(),
        )
        .query("clientToken", token);
        if let Some(v) = version {
            req = req.query("sgVersion", v);
        }
        let req = req.json(&UpdateRuleBody::new(rule_id, &wire_rule))?;
        // Idempotent by token, and by nature (it sets values).
        self.call(&req, Idempotency::Safe).await?;
        Ok(())
    }

    /// `DELETE /v2/securityGroup/rule/{id}`. Not found counts as done.
    pub async fn delete_rule_by_id(
        &self,
        rule_id: &str,
        version: Option<u64>,
    ) -> Result<(), CloudError> {
        require_id("ruleId", rule_id)?;
        let version_text = version.map(|v| v.to_string()).unwrap_or_default();
        let nonce = if version.is_none() {
            uuid::Uuid::new_v4().to_string()
        } else {
            String::new()
        };
        let token =
            wire::client_token(&[self.account(), "deleteRule", rule_id, &version_text, &nonce]);
        let mut req = ApiRequest::new(
            "deleteSecurityGroupRule",
            Method::DELETE,
            format!("/v2/securityGroup/rule/{rule_id}"),
        )
        .query("clientToken", token);
        if let Some(v) = version {
            req = req.query("sgVersion", v);
        }
        // Idempotent by nature and by token: a repeat finds nothing.
        match self.call(&req, Idempotency::Safe).await {
            Ok(_) | Err(CloudError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    // -- instances ---------------------------------------------------------

    /// The groups of an instance (`GET /v2/securityGroup?instanceId=`, all
    /// pages); `None` if the instance does not exist.
    pub async fn instance_groups(
        &self,
        instance_id: &str,
    ) -> Result<Option<ObservedPort>, CloudError> {
        require_id("instanceId", instance_id)?;
        match self.list_group_wires(&[("instanceId", instance_id)]).await {
            Ok(groups) => Ok(Some(ObservedPort {
                id: instance_id.to_string(),
                groups: groups.into_iter().map(|g| g.id).collect(),
            })),
            Err(CloudError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Ids of the instances holding a group (see
    /// [`CloudProvider::ports_in_groups`]).
    pub async fn group_instances(&self, group_id: &str) -> Result<Vec<String>, CloudError> {
        require_id("groupId", group_id)?;
        Ok(self
            .ports_in_groups(&[group_id.to_string()])
            .await?
            .into_keys()
            .collect())
    }

    /// Every instance the instance list answers for `base`, all pages.
    async fn instance_pages(&self, base: ApiRequest) -> Result<Vec<InstanceWire>, CloudError> {
        let operation = base.operation;
        self.list_all(base, |r| {
            let list: InstanceList = decode(operation, &r)?;
            Ok((list.instances, list.is_truncated, list.next_marker))
        })
        .await
    }

    /// The listed instance's groups: as listed when that is exact
    /// ([`InstanceWire::exact_groups`]), else read with the per-instance
    /// call; `None` if it is gone by then.
    async fn membership(
        &self,
        instance: InstanceWire,
        wanted: &[String],
    ) -> Result<Option<ObservedPort>, CloudError> {
        match instance.exact_groups(wanted) {
            Some(groups) => Ok(Some(ObservedPort {
                id: instance.id,
                groups,
            })),
            None => self.instance_groups(&instance.id).await,
        }
    }

    fn bind_request(
        &self,
        action: &'static str,
        instance_id: &str,
        group_id: &str,
    ) -> Result<ApiRequest, CloudError> {
        require_id("instanceId", instance_id)?;
        require_id("groupId", group_id)?;
        ApiRequest::new(
            if action == "bind" {
                "bindSecurityGroup"
            } else {
                "unbindSecurityGroup"
            },
            Method::PUT,
            format!("/v2/instance/{instance_id}"),
        )
        .query(action, "")
        .json(&BindBody {
            security_group_id: group_id,
        })
    }

    /// Bind (`bind`) or unbind (`unbind`) one group on one instance. When
    /// the call is refused, the instance is read back: if it already is as
    /// asked (a lost earlier attempt, or nothing to do), that is success.
    /// Bind or unbind several groups on one instance in one call: the
    /// single-instance call for one group, the batch call (one instance,
    /// all the groups) for more, so one instance leaving three groups is
    /// one call, as on Huawei.
    async fn change_instance_groups(
        &self,
        action: &'static str,
        instance_id: &str,
        groups: &[String],
    ) -> Result<(), CloudError> {
        if let [group] = groups {
            return self.bind_one(action, instance_id, group).await;
        }
        let outcome = self
            .batch_bind(action, &[instance_id.to_string()], groups)
            .await?;
        match outcome.failed.into_iter().next() {
            None => Ok(()),
            Some(f) => {
                let detail = crate::cloud::ApiErrorDetail {
                    status: 200,
                    code: f.code,
                    message: f.message,
                    request_id: None,
                };
                Err(match f.kind {
                    PortFailureKind::NotFound => CloudError::NotFound(detail),
                    PortFailureKind::LastGroup => CloudError::LastGroup(detail),
                    PortFailureKind::Other => CloudError::InvalidRequest(detail),
                })
            }
        }
    }

    async fn bind_one(
        &self,
        action: &'static str,
        instance_id: &str,
        group_id: &str,
    ) -> Result<(), CloudError> {
        let req = self.bind_request(action, instance_id, group_id)?;
        let context = if action == "unbind" {
            ErrorContext::Unbind
        } else {
            ErrorContext::Other
        };
        // Idempotent in effect: binding a bound group or unbinding an
        // unbound one changes nothing; refusals of such repeats are settled
        // by reading the instance.
        let change = self.call_tracked(&req, Idempotency::Safe, context).await;
        let error = match change.result {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if matches!(
            error,
            CloudError::Conflict(_) | CloudError::NotFound(_) | CloudError::InvalidRequest(_)
        ) {
            match self.instance_groups(instance_id).await {
                Ok(Some(p)) if p.groups.iter().any(|g| g == group_id) == (action == "bind") => {
                    return Ok(());
                }
                Ok(None) => return Err(not_found_instance(instance_id, error)),
                _ => {}
            }
        }
        Err(error)
    }

    /// `PUT /v2/instance/{id}?bind`: add one group to one instance (done
    /// already counts as done).
    pub async fn bind_instance(&self, instance_id: &str, group_id: &str) -> Result<(), CloudError> {
        self.bind_one("bind", instance_id, group_id).await
    }

    /// `PUT /v2/instance/{id}?unbind`: remove one group from one instance
    /// (`LastGroup` if it is the instance's only one).
    pub async fn unbind_instance(
        &self,
        instance_id: &str,
        group_id: &str,
    ) -> Result<(), CloudError> {
        self.bind_one("unbind", instance_id, group_id).await
    }

    /// `PUT /v2/securitygroup/bind`: add `groups` to every instance.
    pub async fn batch_bind_groups(
        &self,
        instances: &[String],
        groups: &[String],
    ) -> Result<BatchOutcome, CloudError> {
        self.batch_bind("bind", instances, groups).await
    }

    /// `PUT /v2/securitygroup/unbind`: remove `groups` from every instance.
    pub async fn batch_unbind_groups(
        &self,
        instances: &[String],
        groups: &[String],
    ) -> Result<BatchOutcome, CloudError> {
        self.batch_bind("unbind", instances, groups).await
    }

    /// `PUT /v2/securitygroup/bind|unbind` for one chunk; a per-call token
    /// makes the retry of a lost answer a no-op.
    fn batch_request(
        &self,
        action: &'static str,
        instances: &[String],
        groups: &[String],
        token: &str,
    ) -> Result<ApiRequest, CloudError> {
        for i in instances {
            require_id("instanceIds[]", i)?;
        }
        for g in groups {
            require_id("securityGroupIds[]", g)?;
        }
        ApiRequest::new(
            if action == "bind" {
                "batchBindSecurityGroups"
            } else {
                "batchUnbindSecurityGroups"
            },
            Method::PUT,
            format!("/v2/securitygroup/{action}"),
        )
        .query("clientToken", token)
        .json(&BatchBindBody {
            instance_ids: instances,
            security_group_ids: groups,
            security_group_type: ORDINARY_GROUP_TYPE,
        })
    }

    /// Batch bind/unbind `groups` on `instances` (chunks of 20). The batch
    /// call answers for the whole chunk; when it refuses a chunk for a
    /// reason that may concern single instances (not found, limits, last
    /// group, invalid), each instance is done alone so the outcome says
    /// which ones failed.
    async fn batch_bind(
        &self,
        action: &'static str,
        instances: &[String],
        groups: &[String],
    ) -> Result<BatchOutcome, CloudError> {
        if groups.is_empty() {
            return Err(invalid(
                "InvalidArgument",
                "securityGroupIds: must not be empty",
            ));
        }
        let mut outcome = BatchOutcome::default();
        for chunk in instances.chunks(MAX_BATCH_INSTANCES) {
            // The token is per call, not derived from the change: binding,
            // unbinding and binding the same pair again are separate changes
            // that a derived token would collapse into the first.
            let token =
                wire::client_token(&[self.account(), action, &uuid::Uuid::new_v4().to_string()]);
            let req = self.batch_request(action, chunk, groups, &token)?;
            let context = if action == "unbind" {
                ErrorContext::Unbind
            } else {
                ErrorContext::Other
            };
            // Idempotent by token.
            match self
                .call_tracked(&req, Idempotency::Safe, context)
                .await
                .result
            {
                Ok(_) => {}
                Err(
                    CloudError::NotFound(_)
                    | CloudError::QuotaExceeded(_)
                    | CloudError::LastGroup(_)
                    | CloudError::InvalidRequest(_)
                    | CloudError::Conflict(_),
                ) => {
                    for instance in chunk {
                        for group in groups {
                            if let Err(e) = self.bind_one(action, instance, group).await {
                                if let Some(f) = port_failure(instance, &e) {
                                    outcome.failed.push(f);
                                } else {
                                    return Err(e);
                                }
                            }
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(outcome)
    }
}

fn not_found_instance(instance_id: &str, error: CloudError) -> CloudError {
    let mut detail = error.detail().cloned().unwrap_or_default();
    detail.message = format!("instance {instance_id} does not exist: {}", detail.message);
    CloudError::NotFound(detail)
}

/// A per-instance failure for the batch outcome, or `None` when the error
/// is about the call as a whole (transport, throttling, auth) and must stop it.
fn port_failure(instance: &str, error: &CloudError) -> Option<PortFailure> {
    let kind = match error {
        CloudError::NotFound(_) => PortFailureKind::NotFound,
        CloudError::LastGroup(_) => PortFailureKind::LastGroup,
        CloudError::QuotaExceeded(_) | CloudError::InvalidRequest(_) | CloudError::Conflict(_) => {
            PortFailureKind::Other
        }
        _ => return None,
    };
    let detail = error.detail().cloned().unwrap_or_default();
    Some(PortFailure {
        port: instance.to_string(),
        kind,
        code: detail.code,
        message: detail.message,
    })
}

#[async_trait]
impl CloudProvider for BaiduClient {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Baidu
    }

    async fn get_group(&self, id: &str) -> Result<Option<ObservedGroup>, CloudError> {
        self.group_detail(id).await
    }

    async fn find_groups_by_tag(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<ObservedGroup>, CloudError> {
        let mut found = Vec::new();
        for g in self.list_group_wires(&[]).await? {
            if g.tag_map().get(key).map(String::as_str) == Some(value) {
                // The detail carries `sgVersion`, which rule changes need.
                if let Some(group) = self.group_detail(&g.id).await? {
                    found.push(group);
                }
            }
        }
        Ok(found)
    }

    async fn get_port(&self, id: &str) -> Result<Option<ObservedPort>, CloudError> {
        self.instance_groups(id).await
    }

    /// `POST /v2/instance/listByInstanceId`, [`MAX_IDS_PER_READ`] ids a
    /// call, every page; instances with elastic NICs read exactly.
    async fn get_ports(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, ObservedPort>, CloudError> {
        let ids = unique_ids("instanceId", ids)?;
        let mut found = BTreeMap::new();
        for chunk in ids.chunks(MAX_IDS_PER_READ) {
            let base = ApiRequest::new(
                "listInstancesByIds",
                Method::POST,
                "/v2/instance/listByInstanceId".into(),
            )
            .read_only()
            .json(&InstanceIdsBody {
                instance_ids: chunk,
            })?;
            for instance in self.instance_pages(base).await? {
                if chunk.binary_search(&instance.id).is_err() {
                    continue;
                }
                if let Some(port) = self.membership(instance, &[]).await? {
                    found.insert(port.id.clone(), port);
                }
            }
        }
        Ok(found)
    }

    /// `GET /v2/instance?securityGroupIds=` ([`MAX_IDS_PER_READ`] groups a
    /// call, comma-joined), every page. The list matches the union over an
    /// instance's NICs, so an instance with elastic NICs is read exactly,
    /// and left out when only an elastic NIC holds the groups: membership
    /// is the primary NIC's, which the bind calls change.
    async fn ports_in_groups(
        &self,
        group_ids: &[String],
    ) -> Result<BTreeMap<String, ObservedPort>, CloudError> {
        let ids = unique_ids("securityGroupIds[]", group_ids)?;
        // Each instance once, even when it shows up under several chunks.
        let mut read: BTreeMap<String, Option<ObservedPort>> = BTreeMap::new();
        for chunk in ids.chunks(MAX_IDS_PER_READ) {
            let base = ApiRequest::new("listInstances", Method::GET, "/v2/instance".into())
                .query("securityGroupIds", chunk.join(","));
            for instance in self.instance_pages(base).await? {
                if !read.contains_key(&instance.id) {
                    let id = instance.id.clone();
                    let port = self.membership(instance, chunk).await?;
                    read.insert(id, port);
                }
            }
        }
        Ok(read
            .into_values()
            .flatten()
            .filter(|p| p.groups.iter().any(|g| ids.binary_search(g).is_ok()))
            .map(|p| (p.id.clone(), p))
            .collect())
    }

    async fn list_group_ports(&self, group_id: &str) -> Result<Vec<String>, CloudError> {
        self.group_instances(group_id).await
    }

    async fn create_group(&self, group: &NewGroup) -> Result<String, CloudError> {
        // The token is fixed for this call's retries but not derived from
        // the group: a group deleted and created again for the same owner
        // must get a new id, not the first create's answer. A create whose
        // answer is lost for good is found again by its owner tag.
        let token = wire::client_token(&[
            self.account(),
            "createSecurityGroup",
            &uuid::Uuid::new_v4().to_string(),
        ]);
        let req = self.create_group_request(group, &token)?;
        // Idempotent by token.
        let response = self.call(&req, Idempotency::Safe).await?;
        Ok(decode::<CreateGroupResult>(req.operation, &response)?.security_group_id)
    }

    async fn update_group(
        &self,
        id: &str,
        _name: Option<&str>,
        _description: Option<&str>,
    ) -> Result<(), CloudError> {
        Err(invalid(
            "Unsupported",
            format!(
                "group {id}: Baidu BCC has no call to rename a security group or change its description"
            ),
        ))
    }

    async fn delete_group(&self, id: &str) -> Result<(), CloudError> {
        require_id("groupId", id)?;
        let req = ApiRequest::new(
            "deleteSecurityGroup",
            Method::DELETE,
            format!("/v2/securityGroup/{id}"),
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
        version: Option<u64>,
    ) -> Result<(), CloudError> {
        for (i, rule) in rules.iter().enumerate() {
            // Each authorize moves the version by one.
            let expected = version.map(|v| v + i as u64);
            self.change_rule("authorizeRule", group_id, rule, expected)
                .await?;
        }
        Ok(())
    }

    async fn update_rule(
        &self,
        _group_id: &str,
        rule_id: &str,
        rule: &Rule,
        version: Option<u64>,
    ) -> Result<(), CloudError> {
        BaiduClient::update_rule(self, rule_id, rule, version).await
    }

    async fn delete_rule(
        &self,
        group_id: &str,
        rule_id: &str,
        rule: &Rule,
        version: Option<u64>,
    ) -> Result<(), CloudError> {
        match self
            .change_rule("revokeRule", group_id, rule, version)
            .await
        {
            Ok(()) => Ok(()),
            // No rule matched the 6-tuple as we spell it; the cloud may
            // spell an equal rule differently (e.g. `1-65535` for all
            // ports), so delete it by its id.
            Err(CloudError::NotFound(_)) if !rule_id.is_empty() => {
                self.delete_rule_by_id(rule_id, version).await
            }
            Err(CloudError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn add_port_groups(
        &self,
        port_id: &str,
        groups: &[String],
        _index: Option<u32>,
    ) -> Result<ObservedPort, CloudError> {
        self.change_instance_groups("bind", port_id, groups).await?;
        self.instance_groups(port_id)
            .await?
            .ok_or_else(|| not_found_instance(port_id, CloudError::NotFound(Default::default())))
    }

    async fn remove_port_groups(
        &self,
        port_id: &str,
        groups: &[String],
    ) -> Result<ObservedPort, CloudError> {
        self.change_instance_groups("unbind", port_id, groups)
            .await?;
        self.instance_groups(port_id)
            .await?
            .ok_or_else(|| not_found_instance(port_id, CloudError::NotFound(Default::default())))
    }

    async fn attach_ports(
        &self,
        group_id: &str,
        ports: &[String],
    ) -> Result<BatchOutcome, CloudError> {
        require_id("groupId", group_id)?;
        self.batch_bind("bind", ports, &[group_id.to_string()])
            .await
    }

    async fn detach_ports(
        &self,
        group_id: &str,
        ports: &[String],
    ) -> Result<BatchOutcome, CloudError> {
        require_id("groupId", group_id)?;
        self.batch_bind("unbind", ports, &[group_id.to_string()])
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::normalize::{RawRule, normalize_rule};

    fn client() -> BaiduClient {
        BaiduClient::new(
            "http://127.0.0.1:9",
            Credentials::new("ak", "sk"),
            crate::cloud::http::build_http_client(&Default::default()).unwrap(),
        )
        .unwrap()
    }

    fn body(req: &ApiRequest) -> serde_json::Value {
        serde_json::from_slice(req.body.as_deref().unwrap()).unwrap()
    }

    fn web_rule() -> Rule {
        normalize_rule(
            &RawRule {
                direction: "ingress",
                protocol: Some("tcp"),
                ports: Some("443"),
                remote_ip_prefix: Some("10.0.0.0/8"),
                description: Some("web"),
                ..Default::default()
            },
            ProviderKind::Baidu,
        )
        .unwrap()
    }

    fn q(req: &ApiRequest, key: &str) -> Option<String> {
        req.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    #[test]
    fn rule_change_carries_flag_token_and_version() {
        let c = client();
        let wire_rule = RuleWire::from_rule(&web_rule()).unwrap();
        let req = c
            .rule_change_request("revokeRule", "g-1", &wire_rule, Some(5), "")
            .unwrap();
        assert_eq!(req.path, "/v2/securityGroup/g-1");
        assert_eq!(q(&req, "revokeRule").as_deref(), Some(""));
        assert_eq!(q(&req, "sgVersion").as_deref(), Some("5"));
        let token = q(&req, "clientToken").unwrap();
        assert!(token.len() <= 64 && token.is_ascii());
        let again = c
            .rule_change_request("revokeRule", "g-1", &wire_rule, Some(5), "")
            .unwrap();
        assert_eq!(
            q(&again, "clientToken").unwrap(),
            token,
            "same change, same token"
        );
        assert_eq!(
            body(&req),
            serde_json::json!({"rule":{"remark":"web","direction":"ingress","ethertype":"IPv4",
                "portRange":"443","protocol":"tcp","sourceIp":"10.0.0.0/8"}})
        );
        let unversioned = c
            .rule_change_request("authorizeRule", "g-1", &wire_rule, None, "n")
            .unwrap();
        assert_eq!(q(&unversioned, "sgVersion"), None);
    }

    #[test]
    fn create_group_needs_a_vpc_and_carries_tags_and_token() {
        let c = client();
        let mut g = NewGroup {
            name: "web".into(),
            description: "d".into(),
            vpc_id: None,
            tags: vec![(crate::model::OWNER_TAG.into(), "uid-1".into())],
        };
        let err = c.create_group_request(&g, "t").unwrap_err();
        assert!(err.to_string().contains("vpcId"));
        g.vpc_id = Some("vpc-1".into());
        let req = c.create_group_request(&g, "t").unwrap();
        assert_eq!(q(&req, "clientToken").as_deref(), Some("t"));
        assert_eq!(
            body(&req),
            serde_json::json!({"name":"web","desc":"d","vpcId":"vpc-1","rules":[],
                "tags":[{"tagKey":"secgroup-owner","tagValue":"uid-1"}]})
        );
    }

    #[test]
    fn bind_paths_and_bodies() {
        let c = client();
        let req = c.bind_request("unbind", "i-1", "g-1").unwrap();
        assert_eq!(req.path, "/v2/instance/i-1");
        assert_eq!(q(&req, "unbind").as_deref(), Some(""));
        assert_eq!(body(&req), serde_json::json!({"securityGroupId":"g-1"}));
        let req = c
            .batch_request(
                "bind",
                &["i-1".into(), "i-2".into()],
                &["g-1".into()],
                "tok",
            )
            .unwrap();
        assert_eq!(req.path, "/v2/securitygroup/bind");
        assert_eq!(
            body(&req),
            serde_json::json!({"instanceIds":["i-1","i-2"],"securityGroupIds":["g-1"],
                "securityGroupType":"normal"})
        );
    }

    #[test]
    fn signed_headers_cover_host_date_and_body_headers() {
        let c = client();
        let req = c.bind_request("bind", "i-1", "g-1").unwrap();
        let prepared = c
            .transport
            .prepare(&req, "2025-01-02T03:04:05Z".parse().unwrap())
            .unwrap();
        let auth = prepared.headers["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with(
                "bce-auth-v1/ak/2025-01-02T03:04:05Z/1800/content-length;content-type;host;x-bce-date/"
            ),
            "{auth}"
        );
        assert_eq!(
            prepared.headers["content-length"],
            req.body.as_ref().unwrap().len().to_string().as_str()
        );
        assert_eq!(prepared.url, "http://127.0.0.1:9/v2/instance/i-1?bind=");
        let get = ApiRequest::new("x", Method::GET, "/v2/securityGroup".into());
        let prepared = c
            .transport
            .prepare(&get, "2025-01-02T03:04:05Z".parse().unwrap())
            .unwrap();
        assert!(
            prepared.headers["authorization"]
                .to_str()
                .unwrap()
                .contains("/1800/host;x-bce-date/")
        );
    }

    #[test]
    fn per_instance_failures_only_for_instance_errors() {
        let nf = CloudError::NotFound(Default::default());
        assert_eq!(
            port_failure("i-1", &nf).unwrap().kind,
            PortFailureKind::NotFound
        );
        let last = CloudError::LastGroup(Default::default());
        assert_eq!(
            port_failure("i-1", &last).unwrap().kind,
            PortFailureKind::LastGroup
        );
        assert!(port_failure("i-1", &CloudError::Transport("x".into())).is_none());
        assert!(port_failure("i-1", &CloudError::Unauthorized(Default::default())).is_none());
    }
}
