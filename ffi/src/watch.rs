//! Watches with C callbacks: one-shot (set by `coord_get_watch`,
//! `coord_exists_watch`, `coord_children_watch`) and persistent
//! (`coord_watch_add`). A runtime task reads the core watch as an
//! [`embed::Closable`] stream (the one closable stream of every binding) and
//! hands each event to the callback thread (`crate::callbacks`); the
//! returned `coord_watch` handle closes the stream and unregisters when
//! freed.

use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;

use ::coord_client::client::{EventType, WatchEvent, WatchMode};
use ::coord_client::embed::{self, Closable, Closer};
use futures::{Stream, StreamExt};

use crate::callbacks::{Slot, UserData, dispatch};
use crate::client::{client, coord_client};
use crate::error::{Fail, Res, coord_result, guard, guard_value};
use crate::util::{self, coord_stat, need, out_bytes, out_string_array, put, run};

/// Type of a watch event (one of the `COORD_EVENT_*` values).
#[allow(non_camel_case_types)]
pub type coord_event_type = u32;
/// No event: the watch ended (see `result`).
pub const COORD_EVENT_NONE: coord_event_type = 0;
/// The node was created.
pub const COORD_EVENT_NODE_CREATED: coord_event_type = 1;
/// The node was deleted.
pub const COORD_EVENT_NODE_DELETED: coord_event_type = 2;
/// The node's data changed.
pub const COORD_EVENT_NODE_DATA_CHANGED: coord_event_type = 3;
/// A child was added or removed.
pub const COORD_EVENT_NODE_CHILDREN_CHANGED: coord_event_type = 4;
/// After a reconnect: events on the path may have been missed (the server no
/// longer had them); re-read it. One-shot watches fire with it.
pub const COORD_EVENT_EVENTS_LOST: coord_event_type = 5;

/// Kind of persistent watch (one of the `COORD_WATCH_*` values).
#[allow(non_camel_case_types)]
pub type coord_watch_mode = u32;
/// Every event on the path itself.
pub const COORD_WATCH_PERSISTENT: coord_watch_mode = 0;
/// Created, deleted and data events on the path and every node below it.
pub const COORD_WATCH_PERSISTENT_RECURSIVE: coord_watch_mode = 1;

/// What a watch callback receives.
///
/// How a watch ends (the same in C, Python and Node): freeing it
/// (`coord_watch_free`) or closing its client (`coord_client_close`) ends it
/// normally: the callback is simply not called any more, with no final call
/// (in Python and Node the iteration ends without an error). When the
/// session expires (or another error ends the watch) the callback is called
/// once more with that error as `result`, then no more.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct coord_watch_event {
    /// `COORD_RESULT_OK` for an event; otherwise the watch ended with this
    /// error (e.g. `SESSION_EXPIRED`) and `type` is `COORD_EVENT_NONE`. An
    /// ended watch calls back no more.
    pub result: coord_result,
    /// One of `COORD_EVENT_*`.
    pub r#type: coord_event_type,
    /// The path that changed. Borrowed: valid only during the callback.
    pub path: *const c_char,
    /// zxid of the change.
    pub zxid: u64,
}

/// A watch callback. Runs on the library's callback thread (never on the
/// thread that registered it), one callback at a time, and never after
/// `coord_watch_free` of its watch has returned. It may call any libcoord
/// function, including `coord_watch_free` of its own watch. `event` is
/// borrowed for the duration of the call.
#[allow(non_camel_case_types)]
pub type coord_watch_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const coord_watch_event)>;

/// A registered callback: a node watch, or a leader observer from
/// `coord_election_observe`. Free with `coord_watch_free` to close it and
/// unregister.
pub struct coord_watch {
    slot: Arc<Slot>,
    closer: Closer,
}

impl coord_watch {
    /// Spawns a task that hands every item of `stream`, read as an
    /// [`embed::Closable`], to `deliver` (which dispatches through the slot
    /// it is given) until the stream ends or the watch is freed.
    pub(crate) fn spawn<T, S>(
        stream: S,
        deliver: impl Fn(&Arc<Slot>, ::coord_client::Result<T>) + Send + 'static,
    ) -> Res<*mut coord_watch>
    where
        S: Stream<Item = ::coord_client::Result<T>> + Unpin + Send + 'static,
        T: Send + 'static,
    {
        let slot = Slot::new();
        let mut stream = Closable::new(stream);
        let closer = stream.closer();
        let s = Arc::clone(&slot);
        embed::handle()?.spawn(async move {
            while let Some(item) = stream.next().await {
                deliver(&s, item);
            }
        });
        Ok(Box::into_raw(Box::new(coord_watch { slot, closer })))
    }
}

fn event_type(kind: EventType) -> coord_event_type {
    match kind {
        EventType::NodeCreated => COORD_EVENT_NODE_CREATED,
        EventType::NodeDeleted => COORD_EVENT_NODE_DELETED,
        EventType::NodeDataChanged => COORD_EVENT_NODE_DATA_CHANGED,
        EventType::NodeChildrenChanged => COORD_EVENT_NODE_CHILDREN_CHANGED,
        EventType::EventsLost => COORD_EVENT_EVENTS_LOST,
    }
}

#[derive(Clone, Copy)]
struct Callback {
    f: unsafe extern "C" fn(*mut c_void, *const coord_watch_event),
    ud: UserData,
}

impl Callback {
    fn new(f: coord_watch_fn, ud: *mut c_void) -> Res<Callback> {
        Ok(Callback {
            f: f.ok_or_else(|| Fail::null("callback"))?,
            ud: UserData(ud),
        })
    }

    /// Queues one call with `item` for the callback thread.
    fn deliver(self, slot: &Arc<Slot>, item: ::coord_client::Result<WatchEvent>) {
        dispatch(slot, move || {
            let (result, kind, path, zxid) = match item {
                Ok(ev) => (coord_result::Ok, event_type(ev.kind), ev.path, ev.zxid),
                Err(e) => (
                    coord_result::from_error(&e),
                    COORD_EVENT_NONE,
                    String::new(),
                    0,
                ),
            };
            let path = CString::new(path).unwrap_or_default();
            let event = coord_watch_event {
                result,
                r#type: kind,
                path: path.as_ptr(),
                zxid,
            };
            let ud = self.ud;
            // SAFETY: a C function pointer registered with this userdata.
            unsafe { (self.f)(ud.0, &event) };
        });
    }
}

fn oneshot(cb: Callback, watch: ::coord_client::client::OneshotWatch) -> Res<*mut coord_watch> {
    let stream = futures::stream::once(watch).boxed();
    coord_watch::spawn(stream, move |slot, item| cb.deliver(slot, item))
}

/// Like `coord_get`, and sets a one-shot watch on the node's data: `callback`
/// runs once when the data changes or the node is deleted (or once with an
/// error result when the session expires first; not at all when the client
/// is closed first: see `coord_watch_event`). No watch is set when the call
/// fails. Free `*out_watch` with `coord_watch_free` (after or instead of the
/// callback).
///
/// Ownership: `*out_data` (free with `coord_free_bytes`) and `*out_watch`
/// are owned by the caller; `userdata` is passed back untouched.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NO_NODE` (no watch set);
/// argument errors (`callback` NULL); request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_get_watch(
    client: *const coord_client,
    path: *const c_char,
    callback: coord_watch_fn,
    userdata: *mut c_void,
    out_data: *mut *mut u8,
    out_len: *mut usize,
    out_stat: *mut coord_stat,
    out_watch: *mut *mut coord_watch,
) -> coord_result {
    guard(|| {
        need(out_data, "out_data")?;
        need(out_len, "out_len")?;
        need(out_watch, "out_watch")?;
        let cb = Callback::new(callback, userdata)?;
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let (data, stat, watch) = run(async move { c.get_watch(&path).await }, None)?;
        let w = oneshot(cb, watch)?;
        let (p, n) = out_bytes(&data);
        unsafe {
            put(out_data, p);
            put(out_len, n);
            put(out_stat, stat.into());
            put(out_watch, w);
        }
        Ok(())
    })
}

/// Like `coord_exists`, and sets a one-shot watch that fires when the node
/// is created, changed or deleted (set also when the node does not exist).
///
/// Ownership: `*out_watch` is owned by the caller (`coord_watch_free`).
///
/// Results: `COORD_RESULT_OK` (also when the node does not exist); argument
/// errors (`callback` NULL); request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_exists_watch(
    client: *const coord_client,
    path: *const c_char,
    callback: coord_watch_fn,
    userdata: *mut c_void,
    out_exists: *mut bool,
    out_stat: *mut coord_stat,
    out_watch: *mut *mut coord_watch,
) -> coord_result {
    guard(|| {
        need(out_exists, "out_exists")?;
        need(out_watch, "out_watch")?;
        let cb = Callback::new(callback, userdata)?;
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let (stat, watch) = run(async move { c.exists_watch(&path).await }, None)?;
        let w = oneshot(cb, watch)?;
        unsafe {
            put(out_exists, stat.is_some());
            if let Some(s) = stat {
                put(out_stat, s.into());
            }
            put(out_watch, w);
        }
        Ok(())
    })
}

/// Like `coord_children`, and sets a one-shot watch that fires when a child
/// is added or removed or the node is deleted.
///
/// Ownership: `*out_names` (free with `coord_free_string_array`) and
/// `*out_watch` (`coord_watch_free`) are owned by the caller.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NO_NODE` (no watch set);
/// argument errors (`callback` NULL); request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_children_watch(
    client: *const coord_client,
    path: *const c_char,
    callback: coord_watch_fn,
    userdata: *mut c_void,
    out_names: *mut *mut *mut c_char,
    out_len: *mut usize,
    out_watch: *mut *mut coord_watch,
) -> coord_result {
    guard(|| {
        need(out_names, "out_names")?;
        need(out_len, "out_len")?;
        need(out_watch, "out_watch")?;
        let cb = Callback::new(callback, userdata)?;
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let (names, watch) = run(async move { c.children_watch(&path).await }, None)?;
        let w = oneshot(cb, watch)?;
        let (p, n) = out_string_array(&names);
        unsafe {
            put(out_names, p);
            put(out_len, n);
            put(out_watch, w);
        }
        Ok(())
    })
}

/// Sets a persistent watch on `path` (`COORD_WATCH_*`): `callback` runs for
/// every matching change, in zxid order, until the watch is freed or its
/// client closed; if the session expires first it runs once more with the
/// error and stops (see `coord_watch_event`). Survives reconnects.
///
/// Ownership: `*out_watch` is owned by the caller (`coord_watch_free`).
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_BAD_ARGUMENTS` (unknown mode);
/// argument errors (`callback` NULL); request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_watch_add(
    client: *const coord_client,
    path: *const c_char,
    mode: coord_watch_mode,
    callback: coord_watch_fn,
    userdata: *mut c_void,
    out_watch: *mut *mut coord_watch,
) -> coord_result {
    guard(|| {
        need(out_watch, "out_watch")?;
        let cb = Callback::new(callback, userdata)?;
        let mode = match mode {
            COORD_WATCH_PERSISTENT => WatchMode::Persistent,
            COORD_WATCH_PERSISTENT_RECURSIVE => WatchMode::PersistentRecursive,
            other => return Err(Fail::bad(format!("unknown watch mode {other}"))),
        };
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let stream = run(async move { c.watch(&path, mode).await }, None)?;
        let w = coord_watch::spawn(stream, move |slot, item| cb.deliver(slot, item))?;
        unsafe { put(out_watch, w) };
        Ok(())
    })
}

/// Closes, unregisters and frees a watch (or a leader observer): when this
/// returns its callback is not running and will never run again, not even
/// for an event that had already arrived (called from the callback itself,
/// it returns at once and the callback is not called again). This is the
/// normal end of the watch: no final call. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_watch_free(watch: *mut coord_watch) {
    guard_value((), || {
        if watch.is_null() {
            return;
        }
        let w = unsafe { Box::from_raw(watch) };
        w.closer.close();
        w.slot.kill();
    })
}
