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
use coord_proto::proto;

/// How long `cluster add` waits for a new member to catch up with the log.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(60);

/// The name peers present in their handshake.
const CLUSTER_NAME: &str = "coord";

/// A bound peer port, before the server serves on it.
pub(crate) struct Peers {
    listener: TcpListener,
    addr: SocketAddr,
    cfg: PeerConfig,
    max_connections: usize,
    tls_reload: Option<PeerTlsReload>,
}

/// The peer port's TLS and the files it came from, to re-read them on
/// SIGHUP ([`PeerTlsReload::reload`]).
pub(crate) struct PeerTlsReload {
    tls: crate::replication::peer::PeerTls,
    files: super::TlsFiles,
    prefix: &'static str,
}

impl PeerTlsReload {
    /// Re-reads the files: calls and answers made from now on use them;
    /// open peer connections stay. On error the configuration in use stays
    /// and the error names the file.
    pub(crate) fn reload(&self) -> crate::error::Result<()> {
        let fresh = super::tls::peer_tls(&self.files, self.prefix)?;
        self.tls.replace(&fresh);
        Ok(())
    }
}

impl Peers {
    /// The handle that re-reads the peer port's certificates (`None`
    /// without peer TLS).
    pub(crate) fn take_tls_reload(&mut self) -> Option<PeerTlsReload> {
        self.tls_reload.take()
    }

    /// The peer network's settings (for calls of the server's own).
    pub(crate) fn config(&self) -> &PeerConfig {
        &self.cfg
    }

    /// Binds `--peer-listen` (or takes the test's pre-bound socket).
    pub(crate) async fn bind(
        cfg: &ServerConfig,
        client_addr: &str,
        directory: &crate::replication::peer::Directory,
        contact: &crate::replication::peer::Contact,
    ) -> Result<Peers> {
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
        peer.client_addr = client_addr.to_string();
        peer.directory = directory.clone();
        peer.contact = contact.clone();
        peer.dial = cfg.peer_dial.clone();
        // The peer set, else the client port's (its client CA then checks
        // the members' certificates).
        let tls_files = match (&cfg.peer_tls, &cfg.tls) {
            (Some(files), _) => Some((files.clone(), "peer-tls")),
            (None, Some(files)) => Some((files.clone(), "tls")),
            (None, None) => None,
        };
        peer.tls = match &tls_files {
            Some((files, prefix)) => Some(super::tls::peer_tls(files, prefix)?),
            None => None,
        };
        let tls_reload = match (&peer.tls, tls_files) {
            (Some(tls), Some((files, prefix))) => Some(PeerTlsReload {
                tls: tls.clone(),
                files,
                prefix,
            }),
            _ => None,
        };
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Io(format!("peer socket: {e}")))?;
        info!(node_id = cfg.node_id, peer_addr = %addr, "listening for peers");
        Ok(Peers {
            listener,
            addr,
            cfg: peer,
            max_connections: cfg.max_peer_connections,
            tls_reload,
        })
    }

    /// The address peers reach this member at.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
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

/// The founding membership from `--cluster`: every member's peer address
/// (and this member's client address; the others' are learned in peer
/// handshakes). Without `--cluster` there is none: a member with an empty
/// data dir then waits to be added by a cluster's leader (`coord cluster
/// add`); founding a cluster of one that can grow takes `--cluster` naming
/// only this member.
pub(crate) fn founding_members(
    founders: Option<&BTreeMap<u64, SocketAddr>>,
    me: NodeId,
    client_addr: &str,
) -> Option<BTreeMap<NodeId, Member>> {
    founders.map(|f| {
        f.iter()
            .map(|(id, peer)| {
                let client = if *id == me { client_addr } else { "" };
                (*id, Member::new(client, peer.to_string()))
            })
            .collect()
    })
}

/// The cluster as this member sees it (`coord cluster status`).
pub(crate) fn status(shared: &Shared) -> proto::ClusterStatus {
    let m = shared.replica.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let voters: std::collections::BTreeSet<NodeId> = membership.voter_ids().collect();
    let last = m.last_log_index.unwrap_or(0);
    let members = membership
        .nodes()
        .map(|(id, member)| {
            let client_addr = if member.addr.is_empty() {
                shared.directory.client_addr(*id).unwrap_or_default()
            } else {
                member.addr.clone()
            };
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(id))
                .map(|l| l.map_or(0, |l| l.index));
            let matched = if *id == m.id && m.replication.is_some() {
                Some(last)
            } else {
                matched
            };
            proto::MemberStatus {
                id: *id,
                client_addr,
                peer_addr: member.peer_addr.clone(),
                role: if voters.contains(id) {
                    "voter"
                } else {
                    "learner"
                }
                .into(),
                matched_known: matched.is_some(),
                matched_index: matched.unwrap_or(0),
                lag: matched.map_or(0, |i| last.saturating_sub(i)),
            }
        })
        .collect();
    proto::ClusterStatus {
        leader: m.current_leader.unwrap_or(0),
        this_member: m.id,
        term: m.current_term,
        applied_index: m.last_applied.map_or(0, |l| l.index),
        members,
    }
}

/// Makes a membership change on the leader (`coord cluster add/remove`).
pub(crate) async fn change(
    shared: &Shared,
    change: proto::cluster_change_request::Change,
) -> Result<proto::ClusterStatus> {
    use proto::cluster_change_request::Change;
    if shared.own_member.is_none() {
        return Err(Error::BadArguments(
            "this server runs without a peer port: restart it with --peer-listen (same data \
             dir) to let it grow into a cluster"
                .into(),
        ));
    }
    if !shared.replica.is_leader() {
        let leader = shared.replica.leader();
        let at = leader
            .and_then(|l| shared.replica.member(l).map(|m| (l, m.addr)))
            .map(|(l, a)| {
                let a = if a.is_empty() {
                    shared.directory.client_addr(l).unwrap_or_default()
                } else {
                    a
                };
                format!("member {l} at {a}")
            })
            .unwrap_or_else(|| "not known".into());
        return Err(Error::NotLeader(format!(
            "membership changes are made by the leader ({at})"
        )));
    }
    match change {
        Change::Add(a) => {
            if a.id == 0 {
                return Err(Error::BadArguments("member id 0 is not allowed".into()));
            }
            if a.peer_addr.parse::<SocketAddr>().is_err()
                && tokio::net::lookup_host(&a.peer_addr).await.is_err()
            {
                return Err(Error::BadArguments(format!(
                    "peer address {:?} of member {} is not host:port",
                    a.peer_addr, a.id
                )));
            }
            info!(id = a.id, peer_addr = %a.peer_addr, learner = a.learner, "adding a member");
            let (id, peer) = (a.id, a.peer_addr.clone());
            let added = tokio::time::timeout(
                CATCH_UP_LIMIT,
                shared
                    .replica
                    .add_learner(a.id, Member::new(a.client_addr, a.peer_addr)),
            )
            .await;
            match added {
                Ok(r) => r?,
                Err(_) => {
                    return Err(Error::OperationTimeout(format!(
                        "member {id} was added as a learner but has not caught up within \
                         {CATCH_UP_LIMIT:?}: is it running and reachable at {peer}? \
                         `coord cluster status` shows its lag; promote it with `cluster add` \
                         again once it caught up, or `cluster remove {id}`"
                    )));
                }
            }
            if !a.learner {
                let mut voters: std::collections::BTreeSet<NodeId> = shared
                    .replica
                    .metrics()
                    .borrow()
                    .membership_config
                    .membership()
                    .voter_ids()
                    .collect();
                voters.insert(a.id);
                shared.replica.change_voters(voters).await?;
            }
        }
        Change::Remove(id) => {
            info!(id, "removing a member");
            shared.replica.remove_member(id).await?;
        }
    }
    Ok(status(shared))
}
