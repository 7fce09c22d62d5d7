//! Running a call for JavaScript ([`start`]): the call's future is polled
//! on the JavaScript thread only, first where the call is made and then
//! each time it is woken, and its promise is settled there as soon as it is
//! ready.
//!
//! Why: a lone request is written to the socket by the core client during
//! the first poll, so no runtime thread is woken to start it (napi's own
//! `async fn` spawns from the JavaScript thread, which wakes a worker). When
//! the reply arrives, the runtime worker that reads it only wakes the
//! future: the wake-up is queued to the JavaScript thread, which polls the
//! future, finds it ready and resolves the promise in the same turn. A
//! call costs one thread wake-up, like a blocking Rust caller.
//!
//! The wake-ups go through one threadsafe function per JavaScript
//! environment ([`Channel`]), made on first use and kept, instead of napi's
//! `JsDeferred`, which makes a threadsafe function per promise: a libuv
//! handle opened and closed, an async resource and a cleanup hook per call,
//! and an extra turn of the event loop to close the handle. The channel
//! keeps the event loop alive only while calls are pending, as a per-call
//! function did, and takes nothing once the environment is torn down.
//! (`bench.mjs` and its profile: these two changes took a Node `get` from
//! about 120 to about 95 us against 75 us for the Rust client.)

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll, Wake, Waker};

use napi::bindgen_prelude::{Object, ToNapiValue};
use napi::{Env, JsError, Result, sys};

type Work<T> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;
/// Work for the JavaScript thread, given its env.
type Job = Box<dyn FnOnce(sys::napi_env) + Send>;

/// A threadsafe function handle: napi allows calling it from any thread.
#[derive(Clone, Copy)]
struct Tsfn(sys::napi_threadsafe_function);
// SAFETY: napi_call_threadsafe_function is callable from any thread; the
// handle is only dereferenced by napi.
unsafe impl Send for Tsfn {}
unsafe impl Sync for Tsfn {}

/// One environment's way back to its JavaScript thread.
struct Channel {
    /// `None` once the environment is torn down (its cleanup hook ran): a
    /// job sent later is dropped, its promise is gone anyway.
    tsfn: RwLock<Option<Tsfn>>,
}

thread_local! {
    /// This JavaScript thread's channel (one environment per thread).
    static CHANNEL: RefCell<Option<Arc<Channel>>> = const { RefCell::new(None) };
    /// Calls started on this thread and not yet settled.
    static PENDING: Cell<usize> = const { Cell::new(0) };
}

impl Channel {
    /// This thread's channel, made on first use.
    fn current(env: sys::napi_env) -> Result<Arc<Channel>> {
        if let Some(c) = CHANNEL.with(|c| c.borrow().clone()) {
            return Ok(c);
        }
        let name = "coord";
        let mut js_name = ptr::null_mut();
        let mut tsfn = ptr::null_mut();
        // SAFETY: called on the JavaScript thread with its live env.
        unsafe {
            check(sys::napi_create_string_utf8(
                env,
                name.as_ptr().cast(),
                name.len() as isize,
                &mut js_name,
            ))?;
            check(sys::napi_create_threadsafe_function(
                env,
                ptr::null_mut(),
                ptr::null_mut(),
                js_name,
                0,
                1,
                ptr::null_mut(),
                None,
                ptr::null_mut(),
                Some(deliver),
                &mut tsfn,
            ))?;
            // Idle, it must not keep the process alive.
            check(sys::napi_unref_threadsafe_function(env, tsfn))?;
        }
        let channel = Arc::new(Channel {
            tsfn: RwLock::new(Some(Tsfn(tsfn))),
        });
        let hook = Arc::into_raw(channel.clone()) as *mut c_void;
        // SAFETY: as above; `hook` is released by `teardown`.
        unsafe { check(sys::napi_add_env_cleanup_hook(env, Some(teardown), hook))? };
        CHANNEL.with(|c| *c.borrow_mut() = Some(channel.clone()));
        Ok(channel)
    }

    fn tsfn(&self) -> Option<Tsfn> {
        *self.tsfn.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a call in (JavaScript thread); the first pending call keeps
    /// the loop alive.
    fn begin(&self, env: sys::napi_env) {
        let n = PENDING.with(|p| {
            p.set(p.get() + 1);
            p.get()
        });
        if n == 1
            && let Some(t) = self.tsfn()
        {
            // SAFETY: JavaScript thread, live env.
            unsafe { sys::napi_ref_threadsafe_function(env, t.0) };
        }
    }

    /// Counts a call out (JavaScript thread); the loop may end once none
    /// is pending.
    fn end(&self, env: sys::napi_env) {
        let n = PENDING.with(|p| {
            p.set(p.get().saturating_sub(1));
            p.get()
        });
        if n == 0
            && let Some(t) = self.tsfn()
        {
            // SAFETY: JavaScript thread, live env.
            unsafe { sys::napi_unref_threadsafe_function(env, t.0) };
        }
    }

    /// Queues `job` for the JavaScript thread (from any thread).
    fn send(&self, job: Job) {
        let guard = self.tsfn.read().unwrap_or_else(|p| p.into_inner());
        let Some(t) = *guard else { return };
        let data = Box::into_raw(Box::new(job));
        // SAFETY: the read lock keeps `teardown` from releasing the function
        // during the call; the queue is unbounded, so the call does not block.
        let status = unsafe {
            sys::napi_call_threadsafe_function(
                t.0,
                data.cast(),
                sys::ThreadsafeFunctionCallMode::nonblocking,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: not queued, so still ours.
            drop(unsafe { Box::from_raw(data) });
        }
    }
}

fn check(status: sys::napi_status) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(
            napi::Status::from(status),
            "cannot open the addon's result channel".to_string(),
        ))
    }
}

/// The threadsafe function's callback, on the JavaScript thread: runs one
/// job. `env` is null while a torn-down environment drains its queue.
unsafe extern "C" fn deliver(
    env: sys::napi_env,
    _js_callback: sys::napi_value,
    _context: *mut c_void,
    data: *mut c_void,
) {
    // SAFETY: every queued item is a `Job` boxed by `Channel::send`.
    let job = unsafe { Box::from_raw(data.cast::<Job>()) };
    if !env.is_null() {
        job(env);
    }
}

/// The environment's cleanup hook: nothing is sent after it.
unsafe extern "C" fn teardown(arg: *mut c_void) {
    // SAFETY: `arg` is the `Arc` leaked by `Channel::current`.
    let channel = unsafe { Arc::from_raw(arg as *const Channel) };
    let tsfn = channel
        .tsfn
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(t) = tsfn {
        // SAFETY: the write lock above waited for every `send` in progress.
        unsafe {
            sys::napi_release_threadsafe_function(t.0, sys::ThreadsafeFunctionReleaseMode::abort)
        };
    }
    CHANNEL.with(|c| c.borrow_mut().take());
}

/// A promise made and settled on the JavaScript thread. One dropped
/// unsettled (its call's future dropped) rejects, so that no caller waits
/// for ever.
struct Deferred<T> {
    channel: Arc<Channel>,
    deferred: Option<sys::napi_deferred>,
    _value: PhantomData<fn(T)>,
}

// SAFETY: the raw deferred is used on the JavaScript thread only
// (`settle`, and the job `drop` queues); elsewhere it is an opaque handle.
unsafe impl<T> Send for Deferred<T> {}

impl<T: ToNapiValue> Deferred<T> {
    /// A new promise and the handle that settles it (JavaScript thread).
    fn new(env: sys::napi_env, channel: Arc<Channel>) -> Result<(Deferred<T>, sys::napi_value)> {
        let mut deferred = ptr::null_mut();
        let mut promise = ptr::null_mut();
        // SAFETY: JavaScript thread, live env.
        unsafe { check(sys::napi_create_promise(env, &mut deferred, &mut promise))? };
        channel.begin(env);
        let d = Deferred {
            channel,
            deferred: Some(deferred),
            _value: PhantomData,
        };
        Ok((d, promise))
    }

    /// Resolves with `r`'s value or rejects with its error; on the
    /// JavaScript thread, with its live env.
    fn settle(mut self, env: sys::napi_env, r: Result<T>) {
        if let Some(d) = self.deferred.take() {
            self.channel.end(env);
            // SAFETY: JavaScript thread; the deferred is settled once.
            unsafe { settle_raw(env, d, r.and_then(|v| T::to_napi_value(env, v))) };
        }
    }
}

/// Settles a raw deferred (JavaScript thread, inside a handle scope).
unsafe fn settle_raw(env: sys::napi_env, d: sys::napi_deferred, r: Result<sys::napi_value>) {
    // SAFETY: per the caller.
    unsafe {
        match r {
            Ok(v) => sys::napi_resolve_deferred(env, d, v),
            Err(e) => sys::napi_reject_deferred(env, d, JsError::from(e).into_value(env)),
        };
    }
}

impl<T> Drop for Deferred<T> {
    fn drop(&mut self) {
        if let Some(d) = self.deferred.take() {
            let channel = self.channel.clone();
            let d = Opaque(d);
            self.channel.send(Box::new(move |env| {
                channel.end(env);
                let e = coord_client::Error::Internal("the call ended without a result".into());
                // SAFETY: a job runs on the JavaScript thread.
                unsafe { settle_raw(env, d.get(), Err(crate::error::js(e))) };
            }));
        }
    }
}

/// A raw deferred carried to the JavaScript thread.
struct Opaque(sys::napi_deferred);
// SAFETY: only dereferenced by napi on the JavaScript thread.
unsafe impl Send for Opaque {}

impl Opaque {
    fn get(&self) -> sys::napi_deferred {
        self.0
    }
}

/// A call: its future and its promise, until it settles.
struct Task<T> {
    call: Mutex<Option<(Work<T>, Deferred<T>)>>,
    /// A poll is queued for the JavaScript thread (wake-ups coalesce).
    queued: AtomicBool,
    channel: Arc<Channel>,
}

impl<T: ToNapiValue + 'static> Task<T> {
    /// Polls the call (JavaScript thread); settles it once ready.
    fn run(self: Arc<Self>, env: sys::napi_env) {
        // Cleared first: a wake-up during the poll queues another one.
        self.queued.store(false, Ordering::SeqCst);
        let mut call = self.call.lock().unwrap_or_else(|p| p.into_inner());
        let Some((work, _)) = call.as_mut() else {
            return;
        };
        let waker = Waker::from(Arc::clone(&self));
        let poll = napi::bindgen_prelude::within_runtime_if_available(|| {
            work.as_mut().poll(&mut Context::from_waker(&waker))
        });
        if let Poll::Ready(r) = poll
            && let Some((work, deferred)) = call.take()
        {
            drop(call);
            drop(work);
            deferred.settle(env, r);
        }
    }
}

impl<T: ToNapiValue + 'static> Wake for Task<T> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::SeqCst) {
            let task = Arc::clone(self);
            self.channel.send(Box::new(move |env| task.run(env)));
        }
    }
}

/// Runs `fut` for JavaScript and returns its promise; see the module docs.
pub(crate) fn start<'env, T, F>(env: &'env Env, fut: F) -> Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let channel = Channel::current(env.raw())?;
    let (deferred, promise) = Deferred::<T>::new(env.raw(), channel.clone())?;
    let task = Arc::new(Task {
        call: Mutex::new(Some((Box::pin(fut) as Work<T>, deferred))),
        queued: AtomicBool::new(false),
        channel,
    });
    task.run(env.raw());
    Ok(Object::from_raw(env.raw(), promise))
}
