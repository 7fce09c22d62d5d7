//! Test support: an in-process server on 127.0.0.1:0, client defaults with
//! short timeouts, and a TCP proxy that can cut a client off its server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coord_client::Result;
use coord_client::client::{Client, SessionState};
use coord_server::server::{Server, ServerConfig};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Upper bound on any single wait in these tests.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// Awaits `f` or panics after [`PATIENCE`] naming `what`.
pub(crate) async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// A server with its data dir.
pub(crate) struct TestServer {
    pub(crate) server: Option<Server>,
    pub(crate) addr: SocketAddr,
    pub(crate) dir: tempfile::TempDir,
}

impl TestServer {
    pub(crate) async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server with test settings changed by `tweak`.
    pub(crate) async fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = ServerConfig::for_test(dir.path());
        tweak(&mut cfg);
        let server = Server::start(cfg).await.expect("server starts");
        TestServer {
            addr: server.local_addr(),
            server: Some(server),
            dir,
        }
    }

    /// Kills the server as a crash would (sessions stay in the data dir).
    pub(crate) async fn abort(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort().await;
        }
    }

    /// Starts a server again on the same data dir and address.
    pub(crate) async fn restart(&mut self) {
        let mut cfg = ServerConfig::for_test(self.dir.path());
        cfg.listen = self.addr;
        let server = Server::start(cfg).await.expect("server restarts");
        self.server = Some(server);
    }

    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("graceful shutdown");
        }
    }
}

/// A client of `addr` with short timeouts.
pub(crate) async fn client(addr: SocketAddr, session: Duration) -> Client {
    Client::builder()
        .servers(addr.to_string())
        .session_timeout(session)
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .connect()
        .await
        .expect("client connects")
}

/// Waits until the client reaches `want`.
pub(crate) async fn wait_state(c: &Client, want: SessionState) {
    let mut states = c.state_changes();
    within(&format!("state {want:?}"), async {
        while let Some(s) = states.next().await {
            if s == want {
                return;
            }
        }
        panic!("state stream ended before {want:?}; now {:?}", c.state());
    })
    .await;
}

/// Polls `check` until it returns true.
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    within(what, async {
        loop {
            if let Ok(true) = check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// A TCP proxy in front of a server. `cut` drops every connection and
/// refuses new ones until `restore`; `mute_client` silently drops what the
/// client sends on the connections open at that time, while still
/// forwarding what the server sends (new connections are not muted).
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    refusing: Arc<AtomicBool>,
    muted: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
    generation: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub(crate) async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let refusing = Arc::new(AtomicBool::new(false));
        let muted = Arc::new(Mutex::new(Vec::new()));
        let generation = watch::channel(0u64).0;
        let task = tokio::spawn({
            let refusing = refusing.clone();
            let muted = muted.clone();
            let generation = generation.clone();
            async move {
                while let Ok((down, _)) = listener.accept().await {
                    if refusing.load(Ordering::SeqCst) {
                        drop(down);
                        continue;
                    }
                    let mut gen_rx = generation.subscribe();
                    let mute = Arc::new(AtomicBool::new(false));
                    muted.lock().expect("mute list").push(mute.clone());
                    tokio::spawn(async move {
                        let Ok(up) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let (down_rd, down_wr) = down.into_split();
                        let (up_rd, up_wr) = up.into_split();
                        tokio::select! {
                            () = pump(down_rd, up_wr, Some(mute)) => {}
                            () = pump(up_rd, down_wr, None) => {}
                            _ = gen_rx.changed() => {}
                        }
                    });
                }
            }
        });
        Proxy {
            addr,
            refusing,
            muted,
            generation,
            task,
        }
    }

    /// Drops every proxied connection and refuses new ones.
    pub(crate) fn cut(&self) {
        self.refusing.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Accepts connections again.
    pub(crate) fn restore(&self) {
        self.refusing.store(false, Ordering::SeqCst);
    }

    /// Drops (without closing anything) every byte clients send on the
    /// connections open now.
    pub(crate) fn mute_client(&self) {
        for m in self.muted.lock().expect("mute list").drain(..) {
            m.store(true, Ordering::SeqCst);
        }
    }
}

/// Copies `from` to `to` until either side ends; drops the bytes while `mute` is set.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mute: Option<Arc<AtomicBool>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if mute.as_ref().is_some_and(|m| m.load(Ordering::SeqCst)) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.generation.send_modify(|g| *g += 1);
    }
}
