//! Whole replicas: writes, ordering, crash and restart, snapshots.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::noop_command;
use crate::config::Limits;
use crate::replication::{ApplyObserver, Replica, ReplicationConfig};
use crate::state_machine::{StateMachine, WatchEvent};

#[derive(Default)]
pub(super) struct CountingObserver {
    applied: AtomicU64,
    last_zxid: AtomicU64,
    resets: AtomicU64,
}

impl ApplyObserver for CountingObserver {
    fn on_apply(&self, sm: &StateMachine, zxid: u64, _events: Vec<WatchEvent>) {
        assert_eq!(
            sm.last_zxid(),
            zxid,
            "observer sees the state the command produced"
        );
        self.applied.fetch_add(1, Ordering::SeqCst);
        self.last_zxid.store(zxid, Ordering::SeqCst);
    }

    fn on_reset(&self, _sm: &StateMachine) {
        self.resets.fetch_add(1, Ordering::SeqCst);
    }
}

pub(super) fn config(dir: &Path) -> ReplicationConfig {
    let mut cfg = ReplicationConfig::new(dir);
    cfg.startup_timeout = Duration::from_secs(20);
    cfg
}

pub(in crate::replication) fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    }
}

pub(super) async fn start(cfg: ReplicationConfig, observer: Arc<CountingObserver>) -> Replica {
    match Replica::start(cfg, observer).await {
        Ok(r) => r,
        Err(e) => panic!("replica start: {e}"),
    }
}

/// Blocks `r`'s log writer until the returned sender is dropped: what is
/// queued meanwhile waits, as behind a slow fsync.
fn hold_writer(r: &Replica) -> std::sync::mpsc::Sender<()> {
    let (release, held) = std::sync::mpsc::channel::<()>();
    r.log_writer()
        .send(crate::replication::log_writer::Job::Hold(held))
        .expect("hold");
    release
}

pub(super) fn last_zxid(r: &Replica) -> u64 {
    r.state().read().expect("state lock").last_zxid()
}

#[test]
fn replica_restart_sees_every_acknowledged_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    const N: u64 = 40;
    // First life ends in a crash: the runtime is dropped without shutdown.
    {
        let rt = runtime();
        rt.block_on(async {
            let observer = Arc::new(CountingObserver::default());
            let r = start(config(dir.path()), observer.clone()).await;
            assert!(r.is_leader());
            for i in 0..N {
                r.write(noop_command(i as i64)).await.expect("write");
            }
            assert_eq!(last_zxid(&r), N);
            assert_eq!(observer.applied.load(Ordering::SeqCst), N);
            assert_eq!(observer.last_zxid.load(Ordering::SeqCst), N);
        });
    }
    // Second life: everything acknowledged is there; submissions keep their order.
    {
        let rt = runtime();
        rt.block_on(async {
            let r = start(config(dir.path()), Arc::default()).await;
            assert_eq!(last_zxid(&r), N);
            let first = r.submit(noop_command(1000)).await.expect("submit");
            let second = r.submit(noop_command(1001)).await.expect("submit");
            let (second, first) = (second.await.expect("second"), first.await.expect("first"));
            assert_eq!(second.zxid, first.zxid + 1, "applied in submission order");
            r.ensure_linearizable().await.expect("linearizable");
            r.shutdown().await.expect("shutdown");
        });
    }
    // Third life after a clean shutdown.
    let rt = runtime();
    rt.block_on(async {
        let r = start(config(dir.path()), Arc::default()).await;
        assert_eq!(last_zxid(&r), N + 2);
        r.shutdown().await.expect("shutdown");
    });
}

#[test]
fn snapshots_compact_the_log_and_restore_the_state_on_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    const N: u64 = 120;
    let snapshots = dir.path().join("snapshots");
    let count_snaps = || {
        std::fs::read_dir(&snapshots)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".snap"))
                    .count()
            })
            .unwrap_or(0)
    };
    let mut cfg = config(dir.path());
    cfg.snapshot_logs_since_last = 25;
    cfg.logs_to_keep_after_snapshot = 5;
    {
        let rt = runtime();
        rt.block_on(async {
            let r = start(cfg.clone(), Arc::default()).await;
            for i in 0..N {
                r.write(noop_command(i as i64)).await.expect("write");
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while count_snaps() == 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            r.shutdown().await.expect("shutdown");
        });
    }
    let snaps = count_snaps();
    assert!(
        (1..=crate::replication::snapshot::KEEP).contains(&snaps),
        "{snaps} snapshot files"
    );
    let rt = runtime();
    rt.block_on(async {
        let observer = Arc::new(CountingObserver::default());
        let r = start(cfg, observer.clone()).await;
        assert_eq!(last_zxid(&r), N);
        assert!(
            observer.applied.load(Ordering::SeqCst) < N,
            "restart replays only the log after the snapshot"
        );
        r.shutdown().await.expect("shutdown");
    });
}

#[test]
fn replicated_limits_survive_a_snapshot_and_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshots = dir.path().join("snapshots");
    let has_snapshot = || {
        std::fs::read_dir(&snapshots).is_ok_and(|d| {
            d.filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().ends_with(".snap"))
        })
    };
    let mut cfg = config(dir.path());
    cfg.snapshot_logs_since_last = 25;
    // The SetLimits entry is purged: only the snapshot header can carry it.
    cfg.logs_to_keep_after_snapshot = 0;
    let lowered = Limits {
        max_data_bytes: 524_288,
        ..Limits::default()
    };
    {
        let rt = runtime();
        rt.block_on(async {
            let r = start(cfg.clone(), Arc::default()).await;
            let state = r.state();
            assert_eq!(
                state.read().expect("state lock").limits(),
                &Limits::initial(),
                "a new data dir starts with the first limits (the leader replicates its own)"
            );
            assert!(r.replicate_limits(&lowered, 1).await.expect("set limits"));
            assert!(!r.replicate_limits(&lowered, 2).await.expect("no change"));
            for i in 0..60 {
                r.write(noop_command(i)).await.expect("write");
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while !has_snapshot() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            r.shutdown().await.expect("shutdown");
        });
    }
    assert!(has_snapshot(), "a snapshot was built");
    let rt = runtime();
    rt.block_on(async {
        let r = start(cfg, Arc::default()).await;
        assert_eq!(r.state().read().expect("state lock").limits(), &lowered);
        assert!(
            !r.replicate_limits(&lowered, 3).await.expect("no change"),
            "nothing to propose: the snapshot kept the limits"
        );
        r.shutdown().await.expect("shutdown");
    });
}

/// Blocks the first apply after [`GatedObserver::arm`] until released.
#[derive(Default)]
struct GatedObserver {
    armed: std::sync::atomic::AtomicBool,
    state: std::sync::Mutex<(bool, bool)>,
    changed: std::sync::Condvar,
}

impl GatedObserver {
    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    fn set(&self, f: impl FnOnce(&mut (bool, bool))) {
        f(&mut self.state.lock().expect("gate"));
        self.changed.notify_all();
    }

    /// Waits (bounded) until `f` holds of (entered, released).
    fn wait(&self, f: impl Fn(&(bool, bool)) -> bool) -> bool {
        let guard = self.state.lock().expect("gate");
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, Duration::from_secs(20), |s| !f(s))
            .expect("gate");
        f(&guard)
    }
}

impl ApplyObserver for GatedObserver {
    fn on_apply(&self, _sm: &StateMachine, _zxid: u64, _events: Vec<WatchEvent>) {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.set(|s| s.0 = true);
            tokio::task::block_in_place(|| self.wait(|s| s.1));
        }
    }

    fn on_reset(&self, _sm: &StateMachine) {}
}

#[test]
fn the_next_batch_is_proposed_once_the_previous_is_durable_not_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    rt.block_on(async {
        let gate = Arc::new(GatedObserver::default());
        let r = match Replica::start(config(dir.path()), gate.clone()).await {
            Ok(r) => r,
            Err(e) => panic!("replica start: {e}"),
        };
        r.write(noop_command(1)).await.expect("write");
        gate.arm();
        let first = r.submit(noop_command(2)).await.expect("submit");
        let first = tokio::spawn(first);
        // The first batch is durable (a single node applies only what its
        // log holds) and its apply is held.
        let g = gate.clone();
        let entered = tokio::task::spawn_blocking(move || g.wait(|s| s.0))
            .await
            .expect("join");
        assert!(entered, "the first command's apply never started");
        let fsyncs = r.log_fsyncs();
        let second = tokio::spawn(r.submit(noop_command(3)).await.expect("submit"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while r.log_fsyncs() == fsyncs && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let proposed = r.log_fsyncs() > fsyncs;
        let applied_early = first.is_finished() || second.is_finished();
        gate.set(|s| s.1 = true);
        let (first, second) = (
            first.await.expect("join").expect("first"),
            second.await.expect("join").expect("second"),
        );
        assert!(!applied_early, "the gate did not hold the apply");
        assert!(
            proposed,
            "the second command was not written to the log while the first one's apply was held"
        );
        assert_eq!(second.zxid, first.zxid + 1);
        r.shutdown().await.expect("shutdown");
    });
}

#[test]
fn commands_submitted_during_an_fsync_join_one_batch_behind_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    rt.block_on(async {
        let r = start(config(dir.path()), Arc::default()).await;
        r.write(noop_command(1)).await.expect("write");
        let fsyncs = r.log_fsyncs();
        // Hold the writer: the first command's append waits behind it, as if
        // its fsync were slow.
        let release = hold_writer(&r);
        let mut pending = Vec::new();
        pending.push(tokio::spawn(
            r.submit(noop_command(2)).await.expect("submit"),
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
        for i in 3..6 {
            pending.push(tokio::spawn(
                r.submit(noop_command(i)).await.expect("submit"),
            ));
            // Time for a batcher that does not wait for the flush to propose
            // each of them alone.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(release);
        let mut zxids = Vec::new();
        for p in pending {
            zxids.push(p.await.expect("join").expect("write").zxid);
        }
        assert!(zxids.windows(2).all(|w| w[1] == w[0] + 1), "{zxids:?}");
        assert_eq!(
            r.log_fsyncs() - fsyncs,
            2,
            "the first command alone, then the three that came during its fsync together"
        );
        r.shutdown().await.expect("shutdown");
    });
}

#[test]
fn alone_raft_commits_before_the_fsync_but_applies_and_answers_only_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    rt.block_on(async {
        let observer = Arc::new(CountingObserver::default());
        let r = start(config(dir.path()), observer.clone()).await;
        assert!(r.runs_alone(), "a replica started alone runs alone");
        r.write(noop_command(1)).await.expect("write");
        let applied = r.applied_index();
        let seen = observer.applied.load(Ordering::SeqCst);
        // Hold the writer: the next command's append is queued behind it, as
        // if its fsync were slow.
        let release = hold_writer(&r);
        let pending = tokio::spawn(r.submit(noop_command(2)).await.expect("submit"));
        // Raft's core does not wait for the fsync: it answers, and it has
        // committed the new entry (a core waiting for the flush would answer
        // nothing until the writer is released).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let committed = tokio::time::timeout(
                Duration::from_secs(1),
                r.raft().with_raft_state(|s| s.committed.map(|c| c.index)),
            )
            .await;
            if let Ok(Ok(Some(c))) = committed
                && Some(c) > applied
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "raft did not commit the entry while its fsync was held: {committed:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Yet nothing of it is applied or answered before it is on disk.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !pending.is_finished(),
            "the write was answered before its fsync"
        );
        assert_eq!(r.applied_index(), applied, "applied before its fsync");
        assert_eq!(observer.applied.load(Ordering::SeqCst), seen);
        let fsyncs = r.log_fsyncs();
        drop(release);
        let outcome = tokio::time::timeout(Duration::from_secs(10), pending)
            .await
            .expect("answered once durable")
            .expect("join");
        outcome.expect("write");
        assert!(r.log_fsyncs() > fsyncs, "answered without an fsync");
        assert_eq!(observer.applied.load(Ordering::SeqCst), seen + 1);
        r.shutdown().await.expect("shutdown");
    });
}

#[test]
fn a_replica_running_alone_takes_no_members() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    rt.block_on(async {
        let r = start(config(dir.path()), Arc::default()).await;
        let member = crate::replication::Member::new("127.0.0.1:1", "127.0.0.1:2".to_string());
        match r.add_learner(2, member).await {
            Err(crate::error::Error::BadArguments(why)) => {
                assert!(why.contains("started alone"), "{why}");
            }
            other => panic!("a learner was accepted: {other:?}"),
        }
        match r.change_voters([1, 2].into()).await {
            Err(crate::error::Error::BadArguments(why)) => {
                assert!(why.contains("cannot add member 2"), "{why}");
            }
            other => panic!("a voter was accepted: {other:?}"),
        }
        // Still serving.
        r.write(noop_command(1)).await.expect("write");
        r.shutdown().await.expect("shutdown");
    });
}
