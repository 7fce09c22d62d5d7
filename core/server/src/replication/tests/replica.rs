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
    fn on_apply(&self, sm: &StateMachine, zxid: u64, _events: &[WatchEvent]) {
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
