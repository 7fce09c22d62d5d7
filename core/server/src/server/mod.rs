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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::error::{Error, Result};
use crate::replication::{ApplyObserver, Replica, ReplicationConfig};
use crate::state_machine::{Command, Outcome, StateMachine, WatchEvent};
use crate::watch::WatchRegistry;
use clock::LeaderClock;
use sessions::SessionManager;

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

/// State shared by the accept loop, connections and housekeeping.
pub(crate) struct Shared {
    pub(crate) cfg: ServerConfig,
    pub(crate) replica: Replica,
    pub(crate) sm: Arc<RwLock<StateMachine>>,
    pub(crate) watches: Arc<WatchRegistry>,
    /// Liveness, open connections and session owners.
    pub(crate) sessions: Arc<SessionManager>,
    /// The applied zxid, for reads that must not go back in time.
    pub(crate) applied: watch::Receiver<u64>,
    pub(crate) next_conn: AtomicU64,
    /// The leader's clock for command timestamps (see `clock`).
    pub(crate) clock: LeaderClock,
    /// Bytes queued for all clients (`max_total_outbound_bytes`).
    pub(crate) outbound: Arc<outbound::OutboundBudget>,
    /// Turns true when a graceful stop begins.
    pub(crate) stopping: watch::Receiver<bool>,
    /// The low-priority thread that makes large replies (see `bulk`).
    pub(crate) bulk: bulk::Bulk,
    /// Forwards writes to the leader when this member does not lead.
    pub(crate) forwarder: Arc<forward::Forwarder>,
    /// Client addresses of the other members (from peer handshakes).
    pub(crate) directory: crate::replication::peer::Directory,
    /// When this member last heard from its leader or its followers (see
    /// `in_touch`).
    pub(crate) contact: crate::replication::peer::Contact,
    /// The peer network's settings (cluster members only).
    pub(crate) peer_cfg: Option<crate::replication::peer::PeerConfig>,
    /// This member's addresses as it serves now (cluster members only); a
    /// new leader corrects its own entry in the membership if they changed.
    pub(crate) own_member: Option<crate::replication::Member>,
    /// Counters of the ZooKeeper port (see `zk`).
    pub(crate) zk_stats: Arc<zk::ZkStats>,
    /// Where the ZooKeeper port listens, once bound.
    pub(crate) zk_addr: Option<SocketAddr>,
    /// Request latencies for `/metrics` (recorded only with an HTTP port).
    pub(crate) metrics: metrics::Metrics,
    /// Lock waits for `/metrics` (recorded only with an HTTP port).
    pub(crate) lock_waits: Arc<lock_waits::LockWaits>,
    /// TLS of the client and ZooKeeper ports (`None`: plain TCP).
    pub(crate) tls: Option<tls::TlsSource>,
    /// Open exports (`coord dump`), by connection (see `export`).
    pub(crate) exports: export::Exports,
}

impl Shared {
    pub(crate) fn read_sm(&self) -> std::sync::RwLockReadGuard<'_, StateMachine> {
        // Apply never leaves the tree half-changed across a panic point that
        // could poison the lock in a way worse than the panic itself.
        self.sm.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The leader's time for a command, in milliseconds since the epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The Proposer seam: submits a client's write from connection `conn`
    /// in admission order; the future resolves with the outcome once this
    /// member applied it. On the leader the write goes to the local log (if
    /// the session still belongs to `conn`); elsewhere it is forwarded (see
    /// `forward`).
    pub(crate) async fn propose(
        &self,
        cmd: Command,
        conn: watch_conn::ConnId,
    ) -> Result<forward::OutcomeFuture> {
        if self.replica.is_leader() {
            if cmd.session_id != 0 {
                self.sessions
                    .check_owner(cmd.session_id, self.replica.node_id(), conn)?;
            }
            // Leadership lost between the check and the log: the write was
            // not applied, but later writes of the session may reach the new
            // leader through another path first, so the connection closes
            // (as for a forwarded write whose leader went away).
            let fut = self.replica.submit(cmd).await.map_err(deposed)?;
            return Ok(Box::pin(async move { fut.await.map_err(deposed) }));
        }
        self.forwarder.submit(&self.replica, cmd, conn).await
    }

    /// Waits until a read here is linearizable: the leader confirms its
    /// leadership with a quorum (read index) and this member applies up to
    /// the index it names.
    ///
    /// During an election (no leader known, this member just lost the lead,
    /// or the leader's stream broke) it waits for the next leader, at most
    /// [`Self::forward_patience`] as writes do, and asks again; after that
    /// the error stands (`NotLeader`: no leader could be reached from here).
    pub(crate) async fn linearize(&self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.forward_patience();
        loop {
            let attempt = if self.replica.is_leader() {
                self.replica.ensure_linearizable().await
            } else {
                match self.forwarder.read_index(&self.replica).await {
                    Ok(zxid) => return dispatch::wait_applied(self, zxid).await,
                    Err(e) => Err(e),
                }
            };
            match attempt {
                // A read index is asked again safely (it changes nothing):
                // also when the leader's stream broke under it.
                Err(Error::NotLeader(why) | Error::ConnectionLoss(why))
                    if tokio::time::Instant::now() < deadline =>
                {
                    let was = self.replica.leader();
                    let mut metrics = self.replica.metrics();
                    // The next leader, or a short pause when this member
                    // still names one that failed the check.
                    let _ = tokio::time::timeout_at(
                        deadline.min(tokio::time::Instant::now() + self.cfg.election_timeout),
                        metrics.wait_for(|m| m.current_leader.is_some() && m.current_leader != was),
                    )
                    .await;
                    tracing::debug!(why, "sync: no leader confirmed yet; asking again");
                }
                other => return other,
            }
        }
    }

    /// How long a follower holds writes that it cannot forward yet (no
    /// leader elected, or the leader unreachable) before failing them: two
    /// full election rounds.
    pub(crate) fn forward_patience(&self) -> std::time::Duration {
        self.cfg.election_timeout * 4 + self.cfg.heartbeat * 2
    }

    /// Session `session_id` is now carried by connection `conn` here: a
    /// follower tells the leader, which records the owner.
    pub(crate) fn announce_owner(&self, session_id: u64, conn: watch_conn::ConnId) {
        if !self.replica.is_leader() {
            self.forwarder.attach(session_id, conn);
        }
    }
}

use crate::watch as watch_conn;

/// Locks `m`, recovering from poisoning: the guarded data are plain maps
/// and counters that stay consistent across a panicking holder.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Routes applied session commands to the session manager, events to
/// watches, and publishes the applied zxid.
struct Observer {
    watches: Arc<WatchRegistry>,
    sessions: Arc<SessionManager>,
    applied: watch::Sender<u64>,
    forwarder: Arc<forward::Forwarder>,
    lock_waits: Arc<lock_waits::LockWaits>,
}

impl ApplyObserver for Observer {
    fn on_command(&self, _sm: &StateMachine, cmd: &Command, outcome: &Outcome) {
        self.sessions.on_applied(cmd, outcome);
        self.forwarder.applied(cmd, outcome);
    }

    fn on_apply(&self, sm: &StateMachine, zxid: u64, events: &[WatchEvent]) {
        self.lock_waits.on_apply(sm, events);
        self.watches
            .fire_checked(events, &|session, event| sm.may_see(session, event));
        self.applied.send_replace(zxid);
    }

    fn on_reset(&self, sm: &StateMachine) {
        // Entries replaced by a snapshot are never applied one by one here:
        // their forwarded writes cannot learn their outcomes.
        self.forwarder
            .fail_all("this server installed a snapshot from the leader");
        self.watches.reset_history();
        self.sessions.on_reset(sm);
        self.applied.send_replace(sm.last_zxid());
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

    /// Whether the client port speaks TLS.
    pub fn tls_enabled(&self) -> bool {
        self.shared.tls.is_some()
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address ZooKeeper clients connect to, when
    /// [`ServerConfig::zk_listen`] is set.
    pub fn zk_addr(&self) -> Option<SocketAddr> {
        self.zk_addr
    }

    /// Where the HTTP port (`/metrics`, `/health`, `/ready`) listens, if on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Watch registrations currently held by this server (all kinds).
    pub fn watch_count(&self) -> usize {
        self.shared.watches.len()
    }

    /// Watch events delivered to connections since start, one per event per
    /// connection (the herd metric).
    pub fn watch_events_delivered(&self) -> u64 {
        self.shared.watches.delivered()
    }

    /// `fdatasync` calls made on the log since start.
    pub fn log_fsyncs(&self) -> u64 {
        self.shared.replica.log_fsyncs()
    }

    /// Whether this server leads its cluster now (a single node always does).
    pub fn is_leader(&self) -> bool {
        self.shared.replica.is_leader()
    }

    /// The leader this server knows of, if any.
    pub fn leader(&self) -> Option<u64> {
        self.shared.replica.leader()
    }

    /// This server's member id.
    pub fn node_id(&self) -> u64 {
        self.shared.replica.node_id()
    }

    /// The zxid this server has applied up to.
    pub fn applied_zxid(&self) -> u64 {
        *self.shared.applied.borrow()
    }

    /// Sessions the leader currently tracks as live.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.session_count()
    }

    /// Client connections currently attached to a session on this server.
    pub fn connection_count(&self) -> usize {
        self.shared.sessions.connection_count()
    }

    /// Bytes queued for all clients now, framing and per-frame overhead
    /// included (what `max_total_outbound_bytes` bounds).
    pub fn outbound_bytes(&self) -> usize {
        self.shared.outbound.total()
    }

    /// The most bytes of writes that were queued in front of the log (or in
    /// flight) at once since start (what `max_pending_proposal_bytes` bounds).
    pub fn pending_proposal_peak(&self) -> usize {
        self.shared.replica.pending_proposal_peak()
    }

    /// `ExpireSessions` commands applied since start (each one a log entry
    /// and an fsync on the leader).
    pub fn expire_commands(&self) -> u64 {
        self.shared.sessions.expire_commands()
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

/// Connections the kernel may queue before the accept loop takes them (it
/// stops taking them at `max_connections`); the kernel caps it at somaxconn.
const LISTEN_BACKLOG: u32 = 1024;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
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
async fn accept_loop(
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
