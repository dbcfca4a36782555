//! The controller's own errors: start-up, the metrics server, the
//! Kubernetes API and leadership. What goes wrong in a cycle is not an
//! error of the reconcile: it is each object's verdict (`super::outcome`),
//! with the failed step named (`super::cycle::CycleError`).

/// Why `run` or a reconcile failed.
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

    /// Another replica took the Lease, or it could not be renewed in time;
    /// this one stops so it restarts clean.
    #[error("lost leadership of Lease {0}")]
    LeadershipLost(String),

    /// The object lacks a field Kubernetes always sets (name, namespace).
    #[error("object has no {0}")]
    MissingMetadata(&'static str),
}

impl Error {
    /// A stable, low-cardinality label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Config(_) => "Config",
            Error::Serve { .. } => "Serve",
            Error::Kube(_) => "KubernetesAPI",
            Error::LeadershipLost(_) => "LeadershipLost",
            Error::MissingMetadata(_) => "MissingMetadata",
        }
    }
}
