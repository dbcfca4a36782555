//! Cloud clients: one [`CloudProvider`] trait in domain terms and one
//! implementation per cloud. Nothing above this module knows a vendor's JSON,
//! paths or signing; nothing in here knows Kubernetes.

pub mod baidu;
mod error;
pub mod http;
pub mod huawei;
mod percent;
pub mod ratelimit;
pub mod retry;
mod transport;

use std::fmt;

use async_trait::async_trait;

pub use error::{ApiErrorDetail, CloudError};

use crate::model::{ObservedGroup, ObservedPort, ProviderKind, Rule};

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

/// Tag key that marks a group as created by this controller; the value is
/// the owning object's UID. Letters, digits and `-` only, which both clouds'
/// tag-key rules accept.
pub const OWNER_TAG: &str = "secgroup-owner";

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
