//! [`Replica`]: the facade the server uses to run the replicated state machine.
//!
//! It creates the data directory durably, opens the stores under
//! `<data_dir>/raft` and `<data_dir>/snapshots` (the snapshot chosen must reach
//! the log's start), starts openraft with its snapshot policy (entry count,
//! plus the log-size trigger of `snapshot_trigger`), bootstraps a one-member
//! cluster, and maps openraft's errors onto coord's [`Error`]. It owns no
//! storage format and no state-machine logic.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, InitializeError, RaftError};
use openraft::network::RaftNetworkFactory;
use openraft::{Raft, RaftMetrics, ServerState, SnapshotPolicy};
use tokio::sync::watch;

use super::batcher::Batcher;
use super::log_store::LogOptions;
use super::log_writer::WriterHandle;
use super::sm_store::SmOptions;
use super::{ApplyObserver, LogStore, Member, NetworkFactory, NodeId, SmStore, TypeConfig};
use crate::config::Limits;
use crate::error::Error;
use crate::state_machine::{Command, CommandKind, Outcome, StateMachine};

mod errors;
mod membership;
mod status;

use errors::{failure_of, leader_hint};
pub(super) use errors::{map_fatal, map_write_err};

/// Settings of the replication engine.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// Root of the node's durable state (`raft/` and `snapshots/` go inside).
    pub data_dir: PathBuf,
    /// This node's raft id (never changes for a data directory).
    pub node_id: u64,
    /// Build a snapshot (and compact the log) after this many applied entries.
    pub snapshot_logs_since_last: u64,
    /// Also build one once the log entries after the last snapshot take this
    /// many bytes of log (0: entry count only).
    pub snapshot_log_bytes: u64,
    /// After a snapshot fails to build, wait this long before trying again.
    pub snapshot_retry: Duration,
    /// Bytes of recent log entries kept in memory (older ones are read from
    /// the log file when needed).
    pub log_cache_bytes: u64,
    /// Entries kept in the log behind a snapshot, so a slightly lagging follower
    /// can catch up without a snapshot transfer.
    pub logs_to_keep_after_snapshot: u64,
    /// Leader heartbeat interval in milliseconds.
    pub heartbeat_ms: u64,
    /// Lower bound of the randomized election timeout in milliseconds.
    pub election_timeout_min_ms: u64,
    /// Batches proposed to raft but not yet applied. The batcher proposes
    /// the next batch once the previous one is durable in the local log, so
    /// this bounds how many batches wait for their commit and apply (on a
    /// cluster: for the followers) behind the one being fsynced. Default 4.
    pub max_inflight_batches: usize,
    /// Upper bound (exclusive) of the randomized election timeout in milliseconds.
    pub election_timeout_max_ms: u64,
    /// How long [`Replica::start`] waits to become leader and catch up.
    pub startup_timeout: Duration,
    /// Address clients reach this member at. Recorded as the member's address
    /// in the raft membership, so a `NotLeader` answer can name the leader's
    /// client address. Peers do not use it: the peer address (its own port)
    /// arrives with the multi-node network.
    pub client_addr: String,
    /// Most bytes of commands queued in front of the log or in flight
    /// (`max_pending_proposal_bytes`); past it [`Replica::submit`] waits.
    pub max_pending_proposal_bytes: usize,
}

impl ReplicationConfig {
    /// Defaults for a single node keeping its state in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ReplicationConfig {
            data_dir: data_dir.into(),
            node_id: 1,
            snapshot_logs_since_last: 10_000,
            snapshot_log_bytes: DEFAULT_SNAPSHOT_LOG_BYTES,
            snapshot_retry: super::DEFAULT_SNAPSHOT_RETRY,
            log_cache_bytes: super::DEFAULT_LOG_CACHE_BYTES,
            logs_to_keep_after_snapshot: 1_000,
            heartbeat_ms: 100,
            election_timeout_min_ms: 300,
            election_timeout_max_ms: 600,
            max_inflight_batches: 4,
            startup_timeout: Duration::from_secs(30),
            client_addr: String::new(),
            max_pending_proposal_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Default of [`ReplicationConfig::snapshot_log_bytes`] (`--snapshot-log-bytes`).
pub const DEFAULT_SNAPSHOT_LOG_BYTES: u64 = 64 << 20;

/// How long shutdown waits for a snapshot still being written.
const SNAPSHOT_WRITE_PATIENCE: Duration = Duration::from_secs(30);

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running replica of the coord state machine (see the module docs).
pub struct Replica {
    raft: Raft<TypeConfig>,
    state: Arc<RwLock<StateMachine>>,
    metrics: watch::Receiver<RaftMetrics<NodeId, Member>>,
    node_id: NodeId,
    log: WriterHandle,
    batcher: Batcher,
    _snapshot_trigger: Option<AbortOnDrop>,
    /// What the log store holds (tests).
    #[cfg(test)]
    log_view: super::log_store::LogReader,
    /// The state-machine store (shutdown waits for its snapshot thread;
    /// tests inject snapshot failures through it).
    sm_store: SmStore,
    /// The log store's switch for running alone (see [`Replica::start`]).
    alone: Arc<AtomicBool>,
}

impl Replica {
    /// Opens the stores, starts raft, bootstraps a one-member cluster (see
    /// `bootstrap_one_member_cluster`), and returns once this node is leader
    /// and has applied everything committed.
    ///
    /// Such a replica has no network and is its data's only voter for as
    /// long as it runs (it refuses new members), so from then on it runs
    /// alone: raft counts an append as done once it is queued, and the state
    /// machine applies an entry only once the log has it on disk (see
    /// `log_store`). Every write is still answered after its fsync; raft's
    /// core just no longer stops for each one.
    pub async fn start(
        cfg: ReplicationConfig,
        observer: Arc<dyn ApplyObserver>,
    ) -> Result<Replica, Error> {
        let replica = Replica::open(&cfg, observer, NetworkFactory).await?;
        replica.bootstrap_one_member_cluster(&cfg).await?;
        // The gate before the switch: no entry raft counts early is applied
        // without waiting for its fsync.
        replica.sm_store.apply_only_durable(replica.log.durable());
        replica.alone.store(true, Ordering::Release);
        Ok(replica)
    }

    /// Whether this replica runs alone (see [`Replica::start`]).
    pub fn runs_alone(&self) -> bool {
        self.alone.load(Ordering::Acquire)
    }

    /// Opens the stores and starts raft as a member of a cluster, reaching
    /// its peers through `network`. Returns at once, leader or not (see
    /// [`Replica::wait_for_leader`]).
    ///
    /// With `bootstrap`, on first start (an empty log) the membership is
    /// initialized with those voters (this node among them); every founding
    /// member may do so with the same list, and the vote makes one of them
    /// leader. Without it the member waits to be added by the leader
    /// ([`Replica::add_learner`]): a member joining a running cluster must not
    /// initialize, or its first log entry would differ from the cluster's. A
    /// member with data ignores `bootstrap`: the membership in its log is the
    /// truth.
    pub async fn start_member<N>(
        cfg: ReplicationConfig,
        observer: Arc<dyn ApplyObserver>,
        network: N,
        bootstrap: Option<BTreeMap<NodeId, Member>>,
    ) -> Result<Replica, Error>
    where
        N: RaftNetworkFactory<TypeConfig>,
    {
        if let Some(members) = &bootstrap
            && !members.contains_key(&cfg.node_id)
        {
            return Err(Error::BadArguments(format!(
                "node {} is not among the cluster's founding members {:?}",
                cfg.node_id,
                members.keys().collect::<Vec<_>>()
            )));
        }
        let replica = Replica::open(&cfg, observer, network).await?;
        if let Some(members) = bootstrap
            && !replica.raft.is_initialized().await.map_err(map_fatal)?
        {
            replica.initialize(members).await?;
        }
        Ok(replica)
    }

    /// Initializes the membership with `members` as the voters; a member that
    /// is already initialized (another founder reached it first) is fine.
    async fn initialize(&self, members: BTreeMap<NodeId, Member>) -> Result<(), Error> {
        match self.raft.initialize(members).await {
            Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(RaftError::APIError(e)) => {
                Err(Error::Internal(format!("forming the cluster: {e}")))
            }
            Err(RaftError::Fatal(f)) => Err(map_fatal(f)),
        }
    }

    /// Waits until this member knows a leader (itself or another), at most
    /// `timeout`; returns the leader's id.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<NodeId, Error> {
        let m = self
            .raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader.is_some(), "a known leader")
            .await
            .map_err(|e| Error::OperationTimeout(format!("waiting for a leader: {e}")))?;
        m.current_leader
            .ok_or_else(|| Error::Internal("leader vanished from the metrics".into()))
    }

    /// Opens the stores and starts raft with `network`; no membership yet.
    async fn open<N>(
        cfg: &ReplicationConfig,
        observer: Arc<dyn ApplyObserver>,
        network: N,
    ) -> Result<Replica, Error>
    where
        N: RaftNetworkFactory<TypeConfig>,
    {
        let data_dir = cfg.data_dir.clone();
        let log_opts = LogOptions {
            cache_bytes: cfg.log_cache_bytes,
            ..LogOptions::default()
        };
        let retry = cfg.snapshot_retry;
        let (log_store, sm_store) = tokio::task::spawn_blocking(move || {
            super::create_data_dir(&data_dir)?;
            let log = LogStore::open_reporting(&data_dir.join("raft"), log_opts)?;
            let opts = SmOptions {
                log_start: log.last_purged(),
                retry,
            };
            let sm = SmStore::open_with(&data_dir.join("snapshots"), observer, opts)?;
            Ok::<_, Error>((log, sm))
        })
        .await
        .map_err(|e| Error::Internal(format!("opening the stores: {e}")))??;
        let log = log_store.writer();
        let (log_reader, appended) = (log_store.reader(), log_store.appended_bytes());
        let commands_flushed = log_store.commands_flushed();
        let alone = log_store.alone_switch();
        #[cfg(test)]
        let log_view = log_store.reader();
        let state = sm_store.state();
        let sm_clone = sm_store.clone();

        let config = openraft::Config {
            cluster_name: "coord".into(),
            heartbeat_interval: cfg.heartbeat_ms,
            election_timeout_min: cfg.election_timeout_min_ms,
            election_timeout_max: cfg.election_timeout_max_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_logs_since_last),
            max_in_snapshot_log_to_keep: cfg.logs_to_keep_after_snapshot,
            ..Default::default()
        }
        .validate()
        .map_err(|e| Error::BadArguments(format!("replication config: {e}")))?;
        let raft = Raft::new(cfg.node_id, Arc::new(config), network, log_store, sm_store)
            .await
            .map_err(map_fatal)?;
        let snapshot_trigger = (cfg.snapshot_log_bytes > 0).then(|| {
            AbortOnDrop(tokio::spawn(super::snapshot_trigger::run(
                raft.clone(),
                log_reader,
                appended,
                cfg.snapshot_log_bytes,
                cfg.snapshot_retry,
            )))
        });
        let replica = Replica {
            _snapshot_trigger: snapshot_trigger,
            sm_store: sm_clone,
            #[cfg(test)]
            log_view,
            metrics: raft.metrics(),
            batcher: Batcher::start(
                raft.clone(),
                commands_flushed,
                cfg.max_inflight_batches,
                cfg.max_pending_proposal_bytes,
            ),
            raft,
            state,
            node_id: cfg.node_id,
            log,
            alone,
        };
        Ok(replica)
    }

    /// Bootstraps the one-member cluster this node forms today: on first start
    /// it initializes the membership with itself as the only voter; on a
    /// restart where it is still the sole voter it elects itself at once.
    /// Then it waits until it leads and has applied everything committed.
    /// (Joining a several-member cluster is [`Replica::start_member`]'s.)
    async fn bootstrap_one_member_cluster(&self, cfg: &ReplicationConfig) -> Result<(), Error> {
        if !self.raft.is_initialized().await.map_err(map_fatal)? {
            let members = BTreeMap::from([(
                cfg.node_id,
                Member::new(cfg.client_addr.clone(), String::new()),
            )]);
            self.initialize(members).await?;
        } else {
            let voters: BTreeSet<NodeId> = self
                .metrics
                .borrow()
                .membership_config
                .membership()
                .voter_ids()
                .collect();
            if voters == BTreeSet::from([self.node_id]) {
                // Sole voter: no need to sit out an election timeout.
                self.raft.trigger().elect().await.map_err(map_fatal)?;
            } else {
                // Waiting here would time out: no peer can be reached.
                return Err(Error::BadArguments(format!(
                    "the data dir {} belongs to member {} of a cluster with voters {voters:?}: \
                     start it with --peer-listen and --cluster (see README, \"Running a cluster\")",
                    cfg.data_dir.display(),
                    self.node_id
                )));
            }
        }
        self.raft
            .wait(Some(cfg.startup_timeout))
            .metrics(
                |m| {
                    m.state == ServerState::Leader
                        && m.last_applied.map(|l| l.index) >= m.last_log_index
                },
                "leader with everything applied",
            )
            .await
            .map_err(|e| Error::OperationTimeout(format!("replica start: {e}")))?;
        tracing::info!(node_id = self.node_id, "replica is leader and caught up");
        Ok(())
    }

    /// Makes `wanted` the replicated limits: if they differ from the limits
    /// the state machine enforces, proposes a `SetLimits` command stamped
    /// `time_ms` and waits until it is applied. Commands before it keep the
    /// limits they were applied under; commands after it get `wanted`.
    /// Returns whether a change was made. Call it on the leader after
    /// [`Replica::start`] (the log has been replayed by then).
    pub async fn replicate_limits(&self, wanted: &Limits, time_ms: i64) -> Result<bool, Error> {
        let current = self
            .state
            .read()
            .map_err(|_| Error::Internal("state machine lock poisoned".into()))?
            .limits()
            .clone();
        // Only a change of a limit a user set is worth a warning; the first
        // SetLimits of a new state (or one that turns on newer semantics,
        // see `Limits::initial`) is routine.
        let user_visible = current != Limits::initial()
            && (current.max_data_bytes != wanted.max_data_bytes
                || current.max_path_bytes != wanted.max_path_bytes
                || current.max_multi_ops != wanted.max_multi_ops
                || current.max_ephemerals_per_session != wanted.max_ephemerals_per_session);
        if &current == wanted {
            tracing::info!(limits = ?current, "configured limits match the replicated ones");
            return Ok(false);
        }
        let outcome = self
            .write(Command {
                origin: Default::default(),
                session_id: 0,
                time_ms,
                kind: CommandKind::SetLimits(wanted.clone()),
            })
            .await?;
        match outcome.result {
            Ok(_) if user_visible => {
                tracing::warn!(
                    from = ?current,
                    to = ?wanted,
                    zxid = outcome.zxid,
                    "configured limits differ from the replicated ones: changed them through the log; they apply to commands after this zxid"
                );
                Ok(true)
            }
            Ok(_) => {
                tracing::info!(limits = ?wanted, zxid = outcome.zxid, "replicated the limits");
                Ok(true)
            }
            Err(e) => Err(Error::BadArguments(format!(
                "configured limits {wanted:?} were rejected (replicated limits stay {current:?}): {e}"
            ))),
        }
    }

    /// The log's writer thread (tests hold it to pile up appends).
    #[cfg(test)]
    pub(crate) fn log_writer(&self) -> &super::log_writer::WriterHandle {
        &self.log
    }

    /// The state machine, for reads (take the read lock briefly).
    pub fn state(&self) -> Arc<RwLock<StateMachine>> {
        self.state.clone()
    }

    /// Enqueues a command in submission order; the returned future resolves when it
    /// is applied. The enqueue happens before this returns, so two calls made one
    /// after another from one task are applied in that order. Waits while the
    /// queue holds `max_pending_proposal_bytes`.
    pub async fn submit(
        &self,
        cmd: Command,
    ) -> Result<impl Future<Output = Result<Outcome, Error>> + Send + 'static, Error> {
        let metrics = self.metrics.clone();
        let rx = self
            .batcher
            .submit(cmd)
            .await
            .map_err(|e| failure_of(&metrics.borrow()).unwrap_or(e))?;
        Ok(async move {
            let result = rx.await.unwrap_or_else(|_| {
                Err(Error::ShuttingDown(
                    "raft stopped before the command was applied".into(),
                ))
            });
            // A command failed because raft stopped on a storage error gets
            // that error, not "shutting down": the client must not retry here.
            match result {
                Err(Error::ShuttingDown(_)) => match failure_of(&metrics.borrow()) {
                    Some(fatal) => Err(fatal),
                    None => result,
                },
                other => other,
            }
        })
    }

    /// Resolves once raft has stopped on its own (a storage error it cannot
    /// recover from, or a panic in its core) with what failed; resolves to
    /// `None` if raft was shut down deliberately. The future does not borrow
    /// the replica.
    pub fn failed(&self) -> impl Future<Output = Option<Error>> + Send + 'static {
        let mut rx = self.metrics.clone();
        async move {
            loop {
                {
                    let m = rx.borrow_and_update();
                    if m.running_state.is_err() {
                        return failure_of(&m);
                    }
                }
                if rx.changed().await.is_err() {
                    // The metrics sender is gone: the core task ended.
                    let m = rx.borrow();
                    return match &m.running_state {
                        Ok(()) => Some(Error::Internal(
                            "the raft core task ended without reporting why".into(),
                        )),
                        Err(_) => failure_of(&m),
                    };
                }
            }
        }
    }

    /// Submits a command and waits until it is applied.
    pub async fn write(&self, cmd: Command) -> Result<Outcome, Error> {
        self.submit(cmd).await?.await
    }

    /// Confirms leadership with a quorum (read index), then waits until the state
    /// machine has applied up to that point: a read after this is linearizable.
    pub async fn ensure_linearizable(&self) -> Result<(), Error> {
        match self.raft.ensure_linearizable().await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => Err(
                Error::NotLeader(leader_hint(f.leader_id, f.leader_node.as_ref())),
            ),
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q))) => Err(
                Error::NotLeader(format!("leadership not confirmed by a quorum: {q}")),
            ),
            Err(RaftError::Fatal(f)) => Err(map_fatal(f)),
        }
    }

    /// Stops raft and makes everything it wrote durable.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| Error::Internal(format!("stopping raft: {e}")))?;
        // Raft's state-machine task may outlive its core by a moment, and a
        // snapshot being written goes on after raft stopped: let both finish
        // (a snapshot ends with a rename) before the data dir is let go.
        if !self.sm_store.wait_released(SNAPSHOT_WRITE_PATIENCE).await {
            tracing::warn!(
                patience = ?SNAPSHOT_WRITE_PATIENCE,
                "a snapshot was still being written at shutdown; its temp file may remain"
            );
        }
        self.log
            .sync()
            .await
            .map_err(|e| Error::Io(format!("final raft log sync: {e}")))?;
        let stats = self.log.stats();
        tracing::info!(
            fsyncs = stats.fsyncs.load(Ordering::Relaxed),
            compactions = stats.compactions.load(Ordering::Relaxed),
            "replica stopped"
        );
        Ok(())
    }
}
