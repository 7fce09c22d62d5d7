//! Shared helpers of the integration tests that drive a server through the
//! client: the in-process server and fault proxy come from the `testing`
//! feature; here only what needs the client.
//! (`core/client/tests` includes this file too.)
#![allow(dead_code, unused_imports, unreachable_pub)]

use std::time::Duration;

use coord_client::Client;
pub use coord_server::testing::{TestServer, proxy};

/// Sends the server's logs to stderr when `COORD_TEST_LOG` holds an
/// env-filter (e.g. `debug`).
pub fn init_test_log() {
    if let Ok(filter) = std::env::var("COORD_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
}

/// Starts an in-process server (logs as [`init_test_log`] says).
pub async fn start_server() -> TestServer {
    init_test_log();
    TestServer::start().await.expect("server starts")
}

/// A client of `server` with a 5 s session.
pub async fn client_of(server: &TestServer) -> Client {
    client_to(&server.addr(), Duration::from_secs(5)).await
}

pub async fn client_to(addr: &str, session_timeout: Duration) -> Client {
    Client::builder()
        .servers(addr.to_string())
        .session_timeout(session_timeout)
        .connect()
        .await
        .expect("client connects")
}

/// Polls `cond` every 10 ms until it holds or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
