//! The operational HTTP server: `/metrics` (Prometheus text), `/healthz`
//! (the process is alive) and `/readyz` (this replica is up and able to
//! lead: a standby is ready too, so rolling updates of a two-replica
//! Deployment finish; it turns unready on shutdown or lost leadership).
//! Which replica leads is the `secgroup_leader` gauge.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::error::Error;
use super::metrics::Metrics;

/// Whether this replica is ready: set once it serves, cleared on shutdown
/// or lost leadership.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    readiness: Readiness,
}

fn router(metrics: Metrics, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(serve_ready))
        .with_state(AppState { metrics, readiness })
}

async fn serve_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

async fn serve_ready(State(state): State<AppState>) -> impl IntoResponse {
    if state.readiness.get() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: shutting down")
    }
}

/// Bind `addr` and serve until `shutdown` completes. Returns the bound
/// address (useful with port 0) and the server task.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    readiness: Readiness,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Serve { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| Error::Serve { addr, source })?;
    let app = router(metrics, readiness);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get_text(addr: SocketAddr, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.unwrap();
        let status = buf[9..12].parse().unwrap();
        let body = buf.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }

    #[tokio::test]
    async fn readiness_follows_the_flag_and_metrics_are_exposed() {
        let metrics = Metrics::new();
        let readiness = Readiness::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr, task) = serve(
            "127.0.0.1:0".parse().unwrap(),
            metrics.clone(),
            readiness.clone(),
            async move {
                let _ = rx.await;
            },
        )
        .await
        .unwrap();

        assert_eq!(get_text(addr, "/healthz").await.0, 200);
        assert_eq!(get_text(addr, "/readyz").await.0, 503);
        readiness.set(true);
        assert_eq!(get_text(addr, "/readyz").await.0, 200);

        drop(metrics.reconcile_started("SecurityGroup"));
        metrics.reconcile_failed("SecurityGroup", "Throttled");
        let (status, body) = get_text(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(
            body.contains(r#"secgroup_reconciles_total{kind="SecurityGroup"} 1"#),
            "{body}"
        );
        assert!(
            body.contains(
                r#"secgroup_reconcile_failures_total{kind="SecurityGroup",reason="Throttled"} 1"#
            ),
            "{body}"
        );
        assert!(
            body.contains(r#"secgroup_reconcile_duration_seconds_count{kind="SecurityGroup"} 1"#),
            "{body}"
        );

        tx.send(()).unwrap();
        task.await.unwrap();
    }
}
