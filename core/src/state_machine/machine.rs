//! The replicated state: tree + session table + zxid counter.
//! (Contract stub; the tree/apply engineer fills in the bodies.)

use bytes::Bytes;

use crate::config::Limits;
use crate::error::Result;
use crate::tree::Stat;

use super::{Command, Outcome, ReapTarget, WatchEvent};

/// A session as the replicated state knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Session id (never 0).
    pub session_id: u64,
    /// Negotiated timeout in milliseconds.
    pub timeout_ms: u32,
    /// Secret required to resume the session.
    pub secret: [u8; 16],
}

/// The deterministic replicated state.
#[derive(Debug)]
pub struct StateMachine {
    _limits: Limits,
}

impl StateMachine {
    /// An empty state: only `/` exists, zxid 0, no sessions.
    pub fn new(limits: Limits) -> Self {
        StateMachine { _limits: limits }
    }

    /// Applies one command. Pure: no I/O, clock or randomness.
    pub fn apply(&mut self, _cmd: &Command) -> (Outcome, Vec<WatchEvent>) {
        unimplemented!("contract stub")
    }

    /// zxid of the last applied command (0 when none).
    pub fn last_zxid(&self) -> u64 {
        unimplemented!("contract stub")
    }

    /// Data and stat of a node.
    pub fn get(&self, _path: &str) -> Result<(Bytes, Stat)> {
        unimplemented!("contract stub")
    }

    /// Stat of a node, `Ok(None)` if it does not exist (`Err` only for an invalid path).
    pub fn exists(&self, _path: &str) -> Result<Option<Stat>> {
        unimplemented!("contract stub")
    }

    /// Children names (sorted) and the parent's stat.
    pub fn children(&self, _path: &str) -> Result<(Vec<String>, Stat)> {
        unimplemented!("contract stub")
    }

    /// Children with their stats (sorted by name) and the parent's stat.
    pub fn children_with_stats(&self, _path: &str) -> Result<(Vec<(String, Stat)>, Stat)> {
        unimplemented!("contract stub")
    }

    /// A live session.
    pub fn session(&self, _session_id: u64) -> Option<&SessionInfo> {
        unimplemented!("contract stub")
    }

    /// All live sessions.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        unimplemented!("contract stub")
    }

    /// Empty containers and expired TTL nodes at leader time `now_ms`, at most `max`.
    pub fn reap_candidates(&self, _now_ms: i64, _max: usize) -> Vec<ReapTarget> {
        unimplemented!("contract stub")
    }

    /// Writes the tree and sessions as length-delimited `proto::SnapshotRecord`s
    /// (nodes parents-first, then sessions). The caller writes the header first.
    pub fn write_snapshot_records(&self, _out: &mut dyn std::io::Write) -> std::io::Result<()> {
        unimplemented!("contract stub")
    }

    /// Rebuilds a state from records written by `write_snapshot_records`
    /// (the reader is positioned after the header).
    pub fn read_snapshot_records(
        _input: &mut dyn std::io::BufRead,
        _last_zxid: u64,
        _limits: Limits,
    ) -> std::io::Result<Self> {
        unimplemented!("contract stub")
    }
}
