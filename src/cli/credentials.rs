//! Where an account's keys come from: a `v1` Secret given with `-f`
//! (`accessKey` and `secretKey`, in `data` as base64 or in `stringData`),
//! else the environment variables of the provider's SDKs.
//!
//! Key material never appears in an error, a `Debug` line or the output:
//! errors name the Secret and the field, never a value.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde_json::Value;

use super::manifest::{Document, ManifestError};
use crate::cloud::Credentials;
use crate::model::ProviderKind;

/// The keys a Secret must hold.
pub const ACCESS_KEY: &str = "accessKey";
pub const SECRET_KEY: &str = "secretKey";

/// Environment variables read for each provider: (access key, secret key).
/// Huawei: the names its SDK samples use; Baidu: the BCE SDK's.
pub fn env_names(provider: ProviderKind) -> (&'static str, &'static str) {
    match provider {
        ProviderKind::Huawei => ("CLOUD_SDK_AK", "CLOUD_SDK_SK"),
        ProviderKind::Baidu => ("BCE_ACCESS_KEY_ID", "BCE_SECRET_ACCESS_KEY"),
    }
}

/// Where a set of credentials was found, for the output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// `Secret namespace/name`.
    Secret(String),
    /// The two variable names.
    Environment(&'static str, &'static str),
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Secret(s) => write!(f, "Secret {s}"),
            CredentialSource::Environment(ak, sk) => write!(f, "environment {ak}/{sk}"),
        }
    }
}

/// The `accessKey`/`secretKey` of every Secret among the manifests, keyed
/// by `(namespace, name)`. A Secret without them is kept as an error that is
/// reported only if an account uses it.
#[derive(Default)]
pub struct SecretStore {
    secrets: BTreeMap<(String, String), Result<Credentials, ManifestError>>,
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.secrets.keys().map(|(ns, n)| format!("{ns}/{n}")))
            .finish()
    }
}

impl SecretStore {
    /// Read every `Secret` document.
    pub fn from_documents<'a>(docs: impl IntoIterator<Item = &'a Document>) -> Self {
        let mut store = Self::default();
        for doc in docs.into_iter().filter(|d| d.kind == "Secret") {
            store.secrets.insert(
                (doc.namespace.clone(), doc.name.clone()),
                secret_credentials(doc),
            );
        }
        store
    }

    /// The credentials in Secret `namespace/name`: `None` when no such
    /// Secret was given, `Some(Err)` when it lacks a key.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Result<Credentials, ManifestError>> {
        self.secrets
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }
}

/// Read `accessKey` and `secretKey` from one Secret document.
fn secret_credentials(doc: &Document) -> Result<Credentials, ManifestError> {
    let body = doc.body();
    let read = |key: &str| -> Result<Option<String>, ManifestError> {
        // `stringData` wins over `data`, as the API server merges them.
        if let Some(v) = body.get("stringData").and_then(|d| d.get(key)) {
            let field = format!("stringData.{key}");
            return match v {
                Value::String(s) => Ok(Some(s.trim().to_string())),
                _ => Err(doc.error(field, "must be a string")),
            };
        }
        if let Some(v) = body.get("data").and_then(|d| d.get(key)) {
            let field = format!("data.{key}");
            let Value::String(s) = v else {
                return Err(doc.error(field, "must be a base64 string"));
            };
            // Deliberately no detail from the decoder: it could echo key bytes.
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|_| doc.error(field.clone(), "is not valid base64"))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| doc.error(field, "does not decode to UTF-8 text"))?;
            return Ok(Some(text.trim().to_string()));
        }
        Ok(None)
    };
    let ak = read(ACCESS_KEY)?;
    let sk = read(SECRET_KEY)?;
    match (ak, sk) {
        (Some(ak), Some(sk)) if !ak.is_empty() && !sk.is_empty() => Ok(Credentials::new(ak, sk)),
        (Some(ak), _) if !ak.is_empty() => Err(doc.error(
            format!("data.{SECRET_KEY}"),
            "required key is missing or empty (in data or stringData)",
        )),
        _ => Err(doc.error(
            format!("data.{ACCESS_KEY}"),
            "required key is missing or empty (in data or stringData)",
        )),
    }
}

/// Credentials from the environment for `provider`; `env` looks a variable up.
/// `Ok(None)` when neither variable is set.
pub fn from_env(
    provider: ProviderKind,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Credentials>, String> {
    let (ak_name, sk_name) = env_names(provider);
    let get = |n: &str| {
        env(n)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    match (get(ak_name), get(sk_name)) {
        (Some(ak), Some(sk)) => Ok(Some(Credentials::new(ak, sk))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(format!("{ak_name} is set but {sk_name} is not")),
        (None, Some(_)) => Err(format!("{sk_name} is set but {ak_name} is not")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::manifest::parse_file;
    use std::path::Path;

    fn store(yaml: &str) -> SecretStore {
        let mut docs = Vec::new();
        let mut errors = Vec::new();
        parse_file(Path::new("s.yaml"), yaml, "default", &mut docs, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        SecretStore::from_documents(&docs)
    }

    #[test]
    fn data_is_base64_and_string_data_wins() {
        // "AKFAKE" / "SKFAKE\n" in base64.
        let s = store(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: k}\n\
             data: {accessKey: QUtGQUtF, secretKey: U0tGQUtFCg==}\n\
             ---\napiVersion: v1\nkind: Secret\nmetadata: {name: m, namespace: x}\n\
             data: {accessKey: QUtGQUtF}\nstringData: {accessKey: plain, secretKey: sk2}\n",
        );
        let c = s.get("default", "k").unwrap().unwrap();
        assert_eq!(c, Credentials::new("AKFAKE", "SKFAKE"));
        let m = s.get("x", "m").unwrap().unwrap();
        assert_eq!(m, Credentials::new("plain", "sk2"));
        assert!(s.get("default", "m").is_none());
    }

    #[test]
    fn missing_or_bad_keys_name_the_field_not_the_value() {
        let s = store(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\nstringData: {accessKey: AKVISIBLE}\n\
             ---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n\
             data: {accessKey: 'not*base64', secretKey: c2s=}\n",
        );
        let a = s.get("default", "a").unwrap().unwrap_err().to_string();
        assert!(
            a.contains("Secret default/a: data.secretKey: required key is missing"),
            "{a}"
        );
        let b = s.get("default", "b").unwrap().unwrap_err().to_string();
        assert!(b.contains("data.accessKey: is not valid base64"), "{b}");
        assert!(!b.contains("not*base64"));
        assert!(!format!("{s:?}").contains("c2s"));
    }

    #[test]
    fn environment_per_provider() {
        let env = |n: &str| match n {
            "CLOUD_SDK_AK" => Some("hw-ak".to_string()),
            "CLOUD_SDK_SK" => Some("hw-sk".to_string()),
            "BCE_ACCESS_KEY_ID" => Some("bd-ak".to_string()),
            _ => None,
        };
        assert_eq!(
            from_env(ProviderKind::Huawei, &env).unwrap(),
            Some(Credentials::new("hw-ak", "hw-sk"))
        );
        let err = from_env(ProviderKind::Baidu, &env).unwrap_err();
        assert_eq!(
            err,
            "BCE_ACCESS_KEY_ID is set but BCE_SECRET_ACCESS_KEY is not"
        );
        assert_eq!(from_env(ProviderKind::Baidu, &|_| None).unwrap(), None);
    }
}
