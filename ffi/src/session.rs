//! Session state and children with stats: `coord_client_state` (the state
//! now), `coord_client_on_state` (the state at once, then every change,
//! through a callback) and `coord_children_with_stats`. Converts only; the
//! state machine of a session is the client's.

use std::ffi::{c_char, c_void};

use ::coord_client::SessionState;
use ::coord_client::embed;
use futures::StreamExt;

use crate::callbacks::{UserData, dispatch};
use crate::client::{client, coord_client};
use crate::error::{Fail, coord_result, guard, guard_value};
use crate::util::{self, coord_stat, need, out_string, put, run};
use crate::watch::coord_watch;

/// State of a session (one of the `COORD_SESSION_*` values).
#[allow(non_camel_case_types)]
pub type coord_session_state = u32;
/// Opening the session for the first time.
pub const COORD_SESSION_CONNECTING: coord_session_state = 0;
/// Connected to a server; requests flow.
pub const COORD_SESSION_CONNECTED: coord_session_state = 1;
/// The connection was lost; the client reconnects and resumes the session.
/// Requests wait (up to their timeout); ephemeral nodes still exist.
pub const COORD_SESSION_SUSPENDED: coord_session_state = 2;
/// The session ended without the client closing it; its ephemeral nodes
/// are or will soon be gone. Terminal.
pub const COORD_SESSION_EXPIRED: coord_session_state = 3;
/// The client was closed. Terminal.
pub const COORD_SESSION_CLOSED: coord_session_state = 4;

fn state_out(s: SessionState) -> coord_session_state {
    match s {
        SessionState::Connecting => COORD_SESSION_CONNECTING,
        SessionState::Connected => COORD_SESSION_CONNECTED,
        SessionState::Suspended => COORD_SESSION_SUSPENDED,
        SessionState::Expired => COORD_SESSION_EXPIRED,
        SessionState::Closed => COORD_SESSION_CLOSED,
    }
}

/// The session's state now (`COORD_SESSION_*`) into `*out_state`.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O; answers at once.
#[unsafe(no_mangle)]
pub extern "C" fn coord_client_state(
    client: *const coord_client,
    out_state: *mut coord_session_state,
) -> coord_result {
    guard(|| {
        let out = need(out_state, "out_state")?;
        let c = self::client(client)?;
        unsafe { put(out, state_out(c.state())) };
        Ok(())
    })
}

/// A session state callback: `state` is one of `COORD_SESSION_*`. Runs on
/// the library's callback thread, never after `coord_watch_free` of its
/// registration returned.
#[allow(non_camel_case_types)]
pub type coord_state_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, state: coord_session_state)>;

/// Follows the session's state: `callback` runs with the state now, then
/// with every change (`SUSPENDED` on a lost connection, `CONNECTED` again
/// after resuming, and a terminal `EXPIRED` or `CLOSED`, after which it
/// runs no more), until `*out_watch` is freed with `coord_watch_free`.
///
/// Results: `COORD_RESULT_OK`; argument errors (`callback` NULL). Returns
/// at once.
/// Ownership: `*out_watch` is owned by the caller; `userdata` is passed back
/// untouched.
#[unsafe(no_mangle)]
pub extern "C" fn coord_client_on_state(
    client: *const coord_client,
    callback: coord_state_fn,
    userdata: *mut c_void,
    out_watch: *mut *mut coord_watch,
) -> coord_result {
    guard(|| {
        let out = need(out_watch, "out_watch")?;
        let f = callback.ok_or_else(|| Fail::null("callback"))?;
        let ud = UserData(userdata);
        let c = self::client(client)?;
        let stream = {
            let _entered = embed::handle()?.enter();
            c.state_changes().map(Ok::<_, ::coord_client::Error>)
        };
        let w = coord_watch::spawn(stream, move |slot, item| {
            // The state stream never fails; it ends after a terminal state.
            let Ok(state) = item else { return };
            dispatch(slot, move || {
                let ud = ud;
                // SAFETY: a C function pointer registered with this userdata.
                unsafe { f(ud.0, state_out(state)) };
            })
        })?;
        unsafe { put(out, w) };
        Ok(())
    })
}

/// One child from `coord_children_with_stats`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct coord_child {
    /// The child's name (not its path). Owned by the array.
    pub name: *mut c_char,
    /// The child's stat.
    pub stat: coord_stat,
}

/// The children of `path` with their stats, sorted by name, into
/// `*out_children` / `*out_len` (NULL and 0 when none), and the stat of
/// `path` itself into `*out_stat` if not NULL; one consistent listing.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NO_NODE`; argument errors;
/// request errors.
/// Ownership: `*out_children` (names included) is owned by the caller;
/// free it with `coord_free_children(children, len)`.
#[unsafe(no_mangle)]
pub extern "C" fn coord_children_with_stats(
    client: *const coord_client,
    path: *const c_char,
    out_children: *mut *mut coord_child,
    out_len: *mut usize,
    out_stat: *mut coord_stat,
) -> coord_result {
    guard(|| {
        need(out_children, "out_children")?;
        need(out_len, "out_len")?;
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let (children, stat) = run(async move { c.children_with_stats(&path).await }, None)?;
        let (p, n) = if children.is_empty() {
            (std::ptr::null_mut(), 0)
        } else {
            let out: Box<[coord_child]> = children
                .iter()
                .map(|(name, s)| coord_child {
                    name: out_string(name),
                    stat: (*s).into(),
                })
                .collect();
            let n = out.len();
            (Box::into_raw(out).cast::<coord_child>(), n)
        };
        unsafe {
            put(out_children, p);
            put(out_len, n);
            put(out_stat, stat.into());
        }
        Ok(())
    })
}

/// Frees an array from `coord_children_with_stats`, given its length. NULL
/// is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_free_children(children: *mut coord_child, len: usize) {
    // SAFETY: made by Box::into_raw in coord_children_with_stats.
    guard_value((), || unsafe {
        util::free_array(children, len, |c| util::free_string(c.name))
    })
}
