//! Test servers for every crate's tests and the bindings' test helpers
//! (behind the `testing` feature): [`TestServer`] for async tests,
//! [`EmbeddedServer`] for callers outside a runtime (`coord.testing.Server`
//! in Python, its Node twin), and a fault-injecting loopback [`proxy`].
//!
//! Every server listens on 127.0.0.1 port 0 with a fresh temp data dir that
//! lives as long as it, and test-friendly session bounds (sessions may be as
//! short as 200 ms).

mod cluster;
mod ports;
pub mod proxy;

pub use cluster::TestCluster;
pub use ports::unused_loopback_ports;

use std::path::{Path, PathBuf};
use std::time::Duration;

use coord_proto::{Error, Result};
use tokio::runtime::Handle;

use crate::server::{Server, ServerConfig};

/// How long an embedded server may take to start or stop.
const EMBEDDED_PATIENCE: Duration = Duration::from_secs(30);

fn temp_data_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("coord-test-")
        .tempdir()
        .map_err(|e| Error::Io(format!("cannot create a temp data dir: {e}")))
}

/// A server on 127.0.0.1:0 for async tests; its temp dir lives as long as it.
#[derive(Debug)]
pub struct TestServer {
    /// The running server.
    pub server: Server,
    /// Its data dir.
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server; `COORD_TEST_LOG` (an env-filter, e.g. `debug`) is left
    /// to the test binary's own subscriber.
    pub async fn start() -> Result<TestServer> {
        let dir = temp_data_dir()?;
        let server = Server::start(ServerConfig::for_test(dir.path())).await?;
        Ok(TestServer { server, dir })
    }

    /// `host:port` for clients.
    pub fn addr(&self) -> String {
        self.server.local_addr().to_string()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server gracefully.
    pub async fn stop(self) -> Result<()> {
        self.server.shutdown().await
    }
}

/// An in-process server for callers outside any runtime: it runs on the
/// runtime whose handle it is given and blocks the calling thread only to
/// start and stop.
#[derive(Debug)]
pub struct EmbeddedServer {
    runtime: Handle,
    server: Option<Server>,
    addr: String,
    dir: Option<tempfile::TempDir>,
}

impl EmbeddedServer {
    /// Starts a server on a free port, on `runtime`. Must not be called from
    /// one of that runtime's threads.
    pub fn start(runtime: Handle) -> Result<EmbeddedServer> {
        let dir = temp_data_dir()?;
        let cfg = ServerConfig::for_test(dir.path());
        let server = wait_on(&runtime, Server::start(cfg), "start")??;
        Ok(EmbeddedServer {
            runtime,
            addr: server.local_addr().to_string(),
            server: Some(server),
            dir: Some(dir),
        })
    }

    /// `host:port` for clients.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The data directory.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().to_path_buf())
    }

    /// Stops the server gracefully and removes its data dir.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(server) = self.server.take() {
            wait_on(&self.runtime, server.shutdown(), "stop")??;
        }
        self.dir.take();
        Ok(())
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Runs `fut` on `runtime` and waits for it on this thread, at most
/// [`EMBEDDED_PATIENCE`].
fn wait_on<F>(runtime: &Handle, fut: F, what: &str) -> Result<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv_timeout(EMBEDDED_PATIENCE).map_err(|_| {
        Error::OperationTimeout(format!(
            "the embedded test server did not {what} within {EMBEDDED_PATIENCE:?}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_server_serves_a_blocking_caller() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut server = EmbeddedServer::start(rt.handle().clone()).unwrap();
        let addr = server.addr().to_string();
        let created = rt
            .block_on(async move {
                let c = coord_client::Client::connect(&addr).await?;
                let p = c
                    .create("/x", b"1".to_vec(), coord_proto::CreateMode::Persistent)
                    .await?;
                c.close().await?;
                Ok::<_, Error>(p)
            })
            .unwrap();
        assert_eq!(created, "/x");
        server.stop().unwrap();
        assert!(server.data_dir().is_none(), "stop removes the data dir");
    }
}
