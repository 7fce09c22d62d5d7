//! Embedding coord in another language's process: the one place the C, Python
//! and Node bindings get their tokio runtime, their blocking calls with
//! timeout and cancellation, fork detection and background cleanup. (Their
//! in-process test server is coord-server's `testing::EmbeddedServer`.)
//!
//! Bindings stay thin because of this module: they convert types and call
//! these helpers; they never build runtimes or cancellation of their own.
//!
//! Streams: every sequence a binding hands out is a [`ClosableStream`] (or a
//! [`Closable`]), with one meaning of `close()` and of the end of the stream
//! in all languages; see [`closable`] for it.
//!
//! Fork: a forked child inherits none of the runtime's threads. [`runtime`]
//! notices the new process id and builds a fresh runtime for the child;
//! clients created before the fork belong to the parent (their sockets and
//! tasks live there) and report [`Error::BadArguments`] through
//! [`ForkGuard::check`] instead of hanging.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::sync::Notify;

use crate::error::{Error, Result};

pub mod closable;

pub use closable::{Closable, ClosableStream, Closer, changes};

struct Shared {
    pid: u32,
    runtime: Arc<Runtime>,
}

static RUNTIME: Mutex<Option<Shared>> = Mutex::new(None);

/// Worker threads of the shared runtime (small: coord clients are I/O bound).
const WORKER_THREADS: usize = 2;

/// The process-wide runtime, created on first use and again in a forked child.
pub fn runtime() -> Result<Arc<Runtime>> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(shared) = slot.as_ref()
        && shared.pid == pid
    {
        return Ok(shared.runtime.clone());
    }
    if let Some(stale) = slot.take() {
        // The parent's runtime has no threads in this child; dropping it would
        // try to join them. Leak it instead.
        std::mem::forget(stale.runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("coord-runtime")
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the coord runtime: {e}")))?;
    let runtime = Arc::new(runtime);
    *slot = Some(Shared {
        pid,
        runtime: runtime.clone(),
    });
    Ok(runtime)
}

/// Runs `fut` in the background on the current runtime, or on the shared
/// runtime when called from outside any (e.g. a handle dropped by a C, Python
/// or Node thread). Used by the recipes' cleanup in `Drop`.
///
/// The future is polled once before this returns, so its first request is
/// already queued on the client: a session's requests are applied in order,
/// so whatever the caller sends next sees the cleanup (e.g. the deleted lock
/// node) done.
pub fn spawn_anywhere<F>(fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let handle = match Handle::try_current() {
        Ok(h) => h,
        Err(_) => match handle() {
            Ok(h) => h,
            Err(_) => return,
        },
    };
    let _entered = handle.enter();
    let mut fut = Box::pin(fut);
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    if fut.as_mut().poll(&mut cx).is_pending() {
        handle.spawn(fut);
    }
}

/// Drops `value` inside a runtime's context (the current one, else the
/// shared one): what a core handle dropped by a foreign thread needs.
pub fn drop_in_runtime<T>(value: T) {
    let handle = Handle::try_current().or_else(|_| handle());
    let _entered = handle.as_ref().map(Handle::enter);
    drop(value);
}

/// A handle to the shared runtime for spawning.
pub fn handle() -> Result<Handle> {
    Ok(runtime()?.handle().clone())
}

/// Cancels blocking calls from another thread (or a signal handler's
/// deferred work). Cheap to clone; cancelling is sticky until [`reset`](Self::reset).
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<CancelInner>,
}

#[derive(Debug, Default)]
struct CancelInner {
    cancelled: AtomicBool,
    notify: Notify,
}

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every call waiting on this token, now and later.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Makes the token usable again.
    pub fn reset(&self) {
        self.inner.cancelled.store(false, Ordering::SeqCst);
    }

    /// Resolves when cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// Runs `fut` on the calling thread, in the shared runtime's context, until
/// it finishes, `timeout` passes (`OperationTimeout`) or `cancel` fires
/// (`Cancelled`). On timeout or cancellation the future is dropped, which for
/// the recipes means their node is deleted in the background. Must not be
/// called from inside the runtime.
pub fn block_on<F, T>(fut: F, timeout: Option<Duration>, cancel: Option<&CancelToken>) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let rt = runtime()?;
    let cancel = cancel.cloned();
    let task = async move {
        let cancelled = async {
            match &cancel {
                Some(c) => c.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let timed = async {
            match timeout {
                Some(t) => tokio::time::timeout(t, fut).await.map_err(|_| {
                    Error::OperationTimeout(format!("no result within {} ms", t.as_millis()))
                })?,
                None => fut.await,
            }
        };
        tokio::select! {
            r = timed => r,
            _ = cancelled => Err(Error::Cancelled("the call was cancelled".into())),
        }
    };
    // Driven on the calling thread (a hand-off to a worker and back would cost
    // a thread wake-up each way); I/O and the client's tasks run on the
    // runtime's workers, so any number of foreign threads can block at once.
    let _entered = rt.enter();
    let mut task = std::pin::pin!(task);
    loop {
        if let Some(r) = drive(task.as_mut(), Duration::from_secs(3600)) {
            return r;
        }
    }
}

/// Wakes the thread that polls a future in [`drive`].
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` on the calling thread until it completes (`Some`) or `slice`
/// has passed (`None`; poll again later, e.g. after running a language's
/// signal handlers). Call it inside the runtime's context
/// ([`Runtime::enter`]) and never from a runtime thread.
///
/// Waits by parking the thread with a timeout rather than with a runtime
/// timer: arming a timer earlier than every other one would wake a runtime
/// worker on each call just to re-arm its sleep.
pub fn drive<F: Future + ?Sized>(
    mut fut: std::pin::Pin<&mut F>,
    slice: Duration,
) -> Option<F::Output> {
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let deadline = std::time::Instant::now() + slice;
    loop {
        if let std::task::Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
            return Some(r);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        // A wake-up before the future is ready (or a spurious one) only
        // costs another poll.
        std::thread::park_timeout(left);
    }
}

/// Remembers the process that created a client so that a forked child gets a
/// clear error instead of a hang.
#[derive(Debug, Clone, Copy)]
pub struct ForkGuard {
    pid: u32,
}

impl Default for ForkGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl ForkGuard {
    /// Records the current process.
    pub fn new() -> Self {
        ForkGuard {
            pid: std::process::id(),
        }
    }

    /// `Ok` in the creating process; in a forked child, an error telling the
    /// caller to create a new client there.
    pub fn check(&self) -> Result<()> {
        if std::process::id() == self.pid {
            Ok(())
        } else {
            Err(Error::BadArguments(format!(
                "this client was created in process {} and cannot be used after fork(); create a new client in process {}",
                self.pid,
                std::process::id()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_times_out_and_cancels() {
        let r: Result<()> = block_on(
            async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            },
            Some(Duration::from_millis(50)),
            None,
        );
        assert!(matches!(r, Err(Error::OperationTimeout(_))));
        let token = CancelToken::new();
        let t2 = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            t2.cancel();
        });
        let r: Result<()> = block_on(std::future::pending(), None, Some(&token));
        assert!(matches!(r, Err(Error::Cancelled(_))));
    }
}
