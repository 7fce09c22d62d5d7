//! The replicated state: tree + session table + zxid counter + limits + leader
//! time + subtree quotas, and its reads.
//!
//! This module owns [`StateMachine`]'s fields and its read API. Writes go
//! through [`StateMachine::apply`], whose logic lives in `apply` (ops, multi,
//! reap) and `sessions` (session commands); snapshots live in `snapshot`.
//! Nothing here does I/O (except into the caller's snapshot stream), reads a
//! clock or draws a random number.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::config::Limits;
use crate::error::{Error, Result};
use crate::tree::{self, DataTree, Node, Stat};
use coord_proto::{Acl, Identity};

use super::quota::Quotas;
use super::{Command, Outcome, ReapTarget, WatchEvent};
use coord_proto::Quota;

/// A session as the replicated state knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Session id (never 0).
    pub session_id: u64,
    /// Negotiated timeout in milliseconds.
    pub timeout_ms: u32,
    /// Secret required to resume the session.
    pub secret: [u8; 16],
    /// Who the session is (sorted, no duplicates): established at connect
    /// or added later by `AddIdentity`. Every session also matches
    /// `world:anyone`, which is not listed.
    pub identities: Vec<Identity>,
}

/// The deterministic replicated state.
///
/// Every replica that applies the same commands from [`StateMachine::new`]
/// (or from the same snapshot) ends with the same tree, sessions and zxid, and
/// returns the same outcomes and watch events.
#[derive(Debug)]
pub struct StateMachine {
    pub(super) tree: DataTree,
    /// Live sessions by id (ordered, so listing them is deterministic). Each
    /// session's ephemeral paths are indexed by the tree.
    pub(super) sessions: BTreeMap<u64, SessionInfo>,
    pub(super) last_zxid: u64,
    /// Leader time of the last applied command: no later command runs earlier.
    pub(super) last_time_ms: i64,
    /// The limits `apply` enforces; changed only by a `SetLimits` command.
    pub(super) limits: Limits,
    /// Subtree quotas and their usage; changed by `SetQuota` commands and
    /// charged by every change of the tree.
    pub(super) quotas: Quotas,
    /// Every distinct ACL list in use, so nodes with the same list share
    /// one allocation (see `acl::intern`).
    pub(super) acls: super::acl::AclSet,
}

impl StateMachine {
    /// An empty state: only `/` exists, zxid 0, time 0, no sessions, and
    /// `limits` (a replica starts from `Limits::default()`: anything else
    /// must arrive through the log).
    pub fn new(limits: Limits) -> Self {
        StateMachine {
            tree: DataTree::new(),
            sessions: BTreeMap::new(),
            last_zxid: 0,
            last_time_ms: 0,
            limits,
            quotas: Quotas::default(),
            acls: Default::default(),
        }
    }

    /// Applies one command. Pure: no I/O, clock or randomness.
    ///
    /// Every command takes the next zxid, whether it succeeds or not. A failed
    /// command changes nothing but the zxid and fires no event; a multi whose
    /// op failed is `Ok(CommandResult::Multi(..))` with per-op errors.
    ///
    /// [`CommandResult::Multi`]: super::CommandResult::Multi
    pub fn apply(&mut self, cmd: &Command) -> (Outcome, Vec<WatchEvent>) {
        super::apply::apply(self, cmd)
    }

    /// zxid of the last applied command (0 when none).
    pub fn last_zxid(&self) -> u64 {
        self.last_zxid
    }

    /// The limits this state enforces (replicated: the snapshot header and
    /// `SetLimits` commands decide them, never a server's flags).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Leader time (ms since epoch) of the last applied command, as clamped
    /// by `apply`: it never decreases (0 when nothing was applied).
    pub fn last_time_ms(&self) -> i64 {
        self.last_time_ms
    }

    /// Number of nodes in the tree, the root included.
    pub fn node_count(&self) -> usize {
        self.tree.len()
    }

    /// Read-only view of the tree, for callers that need more than the reads
    /// below (for example walking it).
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// Data and stat of a node.
    pub fn get(&self, path: &str) -> Result<(Bytes, Stat)> {
        let node = self.existing(path)?;
        Ok((node.data().clone(), node.stat()))
    }

    /// Stat of a node, `Ok(None)` if it does not exist (`Err` only for an invalid path).
    pub fn exists(&self, path: &str) -> Result<Option<Stat>> {
        tree::validate_path(path, self.limits.max_path_bytes)?;
        Ok(self.tree.node(path).map(Node::stat))
    }

    /// Children names (sorted) and the parent's stat.
    pub fn children(&self, path: &str) -> Result<(Vec<String>, Stat)> {
        let node = self.existing(path)?;
        let names = node
            .child_paths()
            .map(|p| tree::name(p).to_string())
            .collect();
        Ok((names, node.stat()))
    }

    /// Children with their stats (sorted by name) and the parent's stat.
    pub fn children_with_stats(&self, path: &str) -> Result<(Vec<(String, Stat)>, Stat)> {
        let node = self.existing(path)?;
        let children = node
            .child_paths()
            .filter_map(|p| {
                let child = self.tree.node(p)?;
                Some((tree::name(p).to_string(), child.stat()))
            })
            .collect();
        Ok((children, node.stat()))
    }

    /// `Ok` when `session_id` may do what `perm` (bits of
    /// `coord_proto::acl::perms`) allows on the node at `path`, or the node
    /// does not exist (the read's own NoNode follows); `NoAuth` naming the
    /// path, the permission and the session otherwise. Reads check READ here
    /// under the same lock as the read itself.
    pub fn check_perm(&self, session_id: u64, path: &str, perm: u32) -> Result<()> {
        super::acl::require(self, session_id, path, path, perm)
    }

    /// `AuthFailed` when authentication is required (the replicated
    /// `Limits::auth_required`) and `session_id` has proved no identity but
    /// its address; `Ok` otherwise.
    pub fn check_authenticated(&self, session_id: u64) -> Result<()> {
        super::acl::require_authenticated(self, session_id)
    }

    /// Whether `session_id` may hear of `event` (called right after the
    /// command that fired it): READ on the node, or for a deletion READ in
    /// the ACL the node had.
    pub fn may_see(&self, session_id: u64, event: &super::WatchEvent) -> bool {
        let read = coord_proto::acl::perms::READ;
        if event.kind == super::EventType::NodeDeleted {
            return match self.tree.removed_acl(&event.path) {
                Some(acl) => super::acl::allows(self, session_id, acl, read),
                None => true,
            };
        }
        self.check_perm(session_id, &event.path, read).is_ok()
    }

    /// A node's ACL (the open list `world:anyone:cdrwa` for a node that has
    /// none) and stat. Needs no permission, as in ZooKeeper.
    pub fn acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        let node = self.existing(path)?;
        let acl = match node.acl() {
            [] => vec![Acl::open()],
            list => list.to_vec(),
        };
        Ok((acl, node.stat()))
    }

    /// The identities of a live session (empty if none or unknown).
    pub fn identities(&self, session_id: u64) -> &[Identity] {
        self.sessions
            .get(&session_id)
            .map(|s| s.identities.as_slice())
            .unwrap_or_default()
    }

    /// The quota on exactly `path` and its subtree's usage, if one is set.
    pub fn quota(&self, path: &str) -> Result<Option<Quota>> {
        tree::validate_path(path, self.limits.max_path_bytes)?;
        Ok(self.quotas.get(path))
    }

    /// Every quota with its usage, in path order.
    pub fn quotas(&self) -> Vec<(String, Quota)> {
        self.quotas
            .iter()
            .map(|(p, q)| (p.to_string(), *q))
            .collect()
    }

    /// A live session.
    pub fn session(&self, session_id: u64) -> Option<&SessionInfo> {
        self.sessions.get(&session_id)
    }

    /// All live sessions, ordered by id.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.sessions.values().cloned().collect()
    }

    /// Ephemeral paths owned by a session, sorted (empty if none or unknown).
    pub fn ephemerals(&self, session_id: u64) -> Vec<String> {
        self.tree
            .ephemerals_of(session_id)
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    /// Empty containers and expired TTL nodes at leader time `now_ms`, at most `max`.
    ///
    /// In path order; scans only the index of container and TTL nodes, not
    /// the whole tree. `apply` re-checks every target when the resulting
    /// `Reap` command is applied.
    pub fn reap_candidates(&self, now_ms: i64, max: usize) -> Vec<ReapTarget> {
        self.tree
            .reapable_at(now_ms, max)
            .into_iter()
            .map(|(path, czxid)| ReapTarget { path, czxid })
            .collect()
    }

    /// Writes the tree and sessions as length-delimited `storage::SnapshotRecord`s
    /// (nodes parents-first, then sessions). The caller writes the header first.
    ///
    /// Nodes are written one record at a time in a depth-first walk with
    /// children in name order, so the output is the same on every replica
    /// and never held in memory whole.
    pub fn write_snapshot_records(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.freeze().write_records(out)
    }

    /// The state as it is now, to write as a snapshot after the state's
    /// lock is released (see [`Frozen`](super::Frozen)).
    pub fn freeze(&self) -> super::Frozen {
        super::snapshot::Frozen::of(self)
    }

    /// Rebuilds a state from records written by `write_snapshot_records`
    /// (the reader is positioned after the header, which gave `last_zxid`,
    /// `last_time_ms` and `limits`).
    ///
    /// Reads to the end of `input`. Corrupt input (bad framing, a node before
    /// its parent, a stat that disagrees with the data or the children, an
    /// ephemeral without its session, a zxid newer than `last_zxid`...) is an
    /// `InvalidData` error saying what is wrong.
    pub fn read_snapshot_records(
        input: &mut dyn std::io::BufRead,
        last_zxid: u64,
        last_time_ms: i64,
        limits: Limits,
    ) -> std::io::Result<Self> {
        super::snapshot::read_records(input, last_zxid, last_time_ms, limits)
    }

    /// The node at a valid `path`, or `NoNode`.
    pub(super) fn existing(&self, path: &str) -> Result<&Node> {
        tree::validate_path(path, self.limits.max_path_bytes)?;
        self.tree
            .node(path)
            .ok_or_else(|| Error::NoNode(path.to_string()))
    }
}
