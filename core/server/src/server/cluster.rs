//! A cluster member's peer side: the peer listener (openraft's RPCs and the
//! followers' forward streams) and this member's own forward stream to the
//! leader. Built only when the server runs with `--cluster`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

use super::{ServerConfig, Shared, forward};
use crate::error::{Error, Result};
use crate::replication::peer::{PeerConfig, TcpNetwork, serve_peers};
use crate::replication::{Member, NodeId};

/// The name peers present in their handshake.
const CLUSTER_NAME: &str = "coord";

/// A bound peer port, before the server serves on it.
pub(crate) struct Peers {
    listener: TcpListener,
    cfg: PeerConfig,
    max_connections: usize,
}

impl Peers {
    /// Binds `--peer-listen` (or takes the test's pre-bound socket).
    pub(crate) async fn bind(cfg: &ServerConfig) -> Result<Peers> {
        let listener = match (&cfg.peer_socket, cfg.peer_listen) {
            (Some(socket), _) => {
                let std = socket
                    .try_clone()
                    .and_then(|s| s.set_nonblocking(true).map(|()| s))
                    .map_err(|e| Error::Io(format!("taking the peer socket: {e}")))?;
                TcpListener::from_std(std)
                    .map_err(|e| Error::Io(format!("taking the peer socket: {e}")))?
            }
            (None, Some(addr)) => TcpListener::bind(addr)
                .await
                .map_err(|e| Error::Io(format!("cannot listen for peers on {addr}: {e}")))?,
            (None, None) => {
                return Err(Error::BadArguments(
                    "--cluster needs --peer-listen (the address peers reach this member at)".into(),
                ));
            }
        };
        let mut peer = PeerConfig::new(CLUSTER_NAME, cfg.node_id);
        peer.max_frame_bytes = cfg.max_peer_frame_bytes;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Io(format!("peer socket: {e}")))?;
        info!(node_id = cfg.node_id, peer_addr = %addr, "listening for peers");
        Ok(Peers {
            listener,
            cfg: peer,
            max_connections: cfg.max_peer_connections,
        })
    }

    /// This member's raft network.
    pub(crate) fn network(&self) -> TcpNetwork {
        TcpNetwork::new(self.cfg.clone())
    }

    /// Serves peers and keeps the forward stream to the leader.
    pub(crate) fn serve(self, shared: &Arc<Shared>, shutdown: watch::Receiver<bool>) -> PeerTasks {
        let service = Arc::new(forward::LeaderService {
            shared: Arc::downgrade(shared),
            max_frame_bytes: self.cfg.max_frame_bytes,
        });
        let server = tokio::spawn(serve_peers(
            self.listener,
            shared.replica.raft().clone(),
            self.cfg.clone(),
            self.max_connections,
            Some(service),
        ));
        let forward = tokio::spawn(forward::run(Arc::downgrade(shared), self.cfg, shutdown));
        PeerTasks { server, forward }
    }
}

/// The running peer side.
pub(crate) struct PeerTasks {
    server: tokio::task::JoinHandle<()>,
    forward: tokio::task::JoinHandle<()>,
}

impl PeerTasks {
    /// Stops serving peers and forwarding (dropping their connections).
    pub(crate) async fn stop(self) {
        self.server.abort();
        self.forward.abort();
        let _ = self.server.await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.forward).await;
    }
}

/// The founding membership from `--cluster`: every member's peer address;
/// this member's client address too (the others' are not known here).
pub(crate) fn founding_members(
    founders: &BTreeMap<u64, SocketAddr>,
    me: NodeId,
    client_addr: &str,
) -> BTreeMap<NodeId, Member> {
    founders
        .iter()
        .map(|(id, peer)| {
            let client = if *id == me { client_addr } else { "" };
            (*id, Member::new(client, peer.to_string()))
        })
        .collect()
}
