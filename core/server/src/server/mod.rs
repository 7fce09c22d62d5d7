//! The coord server: listener, per-connection loop, request dispatch,
//! leader housekeeping and graceful shutdown.
//!
//! Shape (after mini-redis): [`Server::start`] binds, opens the replica and
//! spawns an accept loop; each connection runs `connection`'s loop; a
//! `watch` channel broadcasts shutdown and [`Server::shutdown`] waits for every
//! connection to drain, at most `shutdown_grace` (then drops the rest),
//! before flushing the replica. What is queued for clients is accounted
//! server-wide by `outbound`'s budget.
//!
//! This module owns sockets and the glue between the replica, the watch
//! registry and the session manager (`sessions`, which owns liveness,
//! connections and session owners). It never decides an outcome: every write
//! goes through the log and `apply`.

mod accept;
mod acl_requests;
pub mod bounds;
mod bulk;
mod clock;
mod cluster;
mod config;
mod connection;
mod dispatch;
mod export;
mod forward;
mod handshake;
mod housekeeping;
mod http;
mod in_touch;
mod lock_waits;
mod metrics;
mod node_id;
mod outbound;
mod per_ip;
mod removal;
mod resources;
mod sessions;
#[cfg(test)]
mod sessions_tests;
mod shared;
mod status;
pub(crate) mod tls;
mod tokens;
mod watch_requests;
mod zk;

pub use config::{
    DEFAULT_EXPORT_IDLE_TIMEOUT, DEFAULT_HTTP_MAX_CHILDREN, DEFAULT_HTTP_MAX_WALK_NODES,
    DEFAULT_LISTEN, DEFAULT_MAX_EXPORT_PAGE_BYTES, DEFAULT_ZK_MAX_PACKET_BYTES, ServerConfig,
};
pub use tls::TlsFiles;
pub use tokens::Tokens;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::error::{Error, Result};
use crate::replication::{Replica, ReplicationConfig};
use crate::watch::WatchRegistry;
use accept::{accept_loop, listen};
use clock::LeaderClock;
use sessions::SessionManager;
use shared::Observer;
pub(crate) use shared::{Shared, lock};

/// A running server.
pub struct Server {
    local_addr: SocketAddr,
    zk_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<JoinSet<()>>,
    housekeeping: tokio::task::JoinHandle<()>,
    fail_stop: tokio::task::JoinHandle<()>,
    failed: watch::Receiver<Option<Error>>,
    /// Watches the membership for this member's removal (see `removal`).
    removal: tokio::task::JoinHandle<()>,
    removed: watch::Receiver<bool>,
    /// The peer listener and the forward stream of a cluster member.
    peers: Option<cluster::PeerTasks>,
    /// Re-reads the peer port's certificates (a member with peer TLS).
    peer_tls: Option<cluster::PeerTlsReload>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl Server {
    /// Checks the settings and what the system grants (descriptors, free
    /// space), opens the data dir, replays it, binds the listener and starts
    /// serving.
    pub async fn start(mut cfg: ServerConfig) -> Result<Server> {
        bounds::validate(&cfg)?;
        // Replicated with the other limits: the leader's flag decides.
        cfg.limits.auth_required = cfg.auth_required;
        let tls = match &cfg.tls {
            Some(files) => Some(tls::TlsSource::load(files.clone(), "tls")?),
            None => None,
        };
        // Creates the data dir durably, then records or checks the id.
        node_id::check_or_record(&cfg.data_dir, cfg.node_id)?;
        resources::check_free_space(&cfg.data_dir, cfg.min_free_disk_bytes)?;
        cfg.max_connections =
            resources::fd_budget(cfg.max_connections, cfg.fd_reserve)?.max_connections;
        let watches = Arc::new(WatchRegistry::with_history_bytes(cfg.watch_history_bytes));
        let (applied_tx, applied_rx) = watch::channel(0u64);
        let sessions = Arc::new(SessionManager::new(watches.clone(), cfg.node_id));
        let forwarder = Arc::new(forward::Forwarder::new(
            cfg.node_id,
            cfg.max_pending_proposal_bytes,
        ));
        let lock_waits = Arc::new(lock_waits::LockWaits::new(cfg.http_listen.is_some()));
        let observer = Arc::new(Observer {
            watches: watches.clone(),
            sessions: sessions.clone(),
            applied: applied_tx,
            forwarder: forwarder.clone(),
            lock_waits: lock_waits.clone(),
        });
        let mut rcfg = ReplicationConfig::new(cfg.data_dir.clone());
        rcfg.node_id = cfg.node_id;
        rcfg.snapshot_logs_since_last = cfg.snapshot_logs_since_last;
        rcfg.snapshot_log_bytes = cfg.snapshot_log_bytes;
        rcfg.snapshot_retry = cfg.snapshot_retry;
        rcfg.log_cache_bytes = cfg.log_cache_bytes;
        rcfg.max_pending_proposal_bytes = cfg.max_pending_proposal_bytes;
        rcfg.heartbeat_ms = ms(cfg.heartbeat);
        rcfg.election_timeout_min_ms = ms(cfg.election_timeout);
        // openraft holds a leader lease of the upper bound: a follower
        // campaigns that long plus its random timeout after the last
        // heartbeat, so a narrow range keeps failover short.
        rcfg.election_timeout_max_ms = ms(cfg.election_timeout) * 3 / 2;
        let listener = listen(cfg.listen)
            .map_err(|e| Error::Io(format!("cannot listen on {}: {e}", cfg.listen)))?;
        let local_addr = listener.local_addr()?;
        let zk_listener = match cfg.zk_listen {
            Some(addr) => Some(listen(addr).map_err(|e| {
                Error::Io(format!(
                    "cannot listen for ZooKeeper clients on {addr}: {e}"
                ))
            })?),
            None => None,
        };
        let zk_addr = match &zk_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let http_listener = match cfg.http_listen {
            Some(addr) => Some(http::bind(addr).await?),
            None => None,
        };
        let http_addr = match &http_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        rcfg.client_addr = local_addr.to_string();
        let directory = crate::replication::peer::Directory::default();
        let contact = crate::replication::peer::Contact::default();
        // With a peer port this server is a cluster member (perhaps of a
        // cluster of one that can grow); without, the embedded single node.
        let peer = if cfg.peer_listen.is_some() || cfg.peer_socket.is_some() {
            Some(cluster::Peers::bind(&cfg, &rcfg.client_addr, &directory, &contact).await?)
        } else {
            None
        };
        let own_member = peer.as_ref().map(|p| {
            crate::replication::Member::new(rcfg.client_addr.clone(), p.addr().to_string())
        });
        let replica = match &peer {
            Some(p) => {
                let founders =
                    cluster::founding_members(cfg.cluster.as_ref(), cfg.node_id, &rcfg.client_addr);
                if founders.is_none() {
                    info!(
                        node_id = cfg.node_id,
                        "no --cluster: with an empty data dir this member waits to be added \
                         by a cluster's leader (coord cluster add)"
                    );
                }
                Replica::start_member(rcfg, observer.clone(), p.network(), founders).await?
            }
            None => Replica::start(rcfg, observer.clone()).await?,
        };
        let sm = replica.state();
        let clock = LeaderClock::start(sm.read().unwrap_or_else(|p| p.into_inner()).last_time_ms());
        let leading = peer.is_none();
        if leading {
            // Limits decide outcomes, so a changed flag takes effect through
            // the log, from this command on (never by re-applying the log
            // under it). A member of a cluster does this when it is elected.
            replica
                .replicate_limits(&cfg.limits, clock.now_ms())
                .await?;
        }
        {
            // A restarted leader gives every known session a full timeout.
            let state = sm.read().unwrap_or_else(|p| p.into_inner());
            observer.applied.send_replace(state.last_zxid());
            sessions.grant_full_timeouts(&state.sessions(), Instant::now());
        }
        info!(%local_addr, data_dir = %cfg.data_dir.display(), "coord server listening");
        let replica_failed = replica.failed();
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            clock,
            outbound: outbound::OutboundBudget::new(cfg.max_total_outbound_bytes),
            cfg,
            replica,
            sm,
            watches,
            sessions,
            applied: applied_rx,
            next_conn: AtomicU64::new(1),
            stopping: shutdown_rx.clone(),
            bulk: bulk::Bulk::start()
                .map_err(|e| Error::Io(format!("cannot start the bulk reply thread: {e}")))?,
            forwarder,
            directory,
            contact,
            peer_cfg: peer.as_ref().map(|p| p.config().clone()),
            own_member,
            zk_stats: Default::default(),
            zk_addr,
            metrics: metrics::Metrics::new(http_listener.is_some()),
            lock_waits,
            tls,
            exports: Default::default(),
        });
        if let Some(listener) = http_listener {
            info!(addr = ?http_addr, "serving /metrics, /health, /ready and the dashboard over HTTP");
            tokio::spawn(http::serve(listener, shared.clone(), shutdown_rx.clone()));
        }
        let mut peer = peer;
        let peer_tls = peer.as_mut().and_then(cluster::Peers::take_tls_reload);
        let peers = peer.map(|p| p.serve(&shared, shutdown_rx.clone()));
        if let Some(addr) = zk_addr {
            info!(%addr, "accepting ZooKeeper clients");
        }
        let accept = tokio::spawn(accept_loop(
            listener,
            zk_listener,
            shared.clone(),
            shutdown_rx.clone(),
        ));
        let (removed_tx, removed) = watch::channel(false);
        let removal = tokio::spawn(removal::watch(
            shared.clone(),
            removed_tx,
            shutdown_rx.clone(),
        ));
        let housekeeping = tokio::spawn(housekeeping::run(shared.clone(), shutdown_rx, leading));
        let (failed_tx, failed) = watch::channel(None);
        let fail_stop = tokio::spawn(fail_stop(
            replica_failed,
            failed_tx,
            shutdown_tx.clone(),
            shared.cfg.data_dir.clone(),
        ));
        Ok(Server {
            local_addr,
            zk_addr,
            http_addr,
            shared,
            shutdown_tx,
            accept,
            housekeeping,
            fail_stop,
            failed,
            removal,
            removed,
            peers,
            peer_tls,
        })
    }

    /// Resolves when this member has learned that the cluster removed it
    /// (`coord cluster remove`): it has marked its data dir so that no later
    /// start serves from it, and the caller should [`Server::shutdown`]
    /// (`coord serve` does, and exits 0).
    pub async fn removed(&self) {
        let mut rx = self.removed.clone();
        if rx.wait_for(|r| *r).await.is_err() {
            // The watcher ended without a removal (the server is stopping).
            std::future::pending::<()>().await;
        }
    }

    /// Resolves when the server has failed and stopped serving: raft stopped
    /// on a storage error (disk full, I/O error, descriptors exhausted) or a
    /// panic. The server has then closed its connections and answered what
    /// was in flight with the error; the caller should call
    /// [`Server::shutdown`] and exit non-zero (`coord serve` does), so that a
    /// supervisor restarts it or the cluster takes over (fail-stop).
    pub async fn failed(&self) -> Error {
        let mut rx = self.failed.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(e) => e
                .clone()
                .unwrap_or_else(|| Error::Internal("failed".into())),
            // The sender lives in the fail-stop task, which only ends after
            // sending or when the server is dropped.
            Err(_) => std::future::pending().await,
        }
    }

    /// Re-reads the TLS certificates and keys of the client, ZooKeeper and
    /// peer ports (`coord serve` does on SIGHUP): connections accepted or
    /// made from now on get the new ones, open
    /// connections and their sessions stay as they are. On error (a file
    /// missing or unusable) the certificates in use stay, and the error names
    /// the file. Without TLS there is nothing to re-read.
    pub fn reload_tls(&self) -> Result<()> {
        if let Some(source) = &self.shared.tls {
            source.reload()?;
            info!("TLS certificates re-read; new connections get them");
        }
        if let Some(peer) = &self.peer_tls {
            peer.reload()?;
            info!("peer TLS certificates re-read; new peer connections get them");
        }
        Ok(())
    }

    /// Graceful stop: stop accepting, let every connection finish its
    /// in-flight requests and tell its client, then flush and stop the replica.
    /// Connections still open after `shutdown_grace` (a client that does not
    /// read its answers) are dropped. Sessions stay in the state; clients can
    /// resume them after a restart.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.shutdown_tx.send(true);
        // Stop accepting first, then close every connection: one accepted in
        // the meantime either is in `conns` by now or sees the flag itself.
        let mut conns = self.accept.await.unwrap_or_default();
        self.shared.sessions.begin_shutdown();
        let grace = self.shared.cfg.shutdown_grace;
        let drained =
            tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            warn!(
                connections = conns.len(),
                ?grace,
                "connections still open after shutdown_grace: dropping them"
            );
            conns.abort_all();
            while conns.join_next().await.is_some() {}
        }
        let _ = self.housekeeping.await;
        self.fail_stop.abort();
        self.removal.abort();
        let _ = self.removal.await;
        if let Some(p) = self.peers {
            p.stop().await;
        }
        shutdown_replica(self.shared).await?;
        info!("coord server stopped");
        Ok(())
    }

    /// Abrupt stop for tests: drops every connection at once without telling
    /// clients, as if the process had died, then releases the data dir.
    pub async fn abort(self) {
        self.accept.abort();
        self.housekeeping.abort();
        self.fail_stop.abort();
        self.removal.abort();
        let _ = self.shutdown_tx.send(true);
        // Dropping the accept task's JoinSet aborts every connection task, and
        // with it each connection's socket, responder, writer and registration.
        let _ = self.accept.await;
        let _ = self.housekeeping.await;
        let _ = self.removal.await;
        if let Some(p) = self.peers {
            p.stop().await;
        }
        if let Err(e) = shutdown_replica(self.shared).await {
            warn!(error = %e, "replica shutdown after abort failed");
        }
    }
}

/// Waits for raft to fail; then says so in the log, publishes the error and
/// stops serving (connections close, telling their clients).
async fn fail_stop(
    replica_failed: impl std::future::Future<Output = Option<Error>>,
    failed: watch::Sender<Option<Error>>,
    shutdown: watch::Sender<bool>,
    data_dir: std::path::PathBuf,
) {
    if let Some(e) = replica_failed.await {
        error!(
            error = %e,
            data_dir = %data_dir.display(),
            "replication stopped on an error it cannot recover from; the server stops \
             serving and exits (fail-stop) so that a supervisor or the cluster takes over"
        );
        let _ = failed.send(Some(e));
        let _ = shutdown.send(true);
        // Keep the sender alive so `Server::failed` keeps its answer.
        std::future::pending::<()>().await;
    }
}

/// `NotLeader` from the local log: this member was deposed meanwhile.
fn deposed(e: Error) -> Error {
    match e {
        Error::NotLeader(why) => {
            Error::ConnectionLoss(format!("this server stopped leading: {why}"))
        }
        e => e,
    }
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn shutting_down_error() -> Error {
    Error::ShuttingDown("server is shutting down".into())
}

/// Stops the replica once every task that shared it has ended.
async fn shutdown_replica(shared: Arc<Shared>) -> Result<()> {
    // Connection and housekeeping tasks hold clones only while running; they
    // have all been joined or aborted by now, but an aborted task releases its
    // captures when it is dropped, which may lag by a scheduling round.
    let mut shared = shared;
    for _ in 0..100 {
        match Arc::try_unwrap(shared) {
            Ok(s) => return s.replica.shutdown().await,
            Err(again) => {
                shared = again;
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
    Err(Error::Internal(
        "server state still shared after shutdown; replica not stopped".into(),
    ))
}
