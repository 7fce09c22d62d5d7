//! Local caches kept up to date from watches: [`NodeCache`] (one node's data
//! and stat) and [`TreeCache`] (every node of a subtree).
//!
//! Watch events carry no data, so a cache re-reads after every event: the read
//! comes after the event, hence it sees the change that fired it or a newer
//! one, and the last value of any burst of changes is always read. A burst is
//! coalesced (one read per changed path for the events already queued). Both
//! caches use a persistent watch (persistent-recursive for the tree), which
//! the client re-registers after a reconnect; they also re-read everything
//! when the session goes from Suspended back to Connected, and when the server
//! reports `EventsLost` (the client was away longer than the server's watch
//! history reaches: the events it missed are gone, only a full read is safe).
//!
//! # Error handling
//! - *Connection loss (Suspended)*: the client holds new requests until it has
//!   reconnected; a request in flight fails with `ConnectionLoss` and may or may
//!   not have been applied. A cache keeps serving its last values while
//!   Suspended (they may be stale) and re-reads everything after the reconnect
//!   (the tree cache also after a read that failed so).
//! - *Session expiry* or client close: the cache stops and keeps its last
//!   values; [`NodeCache::close`] / [`TreeCache::close`] return the error that
//!   stopped it, and change receivers see their sender closed.
//! - *Timeout*: `start` is bounded by the client's request timeout per read
//!   and fails with its error; later reads that time out are retried.
//! - *Cancellation*: dropping a `start` future leaves nothing running;
//!   dropping a cache stops its task (and removes its watch).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::support::{Wake, Watched, child_path, read_retrying};
use crate::client::{Client, Stat, WatchMode};
use crate::error::{Error, Result};

/// A node's data and stat, or `None` when it does not exist.
pub type NodeValue = Option<(Bytes, Stat)>;

/// Most reads sent at once while loading a tree.
const LOAD_BATCH: usize = 256;

/// The task behind a cache and the switch that stops it.
#[derive(Debug)]
struct Runner {
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<Result<()>>>>,
}

impl Runner {
    fn spawn<F>(body: impl FnOnce(watch::Receiver<bool>) -> F) -> Runner
    where
        F: std::future::Future<Output = Result<()>> + Send + 'static,
    {
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(body(stop_rx));
        Runner {
            stop,
            task: Mutex::new(Some(task)),
        }
    }

    fn task(&self) -> MutexGuard<'_, Option<JoinHandle<Result<()>>>> {
        self.task.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_running(&self) -> bool {
        self.task().as_ref().is_some_and(|t| !t.is_finished())
    }

    async fn close(&self) -> Result<()> {
        self.stop.send_replace(true);
        let task = self.task().take();
        match task {
            Some(t) => t
                .await
                .unwrap_or_else(|e| Err(Error::Internal(format!("cache task failed: {e}")))),
            None => Ok(()),
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(t) = self.task().take() {
            t.abort();
        }
    }
}

/// Resolves when the stop switch is thrown or its owner is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// One node's data and stat, kept up to date. See the module docs.
#[derive(Debug)]
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = coord_server::testing::TestServer::start().await?;
/// # let client = coord_client::Client::connect(&server.addr()).await?;
/// use coord_client::recipes::NodeCache;
///
/// client.create("/config", "v1", coord_client::CreateMode::Persistent).await?;
/// let cache = NodeCache::start(&client, "/config").await?;
/// assert_eq!(cache.data().as_deref(), Some(&b"v1"[..])); // no round trip
/// cache.close().await?;
/// # client.close().await?;
/// # server.stop().await?;
/// # Ok(()) }
/// ```
pub struct NodeCache {
    path: String,
    value: watch::Receiver<NodeValue>,
    runner: Runner,
}

impl NodeCache {
    /// Reads the node at `path` (which need not exist) and keeps following it.
    /// Returns once the first value is known.
    pub async fn start(client: &Client, path: &str) -> Result<NodeCache> {
        let mut watched = Watched::new(client, path, WatchMode::Persistent);
        watched.next().await?;
        let first = read_node(client, path).await?;
        let (tx, value) = watch::channel(first);
        let (client, node) = (client.clone(), path.to_string());
        let runner = Runner::spawn(move |mut stop| async move {
            loop {
                tokio::select! {
                    () = stopped(&mut stop) => return Ok(()),
                    wake = watched.next() => {
                        wake?;
                        let v = read_node(&client, &node).await?;
                        tx.send_if_modified(|cur| {
                            let changed = *cur != v;
                            *cur = v;
                            changed
                        });
                    }
                }
            }
        });
        Ok(NodeCache {
            path: path.to_string(),
            value,
            runner,
        })
    }

    /// The cached node's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The latest known data and stat (`None`: the node does not exist).
    pub fn current(&self) -> NodeValue {
        self.value.borrow().clone()
    }

    /// The latest known data (`None`: the node does not exist).
    pub fn data(&self) -> Option<Bytes> {
        self.value.borrow().as_ref().map(|(d, _)| d.clone())
    }

    /// A receiver of every change of the value (`changed()` resolves after
    /// each one; intermediate values of a burst may be skipped, the last never).
    pub fn subscribe(&self) -> watch::Receiver<NodeValue> {
        self.value.clone()
    }

    /// True until the cache is closed or its session ends.
    pub fn is_running(&self) -> bool {
        self.runner.is_running()
    }

    /// Stops following the node. Returns the error that had stopped the
    /// cache already (`SessionExpired`, `Closed`), if any.
    pub async fn close(&self) -> Result<()> {
        self.runner.close().await
    }
}

async fn read_node(client: &Client, path: &str) -> Result<NodeValue> {
    match read_retrying(|| client.get(path)).await {
        Ok(v) => Ok(Some(v)),
        Err(Error::NoNode(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Full path -> data and stat of every node of the cached subtree.
pub type TreeMap = BTreeMap<String, (Bytes, Stat)>;

/// A subtree's nodes, kept up to date. See the module docs.
#[derive(Debug)]
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = coord_server::testing::TestServer::start().await?;
/// # let client = coord_client::Client::connect(&server.addr()).await?;
/// use coord_client::recipes::TreeCache;
///
/// client.create("/app", "", coord_client::CreateMode::Persistent).await?;
/// client.create("/app/a", "1", coord_client::CreateMode::Persistent).await?;
/// let tree = TreeCache::start(&client, "/app").await?;
/// assert_eq!(tree.children("/app").len(), 1);
/// tree.close().await?;
/// # client.close().await?;
/// # server.stop().await?;
/// # Ok(()) }
/// ```
pub struct TreeCache {
    root: String,
    tree: Arc<Mutex<TreeMap>>,
    generation: watch::Receiver<u64>,
    runner: Runner,
}

impl TreeCache {
    /// Loads the subtree at `path` (which need not exist) and keeps following
    /// it. Returns once the first load is complete.
    pub async fn start(client: &Client, path: &str) -> Result<TreeCache> {
        let mut watched = Watched::new(client, path, WatchMode::PersistentRecursive);
        watched.next().await?;
        let tree = Arc::new(Mutex::new(read_retrying(|| load_tree(client, path)).await?));
        let (tx, generation) = watch::channel(0u64);
        let (client, root, shared) = (client.clone(), path.to_string(), Arc::clone(&tree));
        let runner = Runner::spawn(move |mut stop| async move {
            loop {
                let wake = tokio::select! {
                    () = stopped(&mut stop) => return Ok(()),
                    wake = watched.next() => wake?,
                };
                let changed = match wake {
                    Wake::Resync => resync(&client, &root, &shared).await?,
                    Wake::Changed(paths) => {
                        let mut changed = false;
                        for p in paths.iter().filter(|p| is_within(p, &root)) {
                            match refresh(&client, &shared, p).await {
                                Ok(c) => changed |= c,
                                // Lost track: read the whole subtree again.
                                Err(e) if super::support::is_retryable(&e) => {
                                    changed |= resync(&client, &root, &shared).await?;
                                    break;
                                }
                                Err(e) => return Err(e),
                            }
                        }
                        changed
                    }
                };
                if changed {
                    tx.send_modify(|g| *g += 1);
                }
            }
        });
        Ok(TreeCache {
            root: path.to_string(),
            tree,
            generation,
            runner,
        })
    }

    fn tree(&self) -> MutexGuard<'_, TreeMap> {
        lock(&self.tree)
    }

    /// The cached subtree's root path.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The data and stat of the node at `path`, if it is in the subtree.
    pub fn get(&self, path: &str) -> Option<(Bytes, Stat)> {
        self.tree().get(path).cloned()
    }

    /// The direct children of `path` as (name, data, stat), sorted by name.
    pub fn children(&self, path: &str) -> Vec<(String, Bytes, Stat)> {
        let prefix = child_path(path, "");
        self.tree()
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| !p[prefix.len()..].contains('/') && p.len() > prefix.len())
            .map(|(p, (d, s))| (p[prefix.len()..].to_string(), d.clone(), *s))
            .collect()
    }

    /// A copy of the whole cached subtree.
    pub fn snapshot(&self) -> TreeMap {
        self.tree().clone()
    }

    /// Number of cached nodes (the root included, when it exists).
    pub fn len(&self) -> usize {
        self.tree().len()
    }

    /// True when the subtree's root does not exist.
    pub fn is_empty(&self) -> bool {
        self.tree().is_empty()
    }

    /// A counter that grows after every change applied to the cache
    /// (`changed()` resolves after each).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.clone()
    }

    /// True until the cache is closed or its session ends.
    pub fn is_running(&self) -> bool {
        self.runner.is_running()
    }

    /// Stops following the subtree. Returns the error that had stopped the
    /// cache already (`SessionExpired`, `Closed`), if any.
    pub async fn close(&self) -> Result<()> {
        self.runner.close().await
    }
}

fn lock(tree: &Mutex<TreeMap>) -> MutexGuard<'_, TreeMap> {
    tree.lock().unwrap_or_else(|p| p.into_inner())
}

/// True when `path` is `root` or below it.
fn is_within(path: &str, root: &str) -> bool {
    root == "/"
        || path == root
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Reads the whole subtree at `root`, level by level, pipelining each level.
async fn load_tree(client: &Client, root: &str) -> Result<TreeMap> {
    let mut tree = TreeMap::new();
    let mut level = vec![root.to_string()];
    while !level.is_empty() {
        let mut parents = Vec::new();
        for batch in level.chunks(LOAD_BATCH) {
            let reads = futures::future::join_all(batch.iter().map(|p| client.get(p))).await;
            for (path, read) in batch.iter().zip(reads) {
                match read {
                    Ok((data, stat)) => {
                        if stat.num_children > 0 {
                            parents.push(path.clone());
                        }
                        tree.insert(path.clone(), (data, stat));
                    }
                    Err(Error::NoNode(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let mut next = Vec::new();
        for batch in parents.chunks(LOAD_BATCH) {
            let lists = futures::future::join_all(batch.iter().map(|p| client.children(p))).await;
            for (parent, list) in batch.iter().zip(lists) {
                match list {
                    Ok(names) => next.extend(names.iter().map(|n| child_path(parent, n))),
                    Err(Error::NoNode(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        level = next;
    }
    Ok(tree)
}

/// Replaces the cached tree by a fresh load; true if anything differs.
async fn resync(client: &Client, root: &str, shared: &Mutex<TreeMap>) -> Result<bool> {
    let fresh = read_retrying(|| load_tree(client, root)).await?;
    let mut tree = lock(shared);
    let changed = *tree != fresh;
    *tree = fresh;
    Ok(changed)
}

/// Re-reads one node after an event on it; true if the cache changed.
async fn refresh(client: &Client, shared: &Mutex<TreeMap>, path: &str) -> Result<bool> {
    match client.get(path).await {
        Ok(value) => {
            let mut tree = lock(shared);
            let changed = tree.get(path) != Some(&value);
            tree.insert(path.to_string(), value);
            Ok(changed)
        }
        Err(Error::NoNode(_)) => {
            let mut tree = lock(shared);
            let below = child_path(path, "");
            let doomed: Vec<String> = std::iter::once(path.to_string())
                .filter(|p| tree.contains_key(p))
                .chain(
                    tree.range(below.clone()..)
                        .take_while(|(p, _)| p.starts_with(&below))
                        .map(|(p, _)| p.clone()),
                )
                .collect();
            for p in &doomed {
                tree.remove(p);
            }
            Ok(!doomed.is_empty())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtree_membership_respects_segment_boundaries() {
        assert!(is_within("/a", "/a"));
        assert!(is_within("/a/b", "/a"));
        assert!(!is_within("/ab", "/a"));
        assert!(is_within("/anything", "/"));
    }
}
