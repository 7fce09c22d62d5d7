//! Latency recording and the closed-loop driver that every throughput
//! workload shares, whatever the system: N workers, each one operation at a
//! time, a warm-up, then a measured window bounded by time and by op count,
//! every operation bounded by [`OP_TIMEOUT`].
//!
//! `coord_cli::bench` has the same pieces (`Recorder`, `driver::drive`), but
//! they are `pub(crate)` there; this is the minimal equivalent, kept generic
//! so that one driver measures every system.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::task::JoinSet;

/// Errors of the harness: any client's error, boxed.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Result of the harness.
pub(crate) type Res<T> = Result<T, BoxError>;

/// Longest one operation may take before the workload is abandoned.
pub(crate) const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// Highest latency tracked (60 s); longer samples are clamped.
const MAX_TRACKED_NANOS: u64 = 60_000_000_000;

/// Limits of one workload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// Unrecorded warm-up before the measured window.
    pub(crate) warmup: Duration,
    /// Length of the measured window.
    pub(crate) duration: Duration,
    /// Most operations recorded in the window, over all workers.
    pub(crate) max_ops: u64,
}

/// Latencies of one workload (HDR histogram, nanoseconds, 3 digits).
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    hist: Histogram<u64>,
}

impl Recorder {
    pub(crate) fn new() -> Res<Self> {
        Ok(Recorder {
            hist: Histogram::new_with_bounds(1, MAX_TRACKED_NANOS, 3)?,
        })
    }

    pub(crate) fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.hist.saturating_record(nanos.max(1));
    }

    pub(crate) fn merge(&mut self, other: &Recorder) -> Res<()> {
        self.hist.add(&other.hist)?;
        Ok(())
    }

    pub(crate) fn len(&self) -> u64 {
        self.hist.len()
    }

    /// Latency at quantile `q` in microseconds (0 when empty).
    pub(crate) fn quantile_us(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            0.0
        } else {
            self.hist.value_at_quantile(q) as f64 / 1_000.0
        }
    }

    pub(crate) fn summary(&self, elapsed: Duration) -> Summary {
        Summary {
            ops: self.len(),
            elapsed,
            p50_us: self.quantile_us(0.50),
            p99_us: self.quantile_us(0.99),
        }
    }
}

/// One measured workload on one system.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    pub(crate) ops: u64,
    pub(crate) elapsed: Duration,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
}

impl Summary {
    pub(crate) fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs <= 0.0 {
            0.0
        } else {
            self.ops as f64 / secs
        }
    }
}

/// One closed-loop client.
pub(crate) trait Worker: Send + 'static {
    fn op(&mut self) -> impl Future<Output = Res<()>> + Send;
}

/// Runs `workers` concurrently within `bounds`; returns the merged latencies
/// and the workers (so their connections can be closed).
pub(crate) async fn drive<W: Worker>(workers: Vec<W>, bounds: Bounds) -> Res<(Summary, Vec<W>)> {
    let measure_start = Instant::now() + bounds.warmup;
    let end = measure_start + bounds.duration;
    let budget = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for worker in workers {
        let budget = Arc::clone(&budget);
        set.spawn(worker_loop(
            worker,
            measure_start,
            end,
            bounds.max_ops,
            budget,
        ));
    }
    let mut recorder = Recorder::new()?;
    let mut last = measure_start;
    let mut done = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok((worker, rec, finished))) => {
                recorder.merge(&rec)?;
                last = last.max(finished);
                done.push(worker);
            }
            Ok(Err(e)) => {
                set.abort_all();
                return Err(e);
            }
            Err(e) => {
                set.abort_all();
                return Err(format!("worker task failed: {e}").into());
            }
        }
    }
    let summary = recorder.summary(last.saturating_duration_since(measure_start));
    Ok((summary, done))
}

async fn worker_loop<W: Worker>(
    mut worker: W,
    measure_start: Instant,
    end: Instant,
    max_ops: u64,
    budget: Arc<AtomicU64>,
) -> Res<(W, Recorder, Instant)> {
    let mut rec = Recorder::new()?;
    let mut warm = 0u64;
    while Instant::now() < measure_start && warm < max_ops {
        bounded(worker.op()).await?;
        warm += 1;
    }
    tokio::time::sleep_until(measure_start.into()).await;
    while Instant::now() < end && budget.fetch_add(1, Ordering::Relaxed) < max_ops {
        let started = Instant::now();
        bounded(worker.op()).await?;
        rec.record(started.elapsed());
    }
    Ok((worker, rec, Instant::now()))
}

/// Awaits `fut` for at most [`OP_TIMEOUT`].
pub(crate) async fn bounded<T>(fut: impl Future<Output = Res<T>>) -> Res<T> {
    match tokio::time::timeout(OP_TIMEOUT, fut).await {
        Ok(r) => r,
        Err(_) => Err(format!("operation took longer than {OP_TIMEOUT:?}").into()),
    }
}

/// Runs `f` over `items` with at most `width` at a time, in order of results
/// not guaranteed; the first error is returned.
pub(crate) async fn concurrently<I, T, F, Fut>(items: I, width: usize, f: F) -> Res<Vec<T>>
where
    I: IntoIterator,
    F: Fn(I::Item) -> Fut,
    Fut: Future<Output = Res<T>> + Send + 'static,
    T: Send + 'static,
{
    let mut set = JoinSet::new();
    let mut out = Vec::new();
    for item in items {
        if set.len() >= width.max(1)
            && let Some(joined) = set.join_next().await
        {
            out.push(joined.map_err(|e| format!("task failed: {e}"))??);
        }
        set.spawn(f(item));
    }
    while let Some(joined) = set.join_next().await {
        out.push(joined.map_err(|e| format!("task failed: {e}"))??);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_microseconds_of_recorded_latencies() {
        let mut r = Recorder::new().unwrap();
        for us in 1..=100u64 {
            r.record(Duration::from_micros(us));
        }
        let s = r.summary(Duration::from_secs(2));
        assert_eq!(s.ops, 100);
        assert!((s.p50_us - 50.0).abs() < 0.1);
        assert!((s.p99_us - 99.0).abs() < 0.1);
        assert!((s.ops_per_sec() - 50.0).abs() < 1e-9);
    }
}
