//! The durable raft log: openraft's [`RaftLogStorage`] and [`RaftLogReader`] over
//! `<data_dir>/raft/` (format and recovery rules in `wal`, group commit in
//! `log_writer`, what stays in memory in `log_index`).
//!
//! Entries are read from `log.wal` on demand (`pread`), except recent ones kept
//! in a cache bounded in bytes: memory grows with the number of live entries
//! (a few dozen bytes each), not with their size. This module owns the raft
//! directory and nothing else: it never reads or changes the state machine.

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, LogId, LogState, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote,
};
use tokio::sync::watch;

use super::codec::{self, put_frame};
#[cfg(test)]
use super::log_index::MemUse;
use super::log_index::{self, LogMem, SharedMem, Source, lock};
use super::log_writer::{self, Done, Job, WriterHandle};
use super::{NodeId, TypeConfig, files, wal};
use crate::error::Error;
use crate::storage;

/// Default size the purged prefix of `log.wal` must reach before the file is
/// rewritten without it.
pub(crate) const DEFAULT_COMPACT_MIN_BYTES: u64 = 1 << 20;
/// Default bound of the cache of recent entries (`--log-cache-bytes`).
pub const DEFAULT_LOG_CACHE_BYTES: u64 = 16 << 20;

/// How a log store is opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogOptions {
    /// See [`DEFAULT_COMPACT_MIN_BYTES`] (tests use 0).
    pub(crate) compact_min_bytes: u64,
    /// Frame bytes of recent entries kept in memory; also the most one
    /// replication read loads at once (at least one entry).
    pub(crate) cache_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            compact_min_bytes: DEFAULT_COMPACT_MIN_BYTES,
            cache_bytes: DEFAULT_LOG_CACHE_BYTES,
        }
    }
}

/// The durable raft log of one node (see the module docs). Owned by openraft once
/// the node starts; opening it takes the raft directory's lock.
pub struct LogStore {
    mem: SharedMem,
    writer: WriterHandle,
    read_cap: u64,
    /// Frame bytes appended since open (monotonic), for the byte-based
    /// snapshot trigger.
    appended: watch::Sender<u64>,
    /// Entries of client commands (`EntryPayload::Normal`) on disk since open
    /// (monotonic): the proposal batcher proposes its next batch once its
    /// previous one is durable here (see `batcher`).
    commands_flushed: Arc<watch::Sender<u64>>,
    /// Set once the replica runs alone (see the module docs).
    alone: Arc<AtomicBool>,
}

/// A read-only view of the log used by openraft's replication tasks.
#[derive(Clone)]
pub struct LogReader {
    mem: SharedMem,
    read_cap: u64,
}

impl LogStore {
    /// Opens or creates the log in `dir` (`<data_dir>/raft`), replaying it, with
    /// the default settings. Blocking: call from a blocking context. Fails with
    /// [`Error::Io`] if the directory is in use or the log is damaged anywhere but
    /// in a tail written after its last fsync.
    pub fn open(dir: &Path) -> Result<LogStore, Error> {
        Self::open_reporting(dir, LogOptions::default())
    }

    /// [`LogStore::open`] with chosen options.
    pub(crate) fn open_reporting(dir: &Path, opts: LogOptions) -> Result<LogStore, Error> {
        Self::open_with(dir, opts)
            .map_err(|e| Error::Io(format!("opening the raft log in {}: {e}", dir.display())))
    }

    /// The greatest purged log id: entries up to it exist only in snapshots.
    pub(crate) fn last_purged(&self) -> Option<LogId<NodeId>> {
        lock(&self.mem).last_purged
    }

    /// [`LogStore::open`] with chosen options, reporting plain I/O errors.
    pub(crate) fn open_with(dir: &Path, opts: LogOptions) -> io::Result<LogStore> {
        files::create_dir_durable(dir)?;
        let dir_lock = files::lock_dir(dir)?;
        let replayed = wal::replay(dir)?;
        let vote = wal::read_vote(dir)?;
        let file = Arc::new(replayed.file);
        tracing::info!(
            dir = %dir.display(),
            entries = replayed.slots.len(),
            last_purged = ?replayed.last_purged,
            committed = ?replayed.committed,
            "opened the raft log"
        );
        let offsets = replayed.slots.iter().map(|(i, s)| (*i, s.offset)).collect();
        let mem = Arc::new(Mutex::new(LogMem::new(
            replayed.slots,
            file.clone(),
            opts.cache_bytes,
            replayed.last_purged,
            replayed.committed,
            vote,
        )));
        let writer = log_writer::spawn(log_writer::Start {
            dir: dir.to_path_buf(),
            lock: dir_lock,
            file,
            end: replayed.end,
            offsets,
            last_purged: replayed.last_purged,
            committed: replayed.committed,
            mem: mem.clone(),
            compact_min_bytes: opts.compact_min_bytes,
        })?;
        Ok(LogStore {
            mem,
            writer,
            read_cap: opts.cache_bytes,
            appended: watch::Sender::new(0),
            commands_flushed: Arc::new(watch::Sender::new(0)),
            alone: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The switch that makes this store tell raft an append is done once it
    /// is queued (see the module docs). Only a replica that runs alone may
    /// turn it on, and only after its state machine waits for
    /// [`WriterHandle::durable`] before applying.
    pub(crate) fn alone_switch(&self) -> Arc<AtomicBool> {
        self.alone.clone()
    }

    /// A handle to the writer thread (for a final sync at shutdown and for tests).
    pub(crate) fn writer(&self) -> WriterHandle {
        self.writer.clone()
    }

    /// Follows the frame bytes appended since open.
    pub(crate) fn appended_bytes(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Follows the count of client-command entries made durable since open.
    pub(crate) fn commands_flushed(&self) -> watch::Receiver<u64> {
        self.commands_flushed.subscribe()
    }

    /// A reader sharing this store's index (usable after the store moved into raft).
    pub(crate) fn reader(&self) -> LogReader {
        LogReader {
            mem: self.mem.clone(),
            read_cap: self.read_cap,
        }
    }

    /// Makes `entries` readable now and queues them for the writer; `done` fires
    /// once they are on disk.
    pub(crate) fn append_with<I>(&mut self, entries: I, done: Option<Done>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>>,
    {
        let mut bytes = Vec::new();
        let mut index_offsets = Vec::new();
        let mut sized = Vec::new();
        let mut commands = 0u64;
        for entry in entries {
            if matches!(entry.payload, openraft::EntryPayload::Normal(_)) {
                commands += 1;
            }
            let start = bytes.len();
            index_offsets.push((entry.log_id.index, start));
            let record = storage::LogRecord {
                record: Some(storage::log_record::Record::Entry(codec::entry_to_proto(
                    &entry,
                )?)),
            };
            put_frame(&mut bytes, &record);
            let len = u32::try_from(bytes.len() - start)
                .map_err(|_| io::Error::other("a log entry over 4 GiB"))?;
            sized.push((entry, len));
        }
        let append_id = lock(&self.mem).append(sized);
        let added = bytes.len() as u64;
        let done = match (commands, done) {
            (0, done) => done,
            (n, done) => {
                let flushed = self.commands_flushed.clone();
                Some(Box::new(move |r: io::Result<()>| {
                    if r.is_ok() {
                        flushed.send_modify(|total| *total += n);
                    }
                    if let Some(done) = done {
                        done(r);
                    }
                }) as Done)
            }
        };
        self.writer.send(Job::Append {
            bytes,
            index_offsets,
            append_id,
            done,
        })?;
        self.appended.send_modify(|total| *total += added);
        Ok(())
    }
}

impl LogReader {
    /// The last entry the log store has been told to purge (the purge is
    /// queued for the writer before this changes; openraft's `purged` metric
    /// may run ahead of it).
    #[cfg(test)]
    pub(crate) fn last_purged(&self) -> Option<LogId<NodeId>> {
        lock(&self.mem).last_purged
    }

    /// Frame bytes of the live entries after `index` (all for `None`).
    pub(crate) fn bytes_after(&self, index: Option<u64>) -> u64 {
        lock(&self.mem).bytes_after(index)
    }

    /// What the log holds in memory now.
    #[cfg(test)]
    pub(crate) fn mem_use(&self) -> MemUse {
        lock(&self.mem).mem_use()
    }
}

fn write_err(e: &io::Error) -> StorageError<NodeId> {
    StorageIOError::write_logs(e).into()
}

fn read_err(e: &io::Error) -> StorageError<NodeId> {
    StorageIOError::read_logs(e).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        read_range(&self.mem, range, u64::MAX).map_err(|e| read_err(&e))
    }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        read_range(&self.mem, range, u64::MAX).map_err(|e| read_err(&e))
    }

    /// Replication reads at most the cache bound's worth of bytes at once.
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        read_range(&self.mem, start..end, self.read_cap).map_err(|e| read_err(&e))
    }
}

/// Reads the live entries in `range` (up to `byte_cap` frame bytes, at least one),
/// from the cache or the file. The file is read outside the lock.
fn read_range(
    mem: &SharedMem,
    range: impl RangeBounds<u64>,
    byte_cap: u64,
) -> io::Result<Vec<Entry<TypeConfig>>> {
    let (plan, file) = lock(mem).plan_read(range, byte_cap);
    plan.into_iter()
        .map(|source| match source {
            Source::Cached(entry) => Ok(entry),
            Source::Disk(slot) => log_index::read_entry(&file, &slot).map_err(|e| {
                io::Error::new(e.kind(), format!("reading entry {}: {e}", slot.log_id))
            }),
        })
        .collect()
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let mem = lock(&self.mem);
        let last = mem.last_log_id();
        Ok(LogState {
            last_purged_log_id: mem.last_purged,
            last_log_id: last.or(mem.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader()
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
        // Noted only: the writer records it with its next batch (see
        // `log_writer`), and the next append's fsync covers it. Losing it only
        // means re-applying a little less on restart.
        if let Some(id) = committed {
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
        if self.alone.load(Ordering::Acquire) {
            // Still fsynced as a batch (a waiting callback makes the writer
            // sync); the state machine waits for that, raft does not.
            let sync: Done = Box::new(|_| {});
            self.append_with(entries, Some(sync))
                .map_err(|e| write_err(&e))?;
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        let done: Done = Box::new(move |r| callback.log_io_completed(r));
        self.append_with(entries, Some(done))
            .map_err(|e| write_err(&e))
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        tracing::debug!(%log_id, "truncating the raft log");
        lock(&self.mem).truncate(log_id.index);
        self.writer
            .send(Job::Truncate { from: log_id.index })
            .map_err(|e| write_err(&e))
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        tracing::debug!(%log_id, "purging the raft log");
        lock(&self.mem).purge(log_id);
        self.writer
            .send(Job::Purge { upto: log_id })
            .map_err(|e| write_err(&e))
    }
}
