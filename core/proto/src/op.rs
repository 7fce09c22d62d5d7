//! Write operations and their results ([`Op`], [`OpResult`]) and watch events
//! ([`WatchEvent`], [`EventType`]): the domain types the client sends and the
//! server applies, replicates and fires. No I/O, no protocol encoding here.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::acl::Acl;
use crate::error::Error;
use crate::stat::{CreateMode, Stat};

/// A write operation, alone or inside a multi.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Create a node.
    Create {
        /// Path (for sequential nodes, the prefix to which the suffix is appended).
        path: String,
        /// Initial data.
        data: Bytes,
        /// Node kind.
        mode: CreateMode,
        /// The new node's ACL; empty: `world:anyone:cdrwa` (open).
        #[serde(default)]
        acl: Vec<Acl>,
    },
    /// Delete a node; `version` -1 means any version.
    Delete {
        /// Path.
        path: String,
        /// Expected version, or -1.
        version: i32,
    },
    /// Replace a node's data; `version` -1 means any version.
    SetData {
        /// Path.
        path: String,
        /// New data.
        data: Bytes,
        /// Expected version, or -1.
        version: i32,
    },
    /// Fail unless the node exists with this version (-1: any version). Multi only.
    Check {
        /// Path.
        path: String,
        /// Expected version, or -1.
        version: i32,
    },
}

impl Op {
    /// The path this op addresses.
    pub fn path(&self) -> &str {
        match self {
            Op::Create { path, .. }
            | Op::Delete { path, .. }
            | Op::SetData { path, .. }
            | Op::Check { path, .. } => path,
        }
    }
}

/// The result of one op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    /// The node was created at `path` (with its sequence suffix, if any).
    Create {
        /// Actual path created.
        path: String,
        /// Stat of the new node.
        stat: Stat,
    },
    /// The node was deleted.
    Delete,
    /// The data was set.
    SetData {
        /// Stat after the change.
        stat: Stat,
    },
    /// The check passed.
    Check,
    /// The op failed or, inside a failed multi, was not applied. ZooKeeper's
    /// shape: ops before the failing one report [`Error::RolledBack`], the
    /// failing op its own error, the ops after it [`Error::RuntimeInconsistency`].
    Error(Error),
}

/// Kinds of watch event, as in ZooKeeper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// The node was created.
    NodeCreated,
    /// The node was deleted.
    NodeDeleted,
    /// The node's data changed.
    NodeDataChanged,
    /// A child was added or removed.
    NodeChildrenChanged,
    /// Not a change: after a reconnect, the server no longer had every event
    /// since the client's last zxid, so events on this path may have been
    /// missed. The watcher must re-read. It reaches every watch registered
    /// exactly on the path (one-shot ones fire with it); its zxid is the state
    /// the watches were re-registered at.
    EventsLost,
}

/// A change that may fire watches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WatchEvent {
    /// Type of change.
    pub kind: EventType,
    /// Path that changed.
    pub path: String,
    /// zxid of the command that made the change.
    pub zxid: u64,
}

/// The op that made a multi fail, with its index: the first error that is
/// neither a rollback nor a "not applied" marker (else the first error).
/// `None` when every op succeeded. One rule for the client's `multi` error
/// and every recipe that reads a failed multi.
pub fn failing_op(results: &[OpResult]) -> Option<(usize, &Error)> {
    let errors = || {
        results.iter().enumerate().filter_map(|(i, r)| match r {
            OpResult::Error(e) => Some((i, e)),
            _ => None,
        })
    };
    errors()
        .find(|(_, e)| !matches!(e, Error::RolledBack(_) | Error::RuntimeInconsistency(_)))
        .or_else(|| errors().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failing_op_of_a_multi_is_the_one_that_is_not_a_rollback_marker() {
        let results = vec![
            OpResult::Error(Error::RolledBack(String::new())),
            OpResult::Error(Error::BadVersion("/b".into())),
            OpResult::Error(Error::RuntimeInconsistency(String::new())),
        ];
        let (i, e) = failing_op(&results).unwrap();
        assert_eq!(i, 1);
        assert_eq!(e, &Error::BadVersion("/b".into()));
        assert!(failing_op(&[OpResult::Check, OpResult::Delete]).is_none());
    }
}
