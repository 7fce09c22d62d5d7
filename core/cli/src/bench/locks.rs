//! Lock workloads: the uncontended acquire+release cycle, the handoff among
//! contenders (release -> next holder acquires), and the watch notifications
//! one release causes with N waiters, for coord's herd-free lock and for the
//! naive recipe in which every waiter watches the parent's children.
//!
//! The naive recipe lives here, in the benchmark only, as the baseline that
//! shows what a herd costs; the product's lock is [`coord_client::recipes::Lock`].

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::driver::{self, Bounds, Contender, Worker};
use super::stats::{Kind, Measurement};
use coord_client::client::{Client, CreateMode};
use coord_client::error::Error;
use coord_client::recipes::Lock;
use coord_client::recipes::sequence;

/// Waiters whose handoff notifications are counted.
pub(crate) const HERD_SIZES: [usize; 2] = [16, 256];
/// Contenders in the handoff workload.
pub(crate) const HANDOFF_CONTENDERS: usize = 16;

/// Notifications caused by one release with `waiters` queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    /// Which recipe.
    pub recipe: &'static str,
    /// Waiters queued behind the holder.
    pub waiters: usize,
    /// Watchers woken across all clients by the one release.
    pub woken: u64,
}

/// Label of coord's recipe in the notifications table.
pub const HERD_FREE: &str = "coord lock (watch predecessor)";
/// Label of the naive recipe.
pub const NAIVE: &str = "naive (every waiter watches the parent)";

struct Cycle {
    lock: Lock,
}

impl Worker for Cycle {
    type Error = Error;

    async fn op(&mut self, _seq: u64) -> Result<(), Error> {
        self.lock.acquire().await?;
        self.lock.release().await
    }
}

/// Uncontended acquire + release, one client.
pub(crate) async fn uncontended(
    servers: &super::coord_ops::Target,
    root: &str,
    bounds: &Bounds,
) -> Result<Measurement, Error> {
    let client = super::coord_ops::connect(servers).await?;
    let worker = Cycle {
        lock: Lock::new(&client, &format!("{root}/lock-uncontended")),
    };
    let outcome = driver::drive(vec![worker], bounds).await?;
    let row = outcome.recorder.finish(Kind::LockCycle, 1, outcome.elapsed);
    super::coord_ops::close(client).await;
    Ok(row)
}

/// `contenders` clients loop acquire -> release on one lock for the measured
/// window ([`driver::handoff`]).
pub(crate) async fn handoff(
    servers: &super::coord_ops::Target,
    root: &str,
    contenders: usize,
    bounds: &Bounds,
) -> Result<Measurement, Error> {
    let path = format!("{root}/lock-handoff");
    let mut clients = Vec::with_capacity(contenders);
    let mut locks = Vec::with_capacity(contenders);
    for _ in 0..contenders {
        let client = super::coord_ops::connect(servers).await?;
        locks.push(Handoff(Lock::new(&client, &path)));
        clients.push(client);
    }
    let outcome = driver::handoff(locks, bounds).await;
    for c in clients {
        super::coord_ops::close(c).await;
    }
    let outcome = outcome?;
    Ok(outcome
        .recorder
        .finish(Kind::LockHandoff, contenders, outcome.elapsed))
}

struct Handoff(Lock);

impl Contender for Handoff {
    type Error = Error;

    async fn acquire(&mut self, wait: Duration) -> Result<bool, Error> {
        match self.0.acquire_timeout(wait).await {
            Ok(_) => Ok(true),
            Err(Error::LockTimeout(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn release(&mut self) -> Result<(), Error> {
        self.0.release().await
    }
}

/// One release with `waiters` queued: how many watchers it wakes.
pub(crate) async fn notifications(
    servers: &super::coord_ops::Target,
    root: &str,
    waiters: usize,
    naive: bool,
) -> Result<NotificationRow, Error> {
    let recipe = if naive { NAIVE } else { HERD_FREE };
    let path = format!(
        "{root}/herd-{}-{waiters}",
        if naive { "naive" } else { "free" }
    );
    let holder_client = super::coord_ops::connect(servers).await?;
    let mut clients = vec![holder_client.clone()];
    let holder = Lock::new(&holder_client, &path);
    holder.acquire().await?;
    let mut tasks = Vec::new();
    for _ in 0..waiters {
        let client = super::coord_ops::connect(servers).await?;
        clients.push(client.clone());
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            if naive {
                naive_acquire(&client, &path).await
            } else {
                let lock = Lock::new(&client, &path);
                lock.acquire().await?;
                // Hold: only the first handoff is counted.
                std::future::pending::<()>().await;
                Ok(())
            }
        }));
    }
    // Wait until every waiter is queued, then give the watches time to land.
    let deadline = Instant::now() + Duration::from_secs(30);
    while holder_client.children(&path).await?.len() < waiters + 1 {
        if Instant::now() > deadline {
            return Err(Error::OperationTimeout(format!(
                "{waiters} waiters did not queue on {path}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let woken = |cs: &[Client]| cs.iter().map(Client::watchers_woken).sum::<u64>();
    let before = woken(&clients);
    holder.release().await?;
    // Let the herd (if any) arrive and re-watch.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = woken(&clients);
    for t in tasks {
        t.abort();
    }
    for c in clients {
        super::coord_ops::close(c).await;
    }
    Ok(NotificationRow {
        recipe,
        waiters,
        woken: after - before,
    })
}

/// The herd recipe: join with an ephemeral-sequential node, then on every
/// change of the parent's children re-list and check whether we are first.
async fn naive_acquire(client: &Client, dir: &str) -> Result<(), Error> {
    let ours = client
        .create(
            &format!("{dir}/naive{}", sequence::LOCK_MARKER),
            Bytes::new(),
            CreateMode::EphemeralSequential,
        )
        .await?;
    let name = ours.rsplit('/').next().unwrap_or_default().to_string();
    loop {
        let (children, watch) = client.children_watch(dir).await?;
        let line = sequence::lock_line(&children, sequence::EXCLUSIVE_BLOCKED_BY);
        if line.first().map(|(_, n)| *n) == Some(name.as_str()) {
            return Ok(());
        }
        watch.await?;
    }
}
