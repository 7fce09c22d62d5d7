//! The remaining recipes as C handles: `coord_barrier`,
//! `coord_double_barrier`, `coord_queue` and `coord_counter`. Each function
//! converts arguments and runs one core recipe call.

use std::ffi::c_char;

use ::coord_client::recipes::{Barrier, Counter, DoubleBarrier, Queue};

use crate::client::{cancel, client, coord_cancel_token, coord_client};
use crate::error::{Res, coord_result, guard, guard_value};
use crate::util::{self, handle, need, out_bytes, out_string, put, run, timeout};

/// Frees a boxed handle (NULL is fine) inside the runtime.
fn free_handle<T>(p: *mut T) {
    if !p.is_null() {
        util::drop_in_runtime(unsafe { Box::from_raw(p) });
    }
}

/// Boxes a new handle into `out` after the common checks.
fn new_handle<T>(
    client: *const coord_client,
    path: *const c_char,
    out: *mut *mut T,
    make: impl FnOnce(&::coord_client::client::Client, &str) -> Res<T>,
) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let c = self::client(client)?;
        let path = unsafe { util::path(path, "path") }?;
        let h = Box::new(make(c, &path)?);
        unsafe { put(out, Box::into_raw(h)) };
        Ok(())
    })
}

/// A barrier: while its node exists, waiters wait; removing it releases
/// them all.
pub struct coord_barrier {
    barrier: Barrier,
}

/// A barrier handle on `path`.
///
/// Ownership: `*out` is owned by the caller; free with `coord_barrier_free`.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_barrier_new(
    client: *const coord_client,
    path: *const c_char,
    out: *mut *mut coord_barrier,
) -> coord_result {
    new_handle(client, path, out, |c, p| {
        Ok(coord_barrier {
            barrier: Barrier::new(c, p),
        })
    })
}

fn barrier(p: *const coord_barrier) -> Res<Barrier> {
    Ok(unsafe { handle(p, "barrier") }?.barrier.clone())
}

/// Raises the barrier (raising a raised barrier is fine).
///
/// Results: `COORD_RESULT_OK`; argument errors; request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_barrier_set(barrier: *const coord_barrier) -> coord_result {
    guard(|| {
        let b = self::barrier(barrier)?;
        run(async move { b.set().await }, None)
    })
}

/// Lowers the barrier, releasing every waiter (lowering twice is fine).
///
/// Results: `COORD_RESULT_OK`; argument errors; request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_barrier_remove(barrier: *const coord_barrier) -> coord_result {
    guard(|| {
        let b = self::barrier(barrier)?;
        run(async move { b.remove().await }, None)
    })
}

/// Waits until the barrier is lowered (at once if it is not raised), at
/// most `timeout_ms` (-1: forever; `COORD_RESULT_OPERATION_TIMEOUT`
/// afterwards), cancellable through `cancel` (NULL: not cancellable).
#[unsafe(no_mangle)]
pub extern "C" fn coord_barrier_wait(
    barrier: *const coord_barrier,
    timeout_ms: i64,
    cancel: *const coord_cancel_token,
) -> coord_result {
    guard(|| {
        let b = self::barrier(barrier)?;
        let t = timeout(timeout_ms)?;
        run(
            async move {
                match t {
                    None => b.wait().await,
                    Some(t) => b.wait_timeout(t).await,
                }
            },
            self::cancel(cancel),
        )
    })
}

/// Frees a barrier handle (the barrier itself stays as it is). NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_barrier_free(barrier: *mut coord_barrier) {
    guard_value((), || free_handle(barrier))
}

/// One member of a double barrier: `count` members enter together and
/// leave together.
pub struct coord_double_barrier {
    barrier: DoubleBarrier,
}

/// Member `member_id` (one path segment, distinct per member) of the double
/// barrier of `count` members at `path`.
///
/// Ownership: `*out` is owned by the caller; free with
/// `coord_double_barrier_free`.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_double_barrier_new(
    client: *const coord_client,
    path: *const c_char,
    member_id: *const c_char,
    count: usize,
    out: *mut *mut coord_double_barrier,
) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let c = self::client(client)?;
        let path = unsafe { util::path(path, "path") }?;
        let member = unsafe { util::path(member_id, "member_id") }?;
        let h = Box::new(coord_double_barrier {
            barrier: DoubleBarrier::new(c, &path, &member, count),
        });
        unsafe { put(out, Box::into_raw(h)) };
        Ok(())
    })
}

fn double_barrier_call(
    barrier: *const coord_double_barrier,
    timeout_ms: i64,
    cancel: *const coord_cancel_token,
    enter: bool,
) -> coord_result {
    guard(|| {
        let b = unsafe { handle(barrier, "barrier") }?.barrier.clone();
        let t = timeout(timeout_ms)?;
        run(
            async move {
                match (enter, t) {
                    (true, None) => b.enter().await,
                    (true, Some(t)) => b.enter_timeout(t).await,
                    (false, None) => b.leave().await,
                    (false, Some(t)) => b.leave_timeout(t).await,
                }
            },
            self::cancel(cancel),
        )
    })
}

/// Enters and waits until `count` members have entered; timeout
/// (`COORD_RESULT_OPERATION_TIMEOUT`) and cancel as `coord_barrier_wait`.
#[unsafe(no_mangle)]
pub extern "C" fn coord_double_barrier_enter(
    barrier: *const coord_double_barrier,
    timeout_ms: i64,
    cancel: *const coord_cancel_token,
) -> coord_result {
    double_barrier_call(barrier, timeout_ms, cancel, true)
}

/// Leaves and waits until every member has left; timeout and cancel as
/// `coord_barrier_wait`.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_LOCK_TIMEOUT`;
/// `COORD_RESULT_CANCELLED`; argument errors; request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_double_barrier_leave(
    barrier: *const coord_double_barrier,
    timeout_ms: i64,
    cancel: *const coord_cancel_token,
) -> coord_result {
    double_barrier_call(barrier, timeout_ms, cancel, false)
}

/// Frees a double-barrier member handle. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_double_barrier_free(barrier: *mut coord_double_barrier) {
    guard_value((), || free_handle(barrier))
}

/// A distributed FIFO queue: every item goes to exactly one taker.
pub struct coord_queue {
    queue: Queue,
}

/// A queue handle on `path`.
///
/// Ownership: `*out` is owned by the caller; free with `coord_queue_free`.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_queue_new(
    client: *const coord_client,
    path: *const c_char,
    out: *mut *mut coord_queue,
) -> coord_result {
    new_handle(client, path, out, |c, p| {
        Ok(coord_queue {
            queue: Queue::new(c, p),
        })
    })
}

fn queue(p: *const coord_queue) -> Res<Queue> {
    Ok(unsafe { handle(p, "queue") }?.queue.clone())
}

/// Appends an item of `len` bytes. Writes the item's node path to
/// `*out_node` if not NULL. A put that fails with
/// `COORD_RESULT_CONNECTION_LOSS` may or may not have been applied.
///
/// Ownership: `data` is borrowed; `*out_node` is owned by the caller
/// (`coord_free_string`).
#[unsafe(no_mangle)]
pub extern "C" fn coord_queue_put(
    queue: *const coord_queue,
    data: *const u8,
    len: usize,
    out_node: *mut *mut c_char,
) -> coord_result {
    guard(|| {
        let q = self::queue(queue)?;
        let data = unsafe { util::bytes(data, len, "data") }?;
        let node = run(async move { q.put(data).await }, None)?;
        if !out_node.is_null() {
            unsafe { put(out_node, out_string(&node)) };
        }
        Ok(())
    })
}

/// Removes and returns the oldest item, waiting for one at most
/// `timeout_ms` (-1: forever; `COORD_RESULT_OPERATION_TIMEOUT`), cancellable
/// through `cancel` (prefer a timeout: a take cancelled while claiming can
/// lose that one item).
///
/// Ownership: `*out_data` is owned by the caller (`coord_free_bytes`).
#[unsafe(no_mangle)]
pub extern "C" fn coord_queue_take(
    queue: *const coord_queue,
    timeout_ms: i64,
    cancel: *const coord_cancel_token,
    out_data: *mut *mut u8,
    out_len: *mut usize,
) -> coord_result {
    guard(|| {
        need(out_data, "out_data")?;
        need(out_len, "out_len")?;
        let q = self::queue(queue)?;
        let t = timeout(timeout_ms)?;
        let item = run(
            async move {
                match t {
                    None => q.take().await,
                    Some(t) => q.take_timeout(t).await,
                }
            },
            self::cancel(cancel),
        )?;
        let (p, n) = out_bytes(&item);
        unsafe {
            put(out_data, p);
            put(out_len, n);
        }
        Ok(())
    })
}

/// Removes and returns the oldest item if there is one: writes whether it
/// did to `*out_taken`, and the item to `*out_data` / `*out_len` when it did.
///
/// Ownership: as `coord_queue_take`.
///
/// Results: `COORD_RESULT_OK` (taken or not); argument errors; request
/// errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_queue_try_take(
    queue: *const coord_queue,
    out_taken: *mut bool,
    out_data: *mut *mut u8,
    out_len: *mut usize,
) -> coord_result {
    guard(|| {
        need(out_taken, "out_taken")?;
        need(out_data, "out_data")?;
        need(out_len, "out_len")?;
        let q = self::queue(queue)?;
        let item = run(async move { q.try_take().await }, None)?;
        unsafe {
            put(out_taken, item.is_some());
            if let Some(item) = item {
                let (p, n) = out_bytes(&item);
                put(out_data, p);
                put(out_len, n);
            }
        }
        Ok(())
    })
}

/// The number of items in the queue.
///
/// Results: `COORD_RESULT_OK`; argument errors; request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_queue_len(queue: *const coord_queue, out_len: *mut usize) -> coord_result {
    guard(|| {
        let out = need(out_len, "out_len")?;
        let q = self::queue(queue)?;
        let n = run(async move { q.len().await }, None)?;
        unsafe { put(out, n) };
        Ok(())
    })
}

/// Frees a queue handle (the items stay). NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_queue_free(queue: *mut coord_queue) {
    guard_value((), || free_handle(queue))
}

/// A shared 64-bit counter stored in one node as decimal text.
pub struct coord_counter {
    counter: Counter,
}

/// A counter handle on `path` (a missing node counts as 0).
///
/// Ownership: `*out` is owned by the caller; free with `coord_counter_free`.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_counter_new(
    client: *const coord_client,
    path: *const c_char,
    out: *mut *mut coord_counter,
) -> coord_result {
    new_handle(client, path, out, |c, p| {
        Ok(coord_counter {
            counter: Counter::new(c, p),
        })
    })
}

fn counter(p: *const coord_counter) -> Res<Counter> {
    Ok(unsafe { handle(p, "counter") }?.counter.clone())
}

/// The counter's value.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_BAD_ARGUMENTS` (the node holds
/// no counter); argument errors; request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_counter_get(
    counter: *const coord_counter,
    out_value: *mut i64,
) -> coord_result {
    guard(|| {
        let out = need(out_value, "out_value")?;
        let c = self::counter(counter)?;
        let v = run(async move { c.get().await }, None)?;
        unsafe { put(out, v) };
        Ok(())
    })
}

/// Adds `delta` and writes the new value to `*out_value` if not NULL.
/// `COORD_RESULT_CONNECTION_LOSS`: the change may or may not have been made.
#[unsafe(no_mangle)]
pub extern "C" fn coord_counter_add(
    counter: *const coord_counter,
    delta: i64,
    out_value: *mut i64,
) -> coord_result {
    guard(|| {
        let c = self::counter(counter)?;
        let v = run(async move { c.add(delta).await }, None)?;
        unsafe { put(out_value, v) };
        Ok(())
    })
}

/// Sets the value unconditionally.
///
/// Results: `COORD_RESULT_OK`; argument errors; request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_counter_set(counter: *const coord_counter, value: i64) -> coord_result {
    guard(|| {
        let c = self::counter(counter)?;
        run(async move { c.set(value).await }, None)
    })
}

/// Sets the value to `new_value` only if it is `expected`; writes whether
/// it did to `*out_swapped`.
///
/// Results: `COORD_RESULT_OK` (swapped or not); argument errors; request
/// errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_counter_compare_and_set(
    counter: *const coord_counter,
    expected: i64,
    new_value: i64,
    out_swapped: *mut bool,
) -> coord_result {
    guard(|| {
        let out = need(out_swapped, "out_swapped")?;
        let c = self::counter(counter)?;
        let swapped = run(
            async move { c.compare_and_set(expected, new_value).await },
            None,
        )?;
        unsafe { put(out, swapped) };
        Ok(())
    })
}

/// Frees a counter handle (the value stays). NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_counter_free(counter: *mut coord_counter) {
    guard_value((), || free_handle(counter))
}
