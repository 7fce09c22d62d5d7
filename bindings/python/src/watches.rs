//! The node-level watch features beyond persistent watches: one-shot
//! watches set by a read (`get_watch`, `exists_watch`, `children_watch`),
//! watch removal, the session's state changes, and children listed with
//! their stats. Every behaviour is the core client's; this file converts
//! values and must not keep watch state of its own.

use coord_client::client::{OneshotWatch, WatcherType};
use coord_client::embed::ForkGuard;
use coord_client::{Error, Result};
use futures::FutureExt;
use futures::StreamExt;
use futures::future::{BoxFuture, Shared};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::call::{Call, Held, Stream, call, conv, conv_with, failed, none};
use crate::client::{ClientCore, Stat, event, seconds, state_name};
use crate::errors::check;

/// The outcome of a one-shot watch, shareable between waits.
type Fired = Shared<BoxFuture<'static, Result<coord_client::client::WatchEvent>>>;

/// A one-shot watch: fires once, on the first change of the kind it watches.
/// Waiting on it does not consume it: every `wait()` after it fired returns
/// the same event (or raises the same error).
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct OneshotCore {
    fired: Held<Fired>,
}

impl OneshotCore {
    fn new(guard: ForkGuard, watch: OneshotWatch) -> OneshotCore {
        OneshotCore {
            fired: Held::new(guard, watch.boxed().shared()),
        }
    }
}

#[pymethods]
impl OneshotCore {
    /// Resolves to the `WatchEvent` when the watch fires, or to `None` after
    /// `timeout` seconds (None: no limit). Raises `CancelledError` when
    /// `remove_watches` removed it, `SessionExpiredError` / `ClosedError`
    /// when the session ended first.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, timeout: Option<f64>) -> Call {
        let timeout = match timeout.map(|t| seconds("timeout", t)).transpose() {
            Ok(t) => t,
            Err(e) => return failed(e),
        };
        let fired = match self.fired.get() {
            Ok(f) => f.clone(),
            Err(e) => return failed(e),
        };
        call(async move {
            let outcome = match timeout {
                Some(t) => match tokio::time::timeout(t, fired).await {
                    Ok(outcome) => outcome,
                    Err(_) => return Ok(none()),
                },
                None => fired.await,
            };
            Ok(conv(event(outcome?)))
        })
    }

    /// True once the watch fired (or ended with an error), whether or not
    /// anybody waited on it: polls it once without blocking.
    #[getter]
    fn fired(&self) -> bool {
        self.fired
            .get()
            .is_ok_and(|f| f.peek().is_some() || f.clone().now_or_never().is_some())
    }
}

/// The watcher kinds `remove_watches` takes, by their Python names.
fn watcher_type(kind: &str) -> Result<WatcherType> {
    match kind {
        "any" => Ok(WatcherType::Any),
        "data" => Ok(WatcherType::Data),
        "children" => Ok(WatcherType::Children),
        "persistent" => Ok(WatcherType::Persistent),
        "persistent_recursive" => Ok(WatcherType::PersistentRecursive),
        other => Err(Error::BadArguments(format!(
            "watch kind must be \"any\", \"data\", \"children\", \"persistent\" or \
             \"persistent_recursive\", got {other:?}"
        ))),
    }
}

fn stat_obj(py: Python<'_>, s: coord_client::client::Stat) -> PyResult<Bound<'_, PyAny>> {
    Ok(Bound::new(py, Stat::from(s))?.into_any())
}

/// Resolves to `(data, Stat, OneshotCore)`; the watch fires on the node's
/// data change or deletion.
#[pyfunction]
fn get_watch(client: &ClientCore, path: String) -> Call {
    let guard = client.guard();
    let c = match client.core() {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    call(async move {
        let (data, stat, watch) = c.get_watch(&path).await?;
        Ok(conv_with(move |py| {
            let w = Py::new(py, OneshotCore::new(guard, watch))?;
            let t = (PyBytes::new(py, &data), stat_obj(py, stat)?, w);
            Ok(t.into_pyobject(py)?.into_any().unbind())
        }))
    })
}

/// Resolves to `(Stat or None, OneshotCore)`; the watch fires on the node's
/// creation, data change or deletion.
#[pyfunction]
fn exists_watch(client: &ClientCore, path: String) -> Call {
    let guard = client.guard();
    let c = match client.core() {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    call(async move {
        let (stat, watch) = c.exists_watch(&path).await?;
        Ok(conv_with(move |py| {
            let w = Py::new(py, OneshotCore::new(guard, watch))?;
            let s = match stat {
                Some(s) => stat_obj(py, s)?,
                None => py.None().into_bound(py),
            };
            Ok(PyTuple::new(py, [s, w.into_bound(py).into_any()])?
                .into_any()
                .unbind())
        }))
    })
}

/// Resolves to `(names, OneshotCore)`; the watch fires when a child is
/// added or removed, or the node is deleted.
#[pyfunction]
fn children_watch(client: &ClientCore, path: String) -> Call {
    let guard = client.guard();
    let c = match client.core() {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    call(async move {
        let (names, watch) = c.children_watch(&path).await?;
        Ok(conv_with(move |py| {
            let w = Py::new(py, OneshotCore::new(guard, watch))?;
            Ok((names, w).into_pyobject(py)?.into_any().unbind())
        }))
    })
}

/// Resolves to `([(name, Stat), ...], Stat of the node)`, children sorted
/// by name.
#[pyfunction]
fn children_with_stats(client: &ClientCore, path: String) -> Call {
    client.with(move |c| async move {
        let (children, stat) = c.children_with_stats(&path).await?;
        Ok(conv_with(move |py| {
            let list = PyList::empty(py);
            for (name, s) in children {
                list.append((name, stat_obj(py, s)?))?;
            }
            Ok((list, stat_obj(py, stat)?)
                .into_pyobject(py)?
                .into_any()
                .unbind())
        }))
    })
}

/// Removes this session's watches of `kind` on `path` (`NoWatcherError`
/// when there is none); removed one-shot watches raise `CancelledError`,
/// removed watch streams end.
#[pyfunction]
fn remove_watches(client: &ClientCore, path: String, kind: &str) -> Call {
    let kind = match watcher_type(kind) {
        Ok(k) => k,
        Err(e) => return failed(e),
    };
    client.with(move |c| async move {
        c.remove_watches(&path, kind).await?;
        Ok(none())
    })
}

/// A `Stream` of the session's state names: the current one, then every
/// change; it ends after a terminal state (`"EXPIRED"`, `"CLOSED"`).
#[pyfunction]
fn state_changes(py: Python<'_>, client: &ClientCore) -> PyResult<Stream> {
    let c = check(py, client.core())?;
    let _entered = check(py, coord_client::embed::handle())?.enter();
    let items = c.state_changes().map(|s| Ok(conv(state_name(s)))).boxed();
    Ok(Stream::new(client.guard(), items))
}

/// Adds the classes and functions of this module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<OneshotCore>()?;
    m.add_function(wrap_pyfunction!(get_watch, m)?)?;
    m.add_function(wrap_pyfunction!(exists_watch, m)?)?;
    m.add_function(wrap_pyfunction!(children_watch, m)?)?;
    m.add_function(wrap_pyfunction!(children_with_stats, m)?)?;
    m.add_function(wrap_pyfunction!(remove_watches, m)?)?;
    m.add_function(wrap_pyfunction!(state_changes, m)?)?;
    Ok(())
}
