//! openraft's errors as coord's [`Error`]: a write sent to a follower is
//! `NotLeader` naming the leader when known, a refused membership change is
//! `BadArguments`, a fatal stop is `ShuttingDown`, `Internal` or `Io`.

use openraft::RaftMetrics;
use openraft::error::{ClientWriteError, Fatal, RaftError};

use super::{Member, NodeId};
use crate::error::Error;

pub(super) fn leader_hint(id: Option<NodeId>, member: Option<&Member>) -> String {
    match (id, member) {
        (Some(id), Some(m)) if !m.addr.is_empty() => format!("leader is node {id} at {}", m.addr),
        (Some(id), _) => format!("leader is node {id}"),
        (None, _) => "no leader known".into(),
    }
}

pub(in crate::replication) fn map_write_err(e: ClientWriteError<NodeId, Member>) -> Error {
    match e {
        ClientWriteError::ForwardToLeader(f) => {
            Error::NotLeader(leader_hint(f.leader_id, f.leader_node.as_ref()))
        }
        ClientWriteError::ChangeMembershipError(e) => {
            Error::BadArguments(format!("membership change refused: {e}"))
        }
    }
}

pub(super) fn map_membership_err(e: RaftError<NodeId, ClientWriteError<NodeId, Member>>) -> Error {
    match e {
        RaftError::APIError(e) => map_write_err(e),
        RaftError::Fatal(f) => map_fatal(f),
    }
}

/// The error raft stopped with, unless it is running or was stopped on purpose.
pub(super) fn failure_of(m: &RaftMetrics<NodeId, Member>) -> Option<Error> {
    match &m.running_state {
        Ok(()) | Err(Fatal::Stopped) => None,
        Err(f) => Some(map_fatal(f.clone())),
    }
}

pub(in crate::replication) fn map_fatal(f: Fatal<NodeId>) -> Error {
    match f {
        Fatal::Stopped => Error::ShuttingDown("raft stopped".into()),
        Fatal::Panicked => Error::Internal("raft core panicked".into()),
        Fatal::StorageError(e) => Error::Io(format!("raft storage failed: {e}")),
    }
}
