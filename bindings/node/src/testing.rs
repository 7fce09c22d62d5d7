//! An in-process coord server for tests (`require('coord/testing')`).

use coord_server::testing::EmbeddedServer;
use napi::Result;
use napi_derive::napi;

use crate::error::IntoJs;

/// A single-node server on 127.0.0.1 with a fresh temporary data dir and
/// sessions as short as 200 ms. Runs on the core's shared runtime, so it
/// keeps no Node handle open; `stop()` it when done.
#[napi]
pub struct TestServer {
    server: Option<EmbeddedServer>,
    addr: String,
}

/// Starts a test server (blocks the calling thread for its start-up, which
/// is fine in test set-up).
#[napi]
pub fn start_test_server() -> Result<TestServer> {
    let server = EmbeddedServer::start(coord_client::embed::handle().js()?).js()?;
    Ok(TestServer {
        addr: server.addr().to_string(),
        server: Some(server),
    })
}

#[napi]
impl TestServer {
    /// `host:port` for clients.
    #[napi(getter)]
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// Stops the server and removes its data. Idempotent.
    #[napi]
    pub fn stop(&mut self) -> Result<()> {
        match self.server.take() {
            Some(mut s) => s.stop().js(),
            None => Ok(()),
        }
    }
}
