//! The simulator's own model of both clouds: accounts, Huawei ports and
//! groups, Baidu instances and groups, plus settings and start-up faults.
//! Serializable (JSON or YAML, camelCase keys) so a state can be loaded from
//! a file and dumped on request. Deliberately separate from `crate::model`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SimError;
use super::faults::Faults;

/// Which cloud an account, path or operation belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Huawei,
    Baidu,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Huawei => "huawei",
            Provider::Baidu => "baidu",
        }
    }
}

/// An AK/SK pair allowed to call one cloud. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub provider: Provider,
    pub access_key: String,
    pub secret_key: String,
    /// Huawei: the project every resource of this account lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Baidu: the account resources are scoped to (several keys may share
    /// one). Defaults to `"default"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("provider", &self.provider)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("project_id", &self.project_id)
            .field("account_id", &self.account_id)
            .finish()
    }
}

impl Account {
    pub fn huawei(access_key: &str, secret_key: &str, project_id: &str) -> Self {
        Self {
            provider: Provider::Huawei,
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            project_id: Some(project_id.into()),
            account_id: None,
        }
    }

    pub fn baidu(access_key: &str, secret_key: &str) -> Self {
        Self {
            provider: Provider::Baidu,
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            project_id: None,
            account_id: None,
        }
    }

    /// The Baidu account scope (`"default"` when unset).
    pub fn baidu_scope(&self) -> &str {
        self.account_id.as_deref().unwrap_or(DEFAULT_BAIDU_ACCOUNT)
    }
}

/// Scope of Baidu resources with no `accountId`.
pub const DEFAULT_BAIDU_ACCOUNT: &str = "default";

fn default_baidu_account() -> String {
    DEFAULT_BAIDU_ACCOUNT.to_string()
}

/// Limits and behaviours a test may want to change. Unverified vendor facts
/// are settings so they can be adjusted without code changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SimSettings {
    /// Groups one Huawei port may hold (notes: 100 by default).
    pub huawei_port_max_groups: usize,
    /// Rules one Huawei group may hold (unverified; quota error beyond).
    pub huawei_group_max_rules: usize,
    /// Create the four default rules Huawei adds to a new group (the
    /// update-group page's example shows them: ingress from the group
    /// itself and egress to anywhere, IPv4 and IPv6).
    pub huawei_default_rules: bool,
    /// Groups one Baidu instance may hold.
    pub baidu_instance_max_groups: usize,
    /// Rules per direction in a Baidu group (50 ingress + 50 egress).
    pub baidu_max_rules_per_direction: usize,
    /// Maximum allowed difference between `X-Sdk-Date` and the clock, and
    /// between a Baidu timestamp in the future and the clock, in seconds.
    pub max_clock_skew_seconds: i64,
    /// Longest bce-auth-v1 `expirationPeriodInSeconds` accepted. The docs
    /// give the default (1800) but no maximum; one day is this simulator's
    /// choice, so a captured request cannot be replayed for ever.
    pub baidu_max_expiration_seconds: u64,
    /// Whether the plain instance list (`GET /v2/instance`) fills
    /// `nicInfo.securityGroups`. The field is documented as the union of
    /// the primary and elastic NICs' groups and listByInstanceId's sample
    /// fills it, but one sample of the plain list shows `[]`: unverified,
    /// so a test can turn it off to check a client does not rely on it.
    pub baidu_list_fills_nic_security_groups: bool,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self {
            huawei_port_max_groups: 100,
            huawei_group_max_rules: 3000,
            huawei_default_rules: true,
            baidu_instance_max_groups: 10,
            baidu_max_rules_per_direction: 50,
            max_clock_skew_seconds: 15 * 60,
            baidu_max_expiration_seconds: 24 * 60 * 60,
            baidu_list_fills_nic_security_groups: true,
        }
    }
}

/// A Huawei resource tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HwTag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// A Huawei VPC port (NIC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HwPort {
    pub id: String,
    pub project_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub device_id: String,
    #[serde(default)]
    pub device_owner: String,
    #[serde(default)]
    pub vpc_id: String,
    #[serde(default)]
    pub virsubnet_id: String,
    #[serde(default)]
    pub mac_address: String,
    #[serde(default)]
    pub ip_address: String,
    #[serde(default)]
    pub instance_id: String,
    #[serde(default)]
    pub instance_type: String,
    #[serde(default)]
    pub description: String,
    /// `ACTIVE`, `BUILD` or `DOWN`; when unset, `ACTIVE` for a port with a
    /// `device_id` and `DOWN` for an unbound one (as the documented example
    /// of an unbound port shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default = "default_true")]
    pub admin_state_up: bool,
    /// `binding:host_id` (visible to administrators only; empty here unless
    /// a state sets it).
    #[serde(default)]
    pub binding_host_id: String,
    /// Ordered: earlier groups take precedence.
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
}

impl HwPort {
    /// Bound to a device (a server NIC) or not.
    pub fn is_bound(&self) -> bool {
        !self.device_id.is_empty()
    }

    /// The port's status as served.
    pub fn status(&self) -> &str {
        match &self.status {
            Some(s) => s,
            None if self.is_bound() => "ACTIVE",
            None => "DOWN",
        }
    }
}

/// A Huawei security group rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HwRule {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub direction: String,
    /// `None` means all protocols.
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default = "default_ethertype")]
    pub ethertype: String,
    #[serde(default)]
    pub multiport: Option<String>,
    #[serde(default = "default_action")]
    pub action: String,
    #[serde(default = "default_priority")]
    pub priority: u32,
    #[serde(default)]
    pub remote_ip_prefix: Option<String>,
    #[serde(default)]
    pub remote_group_id: Option<String>,
    #[serde(default)]
    pub remote_address_group_id: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
}

fn default_ethertype() -> String {
    "IPv4".into()
}
fn default_action() -> String {
    "allow".into()
}
fn default_priority() -> u32 {
    1
}
fn default_true() -> bool {
    true
}

/// A Huawei security group with its rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HwGroup {
    pub id: String,
    pub project_id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_enterprise_project")]
    pub enterprise_project_id: String,
    #[serde(default)]
    pub tags: Vec<HwTag>,
    #[serde(default)]
    pub rules: Vec<HwRule>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
}

fn default_enterprise_project() -> String {
    "0".into()
}

/// The Huawei side of the state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HuaweiState {
    pub ports: Vec<HwPort>,
    pub security_groups: Vec<HwGroup>,
}

/// A Baidu tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BdTag {
    pub tag_key: String,
    #[serde(default)]
    pub tag_value: String,
}

/// A Baidu rule. Identity is the 6-tuple (remark, protocol, direction,
/// portRange, sourceIp|destIp, sourceGroupId|destGroupId).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BdRule {
    pub security_group_rule_id: String,
    pub remark: String,
    pub direction: String,
    pub ethertype: String,
    pub port_range: String,
    pub protocol: String,
    pub source_ip: String,
    pub source_group_id: String,
    pub dest_ip: String,
    pub dest_group_id: String,
}

/// A Baidu security group with its rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BdGroup {
    pub id: String,
    #[serde(default = "default_baidu_account")]
    pub account_id: String,
    pub name: String,
    #[serde(default)]
    pub desc: String,
    #[serde(default)]
    pub vpc_id: String,
    /// Starts at 0; +1 on every rule change (authorize, revoke, update or
    /// delete a rule). Binding instances does not change it.
    #[serde(default)]
    pub sg_version: u64,
    #[serde(default)]
    pub tags: Vec<BdTag>,
    #[serde(default)]
    pub rules: Vec<BdRule>,
    #[serde(default)]
    pub created_time: String,
}

/// A Baidu BCC instance and its groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BdInstance {
    pub id: String,
    #[serde(default = "default_baidu_account")]
    pub account_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub vpc_id: String,
    #[serde(default)]
    pub internal_ip: String,
    #[serde(default = "default_status")]
    pub status: String,
    /// The primary NIC's groups, in binding order (what
    /// `GET /v2/securityGroup?instanceId=` and the bind calls act on).
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// Elastic NICs attached to the instance, each with its own groups.
    #[serde(default)]
    pub enis: Vec<BdEni>,
    #[serde(default)]
    pub zone_name: String,
    #[serde(default)]
    pub create_time: String,
}

impl BdInstance {
    /// `nicInfo.securityGroups`: the primary NIC's groups, then each elastic
    /// NIC's groups not already listed (a union, first occurrence kept).
    pub fn nic_security_groups(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let all = self
            .security_group_ids
            .iter()
            .chain(self.enis.iter().flat_map(|e| e.security_group_ids.iter()));
        for g in all {
            if !out.contains(g) {
                out.push(g.clone());
            }
        }
        out
    }
}

/// A Baidu elastic network interface attached to an instance. Its groups are
/// bound through the ENI service, not the BCC bind calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BdEni {
    pub eni_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub security_group_ids: Vec<String>,
}

fn default_status() -> String {
    "Running".into()
}

/// The Baidu side of the state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BaiduState {
    pub instances: Vec<BdInstance>,
    pub security_groups: Vec<BdGroup>,
}

/// Everything the simulator holds. Load it from a file with
/// [`SimState::from_path`], build it in tests with the `with_*` methods,
/// dump it with `SimHandle::snapshot` or `GET /_sim/state`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SimState {
    pub accounts: Vec<Account>,
    pub settings: SimSettings,
    pub huawei: HuaweiState,
    pub baidu: BaiduState,
    /// Faults active from start (merged over `SimOptions::faults`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faults: Option<Faults>,
}

impl SimState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse JSON (when the text starts with `{`) or YAML.
    pub fn from_str_any(text: &str) -> Result<Self, SimError> {
        if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| SimError::State(format!("JSON: {e}")))
        } else {
            serde_saphyr::from_str(text).map_err(|e| SimError::State(format!("YAML: {e}")))
        }
    }

    /// Load a state file (JSON or YAML).
    pub fn from_path(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::State(format!("reading {}: {e}", path.display())))?;
        Self::from_str_any(&text).map_err(|e| match e {
            SimError::State(m) => SimError::State(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    pub fn with_account(mut self, account: Account) -> Self {
        self.accounts.push(account);
        self
    }

    pub fn with_settings(mut self, settings: SimSettings) -> Self {
        self.settings = settings;
        self
    }

    /// A Huawei port in `project_id` holding `groups` in order.
    pub fn with_huawei_port(mut self, project_id: &str, id: &str, groups: &[&str]) -> Self {
        self.huawei.ports.push(HwPort {
            id: id.into(),
            project_id: project_id.into(),
            name: String::new(),
            device_id: String::new(),
            device_owner: "compute:nova".into(),
            vpc_id: String::new(),
            virsubnet_id: String::new(),
            mac_address: String::new(),
            ip_address: String::new(),
            instance_id: String::new(),
            instance_type: String::new(),
            description: String::new(),
            status: None,
            admin_state_up: true,
            binding_host_id: String::new(),
            security_groups: groups.iter().map(|g| g.to_string()).collect(),
            created_at: String::new(),
            updated_at: String::new(),
        });
        self
    }

    /// A Huawei group with no rules.
    pub fn with_huawei_group(mut self, project_id: &str, id: &str, name: &str) -> Self {
        self.huawei.security_groups.push(HwGroup {
            id: id.into(),
            project_id: project_id.into(),
            name: name.into(),
            description: String::new(),
            enterprise_project_id: default_enterprise_project(),
            tags: Vec::new(),
            rules: Vec::new(),
            created_at: String::new(),
            updated_at: String::new(),
        });
        self
    }

    /// Add a rule to an existing Huawei group (no-op when absent).
    pub fn with_huawei_rule(mut self, group_id: &str, rule: HwRule) -> Self {
        if let Some(g) = self
            .huawei
            .security_groups
            .iter_mut()
            .find(|g| g.id == group_id)
        {
            g.rules.push(rule);
        }
        self
    }

    /// A Baidu instance (default account) holding `groups` in order.
    pub fn with_baidu_instance(mut self, id: &str, groups: &[&str]) -> Self {
        self.baidu.instances.push(BdInstance {
            id: id.into(),
            account_id: default_baidu_account(),
            name: id.into(),
            vpc_id: String::new(),
            internal_ip: String::new(),
            status: default_status(),
            security_group_ids: groups.iter().map(|g| g.to_string()).collect(),
            enis: Vec::new(),
            zone_name: String::new(),
            create_time: String::new(),
        });
        self
    }

    /// Attach an elastic NIC holding `groups` to an existing Baidu instance
    /// (no-op when absent).
    pub fn with_baidu_eni(mut self, instance_id: &str, eni_id: &str, groups: &[&str]) -> Self {
        if let Some(i) = self
            .baidu
            .instances
            .iter_mut()
            .find(|i| i.id == instance_id)
        {
            i.enis.push(BdEni {
                eni_id: eni_id.into(),
                name: String::new(),
                security_group_ids: groups.iter().map(|g| g.to_string()).collect(),
            });
        }
        self
    }

    /// A Baidu group (default account) with no rules.
    pub fn with_baidu_group(mut self, id: &str, name: &str, vpc_id: &str) -> Self {
        self.baidu.security_groups.push(BdGroup {
            id: id.into(),
            account_id: default_baidu_account(),
            name: name.into(),
            desc: String::new(),
            vpc_id: vpc_id.into(),
            sg_version: 0,
            tags: Vec::new(),
            rules: Vec::new(),
            created_time: String::new(),
        });
        self
    }

    /// Add a rule to an existing Baidu group (no-op when absent).
    pub fn with_baidu_rule(mut self, group_id: &str, rule: BdRule) -> Self {
        if let Some(g) = self
            .baidu
            .security_groups
            .iter_mut()
            .find(|g| g.id == group_id)
        {
            g.rules.push(rule);
        }
        self
    }

    /// Check references and uniqueness so a bad state file fails at start,
    /// naming what is wrong.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::State(m));
        for (i, a) in self.accounts.iter().enumerate() {
            if a.access_key.is_empty() || a.secret_key.is_empty() {
                return bad(format!(
                    "accounts[{i}]: accessKey and secretKey are required"
                ));
            }
            if a.provider == Provider::Huawei && a.project_id.as_deref().unwrap_or("").is_empty() {
                return bad(format!("accounts[{i}]: projectId is required for huawei"));
            }
            if self.accounts[..i]
                .iter()
                .any(|b| b.access_key == a.access_key)
            {
                return bad(format!(
                    "accounts[{i}]: duplicate accessKey {}",
                    a.access_key
                ));
            }
        }
        let mut ids = std::collections::HashSet::new();
        for (i, g) in self.huawei.security_groups.iter().enumerate() {
            if !ids.insert(g.id.as_str()) {
                return bad(format!("huawei.securityGroups[{i}]: duplicate id {}", g.id));
            }
        }
        for (i, p) in self.huawei.ports.iter().enumerate() {
            if !ids.insert(p.id.as_str()) {
                return bad(format!("huawei.ports[{i}]: duplicate id {}", p.id));
            }
            for g in &p.security_groups {
                if !self.huawei.security_groups.iter().any(|x| &x.id == g) {
                    return bad(format!(
                        "huawei.ports[{i}].securityGroups: unknown group {g}"
                    ));
                }
            }
        }
        for (i, g) in self.baidu.security_groups.iter().enumerate() {
            if !ids.insert(g.id.as_str()) {
                return bad(format!("baidu.securityGroups[{i}]: duplicate id {}", g.id));
            }
        }
        for (i, inst) in self.baidu.instances.iter().enumerate() {
            if !ids.insert(inst.id.as_str()) {
                return bad(format!("baidu.instances[{i}]: duplicate id {}", inst.id));
            }
            for g in &inst.security_group_ids {
                if !self.baidu.security_groups.iter().any(|x| &x.id == g) {
                    return bad(format!(
                        "baidu.instances[{i}].securityGroupIds: unknown group {g}"
                    ));
                }
            }
            for (j, eni) in inst.enis.iter().enumerate() {
                if !ids.insert(eni.eni_id.as_str()) {
                    return bad(format!(
                        "baidu.instances[{i}].enis[{j}]: duplicate id {}",
                        eni.eni_id
                    ));
                }
                for g in &eni.security_group_ids {
                    if !self.baidu.security_groups.iter().any(|x| &x.id == g) {
                        return bad(format!(
                            "baidu.instances[{i}].enis[{j}].securityGroupIds: unknown group {g}"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Give every seeded object without a time one in its cloud's format
    /// (`huawei_time` like `2023-05-10T01:35:02.000+00:00`, as the
    /// documented examples show; `baidu_time` like `2024-09-13T06:25:19Z`).
    /// An empty `updated_at` takes the object's `created_at`.
    pub fn fill_missing_times(&mut self, huawei_time: &str, baidu_time: &str) {
        fn fill(created: &mut String, updated: &mut String, now: &str) {
            if created.is_empty() {
                *created = now.to_string();
            }
            if updated.is_empty() {
                *updated = created.clone();
            }
        }
        for p in &mut self.huawei.ports {
            fill(&mut p.created_at, &mut p.updated_at, huawei_time);
        }
        for g in &mut self.huawei.security_groups {
            fill(&mut g.created_at, &mut g.updated_at, huawei_time);
            for r in &mut g.rules {
                fill(&mut r.created_at, &mut r.updated_at, huawei_time);
            }
        }
        for g in &mut self.baidu.security_groups {
            if g.created_time.is_empty() {
                g.created_time = baidu_time.to_string();
            }
        }
        for i in &mut self.baidu.instances {
            if i.create_time.is_empty() {
                i.create_time = baidu_time.to_string();
            }
        }
    }

    // ---- typed accessors used by tests and handlers

    pub fn huawei_port(&self, id: &str) -> Option<&HwPort> {
        self.huawei.ports.iter().find(|p| p.id == id)
    }

    pub fn huawei_group(&self, id: &str) -> Option<&HwGroup> {
        self.huawei.security_groups.iter().find(|g| g.id == id)
    }

    pub fn baidu_instance(&self, id: &str) -> Option<&BdInstance> {
        self.baidu.instances.iter().find(|i| i.id == id)
    }

    pub fn baidu_group(&self, id: &str) -> Option<&BdGroup> {
        self.baidu.security_groups.iter().find(|g| g.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_load_and_validate() {
        let yaml = r#"
accounts:
  - provider: huawei
    accessKey: AK
    secretKey: SK
    projectId: p1
huawei:
  securityGroups:
    - id: g1
      projectId: p1
      name: web
  ports:
    - id: port1
      projectId: p1
      securityGroups: [g1]
"#;
        let s = SimState::from_str_any(yaml).expect("yaml loads");
        s.validate().expect("valid");
        assert_eq!(
            s.huawei_port("port1").map(|p| p.security_groups.len()),
            Some(1)
        );
        let json = serde_json::to_string(&s).expect("serializes");
        assert_eq!(SimState::from_str_any(&json).expect("json loads"), s);
    }

    #[test]
    fn validate_names_the_bad_field() {
        let s = SimState::new().with_huawei_port("p", "port", &["missing"]);
        let err = s.validate().expect_err("unknown group");
        assert!(
            err.to_string().contains("huawei.ports[0].securityGroups"),
            "{err}"
        );
        let s = SimState::new().with_account(Account {
            project_id: None,
            ..Account::huawei("a", "b", "c")
        });
        assert!(
            s.validate()
                .expect_err("no project")
                .to_string()
                .contains("projectId")
        );
    }

    #[test]
    fn account_debug_redacts_secret() {
        let a = Account::baidu("AKX", "very-secret");
        let dbg = format!("{a:?}");
        assert!(dbg.contains("AKX") && !dbg.contains("very-secret"));
    }
}
