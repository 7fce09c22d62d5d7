//! Snapshots of whole replicas: the log-size trigger, a build that fails for
//! lack of space, damaged snapshot files at start, and the durable creation of
//! the data directory.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::replica::{CountingObserver, config, last_zxid, runtime, start};
use super::{create_command, noop_command};
use crate::replication::{Replica, ReplicationConfig, files, snapshot_dir};

/// Files in `dir` whose names end in `suffix`.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits (at most 10 s) until `done` holds, writing a no-op every 20 ms.
async fn write_until(r: &Replica, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        r.write(noop_command(0)).await.expect("write");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn large_writes_take_a_snapshot_by_log_bytes_and_purge_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshots = dir.path().join("snapshots");
    let mut cfg = config(dir.path());
    cfg.snapshot_logs_since_last = 1_000_000;
    cfg.snapshot_log_bytes = 1 << 20;
    cfg.logs_to_keep_after_snapshot = 2;
    runtime().block_on(async {
        let r = start(cfg, Arc::default()).await;
        // 40 entries of 100 KiB: 4 MiB of log, far below the entry threshold.
        for i in 0..40 {
            let out = r
                .write(create_command(&format!("/n{i}"), 100 * 1024))
                .await
                .expect("write");
            assert!(out.result.is_ok(), "{out:?}");
        }
        write_until(&r, "a snapshot and a purge", || {
            !files_ending(&snapshots, ".snap").is_empty() && r.purged_index().is_some()
        })
        .await;
        r.shutdown().await.expect("shutdown");
    });
}

#[test]
fn a_failed_snapshot_leaves_no_temp_file_and_writes_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshots = dir.path().join("snapshots");
    let mut cfg = config(dir.path());
    cfg.snapshot_logs_since_last = 10;
    cfg.snapshot_retry = Duration::from_millis(200);
    runtime().block_on(async {
        let r = start(cfg, Arc::default()).await;
        // The disk fills up 64 bytes into every snapshot file.
        r.sm_store().limit_snapshot_space(Some(64));
        for i in 0..60 {
            r.write(noop_command(i)).await.expect("writes go on");
        }
        write_until(&r, "a failed snapshot", || {
            r.sm_store().snapshot_failures() > 0
        })
        .await;
        assert!(
            std::fs::read_dir(&snapshots).expect("dir").next().is_none(),
            "no snapshot and no temp file: {:?}",
            files_ending(&snapshots, "")
        );
        // Space comes back: a later attempt succeeds.
        r.sm_store().limit_snapshot_space(None);
        write_until(&r, "a snapshot after the retry wait", || {
            !files_ending(&snapshots, ".snap").is_empty()
        })
        .await;
        assert!(files_ending(&snapshots, ".tmp").is_empty());
        r.shutdown().await.expect("shutdown");
    });
}

/// Runs a replica taking a snapshot every 25 entries with `keep` entries
/// kept behind each, until two snapshot files exist; returns them, oldest first.
fn two_snapshots(dir: &Path, keep: u64) -> (ReplicationConfig, Vec<PathBuf>) {
    two_snapshots_where(dir, keep, |_, _| true)
}

/// [`two_snapshots`], tried again in a fresh directory (at most 5 times)
/// until `wanted(snapshot indexes, durable purge point)` holds on disk: how
/// far the log reaches back depends on when raft's purge after a snapshot
/// lands, which the tests that damage a snapshot must not leave to chance.
fn two_snapshots_where(
    dir: &Path,
    keep: u64,
    wanted: impl Fn(&[u64], u64) -> bool,
) -> (ReplicationConfig, Vec<PathBuf>) {
    let mut seen = Vec::new();
    for attempt in 0..5 {
        let sub = dir.join(format!("try-{attempt}"));
        let (cfg, files) = two_snapshots_once(&sub, keep);
        let indexes: Vec<u64> = snapshot_dir::list(&sub.join("snapshots"))
            .expect("list")
            .iter()
            .filter_map(|f| f.meta.last_log_id.map(|l| l.index))
            .collect();
        let purged = crate::replication::LogStore::open_reporting(
            &sub.join("raft"),
            crate::replication::log_store::LogOptions::default(),
        )
        .expect("reopen the log")
        .last_purged()
        .map_or(0, |p| p.index);
        if wanted(&indexes, purged) {
            return (cfg, files);
        }
        seen.push((indexes, purged));
    }
    panic!("no run gave the wanted snapshots and purge point: {seen:?}");
}

fn two_snapshots_once(dir: &Path, keep: u64) -> (ReplicationConfig, Vec<PathBuf>) {
    let mut cfg = config(dir);
    cfg.snapshot_logs_since_last = 25;
    cfg.logs_to_keep_after_snapshot = keep;
    let snapshots = dir.join("snapshots");
    runtime().block_on(async {
        let r = start(cfg.clone(), Arc::default()).await;
        for i in 0..120 {
            r.write(noop_command(i)).await.expect("write");
        }
        write_until(&r, "two snapshots", || {
            files_ending(&snapshots, ".snap").len() == 2
        })
        .await;
        // No more writes from here. A snapshot begun by the last write may
        // still land (and push the older file out), and the purge follows
        // each snapshot: wait until the newest file is the snapshot raft
        // reports and the log was cut back to `keep` entries behind it, so
        // what the log reaches is decided here, not by the timing of the
        // snapshot thread or the purge.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let snapshot = r.raft().metrics().borrow().snapshot.map_or(0, |s| s.index);
            // The store's own purge point: shutdown flushes what reached it.
            let purged = r.store_purged_index().unwrap_or(0);
            let indexes: Vec<u64> = snapshot_dir::list(&snapshots)
                .expect("list")
                .iter()
                .filter_map(|f| f.meta.last_log_id.map(|l| l.index))
                .collect();
            let newest_file = indexes.last().copied();
            let purged_enough = snapshot <= keep || purged >= snapshot - keep;
            if newest_file == Some(snapshot) && purged_enough {
                if indexes.len() == 2 && indexes[0] < indexes[1] {
                    break;
                }
                // Two builds at the same index (the entry-count policy and
                // the log-size trigger may both fire): move on to a later
                // snapshot so that the two files hold different states.
                for i in 0..25 {
                    r.write(noop_command(i)).await.expect("write");
                }
            }
            assert!(
                Instant::now() < deadline,
                "snapshot {snapshot}, newest file {newest_file:?}, purged {purged}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        r.shutdown().await.expect("shutdown");
    });
    let files = snapshot_dir::list(&snapshots).expect("list");
    assert_eq!(files.len(), 2);
    // Later starts replay the entries after the newest snapshot; they must
    // not take a third one (which would push the older file out).
    cfg.snapshot_logs_since_last = 1_000_000;
    (cfg, files.into_iter().map(|f| f.path).collect())
}

fn damage(path: &Path, at_from_end: u64) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open");
    let at = file.metadata().expect("stat").len() - at_from_end;
    file.write_all_at(b"\xde\xad", at).expect("damage");
}

#[test]
fn an_unreadable_older_snapshot_does_not_block_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cfg, files) = two_snapshots(dir.path(), 1_000);
    let file = OpenOptions::new()
        .write(true)
        .open(&files[0])
        .expect("open");
    file.write_all_at(b"NOTASNAP", 0)
        .expect("damage the header");
    drop(file);
    runtime().block_on(async {
        let r = start(cfg, Arc::default()).await;
        let zxid = last_zxid(&r);
        assert!(zxid >= 120, "state restored, zxid {zxid}");
        r.shutdown().await.expect("shutdown");
    });
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_the_older_one_and_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 40 entries kept: the log still reaches back past the older snapshot.
    // The log must reach back past the older snapshot.
    let (cfg, files) = two_snapshots_where(dir.path(), 40, |idx, purged| purged <= idx[0]);
    let before = {
        let rt = runtime();
        rt.block_on(async {
            let r = start(cfg.clone(), Arc::default()).await;
            let zxid = last_zxid(&r);
            r.shutdown().await.expect("shutdown");
            zxid
        })
    };
    damage(&files[1], 10);
    runtime().block_on(async {
        let observer = Arc::new(CountingObserver::default());
        let r = start(cfg, observer.clone()).await;
        assert_eq!(
            last_zxid(&r),
            before,
            "same state from the older snapshot and the log"
        );
        r.shutdown().await.expect("shutdown");
    });
    assert!(!files[1].exists(), "the damaged snapshot was set aside");
    assert!(files[1].with_extension("snap.damaged").exists());
}

#[test]
fn a_damaged_newest_snapshot_is_refused_when_the_log_no_longer_reaches_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing kept behind a snapshot: only the newest one reaches the log.
    // The log must start after the newer snapshot.
    let (cfg, files) = two_snapshots_where(dir.path(), 0, |idx, purged| purged >= idx[1]);
    damage(&files[1], 10);
    runtime().block_on(async {
        match Replica::start(cfg, Arc::new(CountingObserver::default())).await {
            Ok(r) => panic!(
                "started without the state the damaged snapshot held: purged {:?}, applied {:?}, \
                 damaged {}, dir {:?}",
                r.purged_index(),
                r.applied_index(),
                files[1].display(),
                std::fs::read_dir(files[1].parent().unwrap())
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect::<Vec<_>>()
            ),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(&files[1].display().to_string()), "{msg}");
                assert!(msg.contains("restore"), "{msg}");
            }
        }
    });
    assert!(
        files[1].exists(),
        "nothing is renamed when the start is refused"
    );
}

#[tokio::test]
async fn first_start_creates_every_directory_durably() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("a").join("b");
    let server = crate::server::Server::start(crate::server::ServerConfig::for_test(&data))
        .await
        .expect("start");
    let created = files::created::under(root.path());
    for dir in [
        root.path().join("a"),
        data.clone(),
        data.join("raft"),
        data.join("snapshots"),
    ] {
        assert!(
            created.contains(&dir),
            "{} not created durably: {created:?}",
            dir.display()
        );
    }
    server.shutdown().await.expect("shutdown");
}
