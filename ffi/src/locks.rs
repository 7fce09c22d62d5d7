//! Lock handles: `coord_lock` (mutex with fencing token, lost callback and
//! guarded multi) and `coord_rwlock` (semaphores are in `semaphore`).
//! Thin wrappers over [`::coord_client::recipes`]; waiting calls take a timeout
//! and an optional cancel token. Status calls (`coord_lock_is_held`,
//! `coord_lock_token`, `coord_lease_is_lost`) answer at once, also while
//! another thread waits in `coord_lock_acquire` on the same handle.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use ::coord_client::recipes::{Lock, RwLock};

use crate::client::{
    cancel, client, coord_cancel_token, coord_client, coord_op, coord_op_result, ops_in,
    results_out,
};
use crate::error::{Fail, Res, coord_result, guard, guard_value};
use crate::lost::{LostCallback, coord_lost_fn};
use crate::util::{self, handle, need, put, run, timeout};

/// A distributed mutex handle on one path. The handle is the owner: it is
/// re-entrant (acquiring it again while held counts up and returns the same
/// token), so threads that must exclude each other use one handle each.
/// Create with `coord_lock_new`, free with `coord_lock_free`.
pub struct coord_lock {
    lock: Arc<Lock>,
    lost: LostCallback,
}

/// Acquires `lock` (a `Lock` side) with `timeout_ms` and `cancel`.
fn acquire(lock: &Arc<Lock>, timeout_ms: i64, tok: *const coord_cancel_token) -> Res<u64> {
    let t = timeout(timeout_ms)?;
    let l = Arc::clone(lock);
    run(
        async move {
            match t {
                None => l.acquire().await,
                Some(t) => l.acquire_timeout(t).await,
            }
        },
        cancel(tok),
    )
}

/// Releases one hold; true when the lock is no longer held.
fn release(lock: &Arc<Lock>) -> Res<bool> {
    let l = Arc::clone(lock);
    run(
        async move {
            l.release().await?;
            Ok(l.token().is_none())
        },
        None,
    )
}

fn arm(lock: &Lock, lost: &LostCallback) {
    lost.arm(lock.lost_signal());
}

fn lock<'a>(p: *const coord_lock) -> Res<&'a coord_lock> {
    unsafe { handle(p, "lock") }
}

/// A mutex handle on `path` (the directory of its waiting line).
///
/// Ownership: `*out` is owned by the caller; free with `coord_lock_free`.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_lock_new(
    client: *const coord_client,
    path: *const c_char,
    out: *mut *mut coord_lock,
) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let c = self::client(client)?;
        let path = unsafe { util::path(path, "path") }?;
        let l = Box::new(coord_lock {
            lock: Arc::new(Lock::new(c, &path)),
            lost: LostCallback::default(),
        });
        unsafe { put(out, Box::into_raw(l)) };
        Ok(())
    })
}

/// Waits for the lock, at most `timeout_ms` (-1: forever;
/// `COORD_RESULT_LOCK_TIMEOUT` afterwards), cancellable through `cancel`
/// (NULL: not cancellable; `COORD_RESULT_CANCELLED`). Writes the fencing
/// token (strictly increasing from holder to holder) to `*out_token` if not
/// NULL. On timeout or cancel the waiting node is deleted.
#[unsafe(no_mangle)]
pub extern "C" fn coord_lock_acquire(
    lock: *const coord_lock,
    timeout_ms: i64,
    cancel: *const coord_cancel_token,
    out_token: *mut u64,
) -> coord_result {
    guard(|| {
        let h = self::lock(lock)?;
        let token = acquire(&h.lock, timeout_ms, cancel)?;
        arm(&h.lock, &h.lost);
        unsafe { put(out_token, token) };
        Ok(())
    })
}

/// Takes the lock only if nobody holds or waits for it; never waits (not
/// acquired while another thread waits in `coord_lock_acquire` on this
/// handle).
/// Writes whether it did to `*out_acquired` and, when it did, the token to
/// `*out_token` (if not NULL).
///
/// Results: `COORD_RESULT_OK` (acquired or not); argument errors; request
/// errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_lock_try_acquire(
    lock: *const coord_lock,
    out_acquired: *mut bool,
    out_token: *mut u64,
) -> coord_result {
    guard(|| {
        need(out_acquired, "out_acquired")?;
        let h = self::lock(lock)?;
        let l = Arc::clone(&h.lock);
        let got = run(async move { l.try_acquire().await }, None)?;
        if got.is_some() {
            arm(&h.lock, &h.lost);
        }
        unsafe {
            put(out_acquired, got.is_some());
            if let Some(t) = got {
                put(out_token, t);
            }
        }
        Ok(())
    })
}

/// Releases one hold (the lock is let go when every acquire was released).
/// `COORD_RESULT_NOT_HELD` when not held; releasing a lost lock succeeds.
/// Once let go, the lost callback of this hold will not run any more.
#[unsafe(no_mangle)]
pub extern "C" fn coord_lock_release(lock: *const coord_lock) -> coord_result {
    guard(|| {
        let h = self::lock(lock)?;
        if release(&h.lock)? {
            h.lost.disarm();
        }
        Ok(())
    })
}

/// The fencing token of the current hold; `COORD_RESULT_NOT_HELD` if none.
/// Answers at once (also while an acquire of this handle waits).
#[unsafe(no_mangle)]
pub extern "C" fn coord_lock_token(lock: *const coord_lock, out_token: *mut u64) -> coord_result {
    guard(|| {
        let out = need(out_token, "out_token")?;
        let h = self::lock(lock)?;
        let t = h.lock.token().ok_or_else(|| {
            Fail::new(
                coord_result::NotHeld,
                format!("{} is not held by this handle", h.lock.path()),
            )
        })?;
        unsafe { put(out, t) };
        Ok(())
    })
}

/// Whether this handle holds the lock now (held and not lost). Answers at
/// once (false while an acquire of this handle still waits).
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_lock_is_held(lock: *const coord_lock, out_held: *mut bool) -> coord_result {
    guard(|| {
        let out = need(out_held, "out_held")?;
        let h = self::lock(lock)?;
        unsafe { put(out, h.lock.is_held()) };
        Ok(())
    })
}

/// Registers `callback(userdata)` to run when a hold of this handle is lost
/// (session expired, or the lock node deleted by someone else): once per
/// hold, on the library's callback thread. Applies to the current hold
/// and every later one. NULL `callback` unregisters; after this call returns
/// the previous callback does not run any more.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_lock_on_lost(
    lock: *const coord_lock,
    callback: coord_lost_fn,
    userdata: *mut c_void,
) -> coord_result {
    guard(|| {
        let h = self::lock(lock)?;
        h.lost.set(callback, userdata);
        arm(&h.lock, &h.lost);
        Ok(())
    })
}

/// Applies `n` ops atomically only while this handle still holds the lock
/// (`COORD_RESULT_LOCK_LOST` and nothing written otherwise;
/// `COORD_RESULT_NOT_HELD` when not held). Results as `coord_multi`.
///
/// Ownership: as `coord_multi` (`coord_free_op_results`).
#[unsafe(no_mangle)]
pub extern "C" fn coord_lock_guarded(
    lock: *const coord_lock,
    ops: *const coord_op,
    n: usize,
    out_results: *mut *mut coord_op_result,
) -> coord_result {
    guard(|| {
        let h = self::lock(lock)?;
        let ops = ops_in(ops, n)?;
        let l = Arc::clone(&h.lock);
        let results = run(async move { l.guarded(ops).await }, None)?;
        let (p, len) = results_out(results);
        if out_results.is_null() {
            crate::client::coord_free_op_results(p, len);
        } else {
            unsafe { put(out_results, p) };
        }
        Ok(())
    })
}

/// Frees a lock handle; a held lock is released in the background. The
/// lost callback does not run after this returns. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_lock_free(lock: *mut coord_lock) {
    guard_value((), || {
        if lock.is_null() {
            return;
        }
        let h = unsafe { Box::from_raw(lock) };
        h.lost.set(None, std::ptr::null_mut());
        util::drop_in_runtime(h);
    })
}

/// A read-write lock handle on one path: many readers or one writer, FIFO
/// across kinds. Each side is re-entrant per handle like `coord_lock`.
pub struct coord_rwlock {
    read: Arc<Lock>,
    write: Arc<Lock>,
}

fn rwlock<'a>(p: *const coord_rwlock) -> Res<&'a coord_rwlock> {
    unsafe { handle(p, "rwlock") }
}

/// A read-write lock handle on `path`.
///
/// Ownership: `*out` is owned by the caller; free with `coord_rwlock_free`.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_rwlock_new(
    client: *const coord_client,
    path: *const c_char,
    out: *mut *mut coord_rwlock,
) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let c = self::client(client)?;
        let path = unsafe { util::path(path, "path") }?;
        let rw = RwLock::new(c, &path);
        let h = Box::new(coord_rwlock {
            read: Arc::new(rw.read),
            write: Arc::new(rw.write),
        });
        unsafe { put(out, Box::into_raw(h)) };
        Ok(())
    })
}

/// Takes the shared side. Timeout, cancel and token as `coord_lock_acquire`.
///
/// Results: as `coord_lock_acquire`.
#[unsafe(no_mangle)]
pub extern "C" fn coord_rwlock_read_acquire(
    rwlock: *const coord_rwlock,
    timeout_ms: i64,
    cancel: *const coord_cancel_token,
    out_token: *mut u64,
) -> coord_result {
    guard(|| {
        let t = acquire(&self::rwlock(rwlock)?.read, timeout_ms, cancel)?;
        unsafe { put(out_token, t) };
        Ok(())
    })
}

/// Releases the shared side (`COORD_RESULT_NOT_HELD` if not held).
#[unsafe(no_mangle)]
pub extern "C" fn coord_rwlock_read_release(rwlock: *const coord_rwlock) -> coord_result {
    guard(|| release(&self::rwlock(rwlock)?.read).map(drop))
}

/// Takes the exclusive side. Timeout, cancel and token as `coord_lock_acquire`.
///
/// Results: as `coord_lock_acquire`.
#[unsafe(no_mangle)]
pub extern "C" fn coord_rwlock_write_acquire(
    rwlock: *const coord_rwlock,
    timeout_ms: i64,
    cancel: *const coord_cancel_token,
    out_token: *mut u64,
) -> coord_result {
    guard(|| {
        let t = acquire(&self::rwlock(rwlock)?.write, timeout_ms, cancel)?;
        unsafe { put(out_token, t) };
        Ok(())
    })
}

/// Releases the exclusive side (`COORD_RESULT_NOT_HELD` if not held).
#[unsafe(no_mangle)]
pub extern "C" fn coord_rwlock_write_release(rwlock: *const coord_rwlock) -> coord_result {
    guard(|| release(&self::rwlock(rwlock)?.write).map(drop))
}

/// Frees a read-write lock handle; held sides are released in the
/// background. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_rwlock_free(rwlock: *mut coord_rwlock) {
    guard_value((), || {
        if !rwlock.is_null() {
            util::drop_in_runtime(unsafe { Box::from_raw(rwlock) });
        }
    })
}
