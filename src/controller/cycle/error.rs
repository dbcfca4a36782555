//! Why a cycle stopped before it could plan: one variant per step, each
//! turned into the [`Verdict`] every object of the account gets, with a
//! stable [`CycleError::category`] for metrics.

use crate::cloud::CloudError;
use crate::model::FieldError;

use crate::controller::credentials::CredentialsError;
use crate::controller::outcome::{Reason, Verdict};

/// A failed step of a cycle.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// Validate: the `CloudAccount` itself is invalid.
    #[error("CloudAccount {account}: {}", field_messages(.errors))]
    InvalidAccount {
        account: String,
        errors: Vec<FieldError>,
    },
    /// Connect: the Secret is missing or unusable.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// Connect: the Secret could not be read.
    #[error("reading Secret {secret}: {source}")]
    ReadSecret {
        secret: String,
        #[source]
        source: kube::Error,
    },
    /// Connect: the client could not be built from the account.
    #[error("{0}")]
    Client(String),
    /// Observe: reading the cloud failed.
    #[error("reading the cloud: {0}")]
    Observe(#[source] CloudError),
    /// Plan: the planner refused the desired state, and not because of
    /// any one object it could leave out.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Plan(Vec<FieldError>),
}

impl CycleError {
    /// The verdict of every object of the account.
    pub fn verdict(&self) -> Verdict {
        let message = self.to_string();
        match self {
            CycleError::InvalidAccount { .. } | CycleError::Client(_) => {
                Verdict::stalled(Reason::AccountInvalid, message)
            }
            CycleError::Credentials(_) => Verdict::stalled(Reason::CredentialsInvalid, message),
            CycleError::ReadSecret { .. } => Verdict::failed(Reason::KubernetesAPI, message, None),
            CycleError::Observe(e) => Verdict::from_cloud(e, "reading the cloud"),
            CycleError::Plan(_) => Verdict::stalled(Reason::PlanFailed, message),
        }
    }

    /// The step that failed, as a metric label.
    pub fn category(&self) -> &'static str {
        match self {
            CycleError::InvalidAccount { .. } => "validate",
            CycleError::Credentials(_) | CycleError::ReadSecret { .. } | CycleError::Client(_) => {
                "connect"
            }
            CycleError::Observe(_) => "observe",
            CycleError::Plan(_) => "plan",
        }
    }
}

/// `field: message; field: message`.
pub fn field_messages(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{ApiErrorDetail, ErrorKind};

    #[test]
    fn each_step_failure_has_its_verdict_and_category() {
        let server = CloudError::Server(ApiErrorDetail {
            status: 503,
            code: "SYS.503".into(),
            message: "busy".into(),
            request_id: Some("r1".into()),
        });
        let cases: Vec<(CycleError, Reason, bool, &str)> = vec![
            (
                CycleError::InvalidAccount {
                    account: "acct".into(),
                    errors: vec![FieldError::new(None, "spec.region", "required")],
                },
                Reason::AccountInvalid,
                false,
                "validate",
            ),
            (
                CycleError::Credentials(CredentialsError::SecretNotFound {
                    namespace: "prod".into(),
                    name: "creds".into(),
                }),
                Reason::CredentialsInvalid,
                false,
                "connect",
            ),
            (
                CycleError::Client("projectId: required for Huawei".into()),
                Reason::AccountInvalid,
                false,
                "connect",
            ),
            (
                CycleError::Observe(server),
                Reason::Cloud(ErrorKind::Server),
                true,
                "observe",
            ),
            (
                CycleError::Plan(vec![FieldError::new(None, "spec", "x")]),
                Reason::PlanFailed,
                false,
                "plan",
            ),
        ];
        for (error, reason, retried, category) in cases {
            let v = error.verdict();
            assert_eq!(v.reason(), reason, "{error}");
            assert_eq!(v.wants_retry(), retried, "{error}");
            assert_eq!(error.category(), category);
            assert_eq!(v.message(), error.to_string());
        }
        let e = CycleError::InvalidAccount {
            account: "acct".into(),
            errors: vec![FieldError::new(None, "spec.region", "required")],
        };
        assert_eq!(e.to_string(), "CloudAccount acct: spec.region: required");
        let e = CycleError::Credentials(CredentialsError::SecretNotFound {
            namespace: "prod".into(),
            name: "creds".into(),
        });
        assert_eq!(e.to_string(), "credentials Secret prod/creds not found");
    }
}
