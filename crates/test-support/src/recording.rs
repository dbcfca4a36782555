//! A [`ProviderFactory`] that records when each cloud write of the clients
//! it builds started and ended, tagged with who made it: which of two
//! controller replicas wrote when.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;

use secgroup_controller::cloud::{
    BatchOutcome, CloudError, CloudProvider, Credentials, NewGroup, WriteGate,
};
use secgroup_controller::controller::testing::ProviderFactory;
use secgroup_controller::crd::CloudAccount;
use secgroup_controller::model::{ObservedGroup, ObservedPort, ProviderKind, Rule};

/// One write call as the client made it.
#[derive(Clone, Debug)]
pub struct Write {
    pub tag: &'static str,
    pub operation: &'static str,
    pub started: Instant,
    pub ended: Instant,
}

/// The writes of every recording client, in the order they ended.
#[derive(Clone, Default)]
pub struct WriteLog(Arc<Mutex<Vec<Write>>>);

impl WriteLog {
    pub fn all(&self) -> Vec<Write> {
        self.0.lock().expect("not poisoned").clone()
    }

    pub fn of(&self, tag: &str) -> Vec<Write> {
        self.all().into_iter().filter(|w| w.tag == tag).collect()
    }
}

/// Builds clients with `inner` and records their writes under `tag`.
pub struct RecordingFactory {
    pub inner: Arc<dyn ProviderFactory>,
    pub tag: &'static str,
    pub log: WriteLog,
}

impl ProviderFactory for RecordingFactory {
    fn build(
        &self,
        account: &CloudAccount,
        credentials: Credentials,
    ) -> Result<Arc<dyn CloudProvider>, String> {
        let inner = self.inner.build(account, credentials)?;
        Ok(self.wrap(inner))
    }

    fn build_gated(
        &self,
        account: &CloudAccount,
        credentials: Credentials,
        gate: WriteGate,
    ) -> Result<Arc<dyn CloudProvider>, String> {
        let inner = self.inner.build_gated(account, credentials, gate)?;
        Ok(self.wrap(inner))
    }
}

impl RecordingFactory {
    fn wrap(&self, inner: Arc<dyn CloudProvider>) -> Arc<dyn CloudProvider> {
        Arc::new(Recording {
            inner,
            tag: self.tag,
            log: self.log.clone(),
        })
    }
}

struct Recording {
    inner: Arc<dyn CloudProvider>,
    tag: &'static str,
    log: WriteLog,
}

impl Recording {
    async fn write<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = T>,
    ) -> T {
        let started = Instant::now();
        let out = call.await;
        self.log.0.lock().expect("not poisoned").push(Write {
            tag: self.tag,
            operation,
            started,
            ended: Instant::now(),
        });
        out
    }
}

#[async_trait]
impl CloudProvider for Recording {
    fn kind(&self) -> ProviderKind {
        self.inner.kind()
    }
    async fn get_group(&self, id: &str) -> Result<Option<ObservedGroup>, CloudError> {
        self.inner.get_group(id).await
    }
    async fn find_groups_by_tag(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<ObservedGroup>, CloudError> {
        self.inner.find_groups_by_tag(key, value).await
    }
    async fn get_port(&self, id: &str) -> Result<Option<ObservedPort>, CloudError> {
        self.inner.get_port(id).await
    }
    async fn get_ports(
        &self,
        ids: &[String],
    ) -> Result<std::collections::BTreeMap<String, ObservedPort>, CloudError> {
        self.inner.get_ports(ids).await
    }
    async fn list_group_ports(&self, group_id: &str) -> Result<Vec<String>, CloudError> {
        self.inner.list_group_ports(group_id).await
    }
    async fn get_groups(
        &self,
        ids: &[String],
    ) -> Result<std::collections::BTreeMap<String, ObservedGroup>, CloudError> {
        self.inner.get_groups(ids).await
    }
    async fn ports_in_groups(
        &self,
        group_ids: &[String],
    ) -> Result<std::collections::BTreeMap<String, ObservedPort>, CloudError> {
        self.inner.ports_in_groups(group_ids).await
    }
    async fn create_group(&self, group: &NewGroup) -> Result<String, CloudError> {
        self.write("createGroup", self.inner.create_group(group))
            .await
    }
    async fn update_group(
        &self,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<(), CloudError> {
        self.write(
            "updateGroup",
            self.inner.update_group(id, name, description),
        )
        .await
    }
    async fn delete_group(&self, id: &str) -> Result<(), CloudError> {
        self.write("deleteGroup", self.inner.delete_group(id)).await
    }
    async fn create_rules(
        &self,
        group_id: &str,
        rules: &[Rule],
        version: Option<u64>,
    ) -> Result<(), CloudError> {
        self.write(
            "createRules",
            self.inner.create_rules(group_id, rules, version),
        )
        .await
    }
    async fn update_rule(
        &self,
        group_id: &str,
        rule_id: &str,
        rule: &Rule,
        version: Option<u64>,
    ) -> Result<(), CloudError> {
        self.write(
            "updateRule",
            self.inner.update_rule(group_id, rule_id, rule, version),
        )
        .await
    }
    async fn delete_rule(
        &self,
        group_id: &str,
        rule_id: &str,
        rule: &Rule,
        version: Option<u64>,
    ) -> Result<(), CloudError> {
        self.write(
            "deleteRule",
            self.inner.delete_rule(group_id, rule_id, rule, version),
        )
        .await
    }
    async fn add_port_groups(
        &self,
        port_id: &str,
        groups: &[String],
        index: Option<u32>,
    ) -> Result<ObservedPort, CloudError> {
        self.write(
            "addPortGroups",
            self.inner.add_port_groups(port_id, groups, index),
        )
        .await
    }
    async fn remove_port_groups(
        &self,
        port_id: &str,
        groups: &[String],
    ) -> Result<ObservedPort, CloudError> {
        self.write(
            "removePortGroups",
            self.inner.remove_port_groups(port_id, groups),
        )
        .await
    }
    async fn attach_ports(
        &self,
        group_id: &str,
        ports: &[String],
    ) -> Result<BatchOutcome, CloudError> {
        self.write("attachPorts", self.inner.attach_ports(group_id, ports))
            .await
    }
    async fn detach_ports(
        &self,
        group_id: &str,
        ports: &[String],
    ) -> Result<BatchOutcome, CloudError> {
        self.write("detachPorts", self.inner.detach_ports(group_id, ports))
            .await
    }
}
