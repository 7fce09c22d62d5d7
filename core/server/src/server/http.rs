//! The HTTP port (`--http-listen`): `/metrics` in Prometheus' text format,
//! `/health` (the process serves and its data dir takes writes) and
//! `/ready` (this member can take sessions now: a leader is known and it is
//! caught up), with the status codes load balancers and Kubernetes probes
//! read (200, or 503 with the reason as text).
//!
//! The dashboard shares the port: the page at `/` (one HTML file compiled
//! into the binary) and its JSON API under `/api/` (`api`, `locks`), read as
//! the request's identity (`caller`). `/metrics`, `/health` and `/ready`
//! stay open even with `--auth-required`; the page and the API do not.
//!
//! One axum router on the server's runtime; it reads the server's state and
//! changes none of it, except `POST /api/locks/break` with `--http-admin`.
//! It stops with the server.

mod api;
mod caller;
mod locks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{Shared, in_touch};

/// How long `/ready` waits for a member that is catching up before it
/// answers 503.
const READY_PATIENCE: Duration = Duration::from_millis(100);

/// The page at `/`: HTML, inline CSS and plain JavaScript, no build step.
const DASHBOARD: &str = include_str!("http/dashboard.html");

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
        .route("/", get(page))
        .route("/api/info", get(api::info))
        .route("/api/node", get(api::node))
        .route("/api/sessions", get(api::sessions))
        .route("/api/cluster", get(api::cluster))
        .route("/api/stats", get(api::stats))
        .route("/api/locks", get(locks::locks))
        .route("/api/elections", get(locks::elections))
        .route("/api/locks/break", post(locks::break_lock))
        .with_state(state);
    let stop = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
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

async fn page(_caller: caller::Caller) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        DASHBOARD,
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
