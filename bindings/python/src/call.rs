//! Running core futures for Python: [`Call`] (one operation), [`Stream`] (a
//! sequence of results) and [`Held`] (the owner of core handles).
//!
//! Every native method builds a future and returns it unstarted inside a
//! `Call`; the pure-Python layer decides how to run it, so each operation is
//! written once for the sync and the asyncio API:
//! - `call.wait()` (sync): the calling thread drives the future on the
//!   shared runtime ([`coord_client::embed`]) with the GIL released, in short
//!   slices between which it runs Python's signal handlers. A handler that
//!   raises (Ctrl-C) drops the future inside the runtime; the core then
//!   deletes any node the operation had created, and the exception
//!   propagates.
//! - `await call` (asyncio): the future runs on the shared runtime and
//!   completes an `asyncio.Future` of the running loop through
//!   `loop.call_soon_threadsafe`; the loop never blocks. Cancelling the
//!   awaiting task aborts the core future (same cleanup).
//!
//! Why not `embed::block_on` for the sync side: it blocks until the future
//! ends, and Python only runs signal handlers when its main thread comes
//! back to the interpreter: waiting in slices ([`embed::drive`]) is what
//! makes Ctrl-C work.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use coord_client::embed::{self, ClosableStream, ForkGuard};
use coord_client::{Error, Result};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCFunction, PyDict, PyTuple};

use crate::client::seconds;
use crate::errors::{check, to_py};

/// Builds the Python value of a result, with the GIL.
pub(crate) type Conv = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// The work of a [`Call`].
type Work = BoxFuture<'static, Result<Conv>>;

/// How long a sync wait sleeps before it runs signal handlers again.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

/// Wraps a value convertible to Python into a [`Conv`].
pub(crate) fn conv<T>(value: T) -> Conv
where
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    Box::new(move |py| value.into_py_any(py))
}

/// A [`Conv`] from a closure.
pub(crate) fn conv_with<F>(f: F) -> Conv
where
    F: FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send + 'static,
{
    Box::new(f)
}

/// A [`Call`] from a future producing a Python value.
pub(crate) fn call<F>(fut: F) -> Call
where
    F: std::future::Future<Output = Result<Conv>> + Send + 'static,
{
    Call {
        work: Mutex::new(Some(Box::pin(fut))),
    }
}

/// A [`Call`] that fails at once (e.g. a client used after `fork()`).
pub(crate) fn failed(e: Error) -> Call {
    call(async move { Err(e) })
}

/// One pending operation of the core. Run it once: `call.wait()` blocks
/// (GIL released, Ctrl-C honoured), `await call` runs it on the asyncio loop.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct Call {
    work: Mutex<Option<Work>>,
}

impl Call {
    fn take(&self) -> PyResult<Work> {
        self.work
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| {
                pyo3::exceptions::PyRuntimeError::new_err("this coord call was already run")
            })
    }
}

/// The function the loop runs to complete a future from another thread.
#[pyfunction]
fn _complete(fut: &Bound<'_, PyAny>, ok: bool, value: &Bound<'_, PyAny>) -> PyResult<()> {
    if fut.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    if ok {
        fut.call_method1("set_result", (value,))?;
    } else {
        fut.call_method1("set_exception", (value,))?;
    }
    Ok(())
}

static COMPLETE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

#[pymethods]
impl Call {
    /// Runs the operation and blocks until it ends, with the GIL released.
    /// Signal handlers run every 50 ms; if one raises (KeyboardInterrupt),
    /// the operation is cancelled (its nodes deleted) and the exception
    /// propagates.
    fn wait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut work = self.take()?;
        let rt = check(py, embed::runtime())?;
        loop {
            // Driven on this thread (no hand-off to a worker and back: that
            // doubled the cost of a fast call); I/O runs on the runtime.
            let slice = py.detach(|| {
                let _entered = rt.enter();
                embed::drive(work.as_mut(), SIGNAL_SLICE)
            });
            if let Some(r) = slice {
                return finish(py, r);
            }
            if let Err(interrupt) = py.check_signals() {
                // Dropped inside the runtime, the core future deletes the
                // node it had created (in the background, before any later
                // request of this session).
                let _entered = rt.enter();
                drop(work);
                return Err(interrupt);
            }
        }
    }

    /// Starts the operation on the running asyncio loop; returns its
    /// `asyncio.Future`. Cancelling the future cancels the operation.
    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let work = self.take()?;
        let asyncio = py.import("asyncio")?;
        let event_loop = asyncio.call_method0("get_running_loop")?;
        let fut = event_loop.call_method0("create_future")?;
        let complete = COMPLETE
            .get_or_try_init(py, || {
                wrap_pyfunction!(_complete, py).map(|f| f.into_any().unbind())
            })?
            .clone_ref(py);
        let (loop_ref, fut_ref) = (event_loop.unbind(), fut.clone().unbind());
        let task = check(py, embed::handle())?.spawn(async move {
            let r = work.await;
            Python::try_attach(|py| {
                let (ok, value) = match r.map_err(|e| to_py(py, e)).and_then(|c| c(py)) {
                    Ok(v) => (true, v),
                    Err(e) => (false, e.into_value(py).into_any()),
                };
                // Fails only when the loop is closed: nobody waits any more.
                let _ = loop_ref.call_method1(
                    py,
                    "call_soon_threadsafe",
                    (complete, fut_ref, ok, value),
                );
            });
        });
        let abort = task.abort_handle();
        let on_done = PyCFunction::new_closure(
            py,
            None,
            None,
            move |_args: &Bound<'_, PyTuple>, _kw: Option<&Bound<'_, PyDict>>| {
                // A no-op once the work has finished; else it drops the core
                // future, which cleans up after itself.
                abort.abort();
            },
        )?;
        fut.call_method1("add_done_callback", (on_done,))?;
        Ok(fut)
    }

    fn __await__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.start(py)?.call_method0("__await__")
    }
}

fn finish(py: Python<'_>, r: Result<Conv>) -> PyResult<Py<PyAny>> {
    check(py, r)?(py)
}

/// Items of a [`Stream`]: `Some(value)`, or `None` at the end.
type Items = BoxStream<'static, Result<Conv>>;

/// A sequence of results (watch events, leadership changes, cache
/// changes): the core's one closable stream ([`ClosableStream`]).
/// `next()` returns a [`Call`] resolving to a 1-tuple `(item,)`, or to
/// `None` once the sequence has ended. After `close()` no item is returned,
/// not even one that had already arrived, and the end is not an error; the
/// same holds when the client is closed. An error (session expired) is
/// raised once, then the sequence ends.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct Stream {
    items: Held<Arc<ClosableStream<Conv>>>,
}

impl Stream {
    pub(crate) fn new(guard: ForkGuard, items: Items) -> Stream {
        Stream {
            items: Held::new(guard, Arc::new(ClosableStream::new(items))),
        }
    }
}

#[pymethods]
impl Stream {
    /// The next item as a `Call` (`(item,)`, or `None` at the end). With a
    /// `timeout` (seconds), the call fails with `OperationTimeout` when no
    /// item came in time; the item is not lost, a later `next()` gets it.
    #[pyo3(signature = (timeout=None))]
    fn next(&self, timeout: Option<f64>) -> Call {
        let items = match self.items.get() {
            Ok(i) => i.clone(),
            Err(e) => return failed(e),
        };
        let timeout = match timeout.map(|t| seconds("timeout", t)).transpose() {
            Ok(t) => t,
            Err(e) => return failed(e),
        };
        call(async move {
            let next = match timeout {
                // `ClosableStream::next` is cancel-safe: an item that had
                // not been taken when the timer fired stays in the stream.
                Some(t) => tokio::time::timeout(t, items.next()).await.map_err(|_| {
                    Error::OperationTimeout(format!("no item within {} s", t.as_secs_f64()))
                })?,
                None => items.next().await,
            };
            match next? {
                Some(item) => Ok(conv_with(move |py| {
                    let v = item(py)?;
                    Ok(PyTuple::new(py, [v])?.into_any().unbind())
                })),
                None => Ok(none()),
            }
        })
    }

    /// Ends the sequence now: no item is returned after this, a waiting
    /// `next()` resolves to `None` and the watch behind it is removed. Does
    /// not block.
    fn close(&self) {
        if let Ok(items) = self.items.get() {
            items.close();
        }
    }
}

/// A [`Conv`] producing `None`.
pub(crate) fn none() -> Conv {
    Box::new(|py| Ok(py.None()))
}

/// Owns a core handle for a Python object. Dropping it drops the handle
/// inside the shared runtime, so that the core's background clean-up (a
/// lock's release, a client's close) can run; in a forked child it is
/// leaked instead, since it belongs to the parent's runtime.
pub(crate) struct Held<T> {
    guard: ForkGuard,
    value: Option<T>,
}

impl<T> Held<T> {
    pub(crate) fn new(guard: ForkGuard, value: T) -> Held<T> {
        Held {
            guard,
            value: Some(value),
        }
    }

    /// The handle, or the clear error of a client used after `fork()`.
    pub(crate) fn get(&self) -> Result<&T> {
        self.guard.check()?;
        self.value
            .as_ref()
            .ok_or_else(|| Error::Closed("this handle was released".into()))
    }

    /// The fork guard of the client this handle came from.
    pub(crate) fn guard(&self) -> ForkGuard {
        self.guard
    }
}

impl<T> Drop for Held<T> {
    fn drop(&mut self) {
        let Some(value) = self.value.take() else {
            return;
        };
        if self.guard.check().is_err() {
            std::mem::forget(value);
            return;
        }
        match embed::handle() {
            Ok(handle) => {
                let _entered = handle.enter();
                drop(value);
            }
            Err(_) => drop(value),
        }
    }
}

/// Adds the classes of this module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Call>()?;
    m.add_class::<Stream>()?;
    Ok(())
}
