//! What every reconcile shares: the Kubernetes client, the reflector
//! stores, cloud clients, metrics, Events, the leader fence, and each
//! account's memory between cycles.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::reflector::{ObjectRef, Store};

use k8s_openapi::api::core::v1::Node;

use crate::crd::{
    CloudAccount, NodeSecurityGroups, PortSecurityGroups, SecurityGroup, SecurityGroupMembership,
    SecurityGroupRules,
};
use crate::model::ObjectKey;
use crate::plan::PlanOptions;

use super::clients::{ClientCache, ProviderFactory};
use super::cycle::{Deps, Memory, Snapshot, Timing};
use super::events::EventRecorder;
use super::leader::Fence;
use super::metrics::Metrics;
use super::objects::Managed;

/// The reflector stores of the six kinds, and of Nodes.
#[derive(Clone)]
pub struct Stores {
    pub accounts: Store<CloudAccount>,
    pub groups: Store<SecurityGroup>,
    pub ports: Store<PortSecurityGroups>,
    pub memberships: Store<SecurityGroupMembership>,
    pub node_groups: Store<NodeSecurityGroups>,
    pub rule_sets: Store<SecurityGroupRules>,
    /// Cluster-scoped, each Node cut to what node selectors read
    /// (`super::nodes`).
    pub nodes: Store<Node>,
}

impl Stores {
    /// `account` and the objects of its namespace as the stores hold them.
    pub fn snapshot(&self, account: Arc<CloudAccount>) -> Snapshot {
        Snapshot::of(
            account,
            self.groups.state(),
            self.ports.state(),
            self.memberships.state(),
        )
        .with_rule_sets(self.rule_sets.state())
        .with_nodes(self.node_groups.state(), || self.nodes.state())
    }

    /// The account named `name` in `namespace`, if the store has it.
    pub fn account(&self, namespace: &str, name: &str) -> Option<Arc<CloudAccount>> {
        self.accounts.get(&ObjectRef::new(name).within(namespace))
    }
}

/// What the controller remembers of one account between its cycles.
#[derive(Debug)]
pub struct AccountState {
    pub memory: Memory,
    /// What was last written for each object: a hash of its status and
    /// its Ready reason. A status equal to what was written is not written
    /// again while the store has not caught up with the write; an Event
    /// for a transition is not repeated.
    pub reported: HashMap<ObjectKey, Reported>,
}

/// See [`AccountState::reported`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reported {
    pub status: u64,
    pub ready_reason: &'static str,
}

/// Everything a reconcile needs, shared by all controllers.
pub struct Context {
    pub client: kube::Client,
    pub metrics: Metrics,
    pub recorder: EventRecorder,
    pub clients: ClientCache,
    pub providers: Arc<dyn ProviderFactory>,
    pub plan_options: PlanOptions,
    pub timing: Timing,
    pub coalesce_window: Duration,
    pub stores: Stores,
    pub fence: Fence,
    accounts: Mutex<HashMap<String, Arc<tokio::sync::Mutex<AccountState>>>>,
}

/// How [`Context`] is built (all but the per-account state).
pub struct Settings {
    pub plan_options: PlanOptions,
    pub timing: Timing,
    pub coalesce_window: Duration,
}

impl Context {
    pub fn new(
        client: kube::Client,
        recorder: EventRecorder,
        providers: Arc<dyn ProviderFactory>,
        stores: Stores,
        metrics: Metrics,
        fence: Fence,
        settings: Settings,
    ) -> Self {
        Self {
            client,
            metrics,
            recorder,
            clients: ClientCache::new(),
            providers,
            plan_options: settings.plan_options,
            timing: settings.timing,
            coalesce_window: settings.coalesce_window,
            stores,
            fence,
            accounts: Mutex::default(),
        }
    }

    /// The state of the account with `uid` (created empty the first time).
    /// Reconciles of one account never run at once (kube-runtime runs one
    /// per object key), so its lock is never contended in practice.
    pub fn account_state(&self, uid: &str) -> Arc<tokio::sync::Mutex<AccountState>> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts
            .entry(uid.to_string())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(AccountState {
                    memory: Memory::new(rand::random::<f64>()),
                    reported: HashMap::new(),
                }))
            })
            .clone()
    }

    /// Forget an account that is gone.
    pub fn forget_account(&self, uid: &str) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts.remove(uid);
        self.clients.forget_client(uid);
    }

    pub fn cycle_deps(&self) -> Deps<'_> {
        Deps {
            client: &self.client,
            clients: &self.clients,
            providers: self.providers.as_ref(),
            metrics: &self.metrics,
            plan_options: &self.plan_options,
            timing: self.timing,
            fence: &self.fence,
        }
    }

    /// The `CloudAccount` an object acts in, if it exists (a membership
    /// naming a missing group has none yet).
    pub fn account_of<K: Managed>(&self, obj: &K) -> Result<Arc<CloudAccount>, Missing> {
        let namespace = obj.meta().namespace.clone().unwrap_or_default();
        let name = obj
            .account_name(&self.stores.groups)
            .ok_or(Missing::Group)?;
        self.stores
            .account(&namespace, &name)
            .ok_or(Missing::Account { namespace, name })
    }
}

/// Why an object has no account to act in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    /// It names a `SecurityGroup` that does not exist.
    Group,
    /// Its `CloudAccount` does not exist.
    Account { namespace: String, name: String },
}
