//! Starting a call on the JavaScript thread ([`start`]): the future's first
//! poll runs where the call is made, inside napi's runtime context, and the
//! rest runs on the runtime only once the future is woken, spawned from the
//! thread that wakes it (a runtime worker, whose own queue takes the task
//! without waking another thread).
//!
//! Why: a lone request is written to the socket by the core client during
//! that first poll, and `napi`'s own `async fn` spawns from the JavaScript
//! thread at once, which wakes a worker just to start the call. Here a call
//! costs one thread wake-up (the JavaScript thread, for the result), like a
//! blocking Rust caller.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use napi::bindgen_prelude::{Object, ToNapiValue};
use napi::{Env, JsDeferred, Result};

type Resolver<T> = Box<dyn FnOnce(Env) -> Result<T> + Send>;
type Work<T> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;
/// The future and the promise it settles.
type Call<T> = (Work<T>, JsDeferred<T, Resolver<T>>);

/// A call between its first poll and its first wake-up.
struct Parked<T: ToNapiValue + Send + 'static> {
    /// The future and its promise, until the first wake-up takes them.
    slot: Mutex<Option<Call<T>>>,
    /// Set by the first wake-up (possibly before the slot is filled).
    woken: AtomicBool,
    runtime: tokio::runtime::Handle,
}

impl<T: ToNapiValue + Send + 'static> Parked<T> {
    fn take(&self) -> Option<Call<T>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl<T: ToNapiValue + Send + 'static> Wake for Parked<T> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if let Some((work, deferred)) = self.take() {
            self.runtime.spawn(finish(work, deferred));
        }
    }
}

async fn finish<T: ToNapiValue + Send + 'static>(
    work: Work<T>,
    deferred: JsDeferred<T, Resolver<T>>,
) {
    settle(work.await, deferred);
}

fn settle<T: ToNapiValue + Send + 'static>(r: Result<T>, deferred: JsDeferred<T, Resolver<T>>) {
    match r {
        Ok(v) => deferred.resolve(Box::new(move |_| Ok(v))),
        Err(e) => deferred.reject(e),
    }
}

/// Runs `fut` for JavaScript and returns its promise; see the module docs.
pub(crate) fn start<'env, T, F>(env: &'env Env, fut: F) -> Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let (deferred, promise) = env.create_deferred::<T, Resolver<T>>()?;
    let mut work: Work<T> = Box::pin(fut);
    napi::bindgen_prelude::within_runtime_if_available(|| {
        let parked = Arc::new(Parked {
            slot: Mutex::new(None),
            woken: AtomicBool::new(false),
            runtime: tokio::runtime::Handle::current(),
        });
        let waker = Waker::from(Arc::clone(&parked));
        match work.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(r) => settle(r, deferred),
            Poll::Pending => {
                let mut slot = parked.slot.lock().unwrap_or_else(|p| p.into_inner());
                if parked.woken.load(Ordering::SeqCst) {
                    // Woken during the poll: nothing was parked for the
                    // waker to take, so start the rest now.
                    drop(slot);
                    parked.runtime.spawn(finish(work, deferred));
                } else {
                    *slot = Some((work, deferred));
                }
            }
        }
    });
    Ok(promise)
}
