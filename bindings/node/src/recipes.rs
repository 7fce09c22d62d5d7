//! The other recipes, as handles: barrier and double barrier, queue,
//! counter, node and tree caches (service discovery and groups are in
//! `services`). Each method is one core call; waiting calls take an optional
//! timeout and a cancel token (`cancel()`, which `lib/` calls when an
//! `AbortSignal` aborts).

use std::sync::Arc;

use bytes::Bytes;
use coord_client::client::Stat as CoreStat;
use coord_client::embed::{self, CancelToken, ClosableStream};
use coord_client::recipes::cache::NodeValue;
use coord_client::recipes::{Barrier, Counter, DoubleBarrier, NodeCache, Queue, TreeCache};
use napi::Result;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::cancel::{cancellable, millis};
use crate::client::NativeClient;
use crate::convert::{NodeData, Stat, bytes};
use crate::error::IntoJs;

#[napi]
impl NativeClient {
    /// A barrier at `path`.
    #[napi]
    pub fn barrier_handle(&self, path: String) -> NativeBarrier {
        NativeBarrier {
            barrier: Arc::new(Barrier::new(&self.client, &path)),
            cancel: CancelToken::new(),
        }
    }

    /// Member `memberId` of a double barrier of `count` members at `path`.
    #[napi]
    pub fn double_barrier_handle(
        &self,
        path: String,
        member_id: String,
        count: u32,
    ) -> NativeDoubleBarrier {
        NativeDoubleBarrier {
            barrier: Arc::new(DoubleBarrier::new(
                &self.client,
                &path,
                &member_id,
                count as usize,
            )),
            cancel: CancelToken::new(),
        }
    }

    /// A FIFO queue at `path`.
    #[napi]
    pub fn queue_handle(&self, path: String) -> NativeQueue {
        NativeQueue {
            queue: Arc::new(Queue::new(&self.client, &path)),
            cancel: CancelToken::new(),
        }
    }

    /// A 64-bit counter at `path`.
    #[napi]
    pub fn counter_handle(&self, path: String) -> NativeCounter {
        NativeCounter {
            counter: Arc::new(Counter::new(&self.client, &path)),
        }
    }

    /// Starts a cache of the node at `path` (which need not exist).
    #[napi]
    pub async fn node_cache(&self, path: String) -> Result<NativeNodeCache> {
        let cache = NodeCache::start(&self.client, &path).await.js()?;
        Ok(NativeNodeCache {
            changes: ClosableStream::new(embed::changes(cache.subscribe())),
            cache: Arc::new(cache),
        })
    }

    /// Starts a cache of the subtree at `path` (which need not exist).
    #[napi]
    pub async fn tree_cache(&self, path: String) -> Result<NativeTreeCache> {
        let cache = TreeCache::start(&self.client, &path).await.js()?;
        Ok(NativeTreeCache {
            changes: ClosableStream::new(embed::changes(cache.subscribe())),
            cache: Arc::new(cache),
        })
    }
}

/// A barrier: waiters are held while its node exists.
#[napi]
pub struct NativeBarrier {
    barrier: Arc<Barrier>,
    cancel: CancelToken,
}

#[napi]
impl NativeBarrier {
    /// Raises the barrier (creates its node).
    #[napi]
    pub async fn set(&self) -> Result<()> {
        self.barrier.set().await.js()
    }

    /// Lowers the barrier, releasing every waiter.
    #[napi]
    pub async fn remove(&self) -> Result<()> {
        self.barrier.remove().await.js()
    }

    /// True while raised.
    #[napi]
    pub async fn is_set(&self) -> Result<bool> {
        self.barrier.is_set().await.js()
    }

    /// Waits until the barrier is lowered (at most `timeoutMs`:
    /// `OPERATION_TIMEOUT`).
    #[napi]
    pub async fn wait(&self, timeout_ms: Option<u32>) -> Result<()> {
        let fut = async {
            match millis(timeout_ms) {
                Some(t) => self.barrier.wait_timeout(t).await,
                None => self.barrier.wait().await,
            }
        };
        cancellable(&self.cancel, fut).await.js()
    }

    /// Aborts the waits of this handle.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

/// One member of a double barrier.
#[napi]
pub struct NativeDoubleBarrier {
    barrier: Arc<DoubleBarrier>,
    cancel: CancelToken,
}

#[napi]
impl NativeDoubleBarrier {
    /// Waits until every member has entered. `cancel()` aborts it
    /// (`CANCELLED`); the core then deletes our member node.
    #[napi]
    pub async fn enter(&self, timeout_ms: Option<u32>) -> Result<()> {
        let fut = async {
            match millis(timeout_ms) {
                Some(t) => self.barrier.enter_timeout(t).await,
                None => self.barrier.enter().await,
            }
        };
        cancellable(&self.cancel, fut).await.js()
    }

    /// Waits until every member has left. `cancel()` aborts it
    /// (`CANCELLED`); the core then deletes our member node.
    #[napi]
    pub async fn leave(&self, timeout_ms: Option<u32>) -> Result<()> {
        let fut = async {
            match millis(timeout_ms) {
                Some(t) => self.barrier.leave_timeout(t).await,
                None => self.barrier.leave().await,
            }
        };
        cancellable(&self.cancel, fut).await.js()
    }

    /// Aborts a waiting `enter()` / `leave()`.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Makes `cancel()` forgotten, for the next call.
    #[napi]
    pub fn reset_cancel(&self) {
        self.cancel.reset();
    }
}

/// A distributed FIFO queue.
#[napi]
pub struct NativeQueue {
    queue: Arc<Queue>,
    cancel: CancelToken,
}

#[napi]
impl NativeQueue {
    /// Appends an item; resolves to its node.
    #[napi]
    pub async fn put(&self, data: Buffer) -> Result<String> {
        self.queue.put(bytes(Some(data))).await.js()
    }

    /// Removes and returns the oldest item, waiting for one (at most
    /// `timeoutMs`: `OPERATION_TIMEOUT`). `cancel()` aborts the wait
    /// (`CANCELLED`; the core's caveat holds: an abort while the claim is in
    /// flight can lose that one item). `lib/` makes one handle per take.
    #[napi]
    pub async fn take(&self, timeout_ms: Option<u32>) -> Result<Buffer> {
        let fut = async {
            match millis(timeout_ms) {
                Some(t) => self.queue.take_timeout(t).await,
                None => self.queue.take().await,
            }
        };
        Ok(buffer(cancellable(&self.cancel, fut).await.js()?))
    }

    /// Aborts a waiting `take()`.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The oldest item if any, removed; never waits.
    #[napi]
    pub async fn try_take(&self) -> Result<Option<Buffer>> {
        Ok(self.queue.try_take().await.js()?.map(buffer))
    }

    /// The oldest item if any, not removed.
    #[napi]
    pub async fn peek(&self) -> Result<Option<Buffer>> {
        Ok(self.queue.peek().await.js()?.map(buffer))
    }

    /// Number of items.
    #[napi]
    pub async fn size(&self) -> Result<u32> {
        let n = self.queue.len().await.js()?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

/// A shared 64-bit counter (values beyond 2^53 lose precision in JS).
#[napi]
pub struct NativeCounter {
    counter: Arc<Counter>,
}

#[napi]
impl NativeCounter {
    /// The value (0 when the node is missing).
    #[napi]
    pub async fn get(&self) -> Result<i64> {
        self.counter.get().await.js()
    }

    /// Adds `delta`; resolves to the new value.
    #[napi]
    pub async fn add(&self, delta: i64) -> Result<i64> {
        self.counter.add(delta).await.js()
    }

    /// Sets `next` only if the value is `expected`.
    #[napi]
    pub async fn compare_and_set(&self, expected: i64, next: i64) -> Result<bool> {
        self.counter.compare_and_set(expected, next).await.js()
    }

    /// Sets the value.
    #[napi]
    pub async fn set(&self, value: i64) -> Result<()> {
        self.counter.set(value).await.js()
    }
}

/// Waits for the next change of a cache or provider: `true`, or `false`
/// once it was closed (no change is reported after `close()`, even one that
/// had already arrived: `embed::ClosableStream`).
pub(crate) async fn next_change<T: Send + 'static>(changes: &ClosableStream<T>) -> bool {
    matches!(changes.next().await, Ok(Some(_)))
}

/// One node's data and stat, kept up to date.
#[napi]
pub struct NativeNodeCache {
    cache: Arc<NodeCache>,
    changes: ClosableStream<NodeValue>,
}

#[napi]
impl NativeNodeCache {
    /// The node's last known data and stat, `null` when it does not exist.
    #[napi(getter)]
    pub fn current(&self) -> Option<NodeData> {
        self.cache.current().map(|(d, s)| NodeData::new(d, s))
    }

    /// Resolves `true` after the next change, `false` once stopped.
    #[napi]
    pub async fn changed(&self) -> bool {
        next_change(&self.changes).await
    }

    /// Stops following (a pending `changed()` resolves `false`).
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.changes.close();
        self.cache.close().await.js()
    }
}

/// A cached node of a subtree.
#[napi(object, object_from_js = false)]
pub struct TreeEntry {
    /// Full path (for `children`, the child's name).
    pub path: String,
    /// The data.
    pub data: Buffer,
    /// The metadata.
    pub stat: Stat,
}

fn entry(path: String, data: Bytes, stat: CoreStat) -> TreeEntry {
    TreeEntry {
        path,
        data: buffer(data),
        stat: stat.into(),
    }
}

/// Every node of a subtree, kept up to date.
#[napi]
pub struct NativeTreeCache {
    cache: Arc<TreeCache>,
    changes: ClosableStream<u64>,
}

#[napi]
impl NativeTreeCache {
    /// The node at `path` if it is in the subtree.
    #[napi]
    pub fn get(&self, path: String) -> Option<NodeData> {
        self.cache.get(&path).map(|(d, s)| NodeData::new(d, s))
    }

    /// The direct children of `path` (name, data, stat), sorted by name.
    #[napi]
    pub fn children(&self, path: String) -> Vec<TreeEntry> {
        self.cache
            .children(&path)
            .into_iter()
            .map(|(n, d, s)| entry(n, d, s))
            .collect()
    }

    /// Every cached node, sorted by path.
    #[napi]
    pub fn snapshot(&self) -> Vec<TreeEntry> {
        self.cache
            .snapshot()
            .into_iter()
            .map(|(p, (d, s))| entry(p, d, s))
            .collect()
    }

    /// Resolves `true` after the next change, `false` once stopped.
    #[napi]
    pub async fn changed(&self) -> bool {
        next_change(&self.changes).await
    }

    /// Stops following (a pending `changed()` resolves `false`).
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.changes.close();
        self.cache.close().await.js()
    }
}

pub(crate) fn buffer(b: Bytes) -> Buffer {
    b.to_vec().into()
}
