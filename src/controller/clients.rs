//! Cloud clients per `CloudAccount`: how they are built
//! ([`ProviderFactory`], [`CloudClients`] for the real clouds), and a
//! cache keyed by account UID that rebuilds a client when the account or
//! its Secret changes (their `resourceVersion`s are part of the key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::cloud::http::{HttpOptions, build_http_client};
use crate::cloud::{
    CloudError, CloudProvider, ConnectOptions, Credentials, ProviderSettings, WriteGate,
    connect_with,
};
use crate::crd::CloudAccount;
use crate::crd::resolve::account_settings;

/// Builds a cloud client for an account. `run` uses [`CloudClients`];
/// tests substitute fakes.
pub trait ProviderFactory: Send + Sync {
    fn build(
        &self,
        account: &CloudAccount,
        credentials: Credentials,
    ) -> Result<Arc<dyn CloudProvider>, String>;

    /// [`ProviderFactory::build`], with a gate the client asks before each
    /// attempt of every write (the leader fence). Fakes that model no
    /// retries may ignore it: the cycle also asks the fence before each
    /// step.
    fn build_gated(
        &self,
        account: &CloudAccount,
        credentials: Credentials,
        _gate: WriteGate,
    ) -> Result<Arc<dyn CloudProvider>, String> {
        self.build(account, credentials)
    }
}

/// What a cached client was built from. A change in any field means the
/// client is stale.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub account_uid: String,
    pub account_version: String,
    pub secret_version: String,
}

/// A client and the [`ClientKey`] it was built from.
type Built = (ClientKey, Arc<dyn CloudProvider>);

/// Clients by account UID.
#[derive(Default)]
pub struct ClientCache {
    clients: Mutex<HashMap<String, Built>>,
}

impl ClientCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached client for `key`, or a new one from `build` (which then
    /// replaces any client built from older versions).
    pub fn client<E>(
        &self,
        key: &ClientKey,
        build: impl FnOnce() -> Result<Arc<dyn CloudProvider>, E>,
    ) -> Result<Arc<dyn CloudProvider>, E> {
        {
            let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((cached_key, client)) = clients.get(&key.account_uid)
                && cached_key == key
            {
                return Ok(client.clone());
            }
        }
        // Built outside the lock: building may be slow-ish (TLS set-up).
        let client = build()?;
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.insert(key.account_uid.clone(), (key.clone(), client.clone()));
        Ok(client)
    }

    /// Drop the client of an account (deleted, or its credentials were
    /// rejected so the next attempt rebuilds).
    pub fn forget_client(&self, account_uid: &str) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.remove(account_uid);
    }
}

/// The [`ProviderFactory`] of `run`: the Huawei and Baidu clients of
/// [`crate::cloud`], sharing one HTTP client (one connection pool).
pub struct CloudClients {
    http: reqwest::Client,
}

impl CloudClients {
    pub fn new() -> Result<Self, CloudError> {
        Ok(Self {
            http: build_http_client(&HttpOptions::default())?,
        })
    }
}

impl CloudClients {
    fn connect(
        &self,
        account: &CloudAccount,
        credentials: Credentials,
        options: ConnectOptions,
    ) -> Result<Arc<dyn CloudProvider>, String> {
        let s = account_settings(account).map_err(|errors| {
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let settings = ProviderSettings {
            kind: s.provider,
            region: s.region,
            project_id: s.project_id,
            endpoint: s.endpoint,
            max_requests_per_second: s.max_requests_per_second.map(|n| n.get()),
        };
        connect_with(&settings, credentials, self.http.clone(), options).map_err(|e| e.to_string())
    }
}

impl ProviderFactory for CloudClients {
    fn build(
        &self,
        account: &CloudAccount,
        credentials: Credentials,
    ) -> Result<Arc<dyn CloudProvider>, String> {
        self.connect(account, credentials, ConnectOptions::default())
    }

    fn build_gated(
        &self,
        account: &CloudAccount,
        credentials: Credentials,
        gate: WriteGate,
    ) -> Result<Arc<dyn CloudProvider>, String> {
        let options = ConnectOptions {
            write_gate: Some(gate),
            ..ConnectOptions::default()
        };
        self.connect(account, credentials, options)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::cloud::{BatchOutcome, NewGroup};
    use crate::model::{ObservedGroup, ObservedPort, ProviderKind, Rule};

    struct Dummy;
    #[async_trait::async_trait]
    impl CloudProvider for Dummy {
        fn kind(&self) -> ProviderKind {
            ProviderKind::Huawei
        }
        async fn get_group(&self, _: &str) -> Result<Option<ObservedGroup>, CloudError> {
            Ok(None)
        }
        async fn find_groups_by_tag(
            &self,
            _: &str,
            _: &str,
        ) -> Result<Vec<ObservedGroup>, CloudError> {
            Ok(vec![])
        }
        async fn get_port(&self, _: &str) -> Result<Option<ObservedPort>, CloudError> {
            Ok(None)
        }
        async fn list_group_ports(&self, _: &str) -> Result<Vec<String>, CloudError> {
            Ok(vec![])
        }
        async fn create_group(&self, _: &NewGroup) -> Result<String, CloudError> {
            Ok(String::new())
        }
        async fn update_group(
            &self,
            _: &str,
            _: Option<&str>,
            _: Option<&str>,
        ) -> Result<(), CloudError> {
            Ok(())
        }
        async fn delete_group(&self, _: &str) -> Result<(), CloudError> {
            Ok(())
        }
        async fn create_rules(
            &self,
            _: &str,
            _: &[Rule],
            _: Option<u64>,
        ) -> Result<(), CloudError> {
            Ok(())
        }
        async fn update_rule(
            &self,
            _: &str,
            _: &str,
            _: &Rule,
            _: Option<u64>,
        ) -> Result<(), CloudError> {
            Ok(())
        }
        async fn delete_rule(
            &self,
            _: &str,
            _: &str,
            _: &Rule,
            _: Option<u64>,
        ) -> Result<(), CloudError> {
            Ok(())
        }
        async fn add_port_groups(
            &self,
            _: &str,
            _: &[String],
            _: Option<u32>,
        ) -> Result<ObservedPort, CloudError> {
            Err(CloudError::Transport("unused".into()))
        }
        async fn remove_port_groups(
            &self,
            _: &str,
            _: &[String],
        ) -> Result<ObservedPort, CloudError> {
            Err(CloudError::Transport("unused".into()))
        }
        async fn attach_ports(&self, _: &str, _: &[String]) -> Result<BatchOutcome, CloudError> {
            Ok(BatchOutcome::default())
        }
        async fn detach_ports(&self, _: &str, _: &[String]) -> Result<BatchOutcome, CloudError> {
            Ok(BatchOutcome::default())
        }
    }

    #[test]
    fn clients_are_reused_until_a_version_changes() {
        let cache = ClientCache::new();
        let builds = AtomicUsize::new(0);
        let build = || -> Result<Arc<dyn CloudProvider>, ()> {
            builds.fetch_add(1, Ordering::SeqCst);
            Ok(Arc::new(Dummy))
        };
        let key = ClientKey {
            account_uid: "u1".into(),
            account_version: "1".into(),
            secret_version: "7".into(),
        };
        let a = cache.client(&key, build).unwrap();
        let b = cache.client(&key, build).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(builds.load(Ordering::SeqCst), 1);

        let rotated = ClientKey {
            secret_version: "8".into(),
            ..key.clone()
        };
        let c = cache.client(&rotated, build).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(builds.load(Ordering::SeqCst), 2);

        cache.forget_client("u1");
        cache.client(&rotated, build).unwrap();
        assert_eq!(builds.load(Ordering::SeqCst), 3);
    }
}
