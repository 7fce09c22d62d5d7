//! The HTTP port (`--http-listen`): `/metrics` in Prometheus' text format,
//! `/health` (the process serves and its data dir takes writes) and
//! `/ready` (this member can take sessions now: a leader is known and it is
//! caught up), with the status codes load balancers and Kubernetes probes
//! read (200, or 503 with the reason as text).
//!
//! One axum router on the server's runtime; it reads the server's state and
//! changes none of it. It stops with the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{Shared, in_touch};

/// How long `/ready` waits for a member that is catching up before it
/// answers 503.
const READY_PATIENCE: Duration = Duration::from_millis(100);

struct HttpState {
    shared: Arc<Shared>,
    registry: Registry,
}

/// Serves until `stopping` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopping: watch::Receiver<bool>,
) {
    let state = Arc::new(HttpState {
        registry: super::metrics::registry(&shared),
        shared,
    });
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(state);
    let stop = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::warn!(error = %e, "the HTTP port stopped");
    }
}

/// Binds the HTTP port.
pub(crate) async fn bind(addr: SocketAddr) -> crate::error::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        crate::error::Error::Io(format!(
            "cannot listen for HTTP (--http-listen) on {addr}: {e}"
        ))
    })
}

async fn metrics(State(s): State<Arc<HttpState>>) -> Response {
    let body = super::metrics::encode(&s.registry);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn health(State(s): State<Arc<HttpState>>) -> Response {
    let shared = &s.shared;
    if *shared.stopping.borrow() {
        return unavailable("stopping".into());
    }
    // A write that reaches the file system: a full or read-only disk, or a
    // data dir removed under the server, fails here.
    let probe = shared.cfg.data_dir.join(".health-probe");
    let written = tokio::task::spawn_blocking(move || {
        let r = std::fs::write(&probe, b"ok");
        let _ = std::fs::remove_file(&probe);
        r
    })
    .await;
    match written {
        Ok(Ok(())) => (StatusCode::OK, "ok\n").into_response(),
        Ok(Err(e)) => unavailable(format!(
            "the data dir {} does not take writes: {e}",
            shared.cfg.data_dir.display()
        )),
        Err(e) => unavailable(format!("health probe failed: {e}")),
    }
}

async fn ready(State(s): State<Arc<HttpState>>) -> Response {
    let shared = &s.shared;
    if *shared.stopping.borrow() {
        return unavailable("stopping".into());
    }
    if shared.replica.leader().is_none() {
        return unavailable("no leader known".into());
    }
    match tokio::time::timeout(READY_PATIENCE, in_touch::ready_for_sessions(shared)).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => unavailable(e.detail().to_string()),
        Err(_) => unavailable("catching up with the leader".into()),
    }
}

fn unavailable(why: String) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response()
}
