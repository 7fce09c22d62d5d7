//! The machinery every workload shares, whatever the system measured (coord,
//! ZooKeeper, etcd, Redis): running N concurrent closed-loop [`Worker`]s for a
//! bounded time and a bounded op count ([`drive`]), bounding one operation
//! ([`bounded`]), and hosting a server on its own OS thread with its own tokio
//! runtime ([`BackgroundServer`]).
//!
//! Keeping servers on a separate runtime means the measuring clients never share
//! a scheduler with the code they measure; the loopback echo floor is hosted the
//! same way as the coord server so that the two are compared like for like.
//! This module knows nothing of coord's protocol.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::stats::{Recorder, Summary};
use coord_client::error::Error;

/// Longest any single operation may take before the workload is abandoned, so a
/// stuck server fails the run instead of hanging it.
pub const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a background server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a background runtime may take to wind down its leftover tasks.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(5);

/// Limits of one workload: a warm-up, then a measured window that ends at
/// `duration` or after `max_ops` measured operations, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Unrecorded operations before the measured window (also capped at `max_ops`).
    pub warmup: Duration,
    /// Length of the measured window.
    pub duration: Duration,
    /// Most operations recorded in the measured window, over all clients.
    pub max_ops: u64,
}

/// One closed-loop client of any system: issues one operation at a time.
pub trait Worker: Send + 'static {
    /// What a failed operation returns. The driver's own failures (an
    /// operation over [`OP_TIMEOUT`], a panicked worker) are coord's
    /// [`Error`] converted into it.
    type Error: From<Error> + Send + 'static;

    /// Performs operation number `seq` of this worker (numbers are never reused).
    fn op(&mut self, seq: u64) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// What [`drive`] hands back.
#[derive(Debug)]
pub struct Outcome<W> {
    /// Latencies of every measured operation of every worker.
    pub recorder: Recorder,
    /// From the start of the measured window to the last worker's last completion.
    pub elapsed: Duration,
    /// The workers, in the order given, so the caller can close their connections.
    pub workers: Vec<W>,
}

impl<W> Outcome<W> {
    /// Ops, ops/s and percentiles of the measured window.
    pub fn summary(&self) -> Summary {
        self.recorder.summary(self.elapsed)
    }
}

/// Runs every worker concurrently on the current runtime within `bounds`.
/// The first error of any worker stops the others and is returned.
pub async fn drive<W: Worker>(workers: Vec<W>, bounds: &Bounds) -> Result<Outcome<W>, W::Error> {
    let count = workers.len();
    let measure_start = Instant::now() + bounds.warmup;
    let end = measure_start + bounds.duration;
    let budget = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for (index, worker) in workers.into_iter().enumerate() {
        let window = Window {
            measure_start,
            end,
            max_ops: bounds.max_ops,
            budget: Arc::clone(&budget),
        };
        set.spawn(worker_loop(index, worker, window));
    }
    let mut finished = Vec::with_capacity(count);
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(done)) => finished.push(done),
            Ok(Err(e)) => {
                set.abort_all();
                return Err(e);
            }
            Err(e) => {
                set.abort_all();
                return Err(Error::Internal(format!("benchmark worker failed: {e}")).into());
            }
        }
    }
    finished.sort_by_key(|d| d.index);
    let mut recorder = Recorder::new()?;
    let mut last = measure_start;
    let mut workers = Vec::with_capacity(count);
    for done in finished {
        recorder.merge(&done.recorder)?;
        last = last.max(done.finished_at);
        workers.push(done.worker);
    }
    Ok(Outcome {
        recorder,
        elapsed: last.saturating_duration_since(measure_start),
        workers,
    })
}

/// The shared limits one worker loop obeys.
struct Window {
    measure_start: Instant,
    end: Instant,
    max_ops: u64,
    /// Measured operations claimed so far by all workers.
    budget: Arc<AtomicU64>,
}

struct Done<W> {
    index: usize,
    worker: W,
    recorder: Recorder,
    finished_at: Instant,
}

async fn worker_loop<W: Worker>(
    index: usize,
    mut worker: W,
    window: Window,
) -> Result<Done<W>, W::Error> {
    let mut recorder = Recorder::new()?;
    let mut seq = 0u64;
    // Warm-up: connections, caches and the server's batching settle; not recorded.
    while Instant::now() < window.measure_start && seq < window.max_ops {
        bounded(worker.op(seq)).await?;
        seq += 1;
    }
    tokio::time::sleep_until(window.measure_start).await;
    while Instant::now() < window.end
        && window.budget.fetch_add(1, Ordering::Relaxed) < window.max_ops
    {
        let started = std::time::Instant::now();
        bounded(worker.op(seq)).await?;
        recorder.record(started.elapsed());
        seq += 1;
    }
    Ok(Done {
        index,
        worker,
        recorder,
        finished_at: Instant::now(),
    })
}

/// Awaits one operation for at most [`OP_TIMEOUT`], so a stuck server fails
/// the workload instead of hanging it.
pub async fn bounded<T, E: From<Error>>(op: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    match tokio::time::timeout(OP_TIMEOUT, op).await {
        Ok(result) => result,
        Err(_) => Err(Error::OperationTimeout(format!(
            "benchmark operation took longer than {OP_TIMEOUT:?}"
        ))
        .into()),
    }
}

/// One contender of a lock handoff workload ([`handoff`]), on any system.
pub trait Contender: Send + 'static {
    /// What a failed acquire or release returns (see [`Worker::Error`]).
    type Error: From<Error> + Send + 'static;

    /// Acquires the lock, waiting at most about `wait`; `Ok(false)` when it
    /// gave up waiting, which ends the workload for this contender.
    fn acquire(&mut self, wait: Duration)
    -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Releases the lock.
    fn release(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Every contender loops acquire -> release on one lock through the warm-up
/// and the measured window. A handoff's latency runs from the moment the
/// holder starts its release to the moment the next holder's acquire returns;
/// it is recorded when that acquire returns inside the window (at most
/// `max_ops`), and the outcome's `elapsed` is the window, so its ops/s are
/// handoffs per second. An acquire may wait until the window's end plus
/// [`OP_TIMEOUT`]; a release is [`bounded`]. The first error of any contender
/// is returned once all have stopped.
pub async fn handoff<C: Contender>(
    contenders: Vec<C>,
    bounds: &Bounds,
) -> Result<Outcome<C>, C::Error> {
    use std::time::Instant;

    let released_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let recorder = Arc::new(Mutex::new(Recorder::new()?));
    let record_from = Instant::now() + bounds.warmup;
    let stop_at = record_from + bounds.duration;
    let max_ops = bounds.max_ops;
    let mut tasks = Vec::with_capacity(contenders.len());
    for mut contender in contenders {
        let (released_at, recorder) = (Arc::clone(&released_at), Arc::clone(&recorder));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < stop_at {
                let wait = stop_at.saturating_duration_since(Instant::now()) + OP_TIMEOUT;
                if !contender.acquire(wait).await? {
                    break;
                }
                let now = Instant::now();
                let previous = lock_mutex(&released_at).take();
                if let Some(released) = previous
                    && now >= record_from
                    && now < stop_at
                {
                    let mut recorder = lock_mutex(&recorder);
                    if recorder.len() < max_ops {
                        recorder.record(now - released);
                    }
                }
                *lock_mutex(&released_at) = Some(Instant::now());
                bounded(contender.release()).await?;
            }
            Ok::<_, C::Error>(contender)
        }));
    }
    let mut first_err = None;
    let mut workers = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(Ok(contender)) => workers.push(contender),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(Error::Internal(format!("contender task: {e}")).into());
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let recorder = lock_mutex(&recorder).clone();
    Ok(Outcome {
        recorder,
        elapsed: bounds.duration,
        workers,
    })
}

/// Locks `m`, recovering from poisoning: the recorder's data stay consistent
/// across a panicking measuring task.
fn lock_mutex<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Tells [`BackgroundServer::start`] where the server listens.
pub type Ready = mpsc::SyncSender<SocketAddr>;

/// A server running on its own OS thread and its own multi-thread tokio runtime.
/// Dropping it stops the server and joins the thread. Starting and stopping
/// block the calling thread: call them outside any runtime, or inside
/// [`tokio::task::block_in_place`].
#[derive(Debug)]
pub struct BackgroundServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<Result<(), Error>>>,
}

impl BackgroundServer {
    /// Starts `serve` on a new thread and runtime. `serve` must send its listening
    /// address on `Ready`, then return once the stop receiver fires; if it fails
    /// before that, its error is returned here.
    pub fn start<F, Fut>(name: &str, serve: F) -> Result<Self, Error>
    where
        F: FnOnce(Ready, oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Error>>,
    {
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (stop_tx, stop_rx) = oneshot::channel();
        let runtime_name = format!("{name}-rt");
        let thread =
            thread::Builder::new()
                .name(name.to_string())
                .spawn(move || -> Result<(), Error> {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .enable_all()
                        .thread_name(runtime_name)
                        .build()?;
                    let result = runtime.block_on(serve(ready_tx, stop_rx));
                    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
                    result
                })?;
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => Ok(BackgroundServer {
                addr,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // The thread ended without reporting an address: surface its error.
                drop(stop_tx);
                match thread.join() {
                    Ok(Err(e)) => Err(e),
                    Ok(Ok(())) => Err(Error::Internal(format!(
                        "{name} stopped before it listened"
                    ))),
                    Err(_) => Err(Error::Internal(format!("{name} panicked while starting"))),
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Leave the thread detached: joining a server that does not start
                // could hang the whole run.
                drop(stop_tx);
                Err(Error::OperationTimeout(format!(
                    "{name} did not listen within {START_TIMEOUT:?}"
                )))
            }
        }
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server, waits for its thread, and returns the server's result.
    pub fn stop(mut self) -> Result<(), Error> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            None => Ok(()),
            Some(thread) => match thread.join() {
                Ok(result) => result,
                Err(_) => Err(Error::Internal("benchmark server thread panicked".into())),
            },
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Err(e) = self.stop_and_join() {
            tracing::warn!(error = %e, "benchmark server stopped with an error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sleeper;

    impl Worker for Sleeper {
        type Error = Error;

        async fn op(&mut self, _seq: u64) -> Result<(), Error> {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok(())
        }
    }

    #[tokio::test]
    async fn drive_stops_at_the_op_budget_even_with_time_left() {
        let bounds = Bounds {
            warmup: Duration::ZERO,
            duration: Duration::from_secs(30),
            max_ops: 20,
        };
        let outcome = drive(vec![Sleeper, Sleeper, Sleeper], &bounds)
            .await
            .unwrap();
        assert_eq!(outcome.recorder.len(), 20);
        assert_eq!(outcome.workers.len(), 3);
        assert!(outcome.elapsed < Duration::from_secs(5));
    }

    struct Failing;

    impl Worker for Failing {
        type Error = Error;

        async fn op(&mut self, seq: u64) -> Result<(), Error> {
            if seq == 3 {
                Err(Error::ConnectionLoss("gone".into()))
            } else {
                Ok(())
            }
        }
    }

    #[tokio::test]
    async fn drive_reports_the_first_worker_error() {
        let bounds = Bounds {
            warmup: Duration::ZERO,
            duration: Duration::from_secs(5),
            max_ops: 1_000,
        };
        let err = drive(vec![Sleeper, Sleeper], &bounds).await.map(|_| ());
        assert!(err.is_ok());
        let err = drive(vec![Failing], &bounds).await.err();
        assert_eq!(err, Some(Error::ConnectionLoss("gone".into())));
    }

    /// A lock held through a one-permit semaphore.
    struct SemaphoreLock {
        lock: Arc<tokio::sync::Semaphore>,
        held: Option<tokio::sync::OwnedSemaphorePermit>,
    }

    impl Contender for SemaphoreLock {
        type Error = Error;

        async fn acquire(&mut self, wait: Duration) -> Result<bool, Error> {
            match tokio::time::timeout(wait, Arc::clone(&self.lock).acquire_owned()).await {
                Ok(Ok(permit)) => {
                    self.held = Some(permit);
                    Ok(true)
                }
                Ok(Err(e)) => Err(Error::Internal(e.to_string())),
                Err(_) => Ok(false),
            }
        }

        async fn release(&mut self) -> Result<(), Error> {
            tokio::time::sleep(Duration::from_micros(200)).await;
            self.held = None;
            Ok(())
        }
    }

    #[tokio::test]
    async fn handoffs_are_counted_per_window_within_the_op_budget() {
        let lock = Arc::new(tokio::sync::Semaphore::new(1));
        let contenders: Vec<_> = (0..4)
            .map(|_| SemaphoreLock {
                lock: Arc::clone(&lock),
                held: None,
            })
            .collect();
        let bounds = Bounds {
            warmup: Duration::from_millis(10),
            duration: Duration::from_secs(1),
            max_ops: 25,
        };
        let outcome = handoff(contenders, &bounds).await.unwrap();
        assert_eq!(outcome.workers.len(), 4);
        assert_eq!(outcome.recorder.len(), 25);
        assert_eq!(outcome.elapsed, bounds.duration);
        assert!(outcome.workers.iter().all(|c| c.held.is_none()));
    }
}
