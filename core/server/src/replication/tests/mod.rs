//! Tests of the replication engine, one concern per file: openraft's storage
//! suite, the log store's durability and recovery, what the log keeps in
//! memory, damage found at start, snapshots (policy, failures, damage), and
//! whole-replica restarts.

mod cluster;
mod log_damage;
mod log_memory;
mod log_store;
pub(super) mod replica;
mod snapshots;
mod suite;

use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};

use super::TypeConfig;
use crate::state_machine::{Command, CommandBatch, CommandKind};
use coord_proto::{CreateMode, Op};

/// A log id of leader `(term, node 1)`.
pub(super) fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

/// A log entry carrying a Noop command stamped with `index` (so entries differ).
pub(super) fn command_entry(term: u64, index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(CommandBatch::from(vec![noop_command(index as i64)])),
    }
}

/// A server-internal Noop command; `time_ms` tells commands apart.
pub(super) fn noop_command(time_ms: i64) -> Command {
    Command {
        origin: Default::default(),
        session_id: 0,
        time_ms,
        kind: CommandKind::Noop,
    }
}

/// A log entry setting `/big` to `bytes` bytes of `index as u8`.
pub(super) fn big_entry(term: u64, index: u64, bytes: usize) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(CommandBatch::from(vec![Command {
            origin: Default::default(),
            session_id: 0,
            time_ms: index as i64,
            kind: CommandKind::Op(Op::SetData {
                path: "/big".into(),
                data: vec![index as u8; bytes].into(),
                version: -1,
            }),
        }])),
    }
}

/// A server-internal command creating `path` holding `bytes` bytes.
pub(super) fn create_command(path: &str, bytes: usize) -> Command {
    Command {
        origin: Default::default(),
        session_id: 0,
        time_ms: 1,
        kind: CommandKind::Op(Op::Create {
            acl: Vec::new(),
            path: path.into(),
            data: vec![7u8; bytes].into(),
            mode: CreateMode::Persistent,
        }),
    }
}
