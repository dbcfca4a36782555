//! The Kubernetes controller (`run`).
//!
//! How it is put together, leaves first:
//! - `outcome`: the shared vocabulary (reasons, verdicts, what a cycle
//!   means for each object); imports nothing else of the controller.
//! - `credentials`, `clients`: credentials from Secrets, cloud clients per
//!   account; `requeue`: when to run again; `status`: pure status and
//!   Event derivation; `objects`: per-kind facts and finalizer patches;
//!   `events`, `metrics`, `leader` (with the write fence), `http`,
//!   `telemetry`, `args`, `error`.
//! - `cycle`: one account's validate → connect → observe → plan → execute
//!   → derive; its `mod.rs` tells the story.
//! - `context`: what reconciles share; `account`: the reconcile of one
//!   account (cycle, then statuses, Events, releases); `admission`: the
//!   thin reconcile of each object (finalizer, orphans).
//! - `runtime`: the watches, the controllers, leader election, shutdown.
//!
//! Outside the crate only [`run`], [`run_with`], [`RunArgs`] and
//! [`Error`] are used, plus the [`testing`] seam.

mod account;
mod admission;
mod args;
mod clients;
mod context;
mod credentials;
mod cycle;
mod error;
mod events;
mod http;
mod leader;
mod metrics;
mod nodes;
mod objects;
mod outcome;
mod requeue;
mod runtime;
mod status;
mod telemetry;

use std::future::Future;

pub use args::{LogFormat, RunArgs, parse_duration};
pub use error::Error;

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
/// touching global state (logging): the real cloud clients, leader
/// election as the flags say.
pub async fn run_with(
    args: RunArgs,
    client: kube::Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let providers = clients::CloudClients::new()
        .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
    runtime::run_with_providers(args, client, std::sync::Arc::new(providers), shutdown).await
}

/// What tests need to drive the controller's pieces: build a [`Context`]
/// over stores they fill, call one reconcile, plug in a fake cloud.
pub mod testing {
    pub use super::account::reconcile as reconcile_account;
    pub use super::admission::reconcile as reconcile_object;
    pub use super::clients::{CloudClients, ProviderFactory};
    pub use super::context::{Context, Settings, Stores};
    pub use super::cycle::Timing;
    pub use super::events::EventRecorder;
    pub use super::leader::{Fence, LeaderElector};
    pub use super::metrics::{
        CloudCallLabels, CloudOpLabels, FailureLabels, KindLabels, Metrics, StalledLabels,
    };
    pub use super::objects::FINALIZER;
    pub use super::runtime::run_with_providers;
}
