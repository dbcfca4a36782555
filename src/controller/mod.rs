//! The Kubernetes controller (`run`). Owned by issue 5.
//!
//! What lives here:
//! - [`RunArgs`]: flags and environment of `run`.
//! - [`run`]: telemetry, the metrics/health server, leader election,
//!   graceful shutdown, and the controllers of the four kinds.
//! - `metrics`: Prometheus series and [`MeteredProvider`], the wrapper that
//!   counts every cloud call.
//! - `leader`: the Lease-based election.
//! - `accounts`: credentials from Secrets, the per-account client cache,
//!   and the factory building the real cloud clients.
//! - `cycle`: one account's resolve → observe → plan → execute, and what it
//!   means for each object.
//! - `sharing`: when one cycle's result answers other objects' reconciles
//!   (so a burst of changes costs one or two cycles, not one per object).
//! - `reconciler`: the reconcile shared by the four kinds (finalizer,
//!   status, Events, requeue), `runtime`: the controllers and their wiring.
//! - `events`: publishing Events, repeats folded into series.
//! - `status`: pure status and Event derivation; `objects`: per-kind facts.

pub mod accounts;
mod args;
pub mod cycle;
mod error;
pub mod events;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod objects;
pub mod reconciler;
pub mod requeue;
pub mod runtime;
pub mod sharing;
pub mod status;
pub mod telemetry;

use std::future::Future;

pub use args::{LogFormat, RunArgs, parse_duration};
pub use error::Error;
pub use metrics::{MeteredProvider, Metrics};

/// Entry point of `secgroup-controller run`.
pub async fn run(args: RunArgs) -> Result<(), Error> {
    telemetry::init(args.log_format, &args.log_filter)?;
    // reqwest is built without a default crypto provider; installing it
    // twice is harmless (Err means one is already installed).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_default().await?;
    run_with(args, client, shutdown_signal()).await
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        _ = term => tracing::info!("SIGTERM: shutting down"),
    }
}

/// Like [`run`] with a given client and shutdown trigger, and without
/// touching global state (logging): the real cloud clients and the CRD
/// resolver, leader election as the flags say.
pub async fn run_with(
    args: RunArgs,
    client: kube::Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let providers = accounts::CloudClients::new()
        .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
    let plugins = runtime::Plugins {
        providers: std::sync::Arc::new(providers),
        resolver: cycle::crd_resolver(),
    };
    runtime::run_with_plugins(args, client, plugins, shutdown).await
}
