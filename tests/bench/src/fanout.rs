//! Watch fan-out: one writer, N watchers of one node, each watcher on its own
//! session with a persistent watch (coord `WatchMode::Persistent`, ZooKeeper
//! `addWatch PERSISTENT`, an etcd watch stream). Each round the writer stamps
//! the time, sets the node, and waits until every watcher has reported the
//! event; a watcher's latency runs from just before the write to the moment
//! its event arrives (so it includes the durable write itself).

use std::time::{Duration, Instant};

use coord_client::client::WatchMode;
use futures::StreamExt;
use tokio::sync::mpsc;
use zookeeper_client as zk;

use coord_cli::bench::driver::bounded;
use coord_cli::bench::stats::Recorder;

use crate::systems::{self, Conn, SESSION_TIMEOUT, System, Target, VALUE_BYTES};
use crate::tasks::{self, Res};

/// What one fan-out run measured.
#[derive(Debug, Clone)]
pub(crate) struct FanOut {
    pub(crate) watchers: usize,
    pub(crate) rounds: usize,
    /// Per (watcher, round) delivery latency.
    pub(crate) each_p50_us: f64,
    pub(crate) each_p99_us: f64,
    /// Per round: time until the last watcher had the event.
    pub(crate) all_p50_us: f64,
    pub(crate) all_p99_us: f64,
    /// Events that did not arrive within the round's deadline.
    pub(crate) missed: u64,
}

/// Longest a round may wait for all its events.
const ROUND_DEADLINE: Duration = Duration::from_secs(10);

pub(crate) async fn fan_out(
    target: &Target,
    watchers: usize,
    max_rounds: usize,
    budget: Duration,
) -> Res<FanOut> {
    let key = format!("{}/fan", systems::ROOT);
    let value = vec![b'f'; VALUE_BYTES];
    let mut writer = Conn::connect(target.system, &target.addr).await?;
    writer.ensure_node(&key, &value).await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
    let tasks = tasks::concurrently(0..watchers, 32, |_| {
        let (target, key, tx) = (target.clone(), key.clone(), tx.clone());
        async move { spawn_watcher(&target, &key, tx).await }
    })
    .await?;
    drop(tx);
    // Let the last registrations settle, then drop anything already queued.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while rx.try_recv().is_ok() {}

    let mut each = Recorder::new()?;
    let mut all = Recorder::new()?;
    let mut missed = 0u64;
    let mut rounds = 0usize;
    let end = Instant::now() + budget;
    while rounds < max_rounds && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t0 = Instant::now();
        bounded(writer.write(&key, &value)).await?;
        let deadline = tokio::time::Instant::now() + ROUND_DEADLINE;
        let mut got = 0usize;
        let mut last = t0;
        while got < watchers {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(at)) => {
                    each.record(at.saturating_duration_since(t0));
                    last = last.max(at);
                    got += 1;
                }
                Ok(None) => return Err("every watcher stopped".into()),
                Err(_) => break,
            }
        }
        missed += (watchers - got) as u64;
        all.record(last.saturating_duration_since(t0));
        rounds += 1;
    }
    for t in tasks {
        t.abort();
    }
    writer.close().await;
    Ok(FanOut {
        watchers,
        rounds,
        each_p50_us: each.quantile_us(0.50),
        each_p99_us: each.quantile_us(0.99),
        all_p50_us: all.quantile_us(0.50),
        all_p99_us: all.quantile_us(0.99),
        missed,
    })
}

/// Opens a session, registers a persistent watch on `key`, and reports the
/// arrival time of every event on `tx` until aborted.
async fn spawn_watcher(
    target: &Target,
    key: &str,
    tx: mpsc::UnboundedSender<Instant>,
) -> Res<tokio::task::JoinHandle<()>> {
    Ok(match target.system {
        System::Coord => {
            let client = systems::coord_connect(&target.addr, SESSION_TIMEOUT).await?;
            let mut stream = client.watch(key, WatchMode::Persistent).await?;
            tokio::spawn(async move {
                let _client = client;
                while let Some(Ok(_)) = stream.next().await {
                    if tx.send(Instant::now()).is_err() {
                        return;
                    }
                }
            })
        }
        System::Zk | System::CoordZk => {
            let client = systems::zk_connect(&target.addr, SESSION_TIMEOUT).await?;
            let mut watcher = client.watch(key, zk::AddWatchMode::Persistent).await?;
            tokio::spawn(async move {
                let _client = client;
                loop {
                    let event = watcher.changed().await;
                    if event.event_type == zk::EventType::Session {
                        return;
                    }
                    if tx.send(Instant::now()).is_err() {
                        return;
                    }
                }
            })
        }
        System::Etcd => {
            let mut client = etcd_client::Client::connect([target.addr.as_str()], None).await?;
            let mut stream = client.watch(key, None).await?;
            tokio::spawn(async move {
                let _client = client;
                while let Ok(Some(resp)) = stream.message().await {
                    if !resp.events().is_empty() && tx.send(Instant::now()).is_err() {
                        return;
                    }
                }
            })
        }
        System::CoordZkWire | System::ZkWire => {
            return Err("the minimal client has no watches".into());
        }
        System::RedisAof | System::RedisMem => {
            return Err("Redis has no watches (keyspace notifications are off by default)".into());
        }
    })
}
