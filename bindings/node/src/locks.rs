//! Lock handles: [`NativeLock`] (a mutex or one side of a read-write lock),
//! [`NativeSemaphore`] with its [`NativeLease`], and [`NativeMultiLock`].
//!
//! `lib/locks.js` makes one handle per acquisition, so a handle's cancel
//! token aborts exactly that acquisition. Status calls (`isHeld`, `isLost`)
//! are synchronous and answer at once, also while an acquire of the handle
//! waits; `waitLost` resolves `false` at once when nothing is held.

use std::sync::{Arc, Mutex};

use coord_client::embed::CancelToken;
use coord_client::recipes::{Lease, Lock, LockKind, MultiLock, Semaphore};
use napi::bindgen_prelude::Object;
use napi::{Env, Result};
use napi_derive::napi;
use tokio::sync::watch;

use crate::cancel::{cancellable, millis};
use crate::client::NativeClient;
use crate::convert::{self, TxnOp, TxnResult};
use crate::error::{IntoJs, bad_arguments};
use crate::start::start;

#[napi]
impl NativeClient {
    /// A handle on the lock at `path`: `'exclusive'` (default), or the
    /// `'read'` / `'write'` side of a read-write lock.
    #[napi]
    pub fn lock_handle(&self, path: String, kind: Option<String>) -> Result<NativeLock> {
        let kind = match kind.as_deref() {
            None | Some("exclusive") => LockKind::Exclusive,
            Some("read") => LockKind::Read,
            Some("write") => LockKind::Write,
            Some(other) => {
                return Err(bad_arguments(format!(
                    "lock kind must be 'exclusive', 'read' or 'write', got {other:?}"
                )));
            }
        };
        Ok(NativeLock {
            lock: Arc::new(Lock::with_kind(&self.client, &path, kind)),
            cancel: CancelToken::new(),
        })
    }

    /// A semaphore handle with `leases` slots at `path`.
    #[napi]
    pub fn semaphore_handle(&self, path: String, leases: u32) -> NativeSemaphore {
        NativeSemaphore {
            sem: Arc::new(Semaphore::new(&self.client, &path, leases as usize)),
            cancel: CancelToken::new(),
        }
    }

    /// A handle on several locks taken together.
    #[napi]
    pub fn multi_lock_handle(&self, paths: Vec<String>) -> NativeMultiLock {
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        NativeMultiLock {
            locks: Arc::new(MultiLock::new(&self.client, &paths)),
            cancel: CancelToken::new(),
        }
    }
}

/// A distributed mutex handle (or one side of a read-write lock).
#[napi]
pub struct NativeLock {
    lock: Arc<Lock>,
    cancel: CancelToken,
}

#[napi]
impl NativeLock {
    /// The lock's path.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.lock.path().to_string()
    }

    /// This handle's owner id (the prefix of its lock nodes).
    #[napi(getter)]
    pub fn owner_id(&self) -> String {
        self.lock.owner_id().to_string()
    }

    /// Waits for the lock (at most `timeoutMs`: `LOCK_TIMEOUT`); resolves to
    /// the fencing token. `cancel()` aborts the wait (`CANCELLED`); either
    /// way our waiting node is deleted.
    #[napi(ts_return_type = "Promise<bigint>")]
    pub fn acquire<'env>(&self, env: &'env Env, timeout_ms: Option<u32>) -> Result<Object<'env>> {
        // Started on the calling thread (`start`), as the node operations.
        let (lock, cancel) = (Arc::clone(&self.lock), self.cancel.clone());
        start(env, async move {
            let fut = async {
                match millis(timeout_ms) {
                    Some(t) => lock.acquire_timeout(t).await,
                    None => lock.acquire().await,
                }
            };
            cancellable(&cancel, fut).await.js()
        })
    }

    /// Takes the lock only if nobody holds or waits for it.
    #[napi]
    pub async fn try_acquire(&self) -> Result<Option<u64>> {
        self.lock.try_acquire().await.js()
    }

    /// Aborts a waiting `acquire()`.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Releases one hold (the node goes when the count reaches zero).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn release<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        let lock = Arc::clone(&self.lock);
        start(env, async move { lock.release().await.js() })
    }

    /// True while held and not lost. Answers at once.
    #[napi]
    pub fn is_held(&self) -> bool {
        self.lock.is_held()
    }

    /// True once the current hold was lost. Answers at once.
    #[napi]
    pub fn is_lost(&self) -> bool {
        self.lock.is_lost()
    }

    /// Resolves `true` when the current hold is lost (session expired,
    /// client closed, node deleted), `false` when it ends by `release()` or
    /// nothing is held.
    #[napi]
    pub async fn wait_lost(&self) -> bool {
        match self.lock.lost_signal() {
            Some(rx) => wait_lost(rx).await,
            None => false,
        }
    }

    /// Commits `ops` only while this handle holds the lock (`LOCK_LOST`
    /// otherwise, and nothing is written).
    #[napi]
    pub async fn guarded(&self, ops: Vec<TxnOp>) -> Result<Vec<TxnResult>> {
        let ops = ops.into_iter().map(convert::op).collect::<Result<_>>()?;
        let results = self.lock.guarded(ops).await.js()?;
        Ok(results.into_iter().map(convert::op_result).collect())
    }
}

/// A counting semaphore handle.
#[napi]
pub struct NativeSemaphore {
    sem: Arc<Semaphore>,
    cancel: CancelToken,
}

#[napi]
impl NativeSemaphore {
    /// Waits for a lease (at most `timeoutMs`: `LOCK_TIMEOUT`).
    #[napi]
    pub async fn acquire(&self, timeout_ms: Option<u32>) -> Result<NativeLease> {
        let fut = async {
            match millis(timeout_ms) {
                Some(t) => self.sem.acquire_timeout(t).await,
                None => self.sem.acquire().await,
            }
        };
        let lease = cancellable(&self.cancel, fut).await.js()?;
        Ok(NativeLease::new(lease))
    }

    /// A lease if one is free now, else `null`.
    #[napi]
    pub async fn try_acquire(&self) -> Result<Option<NativeLease>> {
        Ok(self.sem.try_acquire().await.js()?.map(NativeLease::new))
    }

    /// Aborts a waiting `acquire()`.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

/// `true` once `rx` turns true, `false` when its hold ends first.
async fn wait_lost(mut rx: watch::Receiver<bool>) -> bool {
    rx.wait_for(|lost| *lost).await.is_ok()
}

/// One held semaphore lease.
#[napi]
pub struct NativeLease {
    token: u64,
    node: String,
    /// Turns true when the lease is lost.
    lost: watch::Receiver<bool>,
    /// A std mutex: taken out before any await.
    lease: Mutex<Option<Lease>>,
}

impl NativeLease {
    fn new(lease: Lease) -> Self {
        NativeLease {
            token: lease.token(),
            node: lease.node().to_string(),
            lost: lease.lost_signal(),
            lease: Mutex::new(Some(lease)),
        }
    }
}

#[napi]
impl NativeLease {
    /// The lease's token (increases with every new lease).
    #[napi(getter)]
    pub fn token(&self) -> u64 {
        self.token
    }

    /// Path of the lease node.
    #[napi(getter)]
    pub fn node(&self) -> String {
        self.node.clone()
    }

    /// True once the lease was lost (session expired, node deleted by
    /// someone else) while held. Answers at once.
    #[napi]
    pub fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Resolves `true` when the lease is lost (session expired, client
    /// closed, node deleted), `false` when it ends by `release()`.
    #[napi]
    pub async fn wait_lost(&self) -> bool {
        wait_lost(self.lost.clone()).await
    }

    /// Gives the lease back; later calls do nothing.
    #[napi]
    pub async fn release(&self) -> Result<()> {
        let lease = self.lease.lock().unwrap_or_else(|p| p.into_inner()).take();
        match lease {
            Some(l) => l.release().await.js(),
            None => Ok(()),
        }
    }
}

/// Several locks taken together, all or nothing.
#[napi]
pub struct NativeMultiLock {
    locks: Arc<MultiLock>,
    cancel: CancelToken,
}

#[napi]
impl NativeMultiLock {
    /// Acquires every lock (within `timeoutMs` or none); resolves to their
    /// tokens in acquisition (path) order.
    #[napi]
    pub async fn acquire(&self, timeout_ms: Option<u32>) -> Result<Vec<u64>> {
        let fut = async {
            match millis(timeout_ms) {
                Some(t) => self.locks.acquire_timeout(t).await,
                None => self.locks.acquire().await,
            }
        };
        cancellable(&self.cancel, fut).await.js()
    }

    /// The member paths, in acquisition order.
    #[napi(getter)]
    pub fn paths(&self) -> Vec<String> {
        self.locks
            .locks()
            .iter()
            .map(|l| l.path().to_string())
            .collect()
    }

    /// Aborts a waiting `acquire()`.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Releases every lock.
    #[napi]
    pub async fn release(&self) -> Result<()> {
        self.locks.release().await.js()
    }
}
