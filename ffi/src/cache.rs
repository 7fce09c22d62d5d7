//! Node cache and tree cache: `coord_node_cache` keeps one node's data and
//! stat, `coord_tree_cache` a whole subtree's, up to date through a
//! persistent watch; the current value is read at once, and an optional
//! change callback runs on the library's callback thread after every change
//! (and once with the error that stopped the cache, e.g. a session expiry).
//! Wraps [`::coord_client::recipes::{NodeCache, TreeCache}`]; converts only.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use ::coord_client::embed;
use ::coord_client::recipes::{NodeCache, TreeCache};
use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use ::coord_client::client::Stat;

use crate::callbacks::{Slot, UserData, dispatch};
use crate::client::{client, coord_client};
use crate::error::{Res, coord_result, guard, guard_value};
use crate::util::{self, coord_stat, handle, need, out_bytes, out_string_array, put, run};

/// A cache change callback: `result` is `COORD_RESULT_OK` after a change
/// (read the new value with `coord_node_cache_get` / `coord_tree_cache_get`,
/// from the callback if you like), or the error that stopped the cache
/// (e.g. `SESSION_EXPIRED`; then no more calls). A burst of changes may be
/// reported once; the last state is always reported. Runs on the library's
/// callback thread, never after the cache's `_free` has returned.
#[allow(non_camel_case_types)]
pub type coord_cache_fn = Option<unsafe extern "C" fn(userdata: *mut c_void, result: coord_result)>;

/// The callback registration of a cache: its slot and the task that waits
/// for changes.
struct Notifier {
    slot: Arc<Slot>,
    task: JoinHandle<()>,
}

impl Notifier {
    /// Calls `f(ud, OK)` after every change `rx` sees; once `rx` ends (the
    /// cache stopped), calls `f(ud, code)` with the error `stopped` returns,
    /// if any.
    fn spawn<T, Fut>(
        mut rx: watch::Receiver<T>,
        f: unsafe extern "C" fn(*mut c_void, coord_result),
        ud: UserData,
        stopped: impl FnOnce() -> Fut + Send + 'static,
    ) -> Res<Notifier>
    where
        T: Send + Sync + 'static,
        Fut: Future<Output = ::coord_client::Result<()>> + Send,
    {
        let slot = Slot::new();
        let s = Arc::clone(&slot);
        let call = move |s: &Arc<Slot>, r: coord_result| {
            dispatch(s, move || {
                let ud = ud;
                // SAFETY: a C function pointer registered with this userdata.
                unsafe { f(ud.0, r) }
            })
        };
        let task = embed::handle()?.spawn(async move {
            while rx.changed().await.is_ok() {
                call(&s, coord_result::Ok);
            }
            if let Err(e) = stopped().await {
                call(&s, coord_result::from_error(&e));
            }
        });
        Ok(Notifier { slot, task })
    }

    /// [`Notifier::spawn`] when the caller gave a callback; `None` otherwise.
    fn for_callback<T, Fut>(
        rx: watch::Receiver<T>,
        callback: coord_cache_fn,
        ud: UserData,
        stopped: impl FnOnce() -> Fut + Send + 'static,
    ) -> Res<Option<Notifier>>
    where
        T: Send + Sync + 'static,
        Fut: Future<Output = ::coord_client::Result<()>> + Send,
    {
        callback
            .map(|f| Notifier::spawn(rx, f, ud, stopped))
            .transpose()
    }

    fn stop(self) {
        self.task.abort();
        self.slot.kill();
    }
}

/// Writes a cached value to the out-parameters (data only when present).
///
/// # Safety
/// Each pointer is NULL or writable (`out_exists`, `out_data`, `out_len`
/// checked by the callers).
unsafe fn value_out(
    v: Option<(Bytes, Stat)>,
    out_exists: *mut bool,
    out_data: *mut *mut u8,
    out_len: *mut usize,
    out_stat: *mut coord_stat,
) {
    let (data, stat) = match &v {
        Some((d, s)) => (out_bytes(d), (*s).into()),
        None => ((std::ptr::null_mut(), 0), coord_stat::default()),
    };
    unsafe {
        put(out_exists, v.is_some());
        put(out_data, data.0);
        put(out_len, data.1);
        put(out_stat, stat);
    }
}

/// One node's data and stat kept up to date (`coord_node_cache_start`).
/// Safe to share between threads.
pub struct coord_node_cache {
    cache: Arc<NodeCache>,
    notifier: Option<Notifier>,
}

/// Starts caching the node at `path` (which need not exist) and returns
/// once its first value is known. `callback` (NULL: none) runs with
/// `userdata` after every later change of the node's data, stat or
/// existence, and once with the error that stops the cache.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NULL_PARAMETER`;
/// `COORD_RESULT_INVALID_PATH`; connection and session errors.
/// Ownership: `path` is borrowed for the call; `*out` is owned by the
/// caller, free it with `coord_node_cache_free`; `userdata` is passed back
/// untouched.
/// Threads: blocks for the first read, bounded by the session timeout.
#[unsafe(no_mangle)]
pub extern "C" fn coord_node_cache_start(
    client: *const coord_client,
    path: *const c_char,
    callback: coord_cache_fn,
    userdata: *mut c_void,
    out: *mut *mut coord_node_cache,
) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let cache = Arc::new(run(async move { NodeCache::start(&c, &path).await }, None)?);
        let c2 = Arc::clone(&cache);
        let notifier = Notifier::for_callback(
            cache.subscribe(),
            callback,
            UserData(userdata),
            move || async move { c2.close().await },
        )?;
        let h = Box::new(coord_node_cache { cache, notifier });
        unsafe { put(out, Box::into_raw(h)) };
        Ok(())
    })
}

/// The cached node now: whether it exists (`*out_exists`), its data
/// (`*out_data` / `*out_len`, NULL and 0 when empty or absent) and, if
/// `out_stat` is not NULL, its stat (zero when absent). No I/O.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NULL_PARAMETER`.
/// Ownership: `*out_data` is owned by the caller; free it with
/// `coord_free_bytes(data, len)`.
/// Threads: any thread, the change callback included; answers at once.
#[unsafe(no_mangle)]
pub extern "C" fn coord_node_cache_get(
    cache: *const coord_node_cache,
    out_exists: *mut bool,
    out_data: *mut *mut u8,
    out_len: *mut usize,
    out_stat: *mut coord_stat,
) -> coord_result {
    guard(|| {
        need(out_exists, "out_exists")?;
        need(out_data, "out_data")?;
        need(out_len, "out_len")?;
        let h = unsafe { handle(cache, "cache") }?;
        unsafe { value_out(h.cache.current(), out_exists, out_data, out_len, out_stat) };
        Ok(())
    })
}

/// Stops the cache, unregisters its callback (which does not run after
/// this returns) and frees the handle. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_node_cache_free(cache: *mut coord_node_cache) {
    guard_value((), || {
        if cache.is_null() {
            return;
        }
        let mut h = unsafe { Box::from_raw(cache) };
        if let Some(n) = h.notifier.take() {
            n.stop();
        }
        let c = Arc::clone(&h.cache);
        let _ = util::run_cleanup(async move { c.close().await });
        util::drop_in_runtime(h);
    })
}

/// A subtree's nodes kept up to date (`coord_tree_cache_start`). Safe to
/// share between threads.
pub struct coord_tree_cache {
    cache: Arc<TreeCache>,
    notifier: Option<Notifier>,
}

fn tree<'a>(p: *const coord_tree_cache) -> Res<&'a coord_tree_cache> {
    unsafe { handle(p, "cache") }
}

/// Starts caching the subtree at `path` (which need not exist: it is
/// picked up when created) and returns once it is loaded. `callback`
/// (NULL: none) runs with `userdata` after every later change in the
/// subtree, and once with the error that stops the cache.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NULL_PARAMETER`;
/// `COORD_RESULT_INVALID_PATH`; connection and session errors.
/// Ownership: `path` is borrowed for the call; `*out` is owned by the
/// caller, free it with `coord_tree_cache_free`; `userdata` is passed back
/// untouched.
/// Threads: blocks for the first load, bounded by the session timeout.
#[unsafe(no_mangle)]
pub extern "C" fn coord_tree_cache_start(
    client: *const coord_client,
    path: *const c_char,
    callback: coord_cache_fn,
    userdata: *mut c_void,
    out: *mut *mut coord_tree_cache,
) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let cache = Arc::new(run(async move { TreeCache::start(&c, &path).await }, None)?);
        let c2 = Arc::clone(&cache);
        let notifier = Notifier::for_callback(
            cache.subscribe(),
            callback,
            UserData(userdata),
            move || async move { c2.close().await },
        )?;
        let h = Box::new(coord_tree_cache { cache, notifier });
        unsafe { put(out, Box::into_raw(h)) };
        Ok(())
    })
}

/// The cached node at `path` (the root or any node below it) now: whether
/// it is in the cache (`*out_exists`), its data (`*out_data` / `*out_len`,
/// NULL and 0 when empty or absent) and, if `out_stat` is not NULL, its
/// stat. No I/O.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NULL_PARAMETER`;
/// `COORD_RESULT_INVALID_PATH` (not UTF-8).
/// Ownership: `path` is borrowed; `*out_data` is owned by the caller, free
/// it with `coord_free_bytes(data, len)`.
/// Threads: any thread, the change callback included; answers at once.
#[unsafe(no_mangle)]
pub extern "C" fn coord_tree_cache_get(
    cache: *const coord_tree_cache,
    path: *const c_char,
    out_exists: *mut bool,
    out_data: *mut *mut u8,
    out_len: *mut usize,
    out_stat: *mut coord_stat,
) -> coord_result {
    guard(|| {
        need(out_exists, "out_exists")?;
        need(out_data, "out_data")?;
        need(out_len, "out_len")?;
        let h = self::tree(cache)?;
        let path = unsafe { util::path(path, "path") }?;
        unsafe { value_out(h.cache.get(&path), out_exists, out_data, out_len, out_stat) };
        Ok(())
    })
}

/// The names of the cached children of `path`, sorted, into `*out_names` /
/// `*out_len` (NULL and 0 when none). No I/O.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NULL_PARAMETER`;
/// `COORD_RESULT_INVALID_PATH` (not UTF-8).
/// Ownership: `*out_names` and its strings are owned by the caller; free
/// them with `coord_free_string_array(names, len)`.
/// Threads: any thread; answers at once.
#[unsafe(no_mangle)]
pub extern "C" fn coord_tree_cache_children(
    cache: *const coord_tree_cache,
    path: *const c_char,
    out_names: *mut *mut *mut c_char,
    out_len: *mut usize,
) -> coord_result {
    guard(|| {
        need(out_names, "out_names")?;
        need(out_len, "out_len")?;
        let h = self::tree(cache)?;
        let path = unsafe { util::path(path, "path") }?;
        let names: Vec<String> = h.cache.children(&path).into_iter().map(|c| c.0).collect();
        let (p, n) = out_string_array(&names);
        unsafe {
            put(out_names, p);
            put(out_len, n);
        }
        Ok(())
    })
}

/// The number of cached nodes (the root included when it exists) into
/// `*out_len`. No I/O.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NULL_PARAMETER`.
/// Threads: any thread; answers at once.
#[unsafe(no_mangle)]
pub extern "C" fn coord_tree_cache_len(
    cache: *const coord_tree_cache,
    out_len: *mut usize,
) -> coord_result {
    guard(|| {
        let out = need(out_len, "out_len")?;
        let h = self::tree(cache)?;
        unsafe { put(out, h.cache.len()) };
        Ok(())
    })
}

/// Stops the cache, unregisters its callback (which does not run after
/// this returns) and frees the handle. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_tree_cache_free(cache: *mut coord_tree_cache) {
    guard_value((), || {
        if cache.is_null() {
            return;
        }
        let mut h = unsafe { Box::from_raw(cache) };
        if let Some(n) = h.notifier.take() {
            n.stop();
        }
        let c = Arc::clone(&h.cache);
        let _ = util::run_cleanup(async move { c.close().await });
        util::drop_in_runtime(h);
    })
}
