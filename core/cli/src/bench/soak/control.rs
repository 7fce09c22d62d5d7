//! What every soak task shares: the phase's stop signal ([`Stop`]), a small
//! seeded random generator ([`Rng`]), the per-task counters ([`Tally`]), the
//! harness's own account of what it put into the server ([`LoadTally`], read
//! by the RSS bound) and how hard the abusers push for a given phase length
//! ([`Intensity`]).
//!
//! Nothing here does I/O; tasks hold clones and the phase reads the totals.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

/// The end of a phase, seen by every task. Cheap to clone.
#[derive(Clone)]
pub(super) struct Stop {
    rx: watch::Receiver<bool>,
}

/// The phase's side of [`Stop`]: setting it ends every task's loop.
pub(super) struct StopSwitch {
    tx: watch::Sender<bool>,
}

impl StopSwitch {
    pub(super) fn new() -> (StopSwitch, Stop) {
        let (tx, rx) = watch::channel(false);
        (StopSwitch { tx }, Stop { rx })
    }

    pub(super) fn set(&self) {
        self.tx.send_replace(true);
    }
}

impl Stop {
    pub(super) fn is_set(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once the phase ends (at once if it has).
    pub(super) async fn wait(&self) {
        let mut rx = self.rx.clone();
        // An error means the switch is gone: the phase is over either way.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    /// Sleeps `d` or until the phase ends; `true` when the phase ended.
    pub(super) async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.wait() => true,
            _ = tokio::time::sleep(d) => self.is_set(),
        }
    }
}

/// splitmix64: reproducible from `--seed`, enough for choosing garbage.
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    /// A generator for task `stream` of a run seeded with `seed`.
    pub(super) fn for_task(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xa076_1d64_78bd_642f));
        r.next_u64();
        r
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (slightly biased; fine for picking sizes).
    pub(super) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub(super) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// What one task did: named counters (`ops`, `closed: <reason>`,
/// `error: <ERROR_NAME>`, anything else), read at the phase's end.
#[derive(Debug, Default)]
pub(super) struct Tally {
    counts: Mutex<BTreeMap<String, u64>>,
}

/// The primary counter of every task: what it did, one unit per attempt.
pub(super) const OPS: &str = "ops";

impl Tally {
    pub(super) fn add(&self, key: &str, n: u64) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        match counts.get_mut(key) {
            Some(v) => *v += n,
            None => {
                counts.insert(key.to_string(), n);
            }
        }
    }

    pub(super) fn inc(&self, key: &str) {
        self.add(key, 1);
    }

    /// Keeps the largest value seen under `key` (a high-water mark).
    pub(super) fn max(&self, key: &str, v: u64) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = counts.entry(key.to_string()).or_insert(0);
        *slot = (*slot).max(v);
    }

    /// Counts one client-side error by its stable name.
    pub(super) fn error(&self, e: &coord_client::Error) {
        self.inc(&format!("error: {}", e.name()));
    }

    pub(super) fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What the harness put into the server during a phase, counted by the
/// tasks that put it there: the quantities no server setting bounds yet
/// (see the bound's docs in `bound`).
#[derive(Debug, Default)]
pub(super) struct LoadTally {
    /// Nodes created and not deleted (approximate: churned ephemerals are
    /// counted out when their session closes).
    pub(super) nodes: AtomicU64,
    /// Path plus data bytes of those nodes.
    pub(super) node_bytes: AtomicU64,
    /// Payload bytes (paths plus data) of every acknowledged write.
    pub(super) log_bytes: AtomicU64,
    /// Acknowledged writes (each is one command in the log).
    pub(super) writes: AtomicU64,
    /// Watches registered right now on live connections.
    pub(super) watches: AtomicU64,
    /// Highest value `watches` reached.
    pub(super) watches_peak: AtomicU64,
}

impl LoadTally {
    /// One acknowledged write of `payload` bytes that created `nodes` nodes
    /// holding `node_bytes` (0, 0 for a set).
    pub(super) fn wrote(&self, payload: u64, nodes: u64, node_bytes: u64) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.log_bytes.fetch_add(payload, Ordering::Relaxed);
        self.nodes.fetch_add(nodes, Ordering::Relaxed);
        self.node_bytes.fetch_add(node_bytes, Ordering::Relaxed);
    }

    pub(super) fn watches_added(&self, n: u64) {
        let now = self.watches.fetch_add(n, Ordering::Relaxed) + n;
        self.watches_peak.fetch_max(now, Ordering::Relaxed);
    }

    pub(super) fn watches_dropped(&self, n: u64) {
        // Saturating: a miscount must not wrap to 2^64 watches.
        let _ = self
            .watches
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                Some(w.saturating_sub(n))
            });
    }

    pub(super) fn get(v: &AtomicU64) -> u64 {
        v.load(Ordering::Relaxed)
    }
}

/// How hard the abusers push, scaled by the phase length so that a 5 s CI
/// phase stays light and a 5 min phase reaches the figures of the issue
/// (200 silent connections, 10 stalled readers, ~4 MiB frames, 50k children).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Intensity {
    /// (a) Silent connections held open at once.
    pub(crate) silent_connections: u64,
    /// (b) Pause between two garbage connections.
    pub(crate) garbage_pause: Duration,
    /// (c) Handshaken clients that stop reading.
    pub(crate) stalled_clients: u64,
    /// (c) 1 MiB reads each stalled client requests without reading.
    pub(crate) stalled_big_reads: u64,
    /// (d) Most exists-watches the flooder registers before slowing down
    /// (a harness cap, in case the server has no limit).
    pub(crate) flood_watch_cap: u64,
    /// (e) SetWatches frames sent, each on its own connection held open.
    pub(crate) set_watches_frames: u64,
    /// (e, f) Target size of the big frames (capped below the server's
    /// `max_frame_bytes`).
    pub(crate) big_frame_bytes: u64,
    /// (f) Multi frames of empty ops sent.
    pub(crate) multi_frames: u64,
    /// (g) Pause between two 1 MiB writes.
    pub(crate) big_write_pause: Duration,
    /// (h) Children of the big directory.
    pub(crate) children: u64,
    /// (i) Pause between two session churn cycles.
    pub(crate) churn_pause: Duration,
}

impl Intensity {
    /// The intensity for one phase of `phase` length.
    pub(crate) fn for_phase(phase: Duration) -> Intensity {
        let secs = phase.as_secs().max(1);
        const MIB: u64 = 1024 * 1024;
        Intensity {
            silent_connections: (secs * 10).clamp(20, 200),
            garbage_pause: Duration::from_millis(10),
            stalled_clients: (secs / 3).clamp(2, 10),
            stalled_big_reads: 80,
            flood_watch_cap: (secs * 5_000).clamp(10_000, 500_000),
            set_watches_frames: (secs / 15).clamp(1, 5),
            big_frame_bytes: (secs * MIB / 2).clamp(MIB, 4 * MIB),
            multi_frames: (secs / 5).clamp(1, 20),
            big_write_pause: if secs < 30 {
                Duration::from_secs(1)
            } else {
                Duration::from_millis(500)
            },
            children: (secs * 2_000).min(50_000),
            churn_pause: Duration::from_millis(20),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_the_same_garbage_and_streams_differ() {
        let mut a = Rng::for_task(1, 2);
        let mut b = Rng::for_task(1, 2);
        let mut c = Rng::for_task(1, 3);
        let (x, y, z) = (a.next_u64(), b.next_u64(), c.next_u64());
        assert_eq!(x, y);
        assert_ne!(x, z);
        let mut buf = [0u8; 13];
        Rng::for_task(7, 0).fill(&mut buf);
        assert!(buf.iter().any(|&b| b != 0));
        for _ in 0..1000 {
            let v = a.range(3, 5);
            assert!((3..=5).contains(&v));
        }
    }

    #[test]
    fn intensity_is_light_for_a_ci_phase_and_reaches_the_issue_figures_for_long_ones() {
        let short = Intensity::for_phase(Duration::from_secs(5));
        assert_eq!(short.stalled_clients, 2);
        assert_eq!(short.set_watches_frames, 1);
        assert_eq!(short.children, 10_000);
        let long = Intensity::for_phase(Duration::from_secs(300));
        assert_eq!(long.silent_connections, 200);
        assert_eq!(long.stalled_clients, 10);
        assert_eq!(long.children, 50_000);
        assert_eq!(long.big_frame_bytes, 4 * 1024 * 1024);
    }

    #[test]
    fn tally_counts_keeps_maxima_and_load_never_wraps() {
        let t = Tally::default();
        t.inc(OPS);
        t.add(OPS, 2);
        t.max("peak", 5);
        t.max("peak", 3);
        let s = t.snapshot();
        assert_eq!(s[OPS], 3);
        assert_eq!(s["peak"], 5);
        let load = LoadTally::default();
        load.watches_added(4);
        load.watches_dropped(10);
        assert_eq!(LoadTally::get(&load.watches), 0);
        assert_eq!(LoadTally::get(&load.watches_peak), 4);
    }
}
