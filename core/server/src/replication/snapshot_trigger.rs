//! Snapshots by log size: openraft 0.9's `SnapshotPolicy` counts entries only,
//! so with large values a count threshold lets the log (and a restart's
//! replay) grow to gigabytes. This task asks raft for a snapshot once the
//! entries after the last snapshot take `threshold` bytes of log.
//!
//! It follows the bytes the log store appends and raft's metrics (which say
//! where the last snapshot ends). After asking, it asks again only when a
//! snapshot has been made or `retry` has passed (a build can fail; the
//! builder then reports nothing new, see `sm_store`). It decides nothing
//! about what goes into a snapshot.

use std::time::{Duration, Instant};

use openraft::Raft;
use tokio::sync::watch;

use super::{LogReader, TypeConfig};

/// Runs until raft or the log store goes away.
pub(crate) async fn run(
    raft: Raft<TypeConfig>,
    log: LogReader,
    mut appended: watch::Receiver<u64>,
    threshold: u64,
    retry: Duration,
) {
    let mut metrics = raft.metrics();
    let snapshot_index = |m: &watch::Receiver<_>| -> Option<u64> {
        let m: &openraft::RaftMetrics<_, _> = &m.borrow();
        m.snapshot.map(|s| s.index)
    };
    let mut snapshot = snapshot_index(&metrics);
    // Bytes appended since open up to the last snapshot (can be "negative":
    // entries replayed at open are not in `appended`).
    let mut base = i128::from(*appended.borrow()) - i128::from(log.bytes_after(snapshot));
    let mut asked: Option<Instant> = None;
    loop {
        tokio::select! {
            changed = appended.changed() => if changed.is_err() { return },
            changed = metrics.changed() => if changed.is_err() { return },
        }
        let now = snapshot_index(&metrics);
        if now != snapshot {
            snapshot = now;
            base = i128::from(*appended.borrow()) - i128::from(log.bytes_after(snapshot));
            asked = None;
        }
        let since = i128::from(*appended.borrow()) - base;
        if since < i128::from(threshold) || asked.is_some_and(|at| at.elapsed() < retry) {
            continue;
        }
        tracing::info!(
            log_bytes = since as u64,
            threshold,
            "log since the last snapshot passed --snapshot-log-bytes; building a snapshot"
        );
        asked = Some(Instant::now());
        if raft.trigger().snapshot().await.is_err() {
            return;
        }
    }
}
