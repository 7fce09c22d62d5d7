//! Lock workloads with one recipe per system, driven by the same code:
//! the uncontended acquire+release cycle, the handoff among contenders
//! (release start -> next holder's acquire returns), and the watch
//! notifications one release causes with N waiters queued.
//!
//! Recipes (stated in the report):
//! - coord: `coord_client::recipes::Lock` (ephemeral-sequential, each waiter
//!   watches its predecessor; create returns the predecessor in one round trip).
//! - ZooKeeper herd-free: ephemeral-sequential child, list children, watch the
//!   predecessor with `exists` — the decision is coord's own pure function
//!   `coord_client::recipes::sequence::decide_lock`, so both use the same
//!   semantics (and kazoo's node names, `…__lock__N`). coord's ZooKeeper port
//!   ([`System::CoordZk`]) runs this same recipe.
//! - ZooKeeper / coord naive: every waiter watches the parent's children.
//! - etcd: the server-side v3 lock API (`Lock`/`Unlock`) with a lease per client.
//! - Redis: `SET key token NX PX 30000`, release by a compare-and-delete Lua
//!   script, waiters poll every [`REDIS_POLL`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use coord_client::client::{Client as CoordClient, CreateMode};
use coord_client::recipes::Lock as CoordLock;
use coord_client::recipes::sequence::{self, Decision};
use zookeeper_client as zk;

use coord_cli::bench::driver::{self, Bounds, Contender, Worker, bounded};
use coord_cli::bench::stats::Summary;

use crate::systems::{self, Conn, SESSION_TIMEOUT, System, Target};
use crate::tasks::{self, BoxError, Res};

/// Poll interval of the Redis lock's waiters.
pub(crate) const REDIS_POLL: Duration = Duration::from_millis(1);
/// Contenders in the handoff workload.
pub(crate) const CONTENDERS: usize = 16;
/// Marker in sequential lock node names (same as coord's recipe and kazoo's).
const MARKER: &str = sequence::LOCK_MARKER;
/// Redis lock expiry (the lock's lease).
const REDIS_PX_MS: u64 = 30_000;
/// etcd lease of a lock client, seconds (longer than any workload).
const ETCD_LEASE_SECS: i64 = 120;

const COMPARE_AND_DELETE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// One client's handle on one named lock.
pub(crate) enum LockHandle {
    Coord {
        client: CoordClient,
        lock: CoordLock,
    },
    /// Our own recipe on coord or ZooKeeper (naive or herd-free).
    Recipe(Recipe),
    Etcd {
        client: Box<etcd_client::Client>,
        name: String,
        lease: i64,
        key: Option<Vec<u8>>,
    },
    Redis {
        conn: redis::aio::MultiplexedConnection,
        key: String,
        token: String,
        script: redis::Script,
    },
}

/// The ephemeral-sequential recipe written against a raw client.
pub(crate) struct Recipe {
    client: TreeClient,
    dir: String,
    naive: bool,
    ours: Option<String>,
    /// Watches that fired on this client (shared by all waiters of a run).
    notified: Arc<AtomicU64>,
}

#[derive(Clone)]
pub(crate) enum TreeClient {
    Coord(CoordClient),
    Zk(zk::Client),
}

impl TreeClient {
    async fn create_seq(&self, prefix: &str) -> Res<String> {
        Ok(match self {
            TreeClient::Coord(c) => {
                c.create(prefix, Bytes::new(), CreateMode::EphemeralSequential)
                    .await?
            }
            TreeClient::Zk(c) => {
                let (_, seq) = c
                    .create(
                        prefix,
                        &[],
                        &systems::zk_opts(zk::CreateMode::EphemeralSequential),
                    )
                    .await?;
                format!("{prefix}{seq}")
            }
        })
    }

    pub(crate) async fn children(&self, dir: &str) -> Res<Vec<String>> {
        Ok(match self {
            TreeClient::Coord(c) => c.children(dir).await?,
            TreeClient::Zk(c) => c.list_children(dir).await?,
        })
    }

    /// Lists `dir` and waits for its next child change.
    async fn children_then_wait(&self, dir: &str, ours: &str) -> Res<bool> {
        match self {
            TreeClient::Coord(c) => {
                let (children, watch) = c.children_watch(dir).await?;
                if sequence::decide_lock(&children, ours, sequence::EXCLUSIVE_BLOCKED_BY)
                    == Decision::Acquired
                {
                    return Ok(true);
                }
                watch.await?;
            }
            TreeClient::Zk(c) => {
                let (children, watch) = c.list_and_watch_children(dir).await?;
                if sequence::decide_lock(&children, ours, sequence::EXCLUSIVE_BLOCKED_BY)
                    == Decision::Acquired
                {
                    return Ok(true);
                }
                watch.changed().await;
            }
        }
        Ok(false)
    }

    /// Watches `path` for deletion; false if it is already gone.
    async fn wait_gone(&self, path: &str) -> Res<bool> {
        match self {
            TreeClient::Coord(c) => {
                let (stat, watch) = c.exists_watch(path).await?;
                if stat.is_none() {
                    return Ok(false);
                }
                watch.await?;
            }
            TreeClient::Zk(c) => {
                let (stat, watch) = c.check_and_watch_stat(path).await?;
                if stat.is_none() {
                    return Ok(false);
                }
                watch.changed().await;
            }
        }
        Ok(true)
    }

    pub(crate) async fn delete(&self, path: &str) -> Res<()> {
        match self {
            TreeClient::Coord(c) => c.delete(path, None).await?,
            TreeClient::Zk(c) => c.delete(path, None).await?,
        }
        Ok(())
    }

    pub(crate) async fn ensure_dir(&self, dir: &str) -> Res<()> {
        match self {
            TreeClient::Coord(c) => match c.create(dir, Bytes::new(), CreateMode::Persistent).await
            {
                Ok(_) | Err(coord_client::Error::NodeExists(_)) => Ok(()),
                Err(e) => Err(e.into()),
            },
            TreeClient::Zk(c) => match c
                .create(dir, &[], &systems::zk_opts(zk::CreateMode::Persistent))
                .await
            {
                Ok(_) | Err(zk::Error::NodeExists) => Ok(()),
                Err(e) => Err(e.into()),
            },
        }
    }
}

impl Recipe {
    async fn acquire(&mut self) -> Res<()> {
        let ours_path = self
            .client
            .create_seq(&format!("{}/c{MARKER}", self.dir))
            .await?;
        let ours = ours_path.rsplit('/').next().unwrap_or_default().to_string();
        self.ours = Some(ours_path);
        loop {
            if self.naive {
                if self.client.children_then_wait(&self.dir, &ours).await? {
                    return Ok(());
                }
                self.notified.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let children = self.client.children(&self.dir).await?;
            match sequence::decide_lock(&children, &ours, sequence::EXCLUSIVE_BLOCKED_BY) {
                Decision::Acquired => return Ok(()),
                Decision::Missing => return Err("our lock node vanished".into()),
                Decision::Watch(pred) => {
                    if self
                        .client
                        .wait_gone(&format!("{}/{pred}", self.dir))
                        .await?
                    {
                        self.notified.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    async fn release(&mut self) -> Res<()> {
        if let Some(path) = self.ours.take() {
            self.client.delete(&path).await?;
        }
        Ok(())
    }
}

impl LockHandle {
    /// A new client (own session/connection) on lock `name` of `target`.
    /// `naive` selects the herd recipe on coord and ZooKeeper.
    pub(crate) async fn open(
        target: &Target,
        name: &str,
        naive: bool,
        notified: &Arc<AtomicU64>,
    ) -> Res<LockHandle> {
        let dir = format!("{}/{name}", systems::ROOT);
        Ok(match target.system {
            System::Coord if !naive => {
                let client = systems::coord_connect(&target.addr, SESSION_TIMEOUT).await?;
                let lock = CoordLock::new(&client, &dir);
                LockHandle::Coord { client, lock }
            }
            System::Coord | System::Zk | System::CoordZk => {
                let client = if target.system == System::Coord {
                    TreeClient::Coord(systems::coord_connect(&target.addr, SESSION_TIMEOUT).await?)
                } else {
                    TreeClient::Zk(systems::zk_connect(&target.addr, SESSION_TIMEOUT).await?)
                };
                client.ensure_dir(&dir).await?;
                LockHandle::Recipe(Recipe {
                    client,
                    dir,
                    naive,
                    ours: None,
                    notified: Arc::clone(notified),
                })
            }
            System::Etcd => {
                let mut client = etcd_client::Client::connect([target.addr.as_str()], None).await?;
                let lease = client.lease_grant(ETCD_LEASE_SECS, None).await?.id();
                LockHandle::Etcd {
                    client: Box::new(client),
                    name: dir,
                    lease,
                    key: None,
                }
            }
            System::CoordZkWire | System::ZkWire => {
                return Err("the minimal client has no watches".into());
            }
            System::RedisAof | System::RedisMem => {
                let Conn::Redis(conn) = Conn::connect(target.system, &target.addr).await? else {
                    return Err("a Redis target gave another connection".into());
                };
                static NEXT: AtomicU64 = AtomicU64::new(0);
                LockHandle::Redis {
                    conn,
                    key: dir,
                    token: format!(
                        "{}-{}",
                        std::process::id(),
                        NEXT.fetch_add(1, Ordering::Relaxed)
                    ),
                    script: redis::Script::new(COMPARE_AND_DELETE),
                }
            }
        })
    }

    pub(crate) async fn acquire(&mut self) -> Res<()> {
        match self {
            LockHandle::Coord { lock, .. } => {
                lock.acquire().await?;
            }
            LockHandle::Recipe(r) => r.acquire().await?,
            LockHandle::Etcd {
                client,
                name,
                lease,
                key,
            } => {
                let opts = etcd_client::LockOptions::new().with_lease(*lease);
                let resp = client.lock(name.as_str(), Some(opts)).await?;
                *key = Some(resp.key().to_vec());
            }
            LockHandle::Redis {
                conn, key, token, ..
            } => loop {
                let set: Option<String> = redis::cmd("SET")
                    .arg(key.as_str())
                    .arg(token.as_str())
                    .arg("NX")
                    .arg("PX")
                    .arg(REDIS_PX_MS)
                    .query_async(conn)
                    .await?;
                if set.is_some() {
                    break;
                }
                tokio::time::sleep(REDIS_POLL).await;
            },
        }
        Ok(())
    }

    pub(crate) async fn release(&mut self) -> Res<()> {
        match self {
            LockHandle::Coord { lock, .. } => lock.release().await?,
            LockHandle::Recipe(r) => r.release().await?,
            LockHandle::Etcd { client, key, .. } => {
                if let Some(k) = key.take() {
                    client.unlock(k).await?;
                }
            }
            LockHandle::Redis {
                conn,
                key,
                token,
                script,
            } => {
                let deleted: i64 = script
                    .key(key.as_str())
                    .arg(token.as_str())
                    .invoke_async(conn)
                    .await?;
                if deleted != 1 {
                    return Err("Redis lock was not ours at release".into());
                }
            }
        }
        Ok(())
    }

    /// Watchers woken on this handle's coord session (coord's own counter).
    fn coord_woken(&self) -> u64 {
        match self {
            LockHandle::Coord { client, .. } => client.watchers_woken(),
            _ => 0,
        }
    }

    pub(crate) async fn close(self) {
        match self {
            LockHandle::Coord { client, .. } => Conn::Coord(client).close().await,
            LockHandle::Recipe(Recipe {
                client: TreeClient::Coord(c),
                ..
            }) => Conn::Coord(c).close().await,
            LockHandle::Recipe(_) | LockHandle::Etcd { .. } | LockHandle::Redis { .. } => {}
        }
    }
}

pub(crate) struct Cycle(pub(crate) LockHandle);

impl Worker for Cycle {
    type Error = BoxError;

    async fn op(&mut self, _seq: u64) -> Res<()> {
        self.0.acquire().await?;
        self.0.release().await
    }
}

/// Uncontended acquire + release by one client.
pub(crate) async fn cycle(target: &Target, bounds: Bounds) -> Res<Summary> {
    let handle = LockHandle::open(target, "lock-cycle", false, &Arc::default()).await?;
    let outcome = driver::drive(vec![Cycle(handle)], &bounds).await?;
    let summary = outcome.summary();
    for w in outcome.workers {
        w.0.close().await;
    }
    Ok(summary)
}

/// `contenders` clients loop acquire -> release on one lock; a handoff runs
/// from the holder's release start to the next holder's acquire returning
/// (`driver::handoff`). Returns the handoff latencies; ops/s is handoffs per second.
pub(crate) async fn handoff(target: &Target, contenders: usize, bounds: Bounds) -> Res<Summary> {
    let mut handles = Vec::new();
    for _ in 0..contenders {
        handles.push(Handoff(
            LockHandle::open(target, "lock-handoff", false, &Arc::default()).await?,
        ));
    }
    let outcome = driver::handoff(handles, &bounds).await?;
    let summary = outcome.summary();
    for h in outcome.workers {
        h.0.close().await;
    }
    Ok(summary)
}

pub(crate) struct Handoff(pub(crate) LockHandle);

impl Contender for Handoff {
    type Error = BoxError;

    /// Bounded by `OP_TIMEOUT` like every operation of this harness: a
    /// longer wait fails the workload.
    async fn acquire(&mut self, _wait: Duration) -> Res<bool> {
        bounded(self.0.acquire()).await?;
        Ok(true)
    }

    async fn release(&mut self) -> Res<()> {
        self.0.release().await
    }
}

/// Watch notifications delivered by one release with `waiters` queued.
/// coord's own lock is counted by its client's `watchers_woken`; the
/// recipes written here count the watches that fired.
pub(crate) async fn notifications(target: &Target, waiters: usize, naive: bool) -> Res<u64> {
    let name = format!("herd-{}-{waiters}", if naive { "naive" } else { "free" });
    let notified = Arc::new(AtomicU64::new(0));
    let mut holder = LockHandle::open(target, &name, naive, &notified).await?;
    bounded(holder.acquire()).await?;
    let opened = tasks::concurrently(0..waiters, 32, |_| {
        let (target, name, notified) = (target.clone(), name.clone(), Arc::clone(&notified));
        async move { LockHandle::open(&target, &name, naive, &notified).await }
    })
    .await?;
    let coord_clients: Vec<CoordClient> = opened
        .iter()
        .filter_map(|h| match h {
            LockHandle::Coord { client, .. } => Some(client.clone()),
            _ => None,
        })
        .collect();
    let mut tasks = Vec::new();
    for mut handle in opened {
        tasks.push(tokio::spawn(async move {
            let r = handle.acquire().await;
            // Hold: only the first handoff is counted.
            std::future::pending::<()>().await;
            drop(handle);
            r
        }));
    }
    let dir = format!("{}/{name}", systems::ROOT);
    let lister = match target.system {
        System::Coord => {
            TreeClient::Coord(systems::coord_connect(&target.addr, SESSION_TIMEOUT).await?)
        }
        _ => TreeClient::Zk(systems::zk_connect(&target.addr, SESSION_TIMEOUT).await?),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while lister.children(&dir).await?.len() < waiters + 1 {
        if Instant::now() > deadline {
            return Err(format!("{waiters} waiters did not queue on {dir}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let every watch land before the release.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let woken = |holder: &LockHandle| {
        holder.coord_woken()
            + coord_clients
                .iter()
                .map(CoordClient::watchers_woken)
                .sum::<u64>()
            + notified.load(Ordering::Relaxed)
    };
    let before = woken(&holder);
    bounded(holder.release()).await?;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let after = woken(&holder);
    for t in tasks {
        t.abort();
    }
    holder.close().await;
    for c in coord_clients {
        Conn::Coord(c).close().await;
    }
    if let TreeClient::Coord(c) = lister {
        Conn::Coord(c).close().await;
    }
    Ok(after - before)
}
