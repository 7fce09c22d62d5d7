//! Argument and result conversion shared by every exported function: NULL
//! checks, C strings and byte buffers in and out, timeouts, and the blocking
//! bridge to the shared runtime of [`::coord_client::embed`]. Plus the `coord_free_*`
//! functions for the buffers the library hands out.
//!
//! Must not know any client method or recipe.

use std::ffi::{CStr, CString, c_char};
use std::future::Future;
use std::time::Duration;

use ::coord_client::client::Stat;
use ::coord_client::embed::{self, CancelToken};

use crate::error::{Fail, Res, coord_result, guard_value};

/// A borrowed handle, or `NullParameter` naming the argument.
///
/// # Safety
/// `p` is NULL or points to a live `T` for `'a`.
pub(crate) unsafe fn handle<'a, T>(p: *const T, name: &str) -> Res<&'a T> {
    // SAFETY: the caller promises p is NULL or valid.
    unsafe { p.as_ref() }.ok_or_else(|| Fail::null(name))
}

/// Fails with `NullParameter` when a required out-parameter is NULL.
pub(crate) fn need<T>(p: *mut T, name: &str) -> Res<*mut T> {
    if p.is_null() {
        Err(Fail::null(name))
    } else {
        Ok(p)
    }
}

/// Writes `v` through an out-parameter unless it is NULL (optional outputs).
///
/// # Safety
/// `p` is NULL or valid for writes.
pub(crate) unsafe fn put<T>(p: *mut T, v: T) {
    if !p.is_null() {
        // SAFETY: non-NULL and, by the caller's promise, writable.
        unsafe { p.write(v) };
    }
}

unsafe fn c_str<'a>(p: *const c_char, name: &str) -> Res<&'a CStr> {
    if p.is_null() {
        return Err(Fail::null(name));
    }
    // SAFETY: non-NULL; the header requires a NUL-terminated string.
    Ok(unsafe { CStr::from_ptr(p) })
}

/// A path argument: NULL is `NullParameter`, bad UTF-8 is `InvalidPath`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
pub(crate) unsafe fn path(p: *const c_char, name: &str) -> Res<String> {
    let s = unsafe { c_str(p, name) }?;
    s.to_str().map(str::to_string).map_err(|e| {
        Fail::new(
            coord_result::InvalidPath,
            format!("argument `{name}` is not UTF-8: {e}"),
        )
    })
}

/// A text argument (not a path): NULL is `NullParameter`, bad UTF-8 is
/// `InvalidUtf8`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
pub(crate) unsafe fn text(p: *const c_char, name: &str) -> Res<String> {
    let s = unsafe { c_str(p, name) }?;
    s.to_str().map(str::to_string).map_err(|e| {
        Fail::new(
            coord_result::InvalidUtf8,
            format!("argument `{name}` is not UTF-8: {e}"),
        )
    })
}

/// An optional text argument: NULL is `None`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
pub(crate) unsafe fn opt_text(p: *const c_char, name: &str) -> Res<Option<String>> {
    if p.is_null() {
        Ok(None)
    } else {
        unsafe { text(p, name) }.map(Some)
    }
}

/// A byte buffer argument; NULL is fine when `len` is 0.
///
/// # Safety
/// `p` is NULL or valid for reads of `len` bytes.
pub(crate) unsafe fn bytes(p: *const u8, len: usize, name: &str) -> Res<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if p.is_null() {
        return Err(Fail::null(name));
    }
    // SAFETY: non-NULL, readable for len bytes by the caller's promise.
    Ok(unsafe { std::slice::from_raw_parts(p, len) }.to_vec())
}

/// A caller-owned C string (free with `coord_free_string`).
pub(crate) fn out_string(s: &str) -> *mut c_char {
    crate::error::c_text(s).into_raw()
}

/// A caller-owned byte buffer (free with `coord_free_bytes`); NULL when empty.
pub(crate) fn out_bytes(b: &[u8]) -> (*mut u8, usize) {
    if b.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    let boxed: Box<[u8]> = b.into();
    let len = boxed.len();
    (Box::into_raw(boxed).cast::<u8>(), len)
}

/// A caller-owned array of C strings (free with `coord_free_string_array`).
pub(crate) fn out_string_array(items: &[String]) -> (*mut *mut c_char, usize) {
    if items.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    let boxed: Box<[*mut c_char]> = items.iter().map(|s| out_string(s)).collect();
    let len = boxed.len();
    (Box::into_raw(boxed).cast::<*mut c_char>(), len)
}

/// Frees a C string the library returned; frees NULL by doing nothing.
///
/// # Safety
/// `s` is NULL or came from libcoord and was not freed yet.
pub(crate) unsafe fn free_string(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: made by CString::into_raw in out_string.
        drop(unsafe { CString::from_raw(s) });
    }
}

/// Frees an array the library handed out as `Box<[T]>` (`Box::into_raw`)
/// with `len` elements, after `each` has freed what every element owns
/// (its strings, nested arrays). NULL is fine.
///
/// # Safety
/// `items` is NULL or came from `Box::into_raw` of a boxed slice of `len`
/// elements, not freed before; `each` frees only what an element owns.
pub(crate) unsafe fn free_array<T>(items: *mut T, len: usize, mut each: impl FnMut(&T)) {
    if items.is_null() {
        return;
    }
    // SAFETY: per the contract above.
    let boxed = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(items, len)) };
    boxed.iter().for_each(&mut each);
}

/// A timeout argument in milliseconds: -1 waits forever.
pub(crate) fn timeout(ms: i64) -> Res<Option<Duration>> {
    match ms {
        -1 => Ok(None),
        ms if ms >= 0 => Ok(Some(Duration::from_millis(ms as u64))),
        other => Err(Fail::bad(format!(
            "timeout_ms must be -1 (forever) or >= 0, got {other}"
        ))),
    }
}

/// Runs `fut` on the shared runtime, blocking the caller, within the
/// calling thread's call limits (`crate::limits`); `cancel` (optional)
/// cancels it from another thread, in place of the limits' token.
pub(crate) fn run<F, T>(fut: F, cancel: Option<&CancelToken>) -> Res<T>
where
    F: Future<Output = ::coord_client::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let limits = crate::limits::current();
    let cancel = cancel.or(limits.cancel.as_ref());
    // A token cancelled before the call: nothing is sent (block_on could
    // poll the request once before it sees the token).
    if cancel.is_some_and(CancelToken::is_cancelled) {
        return Err(Fail::new(
            coord_result::Cancelled,
            "the call was cancelled (its cancel token was cancelled before it started)",
        ));
    }
    Ok(embed::block_on(fut, limits.timeout, cancel)?)
}

/// Runs clean-up work the library does on its own (a release after a failed
/// acquire, a close on free) ignoring the thread's call limits, so that a
/// cancelled token cannot leave anything behind. Bounded by the session
/// timeout like every request.
pub(crate) fn run_cleanup<F, T>(fut: F) -> Res<T>
where
    F: Future<Output = ::coord_client::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    Ok(embed::block_on(fut, None, None)?)
}

/// Drops `value` inside the shared runtime, so that recipe handles can
/// clean up their nodes in the background as they do in async Rust.
pub(crate) fn drop_in_runtime<T>(value: T) {
    match embed::runtime() {
        Ok(rt) => {
            let _entered = rt.enter();
            drop(value);
        }
        Err(_) => drop(value),
    }
}

/// A node's metadata (ZooKeeper's meaning for every field).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct coord_stat {
    /// zxid of the write that created the node (a lock's fencing token).
    pub czxid: u64,
    /// zxid of the last data change.
    pub mzxid: u64,
    /// zxid of the last change of the children.
    pub pzxid: u64,
    /// Creation time, ms since the Unix epoch.
    pub ctime: i64,
    /// Last data change time, ms since the Unix epoch.
    pub mtime: i64,
    /// Number of data changes.
    pub version: i32,
    /// Number of child changes.
    pub cversion: i32,
    /// Owning session of an ephemeral node, else 0.
    pub ephemeral_owner: u64,
    /// Length of the data in bytes.
    pub data_length: u32,
    /// Number of children.
    pub num_children: u32,
}

impl From<Stat> for coord_stat {
    fn from(s: Stat) -> Self {
        coord_stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            pzxid: s.pzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            ephemeral_owner: s.ephemeral_owner,
            data_length: s.data_length,
            num_children: s.num_children,
        }
    }
}

/// Frees a string returned by libcoord. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_free_string(s: *mut c_char) {
    guard_value((), || unsafe { free_string(s) })
}

/// Frees a byte buffer returned by libcoord together with its length (the
/// `len` the library wrote). NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_free_bytes(data: *mut u8, len: usize) {
    // SAFETY: made by Box::into_raw in out_bytes with this length.
    guard_value((), || unsafe { free_array(data, len, |_| {}) })
}

/// Frees an array of strings returned by libcoord (and every string in it),
/// given the count the library wrote. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_free_string_array(items: *mut *mut c_char, len: usize) {
    // SAFETY: made by Box::into_raw in out_string_array with this length.
    guard_value((), || unsafe {
        free_array(items, len, |s| free_string(*s))
    })
}
