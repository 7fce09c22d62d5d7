//! The replication engine: openraft types, the durable log store, the
//! state-machine store, the peer network and the [`Replica`] facade.
//!
//! A single node is a one-member openraft cluster; there is no second code path.
//! Writes flow `Replica::submit` -> openraft -> [`LogStore`] (group-committed,
//! fsynced before acknowledgement) -> [`SmStore`] -> `StateMachine::apply`, whose
//! watch events go to the [`ApplyObserver`] while the write lock is held.
//!
//! On disk, under the data directory:
//! - `raft/log.wal`: checksummed `proto::LogRecord` frames (entries, truncations,
//!   purges, commit marks, sync markers), replayed on open; only an index of
//!   the entries (and a bounded cache of recent ones) is kept in memory;
//!   `raft/vote`: the vote, replaced atomically; `raft/LOCK`: keeps a second
//!   process out.
//! - `snapshots/<id>.snap`: the newest snapshots (header + tree + sessions),
//!   built every `snapshot_logs_since_last` entries or `snapshot_log_bytes` of
//!   log, whichever comes first; a damaged one is renamed `*.snap.damaged`
//!   when an older one and the log can stand in for it.
//!
//! Snapshot data handed to openraft is a `tokio::fs::File` on the snapshot file,
//! so a large tree is never copied into memory to be sent or received.
//!
//! This module must not decide outcomes (that is `state_machine`) nor touch the
//! wire protocol beyond `crate::wire`'s command conversion.

mod batcher;
pub(crate) use batcher::{MAX_BATCH_BYTES, proposal_bytes};
mod codec;
mod files;
mod log_index;
mod log_store;
mod log_writer;
mod network;
pub mod peer;
mod replica;
mod router;
mod sm_store;
mod snapshot;
mod snapshot_dir;
mod snapshot_trigger;
mod wal;
mod wal_scan;

#[cfg(test)]
mod tests;

pub use files::create_data_dir;
pub(crate) use files::write_atomic;
pub use log_store::{DEFAULT_LOG_CACHE_BYTES, LogReader, LogStore};
pub use network::{NetworkFactory, PeerClient};
pub use replica::{DEFAULT_SNAPSHOT_LOG_BYTES, Replica, ReplicationConfig};
pub use router::{Router, RouterNetwork, RouterPeer};
pub use sm_store::{ApplyObserver, DEFAULT_SNAPSHOT_RETRY, NoopObserver, SmStore};
pub(crate) use snapshot_dir::newest_snapshot_file;

use crate::state_machine::{BatchOutcome, CommandBatch};

/// Raft ids of the cluster's members (openraft calls them node ids; they are
/// not tree nodes).
pub type NodeId = u64;
/// What the raft membership records about a member: where clients reach it
/// and where its peers do. Not a tree node: those are `crate::tree::Node`.
///
/// Kept in the log and in snapshots as JSON; the client address keeps the
/// field name of openraft's `BasicNode` (`addr`), which coord used before
/// the peer network, so data dirs written then read unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    /// Address clients reach the member at (see
    /// [`ReplicationConfig::client_addr`]).
    pub addr: String,
    /// Address its peers reach it at; empty for a member that has never had
    /// peers (a one-member cluster).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub peer_addr: String,
}

impl Member {
    /// A member reached by clients at `client_addr` and by peers at
    /// `peer_addr`.
    pub fn new(client_addr: impl Into<String>, peer_addr: impl Into<String>) -> Member {
        Member {
            addr: client_addr.into(),
            peer_addr: peer_addr.into(),
        }
    }
}

openraft::declare_raft_types!(
    /// openraft's type configuration for coord: a log entry carries a
    /// [`CommandBatch`] and applying it yields a [`BatchOutcome`]; snapshots
    /// are files.
    pub TypeConfig:
        D = CommandBatch,
        R = BatchOutcome,
        NodeId = NodeId,
        Node = Member,
        SnapshotData = tokio::fs::File,
);
