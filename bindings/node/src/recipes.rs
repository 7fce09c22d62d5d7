//! The other recipes, as handles: barrier and double barrier, queue,
//! counter, node and tree caches, service discovery, group membership.
//! Each method is one core call; waiting calls take an optional timeout.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use coord_client::client::Stat as CoreStat;
use coord_client::embed::{self, CancelToken, ClosableStream};
use coord_client::recipes::cache::NodeValue;
use coord_client::recipes::{
    Barrier, Counter, DoubleBarrier, Group, Instance, Membership, NodeCache, Provider, Queue,
    Registration, ServiceDiscovery, Strategy, TreeCache,
};
use napi::Result;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use tokio::sync::Mutex as AsyncMutex;

use crate::cancel::{cancellable, millis};
use crate::client::NativeClient;
use crate::convert::{NodeData, Stat, bytes};
use crate::error::{IntoJs, bad_arguments};

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

    /// Service discovery under `base` (default `/services`).
    #[napi]
    pub fn discovery_handle(&self, base: Option<String>) -> NativeDiscovery {
        let base = base.unwrap_or_else(|| coord_client::recipes::discovery::DEFAULT_BASE.into());
        NativeDiscovery {
            discovery: ServiceDiscovery::new(&self.client, &base),
        }
    }

    /// Joins the group at `path` as `name` with `payload`.
    #[napi]
    pub async fn join_group(
        &self,
        path: String,
        name: String,
        payload: Option<Buffer>,
    ) -> Result<NativeMembership> {
        let m = Group::join(&self.client, &path, &name, bytes(payload))
            .await
            .js()?;
        Ok(NativeMembership {
            name: m.name().to_string(),
            node: m.node().to_string(),
            membership: AsyncMutex::new(Some(m)),
        })
    }

    /// The members of the group at `path`, sorted by name.
    #[napi]
    pub async fn group_members(&self, path: String) -> Result<Vec<Member>> {
        let members = Group::members(&self.client, &path).await.js()?;
        Ok(members.into_iter().map(member).collect())
    }

    /// The members of the group at `path` now, then after every change.
    #[napi]
    pub fn watch_group(&self, path: String) -> NativeMembersStream {
        NativeMembersStream {
            stream: ClosableStream::new(Group::watch_members(&self.client, &path)),
        }
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
async fn next_change<T: Send + 'static>(changes: &ClosableStream<T>) -> bool {
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

/// One instance of a service.
#[napi(object)]
pub struct ServiceInstance {
    /// Unique among the service's instances.
    pub id: String,
    /// Host name or IP address.
    pub address: String,
    /// Port.
    pub port: u32,
    /// Free-form key-value pairs.
    pub metadata: Option<HashMap<String, String>>,
}

fn to_core(i: ServiceInstance) -> Result<Instance> {
    let port = u16::try_from(i.port)
        .map_err(|_| bad_arguments(format!("port must be 0..=65535, got {}", i.port)))?;
    Ok(Instance {
        id: i.id,
        address: i.address,
        port,
        metadata: i.metadata.unwrap_or_default().into_iter().collect(),
    })
}

fn from_core(i: Instance) -> ServiceInstance {
    ServiceInstance {
        id: i.id,
        address: i.address,
        port: u32::from(i.port),
        metadata: Some(
            i.metadata
                .into_iter()
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .collect(),
        ),
    }
}

/// Registration and lookup of services under one base path.
#[napi]
pub struct NativeDiscovery {
    discovery: ServiceDiscovery,
}

#[napi]
impl NativeDiscovery {
    /// Registers an instance of service `name` for the session's life.
    #[napi]
    pub async fn register(
        &self,
        name: String,
        instance: ServiceInstance,
    ) -> Result<NativeRegistration> {
        let reg = self
            .discovery
            .register(&name, to_core(instance)?)
            .await
            .js()?;
        Ok(NativeRegistration {
            node: reg.node().to_string(),
            reg: AsyncMutex::new(Some(reg)),
        })
    }

    /// The registered instances of service `name`, sorted by id.
    #[napi]
    pub async fn instances(&self, name: String) -> Result<Vec<ServiceInstance>> {
        let list = self.discovery.instances(&name).await.js()?;
        Ok(list.into_iter().map(from_core).collect())
    }

    /// Follows service `name`; picks by `'roundRobin'` (default), `'random'`
    /// or `'sticky'`.
    #[napi]
    pub async fn provider(&self, name: String, strategy: Option<String>) -> Result<NativeProvider> {
        let strategy = match strategy.as_deref() {
            None | Some("roundRobin") => Strategy::RoundRobin,
            Some("random") => Strategy::Random,
            Some("sticky") => Strategy::Sticky,
            Some(other) => {
                return Err(bad_arguments(format!(
                    "strategy must be 'roundRobin', 'random' or 'sticky', got {other:?}"
                )));
            }
        };
        let provider = self.discovery.provider(&name, strategy).await.js()?;
        Ok(NativeProvider {
            changes: ClosableStream::new(embed::changes(provider.subscribe())),
            provider: Arc::new(provider),
        })
    }
}

/// A registered instance.
#[napi]
pub struct NativeRegistration {
    node: String,
    reg: AsyncMutex<Option<Registration>>,
}

#[napi]
impl NativeRegistration {
    /// Full path of the instance's node.
    #[napi(getter)]
    pub fn node(&self) -> String {
        self.node.clone()
    }

    /// Replaces the registered description (same id).
    #[napi]
    pub async fn update(&self, instance: ServiceInstance) -> Result<()> {
        let instance = to_core(instance)?;
        match self.reg.lock().await.as_mut() {
            Some(r) => r.update(instance).await.js(),
            None => Err(bad_arguments("the instance was unregistered")),
        }
    }

    /// Removes the instance; later calls do nothing.
    #[napi]
    pub async fn unregister(&self) -> Result<()> {
        let reg = self.reg.lock().await.take();
        match reg {
            Some(r) => r.unregister().await.js(),
            None => Ok(()),
        }
    }

    /// True once lost (session expired, node deleted).
    #[napi]
    pub async fn is_lost(&self) -> bool {
        self.reg.lock().await.as_ref().is_some_and(|r| r.is_lost())
    }
}

/// Follows one service and picks instances.
#[napi]
pub struct NativeProvider {
    provider: Arc<Provider>,
    changes: ClosableStream<u64>,
}

#[napi]
impl NativeProvider {
    /// The known instances, sorted by id.
    #[napi]
    pub fn instances(&self) -> Vec<ServiceInstance> {
        self.provider
            .instances()
            .into_iter()
            .map(from_core)
            .collect()
    }

    /// One instance by the strategy, `null` when there is none.
    #[napi]
    pub fn pick(&self) -> Option<ServiceInstance> {
        self.provider.pick().map(from_core)
    }

    /// Resolves `true` after the next change, `false` once stopped.
    #[napi]
    pub async fn changed(&self) -> bool {
        next_change(&self.changes).await
    }

    /// Stops following.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.changes.close();
        self.provider.close().await.js()
    }
}

/// A member of a group.
#[napi(object, object_from_js = false)]
pub struct Member {
    /// The member's name.
    pub name: String,
    /// Its payload.
    pub data: Buffer,
}

fn member((name, data): (String, Bytes)) -> Member {
    Member {
        name,
        data: buffer(data),
    }
}

/// Our membership of a group.
#[napi]
pub struct NativeMembership {
    name: String,
    node: String,
    membership: AsyncMutex<Option<Membership>>,
}

#[napi]
impl NativeMembership {
    /// The member name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Full path of the member node.
    #[napi(getter)]
    pub fn node(&self) -> String {
        self.node.clone()
    }

    /// Replaces the payload.
    #[napi]
    pub async fn update(&self, payload: Buffer) -> Result<()> {
        match self.membership.lock().await.as_ref() {
            Some(m) => m.update(bytes(Some(payload))).await.js(),
            None => Err(bad_arguments("the member left the group")),
        }
    }

    /// Leaves the group; later calls do nothing.
    #[napi]
    pub async fn leave(&self) -> Result<()> {
        let m = self.membership.lock().await.take();
        match m {
            Some(m) => m.leave().await.js(),
            None => Ok(()),
        }
    }
}

/// The members of a group after every change, one `next()` at a time (the
/// core's one closable stream, `embed::ClosableStream`).
#[napi]
pub struct NativeMembersStream {
    stream: ClosableStream<Vec<(String, Bytes)>>,
}

#[napi]
impl NativeMembersStream {
    /// The next member list; `null` once closed or ended (closing the client
    /// ends it too, without an error); never an item after `close()`.
    /// Rejects once with the error that ended it (`SESSION_EXPIRED`),
    /// then resolves `null`.
    #[napi]
    pub async fn next(&self) -> Result<Option<Vec<Member>>> {
        let list = self.stream.next().await.js()?;
        Ok(list.map(|l| l.into_iter().map(member).collect()))
    }

    /// Stops following: no list is delivered after this, a pending `next()`
    /// resolves `null`.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.stream.close();
        Ok(())
    }
}

fn buffer(b: Bytes) -> Buffer {
    b.to_vec().into()
}
