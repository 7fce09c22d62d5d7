//! The state every part of a running server shares (the accept loops,
//! connections, housekeeping, the HTTP port), and the observer through which
//! the replica's applied commands reach sessions and watches.

use super::clock::LeaderClock;
use super::sessions::SessionManager;
use super::{
    bulk, config::ServerConfig, deposed, dispatch, export, forward, lock_waits, metrics, outbound,
    tls, zk,
};
use crate::error::{Error, Result};
use crate::replication::{ApplyObserver, Replica};
use crate::state_machine::{Command, Outcome, StateMachine, WatchEvent};
use crate::watch::WatchRegistry;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;

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
pub(super) struct Observer {
    pub(super) watches: Arc<WatchRegistry>,
    pub(super) sessions: Arc<SessionManager>,
    pub(super) applied: watch::Sender<u64>,
    pub(super) forwarder: Arc<forward::Forwarder>,
    pub(super) lock_waits: Arc<lock_waits::LockWaits>,
}

impl ApplyObserver for Observer {
    fn on_command(&self, _sm: &StateMachine, cmd: &Command, outcome: &Outcome) {
        self.sessions.on_applied(cmd, outcome);
        self.forwarder.applied(cmd, outcome);
    }

    fn on_apply(&self, sm: &StateMachine, zxid: u64, events: Vec<WatchEvent>) {
        self.lock_waits.on_apply(sm, &events);
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
