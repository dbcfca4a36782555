//! The controller's error type. One variant per place a failure can come
//! from, and a stable [`Error::reason`] for metrics and condition reasons.

use crate::cloud::CloudError;
use crate::model::FieldError;

use super::accounts::CredentialsError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or environment at start-up.
    #[error("configuration: {0}")]
    Config(String),

    /// The metrics/health server could not start.
    #[error("cannot serve on {addr}: {source}")]
    Serve {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// A Kubernetes API call failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    /// Another replica took the Lease; this one stops so it restarts clean.
    #[error("lost leadership of Lease {0}")]
    LeadershipLost(String),

    /// The account's Secret is missing or unusable.
    #[error("{0}")]
    Credentials(#[from] CredentialsError),

    /// The account is missing, invalid or its client cannot be built.
    #[error("cloud account: {0}")]
    Account(String),

    /// The cloud refused or failed a call.
    #[error("cloud: {0}")]
    Cloud(#[from] CloudError),

    /// The object's spec is invalid; waits for the user to change it.
    #[error("invalid spec: {}", join(.0))]
    Invalid(Vec<FieldError>),

    /// Some steps of the plan failed; the message lists them.
    #[error("{0}")]
    Execute(String),

    /// Deleting is waiting on something outside the controller (e.g. ports
    /// still holding the group); retried with backoff.
    #[error("cleanup blocked: {0}")]
    CleanupBlocked(String),

    /// The object lacks a field Kubernetes always sets (name, namespace).
    #[error("object has no {0}")]
    MissingMetadata(&'static str),
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// A stable, low-cardinality label for metrics and condition reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Config(_) => "Config",
            Error::Serve { .. } => "Serve",
            Error::Kube(_) => "KubernetesAPI",
            Error::LeadershipLost(_) => "LeadershipLost",
            Error::Credentials(_) => "CredentialsInvalid",
            Error::Account(_) => "AccountUnavailable",
            Error::Cloud(e) => e.reason(),
            Error::Invalid(_) => "InvalidSpec",
            Error::Execute(_) => "ApplyFailed",
            Error::CleanupBlocked(_) => "CleanupBlocked",
            Error::MissingMetadata(_) => "MissingMetadata",
        }
    }
}
