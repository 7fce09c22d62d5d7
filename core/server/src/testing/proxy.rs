//! A loopback TCP proxy that can cut connections: to inject connection loss
//! (including "the request reached the server but the reply was lost") and
//! network partitions without any hook in the client or server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

/// A proxy in front of one upstream server; dropping it stops it.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    upstream: String,
    /// Refuse (close at once) every connection while set.
    blocked: AtomicBool,
    /// Forward the next client->server chunk, then cut that connection before
    /// any reply can come back.
    cut_after_next_request: AtomicBool,
    /// Hold every server->client chunk this many milliseconds (0: none).
    reply_delay_ms: AtomicU64,
    cut_all: broadcast::Sender<()>,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1:0 forwarding to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (cut_all, _) = broadcast::channel(4);
        let state = Arc::new(State {
            upstream: upstream.to_string(),
            blocked: AtomicBool::new(false),
            cut_after_next_request: AtomicBool::new(false),
            reply_delay_ms: AtomicU64::new(0),
            cut_all,
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if st.blocked.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let st = st.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&st.upstream).await {
                        pump(client, server, st).await;
                    }
                });
            }
        });
        Ok(Proxy { addr, state, task })
    }

    /// `host:port` for clients.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Partition: cut every open connection and refuse new ones until unblocked.
    pub fn block(&self) {
        self.state.blocked.store(true, Ordering::SeqCst);
        let _ = self.state.cut_all.send(());
    }

    /// Heals the partition: new connections are accepted again.
    pub fn unblock(&self) {
        self.state.blocked.store(false, Ordering::SeqCst);
    }

    /// Slow replies (and events) down by `delay` each, without cutting the
    /// connection: requests time out while the session lives. Zero ends it.
    pub fn delay_replies(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state.reply_delay_ms.store(ms, Ordering::SeqCst);
    }

    /// The next request reaches the server; its reply never reaches the client.
    pub fn lose_next_reply(&self) {
        self.state
            .cut_after_next_request
            .store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        let _ = self.state.cut_all.send(());
    }
}

async fn pump(client: TcpStream, server: TcpStream, st: Arc<State>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let mut cut = st.cut_all.subscribe();
    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if sw.write_all(&buf[..n]).await.is_err() {
                return;
            }
            if st.cut_after_next_request.swap(false, Ordering::SeqCst) {
                // Give the server the request, then drop both directions.
                return;
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let delay = st.reply_delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            if cw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = cut.recv() => {}
    }
}
