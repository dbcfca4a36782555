//! Cloud clients per `CloudAccount`: credentials read from the account's
//! Secret (same namespace only, keys `accessKey` and `secretKey`), clients
//! cached by account UID and rebuilt when the account or the Secret changes
//! (their `resourceVersion`s are part of the cache key). Each account also
//! has one async lock, so an account's resolve → observe → plan → execute
//! cycle never runs twice at once.
//!
//! Secret values never leave [`Credentials`], whose `Debug` redacts the
//! secret key; errors name the Secret and the key, never a value.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;

use crate::cloud::http::{HttpOptions, build_http_client};
use crate::cloud::{CloudError, CloudProvider, Credentials, ProviderSettings, connect};
use crate::crd::CloudAccount;
use crate::crd::resolve::account_settings;
use crate::model::ObjectKey;

use super::cycle::ProviderFactory;
use super::sharing::AccountRuns;

/// Secret key holding the access key id.
pub const ACCESS_KEY: &str = "accessKey";
/// Secret key holding the secret access key.
pub const SECRET_KEY: &str = "secretKey";

/// Why an account's credentials cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("credentials Secret {namespace}/{name} not found")]
    SecretNotFound { namespace: String, name: String },
    #[error("credentials Secret {namespace}/{name} has no key {key:?}")]
    MissingKey {
        namespace: String,
        name: String,
        key: &'static str,
    },
    #[error("credentials Secret {namespace}/{name}: key {key:?} is empty or not UTF-8")]
    BadValue {
        namespace: String,
        name: String,
        key: &'static str,
    },
    /// The cloud rejected the credentials (bad signature, unknown key).
    #[error("the cloud rejected the credentials of this account: {0}")]
    Rejected(String),
}

/// Read `accessKey` and `secretKey` from a Secret. Values are taken from
/// `data` (what the API server returns), or `stringData` when a client wrote
/// it and nothing converted it.
pub fn credentials_from_secret(secret: &Secret) -> Result<Credentials, CredentialsError> {
    let namespace = secret.metadata.namespace.clone().unwrap_or_default();
    let name = secret.metadata.name.clone().unwrap_or_default();
    let value = |key: &'static str| -> Result<String, CredentialsError> {
        let raw: Option<Vec<u8>> = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| b.0.clone())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .map(|s| s.clone().into_bytes())
            });
        let raw = raw.ok_or_else(|| CredentialsError::MissingKey {
            namespace: namespace.clone(),
            name: name.clone(),
            key,
        })?;
        match String::from_utf8(raw) {
            Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            _ => Err(CredentialsError::BadValue {
                namespace: namespace.clone(),
                name: name.clone(),
                key,
            }),
        }
    };
    Ok(Credentials::new(value(ACCESS_KEY)?, value(SECRET_KEY)?))
}

/// What a cached client was built from. A change in any field means the
/// client is stale.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub account_uid: String,
    pub account_version: String,
    pub secret_version: String,
}

#[derive(Default)]
struct Slot {
    runs: Arc<AccountRuns>,
    client: Option<(ClientKey, Arc<dyn CloudProvider>)>,
}

/// Clients and cycles per account UID.
#[derive(Default)]
pub struct AccountCache {
    slots: Mutex<HashMap<String, Slot>>,
}

impl AccountCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The cycles of one account (their lock and latest result).
    pub fn runs_for(&self, account_uid: &str) -> Arc<AccountRuns> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .entry(account_uid.to_string())
            .or_default()
            .runs
            .clone()
    }

    /// Every account's objects whose resync is due at `now`
    /// ([`AccountRuns::take_resyncs`]).
    pub fn take_resyncs(&self, now: Instant, resync: Duration) -> Vec<ObjectKey> {
        let runs: Vec<Arc<AccountRuns>> = {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.values().map(|s| s.runs.clone()).collect()
        };
        runs.iter()
            .flat_map(|r| r.take_resyncs(now, resync))
            .collect()
    }

    /// The cached client for `key`, or a new one from `build` (which then
    /// replaces any client built from older versions).
    pub fn client<E>(
        &self,
        key: &ClientKey,
        build: impl FnOnce() -> Result<Arc<dyn CloudProvider>, E>,
    ) -> Result<Arc<dyn CloudProvider>, E> {
        {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((cached_key, client)) =
                slots.get(&key.account_uid).and_then(|s| s.client.as_ref())
                && cached_key == key
            {
                return Ok(client.clone());
            }
        }
        // Built outside the lock: building may be slow-ish (TLS set-up).
        let client = build()?;
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(key.account_uid.clone()).or_default().client =
            Some((key.clone(), client.clone()));
        Ok(client)
    }

    /// Drop the client of an account (deleted, or its credentials were
    /// rejected so the next attempt rebuilds).
    pub fn forget_client(&self, account_uid: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get_mut(account_uid) {
            slot.client = None;
        }
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

impl ProviderFactory for CloudClients {
    fn build(
        &self,
        account: &CloudAccount,
        credentials: Credentials,
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
        connect(&settings, credentials, self.http.clone()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::cloud::{BatchOutcome, NewGroup};
    use crate::model::{ObservedGroup, ObservedPort, ProviderKind, Rule};

    fn secret(data: &[(&str, &[u8])]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("creds".into()),
                namespace: Some("prod".into()),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn reads_both_keys() {
        let c = credentials_from_secret(&secret(&[
            ("accessKey", b"AK123"),
            ("secretKey", b"s3cr3t\n"),
        ]))
        .unwrap();
        assert_eq!(c.access_key, "AK123");
        assert_eq!(c.secret_key(), "s3cr3t");
    }

    #[test]
    fn errors_name_the_key_and_never_the_value() {
        let err = credentials_from_secret(&secret(&[("accessKey", b"AK123")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "credentials Secret prod/creds has no key \"secretKey\""
        );
        let err = credentials_from_secret(&secret(&[
            ("accessKey", b"AK123"),
            ("secretKey", &[0xff, 0xfe]),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("\"secretKey\""));
        assert!(!format!("{err:?}").contains("AK123"));
    }

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
        let cache = AccountCache::new();
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
