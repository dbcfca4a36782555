//! An in-memory cloud behind [`CloudProvider`] (Huawei semantics: ordered
//! port groups, a port keeps at least one group, a group in use cannot be
//! deleted), counting calls so tests can see the controller go quiet.
//! It tests the controller loop without HTTP; the simulator-backed tests
//! cover the real clients.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use secgroup_controller::cloud::{
    ApiErrorDetail, BatchOutcome, CloudError, CloudProvider, Credentials, NewGroup, PortFailure,
    PortFailureKind,
};
use secgroup_controller::controller::testing::ProviderFactory;
use secgroup_controller::crd::CloudAccount;
use secgroup_controller::model::{ObservedGroup, ObservedPort, ObservedRule, ProviderKind, Rule};

#[derive(Default)]
pub struct CloudState {
    pub groups: BTreeMap<String, ObservedGroup>,
    pub ports: BTreeMap<String, Vec<String>>,
    pub calls: BTreeMap<&'static str, u64>,
    next_id: u64,
}

/// The fake cloud; clone the `Arc` to inspect or change it from a test.
#[derive(Default)]
pub struct FakeCloud {
    pub state: Mutex<CloudState>,
}

/// Every write call, by the planner's operation kind.
const WRITES: [&str; secgroup_controller::model::Operation::KINDS.len()] =
    secgroup_controller::model::Operation::KINDS;

fn err(code: &str, message: impl Into<String>) -> ApiErrorDetail {
    ApiErrorDetail {
        status: 400,
        code: code.into(),
        message: message.into(),
        request_id: None,
    }
}

impl FakeCloud {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn add_group(&self, id: &str) {
        let mut s = self.state.lock().unwrap();
        s.groups.insert(
            id.to_string(),
            ObservedGroup {
                id: id.to_string(),
                name: id.to_string(),
                description: String::new(),
                vpc_id: None,
                version: None,
                tags: BTreeMap::new(),
                rules: Vec::new(),
            },
        );
    }

    pub fn add_port(&self, id: &str, groups: &[&str]) {
        let mut s = self.state.lock().unwrap();
        s.ports.insert(
            id.to_string(),
            groups.iter().map(|g| g.to_string()).collect(),
        );
    }

    pub fn group(&self, id: &str) -> Option<ObservedGroup> {
        self.state.lock().unwrap().groups.get(id).cloned()
    }

    pub fn port(&self, id: &str) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .ports
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every write call so far.
    pub fn writes(&self) -> u64 {
        let s = self.state.lock().unwrap();
        WRITES.iter().filter_map(|w| s.calls.get(w)).sum()
    }

    pub fn calls(&self, op: &str) -> u64 {
        self.state
            .lock()
            .unwrap()
            .calls
            .get(op)
            .copied()
            .unwrap_or(0)
    }

    fn count(&self, op: &'static str) -> std::sync::MutexGuard<'_, CloudState> {
        let mut s = self.state.lock().unwrap();
        *s.calls.entry(op).or_insert(0) += 1;
        s
    }
}

fn port_of(s: &CloudState, id: &str) -> Option<ObservedPort> {
    s.ports.get(id).map(|g| ObservedPort {
        id: id.to_string(),
        groups: g.clone(),
    })
}

#[async_trait]
impl CloudProvider for FakeCloud {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Huawei
    }

    async fn get_group(&self, id: &str) -> Result<Option<ObservedGroup>, CloudError> {
        Ok(self.count("getGroup").groups.get(id).cloned())
    }

    async fn find_groups_by_tag(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<ObservedGroup>, CloudError> {
        let s = self.count("findGroupsByTag");
        Ok(s.groups
            .values()
            .filter(|g| g.tags.get(key).map(String::as_str) == Some(value))
            .cloned()
            .collect())
    }

    async fn get_port(&self, id: &str) -> Result<Option<ObservedPort>, CloudError> {
        Ok(port_of(&self.count("getPort"), id))
    }

    async fn list_group_ports(&self, group_id: &str) -> Result<Vec<String>, CloudError> {
        let s = self.count("listGroupPorts");
        Ok(s.ports
            .iter()
            .filter(|(_, g)| g.iter().any(|x| x == group_id))
            .map(|(p, _)| p.clone())
            .collect())
    }

    async fn create_group(&self, group: &NewGroup) -> Result<String, CloudError> {
        let mut s = self.count("createGroup");
        s.next_id += 1;
        let id = format!("sg-{}", s.next_id);
        s.groups.insert(
            id.clone(),
            ObservedGroup {
                id: id.clone(),
                name: group.name.clone(),
                description: group.description.clone(),
                vpc_id: group.vpc_id.clone(),
                version: None,
                tags: group.tags.iter().cloned().collect(),
                rules: Vec::new(),
            },
        );
        Ok(id)
    }

    async fn update_group(
        &self,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<(), CloudError> {
        let mut s = self.count("updateGroup");
        let g = s
            .groups
            .get_mut(id)
            .ok_or_else(|| CloudError::NotFound(err("VPC.0602", "no such group")))?;
        if let Some(n) = name {
            g.name = n.to_string();
        }
        if let Some(d) = description {
            g.description = d.to_string();
        }
        Ok(())
    }

    async fn delete_group(&self, id: &str) -> Result<(), CloudError> {
        let mut s = self.count("deleteGroup");
        if s.ports.values().any(|g| g.iter().any(|x| x == id)) {
            return Err(CloudError::Conflict(err("VPC.0606", "group in use")));
        }
        s.groups.remove(id);
        Ok(())
    }

    async fn create_rules(
        &self,
        group_id: &str,
        rules: &[Rule],
        _version: Option<u64>,
    ) -> Result<(), CloudError> {
        let mut s = self.count("createRules");
        s.next_id += rules.len() as u64;
        let base = s.next_id;
        let g = s
            .groups
            .get_mut(group_id)
            .ok_or_else(|| CloudError::NotFound(err("VPC.0602", "no such group")))?;
        for (i, r) in rules.iter().enumerate() {
            g.rules.push(ObservedRule {
                id: format!("rule-{}", base + i as u64),
                rule: r.clone(),
                enabled: true,
            });
        }
        Ok(())
    }

    async fn update_rule(
        &self,
        group_id: &str,
        rule_id: &str,
        rule: &Rule,
        _version: Option<u64>,
    ) -> Result<(), CloudError> {
        let mut s = self.count("updateRule");
        if let Some(r) = s
            .groups
            .get_mut(group_id)
            .and_then(|g| g.rules.iter_mut().find(|r| r.id == rule_id))
        {
            r.rule = rule.clone();
        }
        Ok(())
    }

    async fn delete_rule(
        &self,
        group_id: &str,
        rule_id: &str,
        _rule: &Rule,
        _version: Option<u64>,
    ) -> Result<(), CloudError> {
        let mut s = self.count("deleteRule");
        if let Some(g) = s.groups.get_mut(group_id) {
            g.rules.retain(|r| r.id != rule_id);
        }
        Ok(())
    }

    async fn add_port_groups(
        &self,
        port_id: &str,
        groups: &[String],
        index: Option<u32>,
    ) -> Result<ObservedPort, CloudError> {
        let mut s = self.count("addPortGroups");
        let port = s
            .ports
            .get_mut(port_id)
            .ok_or_else(|| CloudError::NotFound(err("VPC.0608", "no such port")))?;
        let mut at = index
            .map(|i| i as usize)
            .unwrap_or(port.len())
            .min(port.len());
        for g in groups {
            if !port.contains(g) {
                port.insert(at, g.clone());
                at += 1;
            }
        }
        Ok(port_of(&s, port_id).expect("just changed"))
    }

    async fn remove_port_groups(
        &self,
        port_id: &str,
        groups: &[String],
    ) -> Result<ObservedPort, CloudError> {
        let mut s = self.count("removePortGroups");
        let port = s
            .ports
            .get_mut(port_id)
            .ok_or_else(|| CloudError::NotFound(err("VPC.0608", "no such port")))?;
        if port.iter().all(|g| groups.contains(g)) {
            return Err(CloudError::LastGroup(err("VPC.0607", "last group")));
        }
        port.retain(|g| !groups.contains(g));
        Ok(port_of(&s, port_id).expect("just changed"))
    }

    async fn attach_ports(
        &self,
        group_id: &str,
        ports: &[String],
    ) -> Result<BatchOutcome, CloudError> {
        let mut s = self.count("attachPorts");
        let mut out = BatchOutcome::default();
        for p in ports {
            match s.ports.get_mut(p) {
                Some(groups) => {
                    if !groups.iter().any(|g| g == group_id) {
                        groups.push(group_id.to_string());
                    }
                }
                None => out.failed.push(PortFailure {
                    port: p.clone(),
                    kind: PortFailureKind::NotFound,
                    code: "VPC.0608".into(),
                    message: "no such port".into(),
                }),
            }
        }
        Ok(out)
    }

    async fn detach_ports(
        &self,
        group_id: &str,
        ports: &[String],
    ) -> Result<BatchOutcome, CloudError> {
        let mut s = self.count("detachPorts");
        let mut out = BatchOutcome::default();
        for p in ports {
            match s.ports.get_mut(p) {
                Some(groups) if groups.len() == 1 && groups[0] == group_id => {
                    out.failed.push(PortFailure {
                        port: p.clone(),
                        kind: PortFailureKind::LastGroup,
                        code: "VPC.0607".into(),
                        message: "last group".into(),
                    })
                }
                Some(groups) => groups.retain(|g| g != group_id),
                None => {}
            }
        }
        Ok(out)
    }
}

/// Hands out the same fake cloud for every account; checks the
/// credentials the controller read from the Secret.
pub struct FakeFactory {
    pub cloud: Arc<FakeCloud>,
    pub access_key: String,
}

impl ProviderFactory for FakeFactory {
    fn build(
        &self,
        _account: &CloudAccount,
        credentials: Credentials,
    ) -> Result<Arc<dyn CloudProvider>, String> {
        if credentials.access_key != self.access_key {
            return Err(format!("unknown access key {}", credentials.access_key));
        }
        Ok(self.cloud.clone())
    }
}
