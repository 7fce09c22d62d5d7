//! Locks: mutex (and the two sides of a read-write lock), semaphore leases,
//! multi-lock. Handles wrap the core recipes; waiting, fencing tokens,
//! loss detection and clean-up are the core's. Status getters (`is_held`,
//! `is_lost`, `token`) answer at once, also while an acquire of the same
//! handle waits in another thread.

use std::sync::Arc;

use coord_client::Error;
use coord_client::recipes::{Lease, Lock, MultiLock, RwLock, Semaphore};
use pyo3::prelude::*;
use tokio::sync::watch;

use crate::call::{Call, Held, call, conv, conv_with, failed, none};
use crate::client::{ClientCore, seconds};

/// A lock handle (mutex, or one side of a read-write lock).
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct LockCore {
    lock: Held<Arc<Lock>>,
}

impl LockCore {
    fn with<F, Fut>(&self, f: F) -> Call
    where
        F: FnOnce(Arc<Lock>) -> Fut,
        Fut: std::future::Future<Output = coord_client::Result<crate::call::Conv>> + Send + 'static,
    {
        match self.lock.get() {
            Ok(l) => call(f(l.clone())),
            Err(e) => failed(e),
        }
    }
}

#[pymethods]
impl LockCore {
    /// Waits for the lock (at most `timeout` seconds: `LockTimeout`);
    /// resolves to the fencing token.
    #[pyo3(signature = (timeout=None))]
    fn acquire(&self, timeout: Option<f64>) -> Call {
        let timeout = match timeout.map(|t| seconds("timeout", t)).transpose() {
            Ok(t) => t,
            Err(e) => return failed(e),
        };
        self.with(move |l| async move {
            let token = match timeout {
                Some(t) => l.acquire_timeout(t).await?,
                None => l.acquire().await?,
            };
            Ok(conv(token))
        })
    }

    /// Takes the lock only if free now; resolves to the token or `None`.
    fn try_acquire(&self) -> Call {
        self.with(|l| async move { Ok(conv(l.try_acquire().await?)) })
    }

    /// Releases one hold (`NotHeldError` if not held).
    fn release(&self) -> Call {
        self.with(|l| async move {
            l.release().await?;
            Ok(none())
        })
    }

    /// True once the current hold was lost. Answers at once.
    #[getter]
    fn is_lost(&self) -> bool {
        self.lock.get().is_ok_and(|l| l.is_lost())
    }

    /// True while held and not lost. Answers at once.
    #[getter]
    fn is_held(&self) -> bool {
        self.lock.get().is_ok_and(|l| l.is_held())
    }

    /// The fencing token of the current hold, or `None`. Answers at once.
    #[getter]
    fn token(&self) -> Option<u64> {
        self.lock.get().ok().and_then(|l| l.token())
    }

    /// The lock's path.
    #[getter]
    fn path(&self) -> String {
        self.lock
            .get()
            .map(|l| l.path().to_string())
            .unwrap_or_default()
    }
}

fn client_of(c: &ClientCore) -> coord_client::Result<coord_client::client::Client> {
    c.core()
}

/// A mutex handle on `path`.
#[pyfunction]
fn lock(py: Python<'_>, client: &ClientCore, path: &str) -> PyResult<LockCore> {
    let c = crate::errors::check(py, client_of(client))?;
    Ok(LockCore {
        lock: Held::new(client.guard(), Arc::new(Lock::new(&c, path))),
    })
}

/// The `(read, write)` handles of a read-write lock on `path`.
#[pyfunction]
fn rwlock(py: Python<'_>, client: &ClientCore, path: &str) -> PyResult<(LockCore, LockCore)> {
    let c = crate::errors::check(py, client_of(client))?;
    let RwLock { read, write } = RwLock::new(&c, path);
    let g = client.guard();
    Ok((
        LockCore {
            lock: Held::new(g, Arc::new(read)),
        },
        LockCore {
            lock: Held::new(g, Arc::new(write)),
        },
    ))
}

/// A semaphore handle.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct SemaphoreCore {
    sem: Held<Semaphore>,
}

/// One held lease of a semaphore.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct LeaseCore {
    lease: Held<Arc<tokio::sync::Mutex<Option<Lease>>>>,
    /// The lease's fencing token.
    #[pyo3(get)]
    token: u64,
    /// The lease node's path.
    #[pyo3(get)]
    node: String,
    /// Turns true when the lease is lost.
    lost: watch::Receiver<bool>,
}

fn lease_conv(guard: coord_client::embed::ForkGuard, lease: Lease) -> crate::call::Conv {
    conv_with(move |py| {
        let core = LeaseCore {
            token: lease.token(),
            node: lease.node().to_string(),
            lost: lease.lost_signal(),
            lease: Held::new(guard, Arc::new(tokio::sync::Mutex::new(Some(lease)))),
        };
        Ok(Py::new(py, core)?.into_any())
    })
}

#[pymethods]
impl SemaphoreCore {
    /// Waits for a lease (at most `timeout` seconds: `LockTimeout`).
    #[pyo3(signature = (timeout=None))]
    fn acquire(&self, timeout: Option<f64>) -> Call {
        let timeout = match timeout.map(|t| seconds("timeout", t)).transpose() {
            Ok(t) => t,
            Err(e) => return failed(e),
        };
        let guard = self.sem.guard();
        match self.sem.get() {
            Ok(s) => {
                let s = s.clone();
                call(async move {
                    let lease = match timeout {
                        Some(t) => s.acquire_timeout(t).await?,
                        None => s.acquire().await?,
                    };
                    Ok(lease_conv(guard, lease))
                })
            }
            Err(e) => failed(e),
        }
    }

    /// A lease if one is free now, else `None`.
    fn try_acquire(&self) -> Call {
        let guard = self.sem.guard();
        match self.sem.get() {
            Ok(s) => {
                let s = s.clone();
                call(async move {
                    Ok(match s.try_acquire().await? {
                        Some(lease) => lease_conv(guard, lease),
                        None => none(),
                    })
                })
            }
            Err(e) => failed(e),
        }
    }

    /// Number of leases.
    #[getter]
    fn leases(&self) -> usize {
        self.sem.get().map(|s| s.leases()).unwrap_or(0)
    }
}

#[pymethods]
impl LeaseCore {
    /// True once the lease was lost (session expired or its node deleted by
    /// someone else) while held. Answers at once.
    #[getter]
    fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Gives the lease back (again: no-op).
    fn release(&self) -> Call {
        match self.lease.get() {
            Ok(l) => {
                let l = l.clone();
                call(async move {
                    if let Some(lease) = l.lock().await.take() {
                        lease.release().await?;
                    }
                    Ok(none())
                })
            }
            Err(e) => failed(e),
        }
    }
}

/// A semaphore of `leases` slots on `path`.
#[pyfunction]
fn semaphore(
    py: Python<'_>,
    client: &ClientCore,
    path: &str,
    leases: usize,
) -> PyResult<SemaphoreCore> {
    let c = crate::errors::check(py, client_of(client))?;
    if leases == 0 {
        return Err(crate::errors::to_py(
            py,
            Error::BadArguments(format!("semaphore {path}: leases must be at least 1")),
        ));
    }
    Ok(SemaphoreCore {
        sem: Held::new(client.guard(), Semaphore::new(&c, path, leases)),
    })
}

/// Several locks taken together, all or none.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct MultiLockCore {
    locks: Held<Arc<MultiLock>>,
}

#[pymethods]
impl MultiLockCore {
    /// Acquires every lock (within `timeout` seconds, or none: `LockTimeout`);
    /// resolves to their tokens in path order.
    #[pyo3(signature = (timeout=None))]
    fn acquire(&self, timeout: Option<f64>) -> Call {
        let timeout = match timeout.map(|t| seconds("timeout", t)).transpose() {
            Ok(t) => t,
            Err(e) => return failed(e),
        };
        match self.locks.get() {
            Ok(m) => {
                let m = m.clone();
                call(async move {
                    let undo = UndoPartialAcquire::arm(&m);
                    let tokens = match timeout {
                        Some(t) => m.acquire_timeout(t).await?,
                        None => m.acquire().await?,
                    };
                    undo.disarm();
                    Ok(conv(tokens))
                })
            }
            Err(e) => failed(e),
        }
    }

    /// Releases every lock.
    fn release(&self) -> Call {
        match self.locks.get() {
            Ok(m) => {
                let m = m.clone();
                call(async move {
                    m.release().await?;
                    Ok(none())
                })
            }
            Err(e) => failed(e),
        }
    }
}

/// Releases the member locks that a multi-lock acquire took before it was
/// cancelled (Ctrl-C, a cancelled asyncio task). The core releases them
/// itself when the acquire fails or times out, but a dropped acquire future
/// leaves them held by the handle until the handle goes; Python may keep the
/// handle alive (the traceback of the KeyboardInterrupt references it).
/// Only locks this acquire took are released: one already held when it
/// started (a re-entrant acquire) is left alone.
struct UndoPartialAcquire {
    m: Option<Arc<MultiLock>>,
    held_before: Vec<bool>,
}

impl UndoPartialAcquire {
    fn arm(m: &Arc<MultiLock>) -> Self {
        UndoPartialAcquire {
            held_before: m.locks().iter().map(|l| l.is_held()).collect(),
            m: Some(m.clone()),
        }
    }

    fn disarm(mut self) {
        self.m = None;
    }
}

impl Drop for UndoPartialAcquire {
    fn drop(&mut self) {
        let Some(m) = self.m.take() else { return };
        let held_before = std::mem::take(&mut self.held_before);
        coord_client::embed::spawn_anywhere(async move {
            for (lock, was_held) in m.locks().iter().zip(held_before) {
                if !was_held && lock.is_held() {
                    // Best effort: a release that fails is left to the
                    // session's end, as the core does for its own undo.
                    let _ = lock.release().await;
                }
            }
        });
    }
}

/// A multi-lock over `paths`.
#[pyfunction]
fn multi_lock(py: Python<'_>, client: &ClientCore, paths: Vec<String>) -> PyResult<MultiLockCore> {
    let c = crate::errors::check(py, client_of(client))?;
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    Ok(MultiLockCore {
        locks: Held::new(client.guard(), Arc::new(MultiLock::new(&c, &refs))),
    })
}

/// Adds the classes and functions of this module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LockCore>()?;
    m.add_class::<SemaphoreCore>()?;
    m.add_class::<LeaseCore>()?;
    m.add_class::<MultiLockCore>()?;
    m.add_function(wrap_pyfunction!(lock, m)?)?;
    m.add_function(wrap_pyfunction!(rwlock, m)?)?;
    m.add_function(wrap_pyfunction!(semaphore, m)?)?;
    m.add_function(wrap_pyfunction!(multi_lock, m)?)?;
    Ok(())
}
