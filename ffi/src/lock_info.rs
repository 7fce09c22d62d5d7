//! `coord_lock_info`: who holds a lock (read-write lock, election) and who
//! waits, as the core's `Client::lock_info` reads it, converted into an
//! owned C struct (`coord_lock_line`) and its free function. Holds no lock
//! logic: the hold decision is the core recipes'.

use std::ffi::c_char;

use ::coord_client::recipes::sequence::LockNode;
use ::coord_client::recipes::{Contender, LockInfo};

use crate::client::client;
use crate::error::{coord_result, guard, guard_value};
use crate::util::{self, need, out_string, put, run};

/// Kind of a node in a lock's line (one of the `COORD_LOCK_NODE_*` values).
#[allow(non_camel_case_types)]
pub type coord_lock_node_kind = u32;
/// Exclusive: a mutex holder or waiter, a writer, an election candidate.
pub const COORD_LOCK_NODE_EXCLUSIVE: coord_lock_node_kind = 0;
/// Shared: a reader of a read-write lock.
pub const COORD_LOCK_NODE_SHARED: coord_lock_node_kind = 1;
/// Lease: a semaphore's lease (holders are the first N by sequence).
pub const COORD_LOCK_NODE_LEASE: coord_lock_node_kind = 2;

/// One node in a lock's line. Strings are owned by the enclosing
/// `coord_lock_line`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct coord_lock_contender {
    /// The node's name (`<owner>__lock__NNNNNNNNNN` or `...__rlock__...`).
    pub node: *mut c_char,
    /// The owner id the name starts with.
    pub owner: *mut c_char,
    /// `COORD_LOCK_NODE_EXCLUSIVE`, `COORD_LOCK_NODE_SHARED` or
    /// `COORD_LOCK_NODE_LEASE`.
    pub kind: coord_lock_node_kind,
    /// The session holding the node.
    pub session: u64,
    /// The fencing token a holder got (the node's czxid).
    pub token: u64,
    /// When the node joined the line, ms since the Unix epoch.
    pub since_ms: i64,
}

/// A lock's line at one moment, from `coord_lock_info`. Free it with
/// `coord_lock_line_free`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct coord_lock_line {
    /// The lock's path.
    pub path: *mut c_char,
    /// Who holds it (one exclusive holder, or any number of readers);
    /// NULL when `holders_len` is 0.
    pub holders: *mut coord_lock_contender,
    /// Number of holders.
    pub holders_len: usize,
    /// Who waits, in line order; NULL when `waiters_len` is 0.
    pub waiters: *mut coord_lock_contender,
    /// Number of waiters.
    pub waiters_len: usize,
}

fn kind(k: &LockNode) -> coord_lock_node_kind {
    match k {
        LockNode::Exclusive => COORD_LOCK_NODE_EXCLUSIVE,
        LockNode::Shared => COORD_LOCK_NODE_SHARED,
        LockNode::Lease => COORD_LOCK_NODE_LEASE,
    }
}

fn contenders_out(list: &[Contender]) -> (*mut coord_lock_contender, usize) {
    if list.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    let boxed: Box<[coord_lock_contender]> = list
        .iter()
        .map(|c| coord_lock_contender {
            node: out_string(&c.node),
            owner: out_string(&c.owner),
            kind: kind(&c.kind),
            session: c.session,
            token: c.token,
            since_ms: c.since_ms,
        })
        .collect();
    let n = boxed.len();
    (Box::into_raw(boxed).cast::<coord_lock_contender>(), n)
}

fn line_out(info: &LockInfo) -> coord_lock_line {
    let (holders, holders_len) = contenders_out(&info.holders);
    let (waiters, waiters_len) = contenders_out(&info.waiters);
    coord_lock_line {
        path: out_string(&info.path),
        holders,
        holders_len,
        waiters,
        waiters_len,
    }
}

/// Frees an array made by `contenders_out`, strings included.
///
/// # Safety
/// `p` is NULL or came from `contenders_out` with `n` elements.
unsafe fn free_contenders(p: *mut coord_lock_contender, n: usize) {
    // SAFETY: made by Box::into_raw in contenders_out with n elements.
    unsafe {
        util::free_array(p, n, |c| {
            util::free_string(c.node);
            util::free_string(c.owner);
        })
    }
}

/// Who holds the lock (read-write lock, election) at `path` and who waits,
/// in line order (empty lists when nobody contends; `COORD_RESULT_NO_NODE`
/// when `path` does not exist). Needs no standing in the lock.
///
/// Ownership: `*out_line` is owned by the caller, with every array and
/// string in it; free it with `coord_lock_line_free`.
#[unsafe(no_mangle)]
pub extern "C" fn coord_lock_info(
    client: *const crate::client::coord_client,
    path: *const c_char,
    out_line: *mut *mut coord_lock_line,
) -> coord_result {
    guard(|| {
        let out = need(out_line, "out_line")?;
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let info = run(async move { c.lock_info(&path).await }, None)?;
        let line = Box::new(line_out(&info));
        unsafe { put(out, Box::into_raw(line)) };
        Ok(())
    })
}

/// Frees a `coord_lock_line` from `coord_lock_info`, with its arrays and
/// strings. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_lock_line_free(line: *mut coord_lock_line) {
    guard_value((), || {
        if line.is_null() {
            return;
        }
        // SAFETY: made by Box::into_raw in coord_lock_info.
        let l = unsafe { Box::from_raw(line) };
        unsafe {
            util::free_string(l.path);
            free_contenders(l.holders, l.holders_len);
            free_contenders(l.waiters, l.waiters_len);
        }
    })
}
