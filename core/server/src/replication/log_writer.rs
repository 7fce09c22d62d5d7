//! The one thread that writes `log.wal` and the vote file (group commit).
//!
//! Callers hand it [`Job`]s over a channel and never touch the files. The thread
//! takes everything queued, writes it with one `write`, does one `fdatasync` if any
//! job in the batch waits for durability, then fires those jobs' callbacks in
//! submission order. So N appends queued during one fsync cost one more fsync, not
//! N. Truncate, purge and committed records need no fsync of their own: they are
//! ordered in the file before any later append, whose fsync covers them.
//!
//! The committed log id is not a job: the store only notes it in the shared
//! index, and the writer puts a `committed` record at the end of its next
//! batch (and when it stops), once the log holds that entry. A commit then
//! costs no wake-up and no write of its own; a crash loses at most the last
//! few commits' record, which only means re-applying those entries after
//! they are committed again.
//!
//! After each fsync, before any callback fires, it writes a `synced` marker (see
//! `wal`): an acknowledged record always has a marker after it, which is how
//! recovery tells damage from a torn tail. Once an append is written it tells
//! the shared index (`log_index`) where each entry's frame is.
//!
//! After a purge, when the purged prefix is most of the file, the thread rewrites
//! the file without it (see [`Writer::maybe_compact`]). It owns the data
//! directory's lock for as long as it runs.
//!
//! Records go into zero-filled space preallocated ahead of the logical end
//! ([`Writer::preallocate`]), so an fsync never has to persist a new file size
//! or block allocation; `coord bench` measures both kinds of fsync side by side.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use openraft::LogId;

use super::NodeId;
use super::codec::{self, put_frame};
use super::files;
use super::log_index::{SharedMem, lock};
use super::wal::{self, VOTE_FILE, WAL_FILE, WAL_MAGIC, WAL_TMP};
use crate::storage;
use crate::storage::log_record::Record;

/// Completion callback: called once, from the writer thread, with the outcome.
pub(crate) type Done = Box<dyn FnOnce(io::Result<()>) + Send>;

/// One unit of work for the writer.
pub(crate) enum Job {
    /// Framed entry records of append `append_id` (see `log_index`); `index_offsets`
    /// gives each entry's offset in `bytes`. `done` (if any) fires after the
    /// records are on disk.
    Append {
        bytes: Vec<u8>,
        index_offsets: Vec<(u64, usize)>,
        append_id: u64,
        done: Option<Done>,
    },
    /// Delete entries with index >= `from`.
    Truncate { from: u64 },
    /// Delete entries up to and including `upto`.
    Purge { upto: LogId<NodeId> },
    /// Replace the vote file with `bytes` (after everything queued before it is durable).
    Vote { bytes: Vec<u8>, done: Done },
    /// Fire `done` once everything queued before it is durable.
    Sync { done: Done },
    /// Tests: block the writer until the sender side is dropped or signalled, so
    /// that jobs pile up behind it.
    #[cfg(test)]
    Hold(mpsc::Receiver<()>),
}

/// Counters the writer keeps, for tests and metrics.
#[derive(Debug)]
pub(crate) struct WriterStats {
    /// `fdatasync` calls that made records durable.
    pub(crate) fsyncs: AtomicU64,
    /// Seconds each of those took.
    pub(crate) fsync_seconds: crate::histogram::AtomicHistogram,
    /// Appended entries each of those made durable (group commit).
    pub(crate) batch_entries: crate::histogram::AtomicHistogram,
    /// Syncs after extending the zero-filled space (rare: one per
    /// `PREALLOCATE_BYTES` of log).
    pub(crate) prealloc_syncs: AtomicU64,
    /// Completed compactions.
    pub(crate) compactions: AtomicU64,
}

impl Default for WriterStats {
    fn default() -> Self {
        use crate::histogram::{AtomicHistogram, doubling};
        WriterStats {
            fsyncs: AtomicU64::new(0),
            // 20 us to ~5 s.
            fsync_seconds: AtomicHistogram::seconds(),
            // 1 to 4096 entries.
            batch_entries: AtomicHistogram::new(doubling(1.0, 13), 1.0),
            prealloc_syncs: AtomicU64::new(0),
            compactions: AtomicU64::new(0),
        }
    }
}

/// How far the log is on disk, as the writer thread publishes it after each
/// fsync: every entry the log holds with an index up to `upto` is durable.
/// Readers that must not act on an entry before it is durable (the state
/// machine of a replica that runs alone, see `replica`) wait on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Durable {
    /// The last index made durable; `None` while the log is empty.
    pub(crate) upto: Option<u64>,
    /// Set once a write or fsync failed: nothing after `upto` will be durable.
    pub(crate) failed: Option<String>,
}

/// A cloneable handle for queueing jobs to the writer thread. The thread exits once
/// every handle is dropped and the queue is drained.
#[derive(Clone)]
pub(crate) struct WriterHandle {
    tx: mpsc::Sender<Job>,
    stats: Arc<WriterStats>,
    durable: tokio::sync::watch::Receiver<Durable>,
}

impl WriterHandle {
    /// Queues a job; fails only if the writer thread is gone.
    pub(crate) fn send(&self, job: Job) -> io::Result<()> {
        self.tx
            .send(job)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "raft log writer has stopped"))
    }

    /// Waits until everything queued so far is durable.
    pub(crate) async fn sync(&self) -> io::Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Job::Sync {
            done: Box::new(move |r| {
                let _ = tx.send(r);
            }),
        })?;
        rx.await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "raft log writer has stopped"))?
    }

    /// The writer's counters.
    pub(crate) fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Follows how far the log is durable (see [`Durable`]).
    pub(crate) fn durable(&self) -> tokio::sync::watch::Receiver<Durable> {
        self.durable.clone()
    }
}

/// Zero-filled space added ahead of the last record at a time.
const PREALLOCATE_BYTES: u64 = 16 * 1024 * 1024;
/// Size of one write of zeros while preallocating.
const ZERO_CHUNK: usize = 1024 * 1024;

/// Most jobs handled in one batch, so callbacks of a long queue are not delayed
/// behind one huge write.
const MAX_BATCH: usize = 4096;

/// What the writer starts from: the replayed log's file and its extent.
pub(crate) struct Start {
    /// Directory of the log.
    pub(crate) dir: PathBuf,
    /// The directory's lock, held while the writer runs.
    pub(crate) lock: File,
    /// `log.wal`, open for reading and writing (shared with readers).
    pub(crate) file: Arc<File>,
    /// Where the next record goes.
    pub(crate) end: u64,
    /// Offset of each live entry's frame.
    pub(crate) offsets: BTreeMap<u64, u64>,
    pub(crate) last_purged: Option<LogId<NodeId>>,
    pub(crate) committed: Option<LogId<NodeId>>,
    /// The index shared with the store and its readers.
    pub(crate) mem: SharedMem,
    pub(crate) compact_min_bytes: u64,
}

/// Starts the writer thread over a replayed log.
pub(crate) fn spawn(start: Start) -> io::Result<WriterHandle> {
    let allocated = start.file.metadata()?.len().max(start.end);
    let stats = Arc::new(WriterStats::default());
    // What replay found is on disk already.
    let (durable, durable_rx) = tokio::sync::watch::channel(Durable {
        upto: start.offsets.keys().next_back().copied(),
        failed: None,
    });
    let mut writer = Writer {
        dir: start.dir,
        file: start.file,
        _lock: start.lock,
        end: start.end,
        allocated,
        offsets: start.offsets,
        last_purged: start.last_purged,
        committed: start.committed,
        handled_append: 0,
        mem: start.mem,
        compact_min_bytes: start.compact_min_bytes,
        stats: stats.clone(),
        failed: None,
        durable,
    };
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("coord-raft-log".into())
        .spawn(move || writer.run(rx))?;
    Ok(WriterHandle {
        tx,
        stats,
        durable: durable_rx,
    })
}

struct Writer {
    dir: PathBuf,
    file: Arc<File>,
    _lock: File,
    /// Logical end of the log (the next record's offset).
    end: u64,
    /// Physical length of the file: `end..allocated` is zero-filled.
    allocated: u64,
    /// Offset of each live entry's frame.
    offsets: BTreeMap<u64, u64>,
    last_purged: Option<LogId<NodeId>>,
    committed: Option<LogId<NodeId>>,
    /// The newest append whose records are written or in the current batch.
    handled_append: u64,
    mem: SharedMem,
    compact_min_bytes: u64,
    stats: Arc<WriterStats>,
    /// Set after a failed write or fsync: the file's state is unknown, so every
    /// later job fails too (openraft stops on a storage error).
    failed: Option<String>,
    /// Published after each fsync, and when a write fails (see [`Durable`]).
    durable: tokio::sync::watch::Sender<Durable>,
}

/// Records written but not yet made durable, and the callbacks waiting on them.
#[derive(Default)]
struct Batch {
    buf: Vec<u8>,
    waiting: Vec<Done>,
    /// Appends in `buf`: append id and (index, file offset) of each entry.
    appends: Vec<(u64, Vec<(u64, u64)>)>,
}

impl Writer {
    fn run(&mut self, rx: mpsc::Receiver<Job>) {
        while let Ok(first) = rx.recv() {
            #[cfg(test)]
            if let Job::Hold(release) = first {
                let _ = release.recv();
                continue;
            }
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.process(jobs);
        }
        // The last commits' record, for the next start.
        self.process(Vec::new());
        tracing::debug!("raft log writer stopped");
    }

    fn process(&mut self, jobs: Vec<Job>) {
        let mut batch = Batch::default();
        let mut purged = false;
        for job in jobs {
            if let Some(msg) = &self.failed {
                fail_job(job, msg);
                continue;
            }
            match job {
                Job::Append {
                    bytes,
                    index_offsets,
                    append_id,
                    done,
                } => {
                    let base = self.end + batch.buf.len() as u64;
                    let mut at = Vec::with_capacity(index_offsets.len());
                    for (index, rel) in index_offsets {
                        // Entries replaced by this append lose their offsets
                        // (`split_off` only when there are any: it allocates).
                        if self
                            .offsets
                            .last_key_value()
                            .is_some_and(|(&l, _)| l >= index)
                        {
                            drop(self.offsets.split_off(&index));
                        }
                        self.offsets.insert(index, base + rel as u64);
                        at.push((index, base + rel as u64));
                    }
                    batch.appends.push((append_id, at));
                    self.handled_append = self.handled_append.max(append_id);
                    batch.buf.extend_from_slice(&bytes);
                    batch.waiting.extend(done);
                }
                Job::Truncate { from } => {
                    put_record(&mut batch.buf, Record::TruncateFrom(from));
                    drop(self.offsets.split_off(&from));
                    // Entries written at these indexes from now on are new.
                    self.durable.send_if_modified(|d| match d.upto {
                        Some(upto) if upto >= from => {
                            d.upto = from.checked_sub(1);
                            true
                        }
                        _ => false,
                    });
                }
                Job::Purge { upto } => {
                    put_record(
                        &mut batch.buf,
                        Record::PurgeUpto(codec::log_id_to_proto(&upto)),
                    );
                    self.last_purged = self.last_purged.max(Some(upto));
                    self.offsets = self.offsets.split_off(&(upto.index + 1));
                    purged = true;
                }
                Job::Vote { bytes, done } => {
                    // Everything queued before the vote reaches disk first.
                    self.flush(&mut batch, true);
                    let res = match &self.failed {
                        Some(msg) => Err(failed_error(msg)),
                        None => files::write_atomic(&self.dir, VOTE_FILE, &bytes),
                    };
                    if let Err(e) = &res {
                        self.failed = Some(format!("writing the vote: {e}"));
                    }
                    done(res);
                }
                Job::Sync { done } => batch.waiting.push(done),
                #[cfg(test)]
                Job::Hold(release) => {
                    let _ = release.recv();
                }
            }
        }
        if self.failed.is_none() {
            self.note_committed(&mut batch.buf);
        }
        self.flush(&mut batch, false);
        if purged && self.failed.is_none() {
            self.maybe_compact();
        }
        self.publish_failure();
    }

    /// Adds a `committed` record for the newest committed entry this writer
    /// has written or put in this batch (before the record), if newer than
    /// the last recorded: the record never precedes its entry in the file, so
    /// a torn batch cannot leave a committed id beyond the log's end, and it
    /// never names an entry the file holds a different version of.
    fn note_committed(&mut self, buf: &mut Vec<u8>) {
        let id = lock(&self.mem).committed_upto_append(self.handled_append);
        if let Some(id) = id
            && Some(id) > self.committed
        {
            put_record(buf, Record::Committed(codec::log_id_to_proto(&id)));
            self.committed = Some(id);
        }
    }

    /// Writes the batch's records; fsyncs if a callback waits (or `force`) and
    /// then writes a `synced` marker; fires the callbacks in order.
    fn flush(&mut self, batch: &mut Batch, force: bool) {
        let need_sync = force || !batch.waiting.is_empty();
        let mut res = Ok(());
        let mut entries = 0;
        if !batch.buf.is_empty() {
            res = self.write_at_end(&batch.buf);
            batch.buf.clear();
            let appends = std::mem::take(&mut batch.appends);
            entries = appends.iter().map(|(_, at)| at.len()).sum::<usize>();
            if res.is_ok() && !appends.is_empty() {
                // Readable from the file from now on (fsynced or not).
                let mut mem = lock(&self.mem);
                for (append_id, at) in &appends {
                    mem.written(*append_id, at);
                }
            }
        }
        if res.is_ok() && need_sync {
            let started = std::time::Instant::now();
            res = self.file.sync_data();
            self.stats
                .fsync_seconds
                .observe(started.elapsed().as_secs_f64());
            self.stats.batch_entries.observe(entries as f64);
            self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
            if res.is_ok() {
                // Before any callback: an acknowledged record has a marker after it.
                res = self.write_at_end(&codec::synced_marker());
            }
        }
        if let Err(e) = &res {
            tracing::error!(error = %e, "raft log write failed; the log store stops accepting writes");
            self.failed = Some(format!("raft log write failed: {e}"));
        }
        for done in batch.waiting.drain(..) {
            done(match &res {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            });
        }
        if res.is_ok() && need_sync {
            // Everything written so far is on disk. Published after the
            // callbacks: the proposal batcher, woken by one of them, then
            // proposes the next batch before the applies of this one start.
            let upto = self.offsets.keys().next_back().copied();
            self.durable.send_if_modified(|d| {
                let changed = d.upto != upto;
                d.upto = upto;
                changed
            });
        }
    }

    /// Tells the followers of [`Durable`] once the writer has failed (called
    /// at the end of each batch: every failure happens inside one).
    fn publish_failure(&self) {
        if let Some(msg) = &self.failed
            && self.durable.borrow().failed.is_none()
        {
            let msg = msg.clone();
            self.durable.send_modify(|d| d.failed = Some(msg));
        }
    }

    /// Writes `bytes` at the end of the log.
    fn write_at_end(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.preallocate(bytes.len() as u64)?;
        self.file.write_all_at(bytes, self.end)?;
        self.end += bytes.len() as u64;
        Ok(())
    }

    /// Makes sure `len` more bytes fit before the end of the zero-filled space.
    /// Records overwrite preallocated zeros instead of growing the file, so the
    /// per-batch `fdatasync` has no file size or block allocation to persist:
    /// measured on this class of disk, that is what separates an overwrite
    /// fsync from an append fsync. Replay stops at the zeros (`Frame::End`).
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        if self.end + len <= self.allocated {
            return Ok(());
        }
        let grow = PREALLOCATE_BYTES.max(len);
        let zeros = vec![0u8; ZERO_CHUNK];
        let mut at = self.allocated.max(self.end);
        let target = at + grow;
        while at < target {
            let n = (target - at).min(ZERO_CHUNK as u64) as usize;
            self.file.write_all_at(&zeros[..n], at)?;
            at += n as u64;
        }
        // The new size and blocks must be durable before records rely on them.
        self.file.sync_all()?;
        self.stats.prealloc_syncs.fetch_add(1, Ordering::Relaxed);
        self.allocated = target;
        Ok(())
    }

    /// Rewrites the file without its purged prefix when that prefix is at least
    /// `compact_min_bytes` and at least half the file.
    fn maybe_compact(&mut self) {
        let magic = WAL_MAGIC.len() as u64;
        let first_live = self.offsets.values().next().copied().unwrap_or(self.end);
        let dead = first_live.saturating_sub(magic);
        if dead == 0 || dead < self.compact_min_bytes || dead * 2 < self.end - magic {
            return;
        }
        if let Err(e) = self.compact(first_live) {
            // Before the rename the old file is intact, so this only costs space.
            tracing::warn!(error = %e, "raft log compaction failed; keeping the old file");
            let _ = fs::remove_file(self.dir.join(WAL_TMP));
        }
    }

    fn compact(&mut self, first_live: u64) -> io::Result<()> {
        let mut head = wal::fresh_log();
        if let Some(p) = &self.last_purged {
            put_record(&mut head, Record::PurgeUpto(codec::log_id_to_proto(p)));
        }
        if let Some(c) = &self.committed {
            put_record(&mut head, Record::Committed(codec::log_id_to_proto(c)));
        }
        let tmp = self.dir.join(WAL_TMP);
        let mut out = File::create(&tmp)?;
        out.write_all(&head)?;
        let mut src = File::open(self.dir.join(WAL_FILE))?;
        src.seek(SeekFrom::Start(first_live))?;
        let copied = io::copy(&mut src.take(self.end - first_live), &mut out)?;
        if copied != self.end - first_live {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "raft log shorter than expected",
            ));
        }
        out.sync_all()?;
        drop(out);
        fs::rename(&tmp, self.dir.join(WAL_FILE))?;
        // From here on the old handle points at an unlinked file: a failure is fatal.
        let reopened = files::sync_dir(&self.dir).and_then(|()| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(self.dir.join(WAL_FILE))
        });
        let head_len = head.len() as u64;
        match reopened {
            Ok(file) => {
                self.file = Arc::new(file);
                // Readers switch to the new file and offsets together.
                lock(&self.mem).relocate(first_live, head_len, self.file.clone());
            }
            Err(e) => {
                self.failed = Some(format!("reopening the compacted raft log: {e}"));
                return Err(e);
            }
        }
        for offset in self.offsets.values_mut() {
            *offset = *offset - first_live + head_len;
        }
        let old_end = self.end;
        self.end = self.end - first_live + head_len;
        // The compacted copy ends at its last record: no zero-filled space yet.
        self.allocated = self.end;
        self.stats.compactions.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            old_bytes = old_end,
            new_bytes = self.end,
            "compacted the raft log"
        );
        Ok(())
    }
}

fn put_record(buf: &mut Vec<u8>, record: Record) {
    put_frame(
        buf,
        &storage::LogRecord {
            record: Some(record),
        },
    );
}

fn failed_error(msg: &str) -> io::Error {
    io::Error::other(msg.to_string())
}

fn fail_job(job: Job, msg: &str) {
    match job {
        Job::Append {
            done: Some(done), ..
        }
        | Job::Vote { done, .. }
        | Job::Sync { done } => {
            done(Err(failed_error(msg)));
        }
        _ => {}
    }
}
