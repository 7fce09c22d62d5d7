//! The well-behaved side of a soak phase: the normal lockers, whose cycle
//! latency is the phase's headline, and the acknowledged-writes check.
//!
//! A locker loops acquire -> guarded write of the fencing token -> release
//! on one of a few shared lock paths ([`coord_client::recipes::Lock`]); one
//! sample is one whole cycle. The writer creates persistent sequential nodes
//! one after the other and remembers every one the server acknowledged; after
//! the server's `kill -9` and restart, [`count_lost`] counts the acknowledged
//! nodes that are missing.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::control::{LoadTally, Stop, Tally};
use crate::bench::stats::Recorder;
use coord_client::CreateMode;
use coord_client::client::{Client, Op};
use coord_client::error::Error;
use coord_client::recipes::Lock;

/// Normal lockers per phase.
pub(crate) const LOCKERS: usize = 4;
/// Lock paths they share (lockers `i` and `i + LOCK_PATHS` contend).
pub(crate) const LOCK_PATHS: usize = 2;
/// Parent of everything the lockers and the writer touch.
pub(crate) const ROOT: &str = "/soak";
/// Parent of the writer's acknowledged nodes.
const ACKED: &str = "/soak/acked";
/// Longest one lock cycle may take before it counts as a timeout.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most cycles per locker and creates of the writer in one phase.
const MAX_OPS: u64 = 10_000_000;
/// Session timeout of the well-behaved clients: a starved client on a busy
/// 2-core machine must not expire mid-phase.
pub(crate) const SESSION_TIMEOUT: Duration = Duration::from_secs(30);

/// What the lockers measured in one phase.
#[derive(Debug)]
pub(crate) struct LockerStats {
    /// Whole cycles, merged over the lockers.
    pub(crate) recorder: Recorder,
    /// Failed cycles by error name (and `timeout`).
    pub(crate) errors: BTreeMap<String, u64>,
}

/// Opens a well-behaved client.
pub(crate) async fn connect(addr: SocketAddr) -> Result<Client, Error> {
    Client::builder()
        .servers(addr.to_string())
        .session_timeout(SESSION_TIMEOUT)
        .connect()
        .await
}

/// Creates the nodes the lockers and the writer need.
pub(crate) async fn setup(client: &Client, load: &LoadTally) -> Result<(), Error> {
    let mut paths = vec![ROOT.to_string(), format!("{ROOT}/locks"), ACKED.to_string()];
    paths.extend((0..LOCK_PATHS).map(guard_path));
    for path in paths {
        client
            .create(&path, Bytes::new(), CreateMode::Persistent)
            .await?;
        load.wrote(path.len() as u64, 1, path.len() as u64);
    }
    Ok(())
}

fn guard_path(i: usize) -> String {
    format!("{ROOT}/guarded-{i}")
}

/// Starts the lockers on `rt`; each ends at the phase's end.
pub(crate) fn spawn(
    rt: &tokio::runtime::Handle,
    addr: SocketAddr,
    stop: Stop,
    load: Arc<LoadTally>,
) -> Vec<JoinHandle<Result<(Recorder, Tally), Error>>> {
    (0..LOCKERS)
        .map(|i| rt.spawn(locker(addr, i % LOCK_PATHS, stop.clone(), load.clone())))
        .collect()
}

/// Merges the lockers' outcomes (a locker that could not start is an error).
pub(crate) async fn collect(
    handles: Vec<JoinHandle<Result<(Recorder, Tally), Error>>>,
) -> Result<LockerStats, Error> {
    let mut recorder = Recorder::new()?;
    let mut errors = BTreeMap::new();
    for h in handles {
        let (r, tally) = h
            .await
            .map_err(|e| Error::Internal(format!("a locker task failed: {e}")))??;
        recorder.merge(&r)?;
        for (k, v) in tally.snapshot() {
            *errors.entry(k).or_insert(0) += v;
        }
    }
    Ok(LockerStats { recorder, errors })
}

async fn locker(
    addr: SocketAddr,
    slot: usize,
    stop: Stop,
    load: Arc<LoadTally>,
) -> Result<(Recorder, Tally), Error> {
    let client = connect(addr).await?;
    let lock = Lock::new(&client, &format!("{ROOT}/locks/L{slot}"));
    let target = guard_path(slot);
    let mut recorder = Recorder::new()?;
    let tally = Tally::default();
    let step = StepCell::default();
    for _ in 0..MAX_OPS {
        let started = Instant::now();
        let outcome = tokio::select! {
            _ = stop.wait() => break,
            r = tokio::time::timeout(CYCLE_TIMEOUT, cycle(&lock, &target, &step)) => r,
        };
        match outcome {
            Ok(Ok(())) => {
                recorder.record(started.elapsed());
                // Lock node create, guarded multi, delete.
                load.wrote(96, 0, 0);
                load.wrote((target.len() + 8) as u64, 0, 0);
                load.wrote(64, 0, 0);
            }
            Ok(Err(e)) => {
                tally.error(&e);
                if stop.sleep(Duration::from_millis(50)).await {
                    break;
                }
            }
            Err(_) => {
                tally.inc(&format!("timeout in {}", step.get().name()));
                report_timeout(&client, &lock, &target, step.get()).await;
                // A cycle cut while holding leaves the hold counted: let go,
                // so the next cycle queues afresh instead of re-entering.
                for _ in 0..MAX_REENTRY {
                    if lock.release().await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    // The server is killed at the phase's end: no close, the session is
    // simply left behind with the data directory.
    drop(lock);
    drop(client);
    Ok((recorder, tally))
}

/// Most holds a cut cycle can have left counted (one per cut cycle).
const MAX_REENTRY: usize = 1_000;

/// The step a cycle is in, kept across its cancellation by the timeout.
#[derive(Debug, Clone, Copy)]
enum Step {
    Acquire = 0,
    Guarded = 1,
    Release = 2,
}

/// Where the current cycle is (readable after the timeout dropped it).
#[derive(Debug, Default)]
struct StepCell(AtomicU8);

impl StepCell {
    fn set(&self, step: Step) {
        self.0.store(step as u8, Ordering::Relaxed);
    }

    fn get(&self) -> Step {
        match self.0.load(Ordering::Relaxed) {
            0 => Step::Acquire,
            1 => Step::Guarded,
            _ => Step::Release,
        }
    }
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Acquire => "acquire",
            Step::Guarded => "guarded write",
            Step::Release => "release",
        }
    }
}

/// Logs what a timed-out cycle was waiting for: its step, its own handle and
/// the line of the lock as the server has it now.
async fn report_timeout(client: &Client, lock: &Lock, target: &str, step: Step) {
    let patience = Duration::from_secs(5);
    let line = tokio::time::timeout(patience, client.children(lock.path())).await;
    // Whether a guarded write that never answered was applied.
    let written = tokio::time::timeout(patience, client.get(target)).await;
    let token = lock.token();
    let applied = match (&written, token) {
        (Ok(Ok((data, _))), Some(t)) => Some(data[..] == t.to_be_bytes()),
        _ => None,
    };
    tracing::warn!(
        step = step.name(),
        session = format_args!("{:#x}", client.session_id()),
        owner = lock.owner_id(),
        path = lock.path(),
        held = lock.is_held(),
        ?token,
        ?applied,
        ?line,
        "soak: a lock cycle took longer than {CYCLE_TIMEOUT:?}"
    );
}

/// acquire -> write the fencing token under the lock -> release.
async fn cycle(lock: &Lock, target: &str, step: &StepCell) -> Result<(), Error> {
    step.set(Step::Acquire);
    let token = lock.acquire().await?;
    step.set(Step::Guarded);
    let written = lock
        .guarded(vec![Op::SetData {
            path: target.to_string(),
            data: Bytes::copy_from_slice(&token.to_be_bytes()),
            version: -1,
        }])
        .await;
    step.set(Step::Release);
    let released = lock.release().await;
    written.map(|_| ()).and(released)
}

/// The writer's outcome: every acknowledged node and the failures.
#[derive(Debug, Default)]
pub(crate) struct Acked {
    pub(crate) paths: Vec<String>,
    pub(crate) errors: Tally,
}

/// Starts the acknowledged-writes writer; it ends at the phase's end.
pub(crate) fn spawn_writer(
    rt: &tokio::runtime::Handle,
    addr: SocketAddr,
    stop: Stop,
    load: Arc<LoadTally>,
) -> JoinHandle<Result<Acked, Error>> {
    rt.spawn(async move {
        let client = connect(addr).await?;
        let mut acked = Acked::default();
        let data = Bytes::from_static(b"acknowledged-by-the-server");
        let prefix = format!("{ACKED}/n-");
        for _ in 0..MAX_OPS {
            let created = tokio::select! {
                _ = stop.wait() => break,
                r = client.create(&prefix, data.clone(), CreateMode::PersistentSequential) => r,
            };
            match created {
                Ok(path) => {
                    let bytes = (path.len() + data.len()) as u64;
                    load.wrote(bytes, 1, bytes);
                    acked.paths.push(path);
                }
                Err(e) => {
                    acked.errors.error(&e);
                    if stop.sleep(Duration::from_millis(50)).await {
                        break;
                    }
                }
            }
        }
        drop(client);
        Ok(acked)
    })
}

/// How many of `acked` are missing on the server at `addr`.
pub(crate) async fn count_lost(addr: SocketAddr, acked: &[String]) -> Result<u64, Error> {
    let client = connect(addr).await?;
    let present: HashSet<String> = client
        .children(ACKED)
        .await?
        .into_iter()
        .map(|name| format!("{ACKED}/{name}"))
        .collect();
    let lost = acked.iter().filter(|p| !present.contains(*p)).count() as u64;
    if let Err(e) = tokio::time::timeout(Duration::from_secs(5), client.close()).await {
        tracing::debug!(error = %e, "soak: closing the checking client");
    }
    Ok(lost)
}
