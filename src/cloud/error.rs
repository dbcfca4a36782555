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
    /// A write not sent because the client's write gate was closed (a
    /// leader that can no longer renew its Lease). Nothing reached the
    /// cloud; never retried here.
    #[error("fenced: {0}")]
    Fenced(String),
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
            CloudError::Transport(_) | CloudError::Decode(_) | CloudError::Fenced(_) => None,
        }
    }

    /// What kind of failure this is, for code that decides by it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CloudError::NotFound(_) => ErrorKind::NotFound,
            CloudError::Conflict(_) => ErrorKind::Conflict,
            CloudError::QuotaExceeded(_) => ErrorKind::QuotaExceeded,
            CloudError::Throttled { .. } => ErrorKind::Throttled,
            CloudError::Unauthorized(_) => ErrorKind::Unauthorized,
            CloudError::InvalidRequest(_) => ErrorKind::InvalidRequest,
            CloudError::LastGroup(_) => ErrorKind::LastGroup,
            CloudError::VersionMismatch(_) => ErrorKind::VersionMismatch,
            CloudError::Server(_) => ErrorKind::Server,
            CloudError::Transport(_) => ErrorKind::Transport,
            CloudError::Decode(_) => ErrorKind::Decode,
            CloudError::Fenced(_) => ErrorKind::Fenced,
        }
    }

    /// A stable label for metrics and condition reasons.
    pub fn reason(&self) -> &'static str {
        self.kind().as_str()
    }
}

/// The kinds of [`CloudError`], without their details.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    QuotaExceeded,
    Throttled,
    Unauthorized,
    InvalidRequest,
    LastGroup,
    VersionMismatch,
    Server,
    Transport,
    Decode,
    Fenced,
}

impl ErrorKind {
    /// The label metrics and condition reasons carry.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "NotFound",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::QuotaExceeded => "QuotaExceeded",
            ErrorKind::Throttled => "Throttled",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::InvalidRequest => "InvalidRequest",
            ErrorKind::LastGroup => "LastGroup",
            ErrorKind::VersionMismatch => "VersionMismatch",
            ErrorKind::Server => "ServerError",
            ErrorKind::Transport => "Transport",
            ErrorKind::Decode => "Decode",
            ErrorKind::Fenced => "Fenced",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_is_final_and_labelled() {
        let e = CloudError::Fenced("attachPorts (POST) not sent".into());
        assert!(!e.is_retryable());
        assert_eq!(e.kind(), ErrorKind::Fenced);
        assert_eq!(e.reason(), "Fenced");
        assert!(e.detail().is_none());
        assert!(e.to_string().starts_with("fenced: attachPorts"));
    }
}
