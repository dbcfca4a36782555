//! Cloud credentials from a `CloudAccount`'s Secret: same namespace only,
//! keys `accessKey` and `secretKey`.
//!
//! Secret values never leave [`Credentials`], whose `Debug` redacts the
//! secret key; errors name the Secret and the key, never a value.

use k8s_openapi::api::core::v1::Secret;

use crate::cloud::Credentials;

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

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
}
