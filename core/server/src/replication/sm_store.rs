//! openraft's [`RaftStateMachine`] over coord's [`StateMachine`]: applies committed
//! entries, tells the [`ApplyObserver`] about every change, and builds and installs
//! snapshots (files in `<data_dir>/snapshots/`, see `snapshot`).
//!
//! The state machine lives behind an `Arc<std::sync::RwLock<_>>` shared with the
//! server, which serves reads from it. The write lock is taken per entry and never
//! held across an `.await`. This module never touches the raft log.
//!
//! A snapshot that fails to build (a full disk, say) is not fatal: openraft 0.9
//! stops raft on any error from `build_snapshot`, so the builder logs the
//! failure, leaves no temp file, and reports the current snapshot unchanged;
//! attempts within the retry backoff after a failure are skipped. Writes go on
//! as long as the log has room.
//!
//! Snapshots are built from a consistent view by holding the read lock while the
//! state is serialized into memory (on a blocking thread). For a 1M-node tree that
//! stalls writes for the serialization (on the order of a second) and needs the
//! whole encoded tree in memory; a persistent (copy-on-write) tree that can be
//! cloned in O(1) under the lock and streamed to the file afterwards would remove
//! both costs.
//!
//! A replica that runs alone has raft commit entries before they are on disk
//! (see `log_store`); it gives this store the log's durable mark
//! ([`SmStore::apply_only_durable`]), and every apply first waits until the
//! entries it applies are durable, so nothing is applied (hence seen) earlier.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, LogId, RaftSnapshotBuilder, StorageError, StorageIOError, StoredMembership,
};

use super::log_writer::Durable;
use super::snapshot::{self, Meta, SnapFile};
use super::{Member, NodeId, TypeConfig, snapshot_dir};
use crate::config::Limits;
use crate::error::Error;
use crate::state_machine::{BatchOutcome, Command, Frozen, Outcome, StateMachine, WatchEvent};

/// Receives every change the replication engine makes to the state machine, in
/// log order (the server's watch registry implements it).
pub trait ApplyObserver: Send + Sync + 'static {
    /// Called for every applied Command entry while the state-machine write lock is still held,
    /// so that readers registering watches under the read lock never miss an event.
    fn on_apply(&self, sm: &StateMachine, zxid: u64, events: Vec<WatchEvent>);
    /// Called for every applied Command with its outcome, under the same lock and
    /// just before [`ApplyObserver::on_apply`] (the server's session manager follows
    /// applied session commands through it).
    fn on_command(&self, _sm: &StateMachine, _cmd: &Command, _outcome: &Outcome) {}
    /// Called after a snapshot was installed (the whole state replaced).
    fn on_reset(&self, sm: &StateMachine);
}

/// An [`ApplyObserver`] that ignores everything (tests, tools).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl ApplyObserver for NoopObserver {
    fn on_apply(&self, _sm: &StateMachine, _zxid: u64, _events: Vec<WatchEvent>) {}
    fn on_reset(&self, _sm: &StateMachine) {}
}

/// The state-machine store (see the module docs). Cheap to clone: clones share
/// everything, which is how it also serves as its own snapshot builder.
#[derive(Clone)]
pub struct SmStore {
    inner: Arc<Inner>,
}

struct Inner {
    state: Arc<RwLock<StateMachine>>,
    /// Last applied log id and membership. Changed only under the state's write
    /// lock, so a reader holding the state's read lock sees a matching pair.
    applied: Mutex<Applied>,
    observer: Arc<dyn ApplyObserver>,
    dir: PathBuf,
    /// The newest snapshot on disk.
    current: Mutex<Option<SnapFile>>,
    seq: AtomicU64,
    /// Wait this long after a failed build before trying again.
    retry: Duration,
    /// When the last build failed.
    failed_at: Mutex<Option<Instant>>,
    /// Builds that failed since open.
    failures: AtomicU64,
    /// Bytes a snapshot file may take before its write fails as on a full
    /// disk (tests).
    space: Mutex<Option<u64>>,
    /// Snapshot threads still running: one may outlive the build that
    /// started it (raft stopping drops the build, not the thread), so a
    /// replica's shutdown waits for them before the data dir is let go.
    writing: tokio::sync::watch::Sender<usize>,
    /// Set for a replica that runs alone: apply only what this says is
    /// durable (see the module docs).
    durable: OnceLock<tokio::sync::watch::Receiver<Durable>>,
}

/// How a state-machine store is opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SmOptions {
    /// The raft log's last purged id: the snapshot loaded must reach it.
    pub(crate) log_start: Option<LogId<NodeId>>,
    /// Wait after a failed snapshot build before trying again.
    pub(crate) retry: Duration,
}

/// Default wait after a failed snapshot build (`--snapshot-retry-ms`).
pub const DEFAULT_SNAPSHOT_RETRY: Duration = Duration::from_secs(10);

#[derive(Clone, Default)]
struct Applied {
    last: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, Member>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain values; a panicking holder cannot leave them half-updated.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn sm_err(e: &io::Error) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(e).into()
}

fn poisoned() -> io::Error {
    io::Error::other("state machine lock poisoned by a panic during apply")
}

impl SmStore {
    /// Opens the store over `dir` (`<data_dir>/snapshots`), loading the newest
    /// snapshot if there is one. Blocking. The observer is not called for the loaded
    /// state (nobody can be watching yet).
    ///
    /// Without a snapshot the state starts empty with the default limits: like
    /// everything else that decides an outcome, other limits arrive through the
    /// log (or a snapshot), never from this server's settings.
    pub fn open(dir: &Path, observer: Arc<dyn ApplyObserver>) -> Result<SmStore, Error> {
        let opts = SmOptions {
            log_start: None,
            retry: DEFAULT_SNAPSHOT_RETRY,
        };
        Self::open_with(dir, observer, opts)
    }

    /// [`SmStore::open`] for a log purged up to `opts.log_start`: the newest
    /// intact snapshot that reaches it is loaded (see `snapshot_dir::open_newest`).
    pub(crate) fn open_with(
        dir: &Path,
        observer: Arc<dyn ApplyObserver>,
        opts: SmOptions,
    ) -> Result<SmStore, Error> {
        Self::open_io(dir, observer, opts)
            .map_err(|e| Error::Io(format!("opening snapshots in {}: {e}", dir.display())))
    }

    fn open_io(
        dir: &Path,
        observer: Arc<dyn ApplyObserver>,
        opts: SmOptions,
    ) -> io::Result<SmStore> {
        super::files::create_dir_durable(dir)?;
        let (sm, applied, current) = match snapshot_dir::open_newest(dir, opts.log_start)? {
            Some((sm, file)) => {
                tracing::info!(path = %file.path.display(), last_log_id = ?file.meta.last_log_id, "loaded snapshot");
                let applied = Applied {
                    last: file.meta.last_log_id,
                    membership: file.meta.last_membership.clone(),
                };
                (sm, applied, Some(file))
            }
            None => (
                StateMachine::new(Limits::initial()),
                Applied::default(),
                None,
            ),
        };
        Ok(SmStore {
            inner: Arc::new(Inner {
                state: Arc::new(RwLock::new(sm)),
                applied: Mutex::new(applied),
                observer,
                dir: dir.to_path_buf(),
                current: Mutex::new(current),
                seq: AtomicU64::new(0),
                retry: opts.retry,
                failed_at: Mutex::new(None),
                failures: AtomicU64::new(0),
                space: Mutex::new(None),
                writing: tokio::sync::watch::Sender::new(0),
                durable: OnceLock::new(),
            }),
        })
    }

    /// From now on, applies wait until their entries are durable in the log
    /// (`durable` follows the log writer). Set once; a replica that runs
    /// alone sets it before its log store stops waiting for fsyncs.
    pub(crate) fn apply_only_durable(&self, durable: tokio::sync::watch::Receiver<Durable>) {
        let _ = self.inner.durable.set(durable);
    }

    /// Waits until the log is durable up to `last` (the last entry of an
    /// apply), if this store applies only durable entries; fails if the log
    /// can no longer get there.
    async fn wait_durable(&self, last: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let index = last.index;
        let Some(durable) = self.inner.durable.get() else {
            return Ok(());
        };
        let mut durable = durable.clone();
        let reached = durable
            .wait_for(|d| d.failed.is_some() || d.upto.is_some_and(|u| u >= index))
            .await
            .map(|d| d.failed.clone());
        let failed = match reached {
            Ok(None) => return Ok(()),
            Ok(Some(why)) => why,
            Err(_) => "the raft log writer has stopped".to_string(),
        };
        let e = io::Error::other(format!(
            "log entry {index} cannot be applied: it is not durable ({failed})"
        ));
        Err(StorageError::from(StorageIOError::apply(last, &e)))
    }

    /// Tests: snapshot files may take `bytes` before their writes fail as on a
    /// full disk (`None`: no limit).
    #[cfg(test)]
    pub(crate) fn limit_snapshot_space(&self, bytes: Option<u64>) {
        *lock(&self.inner.space) = bytes;
    }

    /// Snapshot builds that failed since open.
    #[cfg(test)]
    pub(crate) fn snapshot_failures(&self) -> u64 {
        self.inner.failures.load(Ordering::Relaxed)
    }

    /// What `build_snapshot` reports when no new snapshot was made: the current
    /// one's metadata, which openraft takes as "nothing newer" (it reads only
    /// the metadata of a built snapshot; the data handle, on the directory, is
    /// dropped unread).
    fn unchanged(&self) -> io::Result<Snapshot<TypeConfig>> {
        let meta = lock(&self.inner.current)
            .as_ref()
            .map(|c| c.meta.clone())
            .unwrap_or_default();
        Ok(Snapshot {
            meta,
            snapshot: Box::new(open_for_reading(&self.inner.dir)?),
        })
    }

    /// The state machine, shared with the server.
    pub fn state(&self) -> Arc<RwLock<StateMachine>> {
        self.inner.state.clone()
    }

    /// Applies one entry under the write lock.
    fn apply_one(&self, entry: Entry<TypeConfig>) -> io::Result<BatchOutcome> {
        let inner = &self.inner;
        let mut sm = inner.state.write().map_err(|_| poisoned())?;
        let mut applied = lock(&inner.applied);
        applied.last = Some(entry.log_id);
        let outcomes = match entry.payload {
            EntryPayload::Normal(batch) => batch
                .0
                .iter()
                .map(|cmd| {
                    let (outcome, events) = sm.apply(cmd);
                    inner.observer.on_command(&sm, cmd, &outcome);
                    inner.observer.on_apply(&sm, outcome.zxid, events);
                    outcome
                })
                .collect(),
            EntryPayload::Blank => Vec::new(),
            EntryPayload::Membership(m) => {
                applied.membership = StoredMembership::new(Some(entry.log_id), m);
                Vec::new()
            }
        };
        Ok(BatchOutcome(outcomes))
    }

    /// What a snapshot of the current state needs, taken under the state's
    /// lock: the frozen state (one pointer for the tree) and its meta.
    fn freeze(&self) -> io::Result<(Frozen, Meta)> {
        let inner = &self.inner;
        let sm = inner.state.read().map_err(|_| poisoned())?;
        let applied = lock(&inner.applied).clone();
        let seq = inner.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let snapshot_id = match applied.last {
            Some(id) => format!(
                "{}-{}-{}-{seq}",
                id.leader_id.term, id.leader_id.node_id, id.index
            ),
            None => format!("0-0-0-{seq}"),
        };
        let meta = Meta {
            last_log_id: applied.last,
            last_membership: applied.membership,
            snapshot_id,
        };
        Ok((sm.freeze(), meta))
    }

    /// Encodes a frozen state and writes it as the newest snapshot (no lock
    /// held: writes go on meanwhile).
    fn write_frozen(&self, frozen: Frozen, meta: Meta) -> io::Result<SnapFile> {
        let inner = &self.inner;
        let encoded = snapshot::encode(&frozen, &meta)?;
        drop(frozen);
        let space = *lock(&inner.space);
        let path = snapshot::write(&inner.dir, &meta.snapshot_id, &encoded, space)?;
        let file = SnapFile { meta, path };
        self.set_current(file.clone());
        tracing::info!(path = %file.path.display(), last_log_id = ?file.meta.last_log_id, "built snapshot");
        Ok(file)
    }

    /// Records `file` as the newest snapshot unless a newer one is already current,
    /// then prunes old files (a failure to delete one only costs space).
    fn set_current(&self, file: SnapFile) {
        let mut current = lock(&self.inner.current);
        let newer = current
            .as_ref()
            .is_none_or(|c| c.meta.last_log_id <= file.meta.last_log_id);
        if newer {
            *current = Some(file);
        }
        if let Some(c) = current.as_ref()
            && let Err(e) = snapshot_dir::prune(&self.inner.dir, &c.path)
        {
            tracing::warn!(dir = %self.inner.dir.display(), error = %e, "could not prune old snapshots");
        }
    }
}

/// Counts one running snapshot thread while it lives.
struct Writing(tokio::sync::watch::Sender<usize>);

impl Writing {
    fn start(count: &tokio::sync::watch::Sender<usize>) -> Writing {
        count.send_modify(|n| *n += 1);
        Writing(count.clone())
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl SmStore {
    /// After raft stopped: waits (at most `limit`) until this is the last
    /// handle on the store, so that raft's state-machine task (which may be
    /// in the middle of a snapshot build) has ended and no snapshot thread
    /// is writing; returns whether that happened in time.
    pub(crate) async fn wait_released(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        let mut rx = self.inner.writing.subscribe();
        loop {
            if Arc::strong_count(&self.inner) == 1 && *rx.borrow_and_update() == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn open_for_reading(path: &Path) -> io::Result<tokio::fs::File> {
    Ok(tokio::fs::File::from_std(File::open(path)?))
}

/// Nice value of the thread a snapshot is encoded and written on: low, so
/// that the threads serving requests and writing the log get the CPU first,
/// but not the lowest. At 19 (scheduler weight 15 against 1024 for each
/// busy nice-0 thread) a snapshot on a saturated machine got about 1% of a
/// core and did not finish in 90 s, and a snapshot that never finishes
/// lets the log grow without bound; at 10 (weight 110) it gets about 10%.
pub(crate) const SNAPSHOT_NICE: i32 = 10;

/// Runs `f` on a thread of its own at a low CPU priority
/// ([`SNAPSHOT_NICE`]): encoding a large tree takes tens of milliseconds of
/// CPU, which the threads serving requests and writing the log get first.
/// `f` must not take the state's lock (a preempted low-priority holder
/// would make writes wait).
async fn low_priority<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("coord-snapshot".into())
        .spawn(move || {
            // On Linux the who = 0 form of setpriority names the calling
            // thread only.
            if let Err(e) = rustix::process::setpriority_process(None, SNAPSHOT_NICE) {
                tracing::debug!(error = %e, "could not lower the snapshot thread's priority");
            }
            let _ = tx.send(f());
        })?;
    rx.await
        .map_err(|_| io::Error::other("the snapshot thread ended without an answer"))?
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("snapshot task failed: {e}")))?
}

impl RaftSnapshotBuilder<TypeConfig> for SmStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let snap_err = |e: &io::Error| -> StorageError<NodeId> {
            StorageIOError::write_snapshot(None, e).into()
        };
        let inner = &self.inner;
        if let Some(at) = *lock(&inner.failed_at)
            && at.elapsed() < inner.retry
        {
            tracing::debug!("skipping a snapshot within the retry backoff of a failed one");
            return self.unchanged().map_err(|e| snap_err(&e));
        }
        let this = self.clone();
        let built = match self.freeze() {
            Ok((frozen, meta)) => {
                let writing = Writing::start(&inner.writing);
                low_priority(move || {
                    let _writing = writing;
                    this.write_frozen(frozen, meta)
                })
                .await
            }
            Err(e) => Err(e),
        };
        match built {
            Ok(file) => {
                *lock(&inner.failed_at) = None;
                let data = open_for_reading(&file.path).map_err(|e| snap_err(&e))?;
                Ok(Snapshot {
                    meta: file.meta,
                    snapshot: Box::new(data),
                })
            }
            Err(e) => {
                tracing::error!(
                    dir = %inner.dir.display(),
                    error = %e,
                    retry_in_ms = inner.retry.as_millis() as u64,
                    "building a snapshot failed (no temp file left); writes go on and the log \
                     grows until a snapshot succeeds"
                );
                *lock(&inner.failed_at) = Some(Instant::now());
                inner.failures.fetch_add(1, Ordering::Relaxed);
                self.unchanged().map_err(|e| snap_err(&e))
            }
        }
    }
}

impl RaftStateMachine<TypeConfig> for SmStore {
    type SnapshotBuilder = SmStore;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, Member>), StorageError<NodeId>>
    {
        let applied = lock(&self.inner.applied);
        Ok((applied.last, applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<BatchOutcome>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        if let Some(last) = entries.last() {
            self.wait_durable(last.log_id).await?;
        }
        let mut outcomes = Vec::with_capacity(entries.len());
        for entry in entries {
            let log_id = entry.log_id;
            let outcome = self
                .apply_one(entry)
                .map_err(|e| StorageError::from(StorageIOError::apply(log_id, &e)))?;
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<tokio::fs::File>, StorageError<NodeId>> {
        // An unlinked file: it needs no cleanup whatever happens to the transfer.
        let n = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        let path = self
            .inner
            .dir
            .join(format!("receiving-{}-{n}.part", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|f| fs::remove_file(&path).map(|()| f))
            .map_err(|e| sm_err(&e))?;
        Ok(Box::new(tokio::fs::File::from_std(file)))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError<NodeId>> {
        let snap_err = |e: &io::Error| -> StorageError<NodeId> {
            StorageIOError::read_snapshot(Some(meta.signature()), e).into()
        };
        // Waits for tokio's buffered writes to land before handing the file over.
        let mut src = snapshot.into_std().await;
        let (dir, id) = (self.inner.dir.clone(), meta.snapshot_id.clone());
        let (sm, file) = blocking(move || {
            src.seek(SeekFrom::Start(0))?;
            snapshot::receive(&dir, &id, &mut src)
        })
        .await
        .map_err(|e| snap_err(&e))?;
        if file.meta.last_log_id != meta.last_log_id {
            tracing::warn!(header = ?file.meta.last_log_id, meta = ?meta.last_log_id, "snapshot header disagrees with its metadata; using the metadata");
        }
        {
            let mut state = self
                .inner
                .state
                .write()
                .map_err(|_| snap_err(&poisoned()))?;
            *state = sm;
            *lock(&self.inner.applied) = Applied {
                last: meta.last_log_id,
                membership: meta.last_membership.clone(),
            };
            self.inner.observer.on_reset(&state);
        }
        let file = SnapFile {
            meta: meta.clone(),
            path: file.path,
        };
        tracing::info!(path = %file.path.display(), last_log_id = ?meta.last_log_id, "installed snapshot");
        self.set_current(file);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let current = lock(&self.inner.current).clone();
        match current {
            None => Ok(None),
            Some(file) => {
                let data = open_for_reading(&file.path).map_err(|e| {
                    StorageError::from(StorageIOError::read_snapshot(
                        Some(file.meta.signature()),
                        &e,
                    ))
                })?;
                Ok(Some(Snapshot {
                    meta: file.meta,
                    snapshot: Box::new(data),
                }))
            }
        }
    }
}

#[cfg(test)]
mod priority_tests {
    use super::{SNAPSHOT_NICE, low_priority};

    #[tokio::test]
    async fn snapshots_are_encoded_on_a_thread_of_low_priority() {
        let nice = low_priority(|| Ok(rustix::process::getpriority_process(None)?))
            .await
            .expect("ran");
        assert_eq!(nice, SNAPSHOT_NICE);
        let name = low_priority(|| Ok(std::thread::current().name().map(str::to_string)))
            .await
            .expect("ran");
        assert_eq!(name.as_deref(), Some("coord-snapshot"));
    }
}
