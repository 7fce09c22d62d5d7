//! The client handle and what it does: close / free, the node operations
//! (create, get, set, delete, exists, children, multi, sync) and cancel
//! tokens. Each function converts its arguments, runs one core [`Client`]
//! call on the shared runtime and converts the answer back. Connecting and
//! versions are in `connect`.

use std::ffi::c_char;

use ::coord_client::client::{Client, CreateMode, Op, OpResult};
use ::coord_client::embed::{CancelToken, ForkGuard};

use crate::error::{Fail, Res, coord_result, guard, guard_value};
use crate::util::{
    self, coord_stat, handle, need, out_bytes, out_string, out_string_array, put, run,
};

/// Kind of node a create makes (one of the `COORD_CREATE_*` values).
#[allow(non_camel_case_types)]
pub type coord_create_mode = u32;
/// Lives until deleted.
pub const COORD_CREATE_PERSISTENT: coord_create_mode = 0;
/// Persistent, name suffixed with a 10-digit sequence number.
pub const COORD_CREATE_PERSISTENT_SEQUENTIAL: coord_create_mode = 1;
/// Deleted when the creating session ends.
pub const COORD_CREATE_EPHEMERAL: coord_create_mode = 2;
/// Ephemeral with a sequence suffix.
pub const COORD_CREATE_EPHEMERAL_SEQUENTIAL: coord_create_mode = 3;
/// Removed by the server once it had a child and has none left.
pub const COORD_CREATE_CONTAINER: coord_create_mode = 4;
/// Persistent, removed once unchanged and childless for `ttl_ms`.
pub const COORD_CREATE_PERSISTENT_WITH_TTL: coord_create_mode = 5;
/// Like `COORD_CREATE_PERSISTENT_WITH_TTL` with a sequence suffix.
pub const COORD_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL: coord_create_mode = 6;

/// Kind of one operation of a multi (one of the `COORD_OP_*` values).
#[allow(non_camel_case_types)]
pub type coord_op_kind = u32;
/// Create `path` with `data`, `mode` and `ttl_ms`.
pub const COORD_OP_CREATE: coord_op_kind = 0;
/// Delete `path` if its version is `version` (-1: any).
pub const COORD_OP_DELETE: coord_op_kind = 1;
/// Set the data of `path` if its version is `version` (-1: any).
pub const COORD_OP_SET: coord_op_kind = 2;
/// Fail the multi unless `path` exists with `version` (-1: any).
pub const COORD_OP_CHECK: coord_op_kind = 3;

/// A session with a coord ensemble. Safe to share between threads. Create
/// with `coord_connect`, free with `coord_client_free`.
pub struct coord_client {
    pub(crate) client: Client,
    pub(crate) fork: ForkGuard,
}

impl coord_client {
    /// The client, unless this process is a fork of the one that made it.
    pub(crate) fn get(&self) -> Res<&Client> {
        self.fork.check()?;
        Ok(&self.client)
    }
}

/// A client argument, checked for NULL and fork.
pub(crate) fn client<'a>(p: *const coord_client) -> Res<&'a Client> {
    // SAFETY: the header requires a handle from coord_connect or NULL.
    unsafe { handle(p, "client") }?.get()
}

/// Cancels blocking calls from another thread. Pass it to any call that
/// takes a `cancel` argument; `coord_cancel_token_cancel` makes every call
/// waiting on it (now or later, until reset) return `COORD_RESULT_CANCELLED`.
/// Safe to share between threads.
pub struct coord_cancel_token {
    pub(crate) token: CancelToken,
}

/// An optional cancel-token argument.
pub(crate) fn cancel<'a>(p: *const coord_cancel_token) -> Option<&'a CancelToken> {
    // SAFETY: NULL or a handle from coord_cancel_token_new.
    unsafe { p.as_ref() }.map(|t| &t.token)
}

/// One operation of a multi. Strings and data are borrowed for the call.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct coord_op {
    /// One of `COORD_OP_*`.
    pub kind: coord_op_kind,
    /// Path (NUL-terminated UTF-8). Required.
    pub path: *const c_char,
    /// Data for create and set (may be NULL when `data_len` is 0).
    pub data: *const u8,
    /// Length of `data`.
    pub data_len: usize,
    /// Create only: one of `COORD_CREATE_*`.
    pub mode: coord_create_mode,
    /// Create only: TTL in ms for the `*_WITH_TTL` modes, else ignored.
    pub ttl_ms: u64,
    /// Delete, set, check: expected version, -1 for any.
    pub version: i32,
}

/// The result of one operation of a successful multi.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct coord_op_result {
    /// The op's kind (`COORD_OP_*`).
    pub kind: coord_op_kind,
    /// Create: the created path (with its sequence suffix); else NULL.
    /// Owned by the result array.
    pub path: *mut c_char,
    /// Create and set: the node's stat after the op; else zero.
    pub stat: coord_stat,
}

pub(crate) fn create_mode(mode: coord_create_mode, ttl_ms: u64) -> Res<CreateMode> {
    Ok(match mode {
        COORD_CREATE_PERSISTENT => CreateMode::Persistent,
        COORD_CREATE_PERSISTENT_SEQUENTIAL => CreateMode::PersistentSequential,
        COORD_CREATE_EPHEMERAL => CreateMode::Ephemeral,
        COORD_CREATE_EPHEMERAL_SEQUENTIAL => CreateMode::EphemeralSequential,
        COORD_CREATE_CONTAINER => CreateMode::Container,
        COORD_CREATE_PERSISTENT_WITH_TTL => CreateMode::PersistentWithTtl(ttl_ms),
        COORD_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL => {
            CreateMode::PersistentSequentialWithTtl(ttl_ms)
        }
        other => return Err(Fail::bad(format!("unknown create mode {other}"))),
    })
}

/// Converts C ops into core ops (borrowed strings copied).
pub(crate) fn ops_in(ops: *const coord_op, n: usize) -> Res<Vec<Op>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if ops.is_null() {
        return Err(Fail::null("ops"));
    }
    // SAFETY: non-NULL, n elements by the caller's promise.
    let ops = unsafe { std::slice::from_raw_parts(ops, n) };
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let path = unsafe { util::path(op.path, &format!("ops[{i}].path")) }?;
            Ok(match op.kind {
                COORD_OP_CREATE => Op::Create {
                    acl: Vec::new(),
                    path,
                    data: unsafe { util::bytes(op.data, op.data_len, "data") }?.into(),
                    mode: create_mode(op.mode, op.ttl_ms)?,
                },
                COORD_OP_DELETE => Op::Delete {
                    path,
                    version: op.version,
                },
                COORD_OP_SET => Op::SetData {
                    path,
                    data: unsafe { util::bytes(op.data, op.data_len, "data") }?.into(),
                    version: op.version,
                },
                COORD_OP_CHECK => Op::Check {
                    path,
                    version: op.version,
                },
                other => return Err(Fail::bad(format!("ops[{i}].kind: unknown kind {other}"))),
            })
        })
        .collect()
}

/// Converts core results into a caller-owned C array.
pub(crate) fn results_out(results: Vec<OpResult>) -> (*mut coord_op_result, usize) {
    let out: Box<[coord_op_result]> = results
        .into_iter()
        .map(|r| match r {
            OpResult::Create { path, stat } => coord_op_result {
                kind: COORD_OP_CREATE,
                path: out_string(&path),
                stat: stat.into(),
            },
            OpResult::Delete => empty_result(COORD_OP_DELETE),
            OpResult::SetData { stat } => coord_op_result {
                kind: COORD_OP_SET,
                path: std::ptr::null_mut(),
                stat: stat.into(),
            },
            _ => empty_result(COORD_OP_CHECK),
        })
        .collect();
    let n = out.len();
    if n == 0 {
        return (std::ptr::null_mut(), 0);
    }
    (Box::into_raw(out).cast::<coord_op_result>(), n)
}

fn empty_result(kind: coord_op_kind) -> coord_op_result {
    coord_op_result {
        kind,
        path: std::ptr::null_mut(),
        stat: coord_stat::default(),
    }
}

/// Makes a cancel token (not cancelled).
///
/// Ownership: `*out` is owned by the caller; free with `coord_cancel_token_free`.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_cancel_token_new(out: *mut *mut coord_cancel_token) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let t = Box::new(coord_cancel_token {
            token: CancelToken::new(),
        });
        unsafe { put(out, Box::into_raw(t)) };
        Ok(())
    })
}

/// Cancels every call waiting on `token`, now and until it is reset.
/// Callable from any thread (not from a signal handler).
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O; returns at once.
#[unsafe(no_mangle)]
pub extern "C" fn coord_cancel_token_cancel(token: *const coord_cancel_token) -> coord_result {
    guard(|| {
        unsafe { handle(token, "token") }?.token.cancel();
        Ok(())
    })
}

/// Makes a cancelled token usable again.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O. Reset only when no
/// call waits on the token.
#[unsafe(no_mangle)]
pub extern "C" fn coord_cancel_token_reset(token: *const coord_cancel_token) -> coord_result {
    guard(|| {
        unsafe { handle(token, "token") }?.token.reset();
        Ok(())
    })
}

/// Frees a cancel token. NULL is fine. No call may be using it.
#[unsafe(no_mangle)]
pub extern "C" fn coord_cancel_token_free(token: *mut coord_cancel_token) {
    guard_value((), || {
        if !token.is_null() {
            drop(unsafe { Box::from_raw(token) });
        }
    })
}

/// The session id of `client`.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_client_session_id(
    client: *const coord_client,
    out: *mut u64,
) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let c = self::client(client)?;
        unsafe { put(out, c.session_id()) };
        Ok(())
    })
}

/// Closes the session: its ephemeral nodes are deleted at once, its watches
/// end with `COORD_RESULT_CLOSED`, later calls fail with
/// `COORD_RESULT_CLOSED`. Idempotent. The handle must still be freed.
#[unsafe(no_mangle)]
pub extern "C" fn coord_client_close(client: *const coord_client) -> coord_result {
    guard(|| {
        let c = self::client(client)?.clone();
        run(async move { c.close().await }, None)
    })
}

/// Closes the session if still open (waiting for the server, bounded by the
/// session timeout) and frees the handle. NULL is fine. Handles made from
/// this client (locks, elections, ...) stay valid memory but their calls
/// fail with `COORD_RESULT_CLOSED`; free them too.
#[unsafe(no_mangle)]
pub extern "C" fn coord_client_free(client: *mut coord_client) {
    guard_value((), || {
        if client.is_null() {
            return;
        }
        let c = unsafe { Box::from_raw(client) };
        if c.fork.check().is_ok() {
            let inner = c.client.clone();
            let _ = util::run_cleanup(async move { inner.close().await });
        }
        util::drop_in_runtime(c);
    })
}

/// Creates a node at `path` with `data_len` bytes of `data` (NULL allowed
/// when 0) and `mode` (`COORD_CREATE_*`; `ttl_ms` is used by the TTL modes
/// only). On success writes the created path (with its sequence suffix)
/// to `*out_path` and its stat to `*out_stat`, each only if not NULL.
///
/// Ownership: arguments are borrowed for the call; `*out_path` is owned by
/// the caller, free it with `coord_free_string`.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NODE_EXISTS`;
/// `COORD_RESULT_NO_NODE` (no parent);
/// `COORD_RESULT_NO_CHILDREN_FOR_EPHEMERALS`; `COORD_RESULT_TOO_LARGE`;
/// `COORD_RESULT_QUOTA_EXCEEDED`; argument errors; request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_create(
    client: *const coord_client,
    path: *const c_char,
    data: *const u8,
    data_len: usize,
    mode: coord_create_mode,
    ttl_ms: u64,
    out_path: *mut *mut c_char,
    out_stat: *mut coord_stat,
) -> coord_result {
    guard(|| {
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let data = unsafe { util::bytes(data, data_len, "data") }?;
        let mode = create_mode(mode, ttl_ms)?;
        let (created, stat) = run(
            async move { c.create_with_stat(&path, data, mode).await },
            None,
        )?;
        unsafe {
            if !out_path.is_null() {
                put(out_path, out_string(&created));
            }
            put(out_stat, stat.into());
        }
        Ok(())
    })
}

/// Reads a node: its data into `*out_data` / `*out_len` (NULL and 0 when
/// empty) and, if `out_stat` is not NULL, its stat. `COORD_RESULT_NO_NODE`
/// when it does not exist.
///
/// Ownership: `*out_data` is owned by the caller; free it with
/// `coord_free_bytes(data, len)`.
#[unsafe(no_mangle)]
pub extern "C" fn coord_get(
    client: *const coord_client,
    path: *const c_char,
    out_data: *mut *mut u8,
    out_len: *mut usize,
    out_stat: *mut coord_stat,
) -> coord_result {
    guard(|| {
        need(out_data, "out_data")?;
        need(out_len, "out_len")?;
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let (data, stat) = run(async move { c.get(&path).await }, None)?;
        let (p, n) = out_bytes(&data);
        unsafe {
            put(out_data, p);
            put(out_len, n);
            put(out_stat, stat.into());
        }
        Ok(())
    })
}

/// Replaces a node's data if its version is `version` (-1: any version;
/// else `COORD_RESULT_BAD_VERSION`). Writes the new stat to `*out_stat` if
/// not NULL.
#[unsafe(no_mangle)]
pub extern "C" fn coord_set(
    client: *const coord_client,
    path: *const c_char,
    data: *const u8,
    data_len: usize,
    version: i32,
    out_stat: *mut coord_stat,
) -> coord_result {
    guard(|| {
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let data = unsafe { util::bytes(data, data_len, "data") }?;
        let v = (version != -1).then_some(version);
        let stat = run(async move { c.set(&path, data, v).await }, None)?;
        unsafe { put(out_stat, stat.into()) };
        Ok(())
    })
}

/// Deletes a node if its version is `version` (-1: any version).
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NO_NODE`;
/// `COORD_RESULT_BAD_VERSION`; `COORD_RESULT_NOT_EMPTY`; argument errors;
/// request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_delete(
    client: *const coord_client,
    path: *const c_char,
    version: i32,
) -> coord_result {
    guard(|| {
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let v = (version != -1).then_some(version);
        run(async move { c.delete(&path, v).await }, None)
    })
}

/// Whether a node exists: writes `*out_exists`, and its stat to
/// `*out_stat` (if not NULL) when it exists.
///
/// Results: `COORD_RESULT_OK` (also when the node does not exist); argument
/// errors; request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_exists(
    client: *const coord_client,
    path: *const c_char,
    out_exists: *mut bool,
    out_stat: *mut coord_stat,
) -> coord_result {
    guard(|| {
        need(out_exists, "out_exists")?;
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let stat = run(async move { c.exists(&path).await }, None)?;
        unsafe {
            put(out_exists, stat.is_some());
            if let Some(s) = stat {
                put(out_stat, s.into());
            }
        }
        Ok(())
    })
}

/// The names (not paths) of a node's children, sorted by name (the server
/// lists them in name order), into
/// `*out_names` / `*out_len` (NULL and 0 when none).
///
/// Ownership: `*out_names` and its strings are owned by the caller; free
/// them with `coord_free_string_array(names, len)`.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NO_NODE`; argument errors;
/// request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_children(
    client: *const coord_client,
    path: *const c_char,
    out_names: *mut *mut *mut c_char,
    out_len: *mut usize,
) -> coord_result {
    guard(|| {
        need(out_names, "out_names")?;
        need(out_len, "out_len")?;
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let names = run(async move { c.children(&path).await }, None)?;
        let (p, n) = out_string_array(&names);
        unsafe {
            put(out_names, p);
            put(out_len, n);
        }
        Ok(())
    })
}

/// Applies `n` ops atomically: all or nothing. On success writes one
/// result per op to `*out_results` (NULL allowed: results dropped). If an op
/// fails nothing is applied; the result is that op's error and the last
/// error message starts with `op #i:`.
///
/// Ownership: `ops` are borrowed for the call; `*out_results` is owned by
/// the caller, free it with `coord_free_op_results(results, n)`.
///
/// Results: `COORD_RESULT_OK`; the failing op's error (`NO_NODE`,
/// `NODE_EXISTS`, `BAD_VERSION`, ...); argument errors (naming `ops[i]`);
/// request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_multi(
    client: *const coord_client,
    ops: *const coord_op,
    n: usize,
    out_results: *mut *mut coord_op_result,
) -> coord_result {
    guard(|| {
        let c = self::client(client)?.clone();
        let ops = ops_in(ops, n)?;
        let results = run(async move { c.multi(ops).await }, None)?;
        let (p, _) = results_out(results);
        if out_results.is_null() {
            coord_free_op_results(p, n);
        } else {
            unsafe { put(out_results, p) };
        }
        Ok(())
    })
}

/// Frees a result array from `coord_multi` or `coord_lock_guarded`, given
/// its number of ops. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_free_op_results(results: *mut coord_op_result, n: usize) {
    // SAFETY: made by Box::into_raw in results_out with n elements.
    guard_value((), || unsafe {
        util::free_array(results, n, |r| util::free_string(r.path))
    })
}

/// Waits until the server this client talks to has applied every write
/// committed before the call (later reads are then linearizable).
///
/// Results: `COORD_RESULT_OK`; argument errors; request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_sync(client: *const coord_client, path: *const c_char) -> coord_result {
    guard(|| {
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        run(async move { c.sync(&path).await }, None)
    })
}
