//! Structured logging set-up: text or JSON lines, filtered by `--log-filter`.
//! Each reconcile runs inside a `reconcile` span carrying kind, namespace and
//! name (see `reconcile_span`), so every line it logs says which object.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt;
use tracing_subscriber::prelude::*;

use super::args::LogFormat;
use super::error::Error;

/// Install the global subscriber. Fails if one is already installed (a
/// second `run` in one process) or the filter does not parse.
pub fn init(format: LogFormat, filter: &str) -> Result<(), Error> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|e| Error::Config(format!("--log-filter {filter:?}: {e}")))?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Text => registry.with(fmt::layer().with_target(true)).try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
    };
    result.map_err(|e| Error::Config(format!("cannot install the log subscriber: {e}")))
}

/// The span every reconcile of one object runs in.
pub fn reconcile_span(kind: &str, namespace: &str, name: &str) -> tracing::Span {
    tracing::info_span!("reconcile", kind, namespace, name)
}
