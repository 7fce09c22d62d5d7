//! What the raft log keeps in memory: an index of every live entry (log id,
//! where its frame is in `log.wal`) and a cache of recent entries bounded in
//! bytes. Entry payloads otherwise stay on disk and are read on demand.
//!
//! The store, its readers and the writer thread share one [`LogMem`] behind a
//! mutex. The store changes the logical log at call time (append, truncate,
//! purge); the writer fills in file offsets once it has written an append and
//! rewrites them (and swaps the file handle) when compaction rewrites the
//! file. A reader copies what it needs under the lock, then reads the file
//! outside it through the handle it copied, so a compaction that renames a new
//! file over the old one never makes it read the wrong bytes.
//!
//! Memory: O(live entries) of fixed-size metadata plus the cache bound plus
//! the entries of appends the writer has not written yet. This module does no
//! I/O of its own beyond reading frames it was told about.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::ops::RangeBounds;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use openraft::{Entry, LogId, Vote};

use super::codec::{self, FRAME_HEADER, invalid};
use super::{NodeId, TypeConfig};

/// `Slot::offset` of an entry the writer has not written yet.
const NOT_WRITTEN: u64 = u64::MAX;

/// One live entry of the log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub(crate) log_id: LogId<NodeId>,
    /// Offset of its frame in the current `log.wal`, or [`NOT_WRITTEN`].
    pub(crate) offset: u64,
    /// Length of its frame (header included).
    pub(crate) len: u32,
    /// The append that created it (0 for entries found by replay).
    append_id: u64,
}

impl Slot {
    /// An entry replay found at `offset`.
    pub(crate) fn on_disk(log_id: LogId<NodeId>, offset: u64, len: u32) -> Slot {
        Slot {
            log_id,
            offset,
            len,
            append_id: 0,
        }
    }
}

struct Cached {
    append_id: u64,
    entry: Entry<TypeConfig>,
    bytes: u64,
    written: bool,
}

/// The shared in-memory state of one raft log (see the module docs).
pub(crate) struct LogMem {
    slots: BTreeMap<u64, Slot>,
    cache: BTreeMap<u64, Cached>,
    cache_bytes: u64,
    cache_limit: u64,
    next_append: u64,
    /// Read handle on the current `log.wal` (the writer's handle).
    file: Arc<File>,
    pub(crate) last_purged: Option<LogId<NodeId>>,
    pub(crate) committed: Option<LogId<NodeId>>,
    pub(crate) vote: Option<Vote<NodeId>>,
}

/// [`LogMem`] as the store, its readers and the writer share it.
pub(crate) type SharedMem = Arc<Mutex<LogMem>>;

/// Locks the shared state. The maps stay well-formed even if a holder
/// panicked, so a poisoned lock is usable.
pub(crate) fn lock(mem: &SharedMem) -> MutexGuard<'_, LogMem> {
    mem.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where [`LogMem::plan_read`] found an entry.
pub(crate) enum Source {
    Cached(Entry<TypeConfig>),
    Disk(Slot),
}

/// Counters of what the log holds in memory (tests).
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemUse {
    /// Live entries indexed.
    pub(crate) entries: usize,
    /// Entries whose payload is held in memory, and their frame bytes.
    pub(crate) cached: usize,
    pub(crate) cached_bytes: u64,
}

impl LogMem {
    /// The state replay rebuilt, reading through `file`.
    pub(crate) fn new(
        slots: BTreeMap<u64, Slot>,
        file: Arc<File>,
        cache_limit: u64,
        last_purged: Option<LogId<NodeId>>,
        committed: Option<LogId<NodeId>>,
        vote: Option<Vote<NodeId>>,
    ) -> LogMem {
        LogMem {
            slots,
            cache: BTreeMap::new(),
            cache_bytes: 0,
            cache_limit,
            next_append: 1,
            file,
            last_purged,
            committed,
            vote,
        }
    }

    /// The newest entry at or below the committed index that append
    /// `handled` or an earlier one created (so a writer that has handled
    /// that append holds it in the file, exactly): the committed log id a
    /// writer may record. None if nothing committed is live.
    pub(crate) fn committed_upto_append(&self, handled: u64) -> Option<LogId<NodeId>> {
        let committed = self.committed?;
        self.slots
            .range(..=committed.index)
            .rev()
            .find(|(_, s)| s.append_id <= handled)
            .map(|(_, s)| s.log_id)
    }

    /// The last live entry's id.
    pub(crate) fn last_log_id(&self) -> Option<LogId<NodeId>> {
        self.slots.last_key_value().map(|(_, s)| s.log_id)
    }

    /// Adds appended entries (with their frame lengths) as not yet written;
    /// returns the append's id for [`LogMem::written`].
    pub(crate) fn append(&mut self, entries: Vec<(Entry<TypeConfig>, u32)>) -> u64 {
        let append_id = self.next_append;
        self.next_append += 1;
        for (entry, len) in entries {
            let index = entry.log_id.index;
            self.truncate(index);
            self.slots.insert(
                index,
                Slot {
                    log_id: entry.log_id,
                    offset: NOT_WRITTEN,
                    len,
                    append_id,
                },
            );
            self.cache_bytes += u64::from(len);
            self.cache.insert(
                index,
                Cached {
                    append_id,
                    entry,
                    bytes: u64::from(len),
                    written: false,
                },
            );
        }
        append_id
    }

    /// Removes entries with index >= `from`.
    pub(crate) fn truncate(&mut self, from: u64) {
        // The usual append is past the end: nothing to remove, and
        // `split_off` would still allocate a map for nothing.
        if self
            .slots
            .last_key_value()
            .is_none_or(|(&last, _)| last < from)
            && self
                .cache
                .last_key_value()
                .is_none_or(|(&last, _)| last < from)
        {
            return;
        }
        drop(self.slots.split_off(&from));
        let removed = self.cache.split_off(&from);
        self.cache_bytes -= removed.values().map(|c| c.bytes).sum::<u64>();
    }

    /// Removes entries up to and including `upto`.
    pub(crate) fn purge(&mut self, upto: LogId<NodeId>) {
        self.last_purged = self.last_purged.max(Some(upto));
        let next = upto.index + 1;
        self.slots = self.slots.split_off(&next);
        let kept = self.cache.split_off(&next);
        let removed = std::mem::replace(&mut self.cache, kept);
        self.cache_bytes -= removed.values().map(|c| c.bytes).sum::<u64>();
    }

    /// The writer wrote append `append_id`'s entries at these (index, offset)
    /// pairs: they become readable from the file and their cached copies
    /// evictable. Entries truncated or re-appended since are left alone.
    pub(crate) fn written(&mut self, append_id: u64, at: &[(u64, u64)]) {
        for &(index, offset) in at {
            if let Some(slot) = self.slots.get_mut(&index)
                && slot.append_id == append_id
            {
                slot.offset = offset;
            }
            if let Some(c) = self.cache.get_mut(&index)
                && c.append_id == append_id
            {
                c.written = true;
            }
        }
        self.evict();
    }

    /// Drops written entries, oldest first, until the cache fits its bound.
    /// Unwritten entries are the newest, so this stops at the first one.
    fn evict(&mut self) {
        while self.cache_bytes > self.cache_limit {
            match self.cache.first_entry() {
                Some(first) if first.get().written => {
                    self.cache_bytes -= first.remove().bytes;
                }
                _ => break,
            }
        }
    }

    /// Compaction rewrote the file: every frame at `old >= first_live` is now
    /// at `old - first_live + head_len` in `file`.
    pub(crate) fn relocate(&mut self, first_live: u64, head_len: u64, file: Arc<File>) {
        for slot in self.slots.values_mut() {
            if slot.offset != NOT_WRITTEN {
                slot.offset = slot.offset.saturating_sub(first_live) + head_len;
            }
        }
        self.file = file;
    }

    /// Where each live entry in `range` is, stopping once `byte_cap` frame
    /// bytes are planned (at least one entry is), and the file to read them
    /// from.
    pub(crate) fn plan_read(
        &self,
        range: impl RangeBounds<u64>,
        byte_cap: u64,
    ) -> (Vec<Source>, Arc<File>) {
        let mut plan = Vec::new();
        let mut bytes = 0u64;
        for (index, slot) in self.slots.range(range) {
            if !plan.is_empty() && bytes >= byte_cap {
                break;
            }
            bytes += u64::from(slot.len);
            match self.cache.get(index) {
                Some(c) if c.append_id == slot.append_id => {
                    plan.push(Source::Cached(c.entry.clone()))
                }
                _ => plan.push(Source::Disk(*slot)),
            }
        }
        (plan, self.file.clone())
    }

    /// Frame bytes of the live entries after `index` (all of them for `None`).
    pub(crate) fn bytes_after(&self, index: Option<u64>) -> u64 {
        let from = index.map_or(0, |i| i.saturating_add(1));
        self.slots
            .range(from..)
            .map(|(_, s)| u64::from(s.len))
            .sum()
    }

    /// What the log holds in memory now.
    #[cfg(test)]
    pub(crate) fn mem_use(&self) -> MemUse {
        MemUse {
            entries: self.slots.len(),
            cached: self.cache.len(),
            cached_bytes: self.cache_bytes,
        }
    }
}

/// Reads and checks the entry `slot` describes from `file`.
pub(crate) fn read_entry(file: &File, slot: &Slot) -> io::Result<Entry<TypeConfig>> {
    if slot.offset == NOT_WRITTEN {
        // Unwritten entries are cached until written; reaching this is a bug.
        return Err(io::Error::other(format!(
            "raft log entry {} is neither cached nor written",
            slot.log_id
        )));
    }
    let mut frame = vec![0u8; slot.len as usize];
    file.read_exact_at(&mut frame, slot.offset)?;
    let damaged = || {
        invalid(format!(
            "log.wal: the frame of entry {} at offset {} is damaged (checksum mismatch); \
             restore this node's data directory from a peer or a backup",
            slot.log_id, slot.offset
        ))
    };
    if codec::plausible_len(&frame) != Some(frame.len() - FRAME_HEADER)
        || !codec::crc_matches(&frame)
    {
        return Err(damaged());
    }
    let payload = bytes::Bytes::from(frame).slice(FRAME_HEADER..);
    let record = codec::decode_record_bytes(payload)?;
    match record.record {
        Some(crate::storage::log_record::Record::Entry(p)) => {
            let entry = codec::entry_from_proto(p)?;
            if entry.log_id != slot.log_id {
                return Err(invalid(format!(
                    "log.wal offset {}: expected entry {}, found {}",
                    slot.offset, slot.log_id, entry.log_id
                )));
            }
            Ok(entry)
        }
        _ => Err(invalid(format!(
            "log.wal offset {}: expected entry {}, found another record",
            slot.offset, slot.log_id
        ))),
    }
}
