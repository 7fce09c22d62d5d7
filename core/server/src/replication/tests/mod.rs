//! Tests of the replication engine, one concern per file: openraft's storage
//! suite, the log store's durability and recovery, and whole-replica restarts.

mod log_store;
mod replica;
mod suite;

use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};

use super::TypeConfig;
use crate::state_machine::{Command, CommandBatch, CommandKind};

/// A log id of leader `(term, node 1)`.
pub(super) fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

/// A log entry carrying a Noop command stamped with `index` (so entries differ).
pub(super) fn command_entry(term: u64, index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(CommandBatch(vec![noop_command(index as i64)])),
    }
}

/// A server-internal Noop command; `time_ms` tells commands apart.
pub(super) fn noop_command(time_ms: i64) -> Command {
    Command {
        session_id: 0,
        time_ms,
        kind: CommandKind::Noop,
    }
}
