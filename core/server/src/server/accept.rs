//! The listeners: binding with a backlog, and the accept loops of the
//! client and ZooKeeper ports that hand each connection to its task under
//! the connection limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::warn;

use super::{Shared, connection, per_ip, zk};

/// Connections the kernel may queue before the accept loop takes them (it
/// stops taking them at `max_connections`); the kernel caps it at somaxconn.
const LISTEN_BACKLOG: u32 = 1024;

pub(super) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A connection on the optional ZooKeeper listener (never, without one).
async fn accept_zk(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Accepts clients on the native port and on the ZooKeeper port (if any),
/// under one `max_connections` budget and the per-address cap (`per_ip`).
pub(super) async fn accept_loop(
    listener: TcpListener,
    zk_listener: Option<TcpListener>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinSet<()> {
    let limit = Arc::new(Semaphore::new(shared.cfg.max_connections));
    let per_ip = per_ip::PerIp::new(shared.cfg.max_connections_per_ip);
    let mut conns = JoinSet::new();
    loop {
        // Wait for a connection slot first so that we stop accepting when full.
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a.map(|(s, p)| (s, p, false)),
            a = accept_zk(zk_listener.as_ref()) => a.map(|(s, p)| (s, p, true)),
            _ = shutdown.changed() => break,
        };
        match accepted {
            Ok((socket, peer, zookeeper)) => {
                let _ = socket.set_nodelay(true);
                let slot = match per_ip.take(peer.ip()) {
                    Ok(slot) => slot,
                    Err(e) => {
                        conns.spawn(async move {
                            per_ip::refuse(socket, peer, e, zookeeper).await;
                            drop(permit);
                        });
                        continue;
                    }
                };
                let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
                let shared = shared.clone();
                conns.spawn(async move {
                    let _slot = slot;
                    if zookeeper {
                        zk::connection::run(shared, socket, peer, id).await;
                    } else {
                        connection::run(shared, socket, peer, id).await;
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                // Typically EMFILE: back off briefly instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        // Reap finished connection tasks so the set does not grow without bound.
        while conns.try_join_next().is_some() {}
    }
    conns
}
