//! Typed cloud errors. Each carries the vendor's code, message and request
//! id, never a credential.

use std::time::Duration;

use thiserror::Error;

/// What the cloud said about a failed call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiErrorDetail {
    /// HTTP status.
    pub status: u16,
    /// Vendor error code, e.g. `VPC.0606`, `SecurityGroup.RuleNotExist`.
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

impl std::fmt::Display for ApiErrorDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request {id})")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Error)]
pub enum CloudError {
    #[error("not found: {0}")]
    NotFound(ApiErrorDetail),
    /// Already exists, or in use (e.g. deleting a group that ports still hold).
    #[error("conflict: {0}")]
    Conflict(ApiErrorDetail),
    /// A quota or per-port limit would be exceeded.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(ApiErrorDetail),
    #[error("throttled: {detail}")]
    Throttled {
        detail: ApiErrorDetail,
        retry_after: Option<Duration>,
    },
    /// Bad signature, unknown key, expired request, access denied.
    #[error("unauthorized: {0}")]
    Unauthorized(ApiErrorDetail),
    #[error("invalid request: {0}")]
    InvalidRequest(ApiErrorDetail),
    /// The cloud refused to leave a port with no group.
    #[error("refused: would leave the port with no security group: {0}")]
    LastGroup(ApiErrorDetail),
    /// Baidu `sgVersion` was stale: re-read the group and re-plan.
    #[error("security group version mismatch: {0}")]
    VersionMismatch(ApiErrorDetail),
    /// 5xx.
    #[error("server error: {0}")]
    Server(ApiErrorDetail),
    /// Connection refused/reset, timeout, TLS: no answer was read.
    #[error("transport error: {0}")]
    Transport(String),
    /// An answer came but could not be understood.
    #[error("could not decode response: {0}")]
    Decode(String),
}

impl CloudError {
    /// Whether sending the same request again may succeed. Callers still
    /// only retry requests that are safe to repeat (reads, and writes that
    /// are idempotent by nature or by client token).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CloudError::Throttled { .. } | CloudError::Server(_) | CloudError::Transport(_)
        )
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CloudError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The vendor's error detail, when the cloud answered.
    pub fn detail(&self) -> Option<&ApiErrorDetail> {
        match self {
            CloudError::NotFound(d)
            | CloudError::Conflict(d)
            | CloudError::QuotaExceeded(d)
            | CloudError::Unauthorized(d)
            | CloudError::InvalidRequest(d)
            | CloudError::LastGroup(d)
            | CloudError::VersionMismatch(d)
            | CloudError::Server(d) => Some(d),
            CloudError::Throttled { detail, .. } => Some(detail),
            CloudError::Transport(_) | CloudError::Decode(_) => None,
        }
    }

    /// A stable label for metrics and condition reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            CloudError::NotFound(_) => "NotFound",
            CloudError::Conflict(_) => "Conflict",
            CloudError::QuotaExceeded(_) => "QuotaExceeded",
            CloudError::Throttled { .. } => "Throttled",
            CloudError::Unauthorized(_) => "Unauthorized",
            CloudError::InvalidRequest(_) => "InvalidRequest",
            CloudError::LastGroup(_) => "LastGroup",
            CloudError::VersionMismatch(_) => "VersionMismatch",
            CloudError::Server(_) => "ServerError",
            CloudError::Transport(_) => "Transport",
            CloudError::Decode(_) => "Decode",
        }
    }
}
