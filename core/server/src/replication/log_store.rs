//! The durable raft log: openraft's [`RaftLogStorage`] and [`RaftLogReader`] over
//! `<data_dir>/raft/` (format and recovery rules in `wal`, group commit in
//! `log_writer`).
//!
//! Every live entry is also kept in memory (index -> entry), so reads never touch
//! the disk; the snapshot policy bounds how many there are. This module owns the
//! raft directory and nothing else: it never reads or changes the state machine.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, LogId, LogState, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote,
};

use super::codec::{self, put_frame};
use super::log_writer::{self, Done, Job, WriterHandle};
use super::{NodeId, TypeConfig, files, wal};
use crate::error::Error;
use crate::storage;

/// Default size the purged prefix of `log.wal` must reach before the file is
/// rewritten without it.
pub(crate) const DEFAULT_COMPACT_MIN_BYTES: u64 = 1 << 20;

/// What the log store and its readers share.
#[derive(Default)]
struct LogMem {
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    last_purged: Option<LogId<NodeId>>,
    committed: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
}

type SharedMem = Arc<Mutex<LogMem>>;

fn lock(mem: &SharedMem) -> MutexGuard<'_, LogMem> {
    // The maps stay well-formed even if a holder panicked, so a poisoned lock is usable.
    mem.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The durable raft log of one node (see the module docs). Owned by openraft once
/// the node starts; opening it takes the raft directory's lock.
pub struct LogStore {
    mem: SharedMem,
    writer: WriterHandle,
}

/// A read-only view of the log used by openraft's replication tasks.
#[derive(Clone)]
pub struct LogReader {
    mem: SharedMem,
}

impl LogStore {
    /// Opens or creates the log in `dir` (`<data_dir>/raft`), replaying it. Blocking:
    /// call from a blocking context. Fails with [`Error::Io`] if the directory is in
    /// use or the log is damaged anywhere but in its tail.
    pub fn open(dir: &Path) -> Result<LogStore, Error> {
        Self::open_with(dir, DEFAULT_COMPACT_MIN_BYTES)
            .map_err(|e| Error::Io(format!("opening the raft log in {}: {e}", dir.display())))
    }

    /// [`LogStore::open`] with a chosen compaction threshold (tests use 0).
    pub(crate) fn open_with(dir: &Path, compact_min_bytes: u64) -> io::Result<LogStore> {
        files::create_dir_durable(dir)?;
        let lock = files::lock_dir(dir)?;
        let replayed = wal::replay(dir)?;
        let vote = wal::read_vote(dir)?;
        let writer = log_writer::spawn(dir.to_path_buf(), lock, &replayed, compact_min_bytes)?;
        tracing::info!(
            dir = %dir.display(),
            entries = replayed.entries.len(),
            last_purged = ?replayed.last_purged,
            committed = ?replayed.committed,
            "opened the raft log"
        );
        let mem = LogMem {
            entries: replayed.entries,
            last_purged: replayed.last_purged,
            committed: replayed.committed,
            vote,
        };
        Ok(LogStore {
            mem: Arc::new(Mutex::new(mem)),
            writer,
        })
    }

    /// A handle to the writer thread (for a final sync at shutdown and for tests).
    pub(crate) fn writer(&self) -> WriterHandle {
        self.writer.clone()
    }

    /// Makes `entries` readable now and queues them for the writer; `done` fires
    /// once they are on disk.
    pub(crate) fn append_with<I>(&mut self, entries: I, done: Option<Done>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>>,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let mut bytes = Vec::new();
        let mut index_offsets = Vec::with_capacity(entries.len());
        for entry in &entries {
            index_offsets.push((entry.log_id.index, bytes.len()));
            let record = storage::LogRecord {
                record: Some(storage::log_record::Record::Entry(codec::entry_to_proto(
                    entry,
                )?)),
            };
            put_frame(&mut bytes, &record);
        }
        {
            let mut mem = lock(&self.mem);
            for entry in entries {
                mem.entries.insert(entry.log_id.index, entry);
            }
        }
        self.writer.send(Job::Append {
            bytes,
            index_offsets,
            done,
        })
    }
}

fn write_err(e: &io::Error) -> StorageError<NodeId> {
    StorageIOError::write_logs(e).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        Ok(read_range(&self.mem, range))
    }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        Ok(read_range(&self.mem, range))
    }
}

fn read_range(mem: &SharedMem, range: impl RangeBounds<u64>) -> Vec<Entry<TypeConfig>> {
    lock(mem)
        .entries
        .range(range)
        .map(|(_, e)| e.clone())
        .collect()
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let mem = lock(&self.mem);
        let last = mem.entries.last_key_value().map(|(_, e)| e.log_id);
        Ok(LogState {
            last_purged_log_id: mem.last_purged,
            last_log_id: last.or(mem.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader {
            mem: self.mem.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let vote_err =
            |e: &io::Error| -> StorageError<NodeId> { StorageIOError::write_vote(e).into() };
        let bytes = wal::encode_vote(vote).map_err(|e| vote_err(&e))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writer
            .send(Job::Vote {
                bytes,
                done: Box::new(move |r| {
                    let _ = tx.send(r);
                }),
            })
            .map_err(|e| vote_err(&e))?;
        match rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(vote_err(&e)),
            Err(_) => return Err(vote_err(&io::Error::other("raft log writer has stopped"))),
        }
        lock(&self.mem).vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(lock(&self.mem).vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        // Not fsynced on its own: the next append's fsync covers it, and losing it
        // only means re-applying a little less on restart.
        if let Some(id) = committed {
            self.writer
                .send(Job::Committed { id })
                .map_err(|e| write_err(&e))?;
            let mut mem = lock(&self.mem);
            mem.committed = mem.committed.max(Some(id));
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(lock(&self.mem).committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let done: Done = Box::new(move |r| callback.log_io_completed(r));
        self.append_with(entries, Some(done))
            .map_err(|e| write_err(&e))
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        tracing::debug!(%log_id, "truncating the raft log");
        drop(lock(&self.mem).entries.split_off(&log_id.index));
        self.writer
            .send(Job::Truncate { from: log_id.index })
            .map_err(|e| write_err(&e))
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        tracing::debug!(%log_id, "purging the raft log");
        {
            let mut mem = lock(&self.mem);
            mem.last_purged = mem.last_purged.max(Some(log_id));
            mem.entries = mem.entries.split_off(&(log_id.index + 1));
        }
        self.writer
            .send(Job::Purge { upto: log_id })
            .map_err(|e| write_err(&e))
    }
}
