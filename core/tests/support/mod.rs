//! Shared helpers of the integration tests: an in-process server on a temp
//! dir and a fault-injecting TCP proxy.
#![allow(dead_code, unreachable_pub)]

pub mod proxy;

use std::time::Duration;

use coord_core::client::Client;
use coord_core::server::{Server, ServerConfig};

/// A server on 127.0.0.1:0 with test timeouts; the temp dir lives as long as it.
pub struct TestServer {
    pub server: Server,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        // COORD_TEST_LOG=debug (an env-filter) shows the server's logs.
        if let Ok(filter) = std::env::var("COORD_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_writer(std::io::stderr)
                .try_init();
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let server = Server::start(ServerConfig::for_test(dir.path()))
            .await
            .expect("server starts");
        TestServer { server, dir }
    }

    pub fn addr(&self) -> String {
        self.server.local_addr().to_string()
    }

    pub async fn client(&self) -> Client {
        client_to(&self.addr(), Duration::from_secs(5)).await
    }

    pub async fn stop(self) {
        self.server.shutdown().await.expect("clean shutdown");
    }
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
