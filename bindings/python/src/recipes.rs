//! The other recipes: election, node and tree caches, barrier and double
//! barrier, queue, counter, service discovery. Handles wrap the core types;
//! every behaviour is the core's, this file converts values.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use coord_client::Error;
use coord_client::client::Client;
use coord_client::recipes::cache::NodeValue;
use coord_client::recipes::{
    Barrier, Counter, DoubleBarrier, Election, NodeCache, Provider, Queue, Registration,
    ServiceDiscovery, Strategy, TreeCache,
};
use futures::StreamExt;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::call::{Call, Conv, Held, Stream, call, conv, conv_with, failed, none};
use crate::client::{ClientCore, Stat, data_stat, seconds};
use crate::errors::check;

fn opt_timeout(t: Option<f64>) -> coord_client::Result<Option<std::time::Duration>> {
    t.map(|t| seconds("timeout", t)).transpose()
}

/// Runs `f` on a handle, or fails at once after `fork()`.
fn with<T: Clone, F, Fut>(held: &Held<T>, f: F) -> Call
where
    F: FnOnce(T) -> Fut,
    Fut: std::future::Future<Output = coord_client::Result<Conv>> + Send + 'static,
{
    match held.get() {
        Ok(h) => call(f(h.clone())),
        Err(e) => failed(e),
    }
}

fn identity(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------- election

/// One candidate in an election.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct ElectionCore {
    e: Held<Arc<Election>>,
}

#[pymethods]
impl ElectionCore {
    /// Waits until elected (at most `timeout` seconds: `LockTimeout`);
    /// resolves to the term's fencing token.
    #[pyo3(signature = (timeout=None))]
    fn campaign(&self, timeout: Option<f64>) -> Call {
        let timeout = match opt_timeout(timeout) {
            Ok(t) => t,
            Err(e) => return failed(e),
        };
        with(&self.e, move |e| async move {
            let info = match timeout {
                Some(t) => e.campaign_timeout(t).await?,
                None => e.campaign().await?,
            };
            Ok(conv(info.token))
        })
    }

    /// Gives up leadership (no-op when not leading).
    fn resign(&self) -> Call {
        with(&self.e, |e| async move {
            e.resign().await?;
            Ok(none())
        })
    }

    /// True while this candidate leads.
    #[getter]
    fn is_leader(&self) -> bool {
        self.e.get().is_ok_and(|e| e.is_leader())
    }

    /// True if this candidate had been elected and its term was lost
    /// (session expired or node deleted), not resigned.
    #[getter]
    fn is_lost(&self) -> bool {
        self.e
            .get()
            .ok()
            .and_then(|e| e.lost_signal())
            .is_some_and(|rx| *rx.borrow())
    }
}

/// A candidate in the election at `path` campaigning as `identity`.
#[pyfunction]
fn election(
    py: Python<'_>,
    client: &ClientCore,
    path: &str,
    identity: &str,
) -> PyResult<ElectionCore> {
    let c = check(py, client.core())?;
    Ok(ElectionCore {
        e: Held::new(client.guard(), Arc::new(Election::new(&c, path, identity))),
    })
}

/// Resolves to the identity of the current leader at `path`, or `None`.
#[pyfunction]
fn election_leader(client: &ClientCore, path: String) -> Call {
    match client.core() {
        Ok(c) => call(async move {
            let leader = Election::leader(&c, &path).await?;
            Ok(conv(leader.map(|l| identity(&l.identity))))
        }),
        Err(e) => failed(e),
    }
}

/// A `Stream` of the leader's identity (or `None`) at `path`: now, then at
/// every change.
#[pyfunction]
fn election_observe(py: Python<'_>, client: &ClientCore, path: &str) -> PyResult<Stream> {
    let c = check(py, client.core())?;
    let guard = client.guard();
    let _entered = check(py, coord_client::embed::handle())?.enter();
    let items = Election::observe(&c, path)
        .map(|r| r.map(|l| conv(l.map(|l| identity(&l.identity)))))
        .boxed();
    Ok(Stream::new(guard, items))
}

// ------------------------------------------------------------------ caches

fn node_value(py: Python<'_>, v: &NodeValue) -> PyResult<Py<PyAny>> {
    match v {
        Some((d, s)) => data_stat(py, d, *s),
        None => Ok(py.None()),
    }
}

/// A local copy of one node, kept up to date.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct NodeCacheCore {
    cache: Held<Arc<NodeCache>>,
}

#[pymethods]
impl NodeCacheCore {
    /// `(data, Stat)`, or `None` when the node does not exist.
    fn current(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let v = check(py, self.cache.get())?.current();
        node_value(py, &v)
    }

    /// A `Stream` of the new value after each change.
    fn changes(&self, py: Python<'_>) -> PyResult<Stream> {
        let cache = check(py, self.cache.get())?;
        let items = coord_client::embed::changes(cache.subscribe())
            .map(|r| r.map(|v| conv_with(move |py| node_value(py, &v))))
            .boxed();
        Ok(Stream::new(self.cache.guard(), items))
    }

    /// Stops following the node.
    fn close(&self) -> Call {
        with(&self.cache, |c| async move {
            c.close().await?;
            Ok(none())
        })
    }
}

/// Starts a node cache on `path`; resolves once the first value is known.
#[pyfunction]
fn node_cache(client: &ClientCore, path: String) -> Call {
    let guard = client.guard();
    match client.core() {
        Ok(c) => call(async move {
            let cache = NodeCache::start(&c, &path).await?;
            Ok(conv_with(move |py| {
                Ok(Py::new(
                    py,
                    NodeCacheCore {
                        cache: Held::new(guard, Arc::new(cache)),
                    },
                )?
                .into_any())
            }))
        }),
        Err(e) => failed(e),
    }
}

/// A local copy of a subtree, kept up to date.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct TreeCacheCore {
    cache: Held<Arc<TreeCache>>,
}

#[pymethods]
impl TreeCacheCore {
    /// `(data, Stat)` of a cached node, or `None`.
    fn get(&self, py: Python<'_>, path: &str) -> PyResult<Py<PyAny>> {
        let v = check(py, self.cache.get())?.get(path);
        node_value(py, &v)
    }

    /// `{name: (data, Stat)}` of the cached children of `path`.
    fn children<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (name, d, s) in check(py, self.cache.get())?.children(path) {
            out.set_item(name, (PyBytes::new(py, &d), Stat::from(s)))?;
        }
        Ok(out)
    }

    /// `{path: (data, Stat)}` of every cached node.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (p, (d, s)) in check(py, self.cache.get())?.snapshot() {
            out.set_item(p, (PyBytes::new(py, &d), Stat::from(s)))?;
        }
        Ok(out)
    }

    /// A `Stream` yielding `None` after each change of the subtree.
    fn changes(&self, py: Python<'_>) -> PyResult<Stream> {
        let rx = check(py, self.cache.get())?.subscribe();
        let items = coord_client::embed::changes(rx)
            .map(|r| r.map(|_| none()))
            .boxed();
        Ok(Stream::new(self.cache.guard(), items))
    }

    /// Number of cached nodes.
    fn __len__(&self) -> usize {
        self.cache.get().map(|c| c.len()).unwrap_or(0)
    }

    /// Stops following the subtree.
    fn close(&self) -> Call {
        with(&self.cache, |c| async move {
            c.close().await?;
            Ok(none())
        })
    }
}

/// Starts a tree cache on `path`; resolves once the subtree is loaded.
#[pyfunction]
fn tree_cache(client: &ClientCore, path: String) -> Call {
    let guard = client.guard();
    match client.core() {
        Ok(c) => call(async move {
            let cache = TreeCache::start(&c, &path).await?;
            Ok(conv_with(move |py| {
                Ok(Py::new(
                    py,
                    TreeCacheCore {
                        cache: Held::new(guard, Arc::new(cache)),
                    },
                )?
                .into_any())
            }))
        }),
        Err(e) => failed(e),
    }
}

// ------------------------------------------------------ barriers and queue

/// A barrier node.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct BarrierCore {
    b: Held<Barrier>,
}

#[pymethods]
impl BarrierCore {
    /// Raises the barrier.
    fn set(&self) -> Call {
        with(&self.b, |b| async move {
            b.set().await?;
            Ok(none())
        })
    }

    /// Lowers the barrier, releasing every waiter.
    fn remove(&self) -> Call {
        with(&self.b, |b| async move {
            b.remove().await?;
            Ok(none())
        })
    }

    /// Resolves to `True` while raised.
    fn is_set(&self) -> Call {
        with(&self.b, |b| async move { Ok(conv(b.is_set().await?)) })
    }

    /// Waits until lowered (at most `timeout` seconds: `OperationTimeoutError`).
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, timeout: Option<f64>) -> Call {
        let timeout = match opt_timeout(timeout) {
            Ok(t) => t,
            Err(e) => return failed(e),
        };
        with(&self.b, move |b| async move {
            match timeout {
                Some(t) => b.wait_timeout(t).await?,
                None => b.wait().await?,
            }
            Ok(none())
        })
    }
}

/// One member of a double barrier.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct DoubleBarrierCore {
    b: Held<DoubleBarrier>,
}

#[pymethods]
impl DoubleBarrierCore {
    /// Enters; waits until `count` members have entered.
    #[pyo3(signature = (timeout=None))]
    fn enter(&self, timeout: Option<f64>) -> Call {
        let timeout = match opt_timeout(timeout) {
            Ok(t) => t,
            Err(e) => return failed(e),
        };
        with(&self.b, move |b| async move {
            match timeout {
                Some(t) => b.enter_timeout(t).await?,
                None => b.enter().await?,
            }
            Ok(none())
        })
    }

    /// Leaves; waits until every member has left.
    #[pyo3(signature = (timeout=None))]
    fn leave(&self, timeout: Option<f64>) -> Call {
        let timeout = match opt_timeout(timeout) {
            Ok(t) => t,
            Err(e) => return failed(e),
        };
        with(&self.b, move |b| async move {
            match timeout {
                Some(t) => b.leave_timeout(t).await?,
                None => b.leave().await?,
            }
            Ok(none())
        })
    }
}

/// A distributed FIFO queue.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct QueueCore {
    q: Held<Queue>,
}

#[pymethods]
impl QueueCore {
    /// Appends an item; resolves to its node's path.
    fn put(&self, data: Vec<u8>) -> Call {
        with(
            &self.q,
            move |q| async move { Ok(conv(q.put(data).await?)) },
        )
    }

    /// Removes and resolves to the oldest item, waiting for one (at most
    /// `timeout` seconds: `OperationTimeoutError`).
    #[pyo3(signature = (timeout=None))]
    fn take(&self, timeout: Option<f64>) -> Call {
        let timeout = match opt_timeout(timeout) {
            Ok(t) => t,
            Err(e) => return failed(e),
        };
        with(&self.q, move |q| async move {
            let item = match timeout {
                Some(t) => q.take_timeout(t).await?,
                None => q.take().await?,
            };
            Ok(conv_with(move |py| {
                Ok(PyBytes::new(py, &item).into_any().unbind())
            }))
        })
    }

    /// The oldest item, removed, or `None` when empty.
    fn try_take(&self) -> Call {
        with(&self.q, |q| async move {
            let item = q.try_take().await?;
            Ok(conv_with(move |py| opt_bytes(py, item)))
        })
    }

    /// The oldest item, left in place, or `None` when empty.
    fn peek(&self) -> Call {
        with(&self.q, |q| async move {
            let item = q.peek().await?;
            Ok(conv_with(move |py| opt_bytes(py, item)))
        })
    }

    /// Number of items.
    fn len(&self) -> Call {
        with(&self.q, |q| async move { Ok(conv(q.len().await?)) })
    }
}

fn opt_bytes(py: Python<'_>, b: Option<Bytes>) -> PyResult<Py<PyAny>> {
    Ok(match b {
        Some(b) => PyBytes::new(py, &b).into_any().unbind(),
        None => py.None(),
    })
}

/// A distributed 64-bit counter.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct CounterCore {
    c: Held<Counter>,
}

#[pymethods]
impl CounterCore {
    /// Resolves to the value (0 when the node does not exist).
    fn get(&self) -> Call {
        with(&self.c, |c| async move { Ok(conv(c.get().await?)) })
    }

    /// Adds `delta`; resolves to the new value.
    fn add(&self, delta: i64) -> Call {
        with(
            &self.c,
            move |c| async move { Ok(conv(c.add(delta).await?)) },
        )
    }

    /// Sets the value.
    fn set(&self, value: i64) -> Call {
        with(&self.c, move |c| async move {
            c.set(value).await?;
            Ok(none())
        })
    }

    /// Sets `new` only if the value is `expected`; resolves to whether it did.
    fn compare_and_set(&self, expected: i64, new: i64) -> Call {
        with(&self.c, move |c| async move {
            Ok(conv(c.compare_and_set(expected, new).await?))
        })
    }
}

// --------------------------------------------------------------- discovery

/// One instance of a service.
#[pyclass(module = "coord", name = "Instance", frozen, eq, hash, get_all)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Instance {
    /// Unique among the service's instances.
    id: String,
    /// Host name or address.
    address: String,
    /// Port.
    port: u16,
    /// Free-form string pairs.
    metadata: BTreeMap<String, String>,
}

#[pymethods]
impl Instance {
    #[new]
    #[pyo3(signature = (id, address, port, metadata=None))]
    fn new(
        id: String,
        address: String,
        port: u16,
        metadata: Option<BTreeMap<String, String>>,
    ) -> Self {
        Instance {
            id,
            address,
            port,
            metadata: metadata.unwrap_or_default(),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Instance(id={:?}, address={:?}, port={}, metadata={:?})",
            self.id, self.address, self.port, self.metadata
        )
    }
}

impl From<coord_client::recipes::Instance> for Instance {
    fn from(i: coord_client::recipes::Instance) -> Self {
        Instance {
            id: i.id,
            address: i.address,
            port: i.port,
            metadata: i.metadata,
        }
    }
}

impl From<Instance> for coord_client::recipes::Instance {
    fn from(i: Instance) -> Self {
        coord_client::recipes::Instance {
            id: i.id,
            address: i.address,
            port: i.port,
            metadata: i.metadata,
        }
    }
}

/// Services under one base path.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct DiscoveryCore {
    sd: Held<ServiceDiscovery>,
}

/// A registered instance; unregisters when closed or dropped.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct RegistrationCore {
    reg: Held<Arc<tokio::sync::Mutex<Option<Registration>>>>,
}

/// Follows one service and picks instances.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct ProviderCore {
    p: Held<Arc<Provider>>,
}

fn strategy(s: &str) -> coord_client::Result<Strategy> {
    match s {
        "round_robin" => Ok(Strategy::RoundRobin),
        "random" => Ok(Strategy::Random),
        "sticky" => Ok(Strategy::Sticky),
        other => Err(Error::BadArguments(format!(
            "strategy must be \"round_robin\", \"random\" or \"sticky\", got {other:?}"
        ))),
    }
}

#[pymethods]
impl DiscoveryCore {
    /// Registers `instance` of service `name`; resolves to its registration.
    fn register(&self, name: String, instance: PyRef<'_, Instance>) -> Call {
        let instance = instance.clone();
        let guard = self.sd.guard();
        with(&self.sd, move |sd| async move {
            let reg = sd.register(&name, instance.into()).await?;
            Ok(conv_with(move |py| {
                let core = RegistrationCore {
                    reg: Held::new(guard, Arc::new(tokio::sync::Mutex::new(Some(reg)))),
                };
                Ok(Py::new(py, core)?.into_any())
            }))
        })
    }

    /// Resolves to the registered instances of `name`, by id.
    fn instances(&self, name: String) -> Call {
        with(&self.sd, move |sd| async move {
            let list: Vec<Instance> = sd
                .instances(&name)
                .await?
                .into_iter()
                .map(Instance::from)
                .collect();
            Ok(conv(list))
        })
    }

    /// Resolves to a provider of `name` picking by `strategy`.
    fn provider(&self, name: String, strategy: String) -> Call {
        let s = match self::strategy(&strategy) {
            Ok(s) => s,
            Err(e) => return failed(e),
        };
        let guard = self.sd.guard();
        with(&self.sd, move |sd| async move {
            let p = sd.provider(&name, s).await?;
            Ok(conv_with(move |py| {
                Ok(Py::new(
                    py,
                    ProviderCore {
                        p: Held::new(guard, Arc::new(p)),
                    },
                )?
                .into_any())
            }))
        })
    }
}

#[pymethods]
impl RegistrationCore {
    /// Removes the instance (again: no-op).
    fn unregister(&self) -> Call {
        with(&self.reg, |r| async move {
            if let Some(reg) = r.lock().await.take() {
                reg.unregister().await?;
            }
            Ok(none())
        })
    }

    /// Replaces the instance's data (same id).
    fn update(&self, instance: PyRef<'_, Instance>) -> Call {
        let instance = instance.clone();
        with(&self.reg, move |r| async move {
            match r.lock().await.as_mut() {
                Some(reg) => reg.update(instance.into()).await?,
                None => return Err(Error::NotHeld("the instance was unregistered".into())),
            }
            Ok(none())
        })
    }

    /// Resolves to `True` once the registration was lost (session ended).
    fn is_lost(&self) -> Call {
        with(&self.reg, |r| async move {
            Ok(conv(
                r.lock().await.as_ref().is_some_and(|reg| reg.is_lost()),
            ))
        })
    }
}

#[pymethods]
impl ProviderCore {
    /// An instance by the provider's strategy, or `None` when there is none.
    fn pick(&self, py: Python<'_>) -> PyResult<Option<Instance>> {
        Ok(check(py, self.p.get())?.pick().map(Instance::from))
    }

    /// The instances known now.
    fn instances(&self, py: Python<'_>) -> PyResult<Vec<Instance>> {
        Ok(check(py, self.p.get())?
            .instances()
            .into_iter()
            .map(Instance::from)
            .collect())
    }

    /// Stops following the service.
    fn close(&self) -> Call {
        with(&self.p, |p| async move {
            p.close().await?;
            Ok(none())
        })
    }
}

// --------------------------------------------------------------- factories

macro_rules! factory {
    ($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $core:ident { $field:ident: |$c:ident| $make:expr }) => {
        $(#[$doc])*
        #[pyfunction]
        fn $name(py: Python<'_>, client: &ClientCore, $($arg: $ty),*) -> PyResult<$core> {
            let $c: Client = check(py, client.core())?;
            Ok($core { $field: Held::new(client.guard(), $make) })
        }
    };
}

factory!(
    /// The barrier at `path`.
    barrier(path: &str) -> BarrierCore { b: |c| Barrier::new(&c, path) }
);
factory!(
    /// Member `member_id` of the double barrier of `count` members at `path`.
    double_barrier(path: &str, member_id: &str, count: usize) -> DoubleBarrierCore {
        b: |c| DoubleBarrier::new(&c, path, member_id, count)
    }
);
factory!(
    /// The queue at `path`.
    queue(path: &str) -> QueueCore { q: |c| Queue::new(&c, path) }
);
factory!(
    /// The counter at `path`.
    counter(path: &str) -> CounterCore { c: |c| Counter::new(&c, path) }
);
factory!(
    /// Service discovery under `base`.
    discovery(base: &str) -> DiscoveryCore { sd: |c| ServiceDiscovery::new(&c, base) }
);

/// Adds the classes and functions of this module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ElectionCore>()?;
    m.add_class::<NodeCacheCore>()?;
    m.add_class::<TreeCacheCore>()?;
    m.add_class::<BarrierCore>()?;
    m.add_class::<DoubleBarrierCore>()?;
    m.add_class::<QueueCore>()?;
    m.add_class::<CounterCore>()?;
    m.add_class::<Instance>()?;
    m.add_class::<DiscoveryCore>()?;
    m.add_class::<RegistrationCore>()?;
    m.add_class::<ProviderCore>()?;
    m.add_function(wrap_pyfunction!(election, m)?)?;
    m.add_function(wrap_pyfunction!(election_leader, m)?)?;
    m.add_function(wrap_pyfunction!(election_observe, m)?)?;
    m.add_function(wrap_pyfunction!(node_cache, m)?)?;
    m.add_function(wrap_pyfunction!(tree_cache, m)?)?;
    m.add_function(wrap_pyfunction!(barrier, m)?)?;
    m.add_function(wrap_pyfunction!(double_barrier, m)?)?;
    m.add_function(wrap_pyfunction!(queue, m)?)?;
    m.add_function(wrap_pyfunction!(counter, m)?)?;
    m.add_function(wrap_pyfunction!(discovery, m)?)?;
    Ok(())
}
