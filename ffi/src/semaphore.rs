//! Semaphore handles: `coord_semaphore` (at most N holders of a path) and
//! the `coord_lease` each acquire gives, with its token and lost callback.
//! Thin wrappers over [`::coord_client::recipes::Semaphore`]; waiting calls
//! take a timeout and an optional cancel token.

use std::ffi::{c_char, c_void};
use std::sync::Mutex;

use ::coord_client::recipes::{Lease, Semaphore};
use tokio::sync::watch;

use crate::client::{cancel, client, coord_cancel_token, coord_client};
use crate::error::{Fail, coord_result, guard, guard_value};
use crate::lost::{LostCallback, coord_lost_fn};
use crate::util::{self, handle, need, put, run, timeout};

/// A counting semaphore handle: at most `leases` holders at once on a path.
pub struct coord_semaphore {
    sem: Semaphore,
}

/// One held lease of a semaphore.
pub struct coord_lease {
    lease: Mutex<Option<Lease>>,
    token: u64,
    /// Turns true when the lease is lost (kept for `coord_lease_is_lost`).
    lost_signal: watch::Receiver<bool>,
    lost: LostCallback,
}

/// A semaphore handle on `path` with `leases` leases (every participant
/// must use the same number; `COORD_RESULT_BAD_ARGUMENTS` otherwise, on
/// acquire).
///
/// Ownership: `*out` is owned by the caller; free with `coord_semaphore_free`.
#[unsafe(no_mangle)]
pub extern "C" fn coord_semaphore_new(
    client: *const coord_client,
    path: *const c_char,
    leases: usize,
    out: *mut *mut coord_semaphore,
) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let c = self::client(client)?;
        let path = unsafe { util::path(path, "path") }?;
        if leases == 0 {
            return Err(Fail::bad("leases must be at least 1"));
        }
        let h = Box::new(coord_semaphore {
            sem: Semaphore::new(c, &path, leases),
        });
        unsafe { put(out, Box::into_raw(h)) };
        Ok(())
    })
}

fn lease_out(lease: Lease) -> *mut coord_lease {
    let token = lease.token();
    let lost_signal = lease.lost_signal();
    Box::into_raw(Box::new(coord_lease {
        lease: Mutex::new(Some(lease)),
        token,
        lost_signal,
        lost: LostCallback::default(),
    }))
}

/// Waits for a lease; timeout and cancel as `coord_lock_acquire`.
///
/// Ownership: `*out_lease` is owned by the caller; give it back with
/// `coord_lease_release` and free it with `coord_lease_free`.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_LOCK_TIMEOUT`;
/// `COORD_RESULT_CANCELLED`; argument errors; request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_semaphore_acquire(
    semaphore: *const coord_semaphore,
    timeout_ms: i64,
    cancel: *const coord_cancel_token,
    out_lease: *mut *mut coord_lease,
) -> coord_result {
    guard(|| {
        let out = need(out_lease, "out_lease")?;
        let s = unsafe { handle(semaphore, "semaphore") }?.sem.clone();
        let t = timeout(timeout_ms)?;
        let lease = run(
            async move {
                match t {
                    None => s.acquire().await,
                    Some(t) => s.acquire_timeout(t).await,
                }
            },
            self::cancel(cancel),
        )?;
        unsafe { put(out, lease_out(lease)) };
        Ok(())
    })
}

/// Takes a lease only if one is free now; `*out_lease` is the lease, or
/// NULL when none was free.
///
/// Ownership: as `coord_semaphore_acquire`.
///
/// Results: `COORD_RESULT_OK` (a lease or NULL); argument errors; request
/// errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_semaphore_try_acquire(
    semaphore: *const coord_semaphore,
    out_lease: *mut *mut coord_lease,
) -> coord_result {
    guard(|| {
        let out = need(out_lease, "out_lease")?;
        let s = unsafe { handle(semaphore, "semaphore") }?.sem.clone();
        let lease = run(async move { s.try_acquire().await }, None)?;
        unsafe { put(out, lease.map_or(std::ptr::null_mut(), lease_out)) };
        Ok(())
    })
}

/// The lease's token (the czxid of its node; increases with every lease).
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_lease_token(
    lease: *const coord_lease,
    out_token: *mut u64,
) -> coord_result {
    guard(|| {
        let out = need(out_token, "out_token")?;
        let l = unsafe { handle(lease, "lease") }?;
        unsafe { put(out, l.token) };
        Ok(())
    })
}

/// Whether the lease was lost (session expired, or its node deleted by
/// someone else) while held. Answers at once; false after release.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_lease_is_lost(
    lease: *const coord_lease,
    out_lost: *mut bool,
) -> coord_result {
    guard(|| {
        let out = need(out_lost, "out_lost")?;
        let l = unsafe { handle(lease, "lease") }?;
        unsafe { put(out, *l.lost_signal.borrow()) };
        Ok(())
    })
}

/// Registers `callback(userdata)` to run when the lease is lost (session
/// expired, or its node deleted by someone else): once, on the library's
/// callback thread, as `coord_lock_on_lost`. NULL unregisters; after this
/// call returns the previous callback does not run any more, nor after
/// `coord_lease_release` or `coord_lease_free` has returned.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_lease_on_lost(
    lease: *const coord_lease,
    callback: coord_lost_fn,
    userdata: *mut c_void,
) -> coord_result {
    guard(|| {
        let l = unsafe { handle(lease, "lease") }?;
        l.lost.set(callback, userdata);
        let held = l.lease.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        if held {
            l.lost.arm(Some(l.lost_signal.clone()));
        }
        Ok(())
    })
}

/// Gives the lease back now. Releasing twice is `COORD_RESULT_NOT_HELD`.
/// The handle must still be freed. The lost callback does not run after
/// this returns.
#[unsafe(no_mangle)]
pub extern "C" fn coord_lease_release(lease: *const coord_lease) -> coord_result {
    guard(|| {
        let l = unsafe { handle(lease, "lease") }?;
        l.lost.disarm();
        let taken = l.lease.lock().unwrap_or_else(|p| p.into_inner()).take();
        let taken =
            taken.ok_or_else(|| Fail::new(coord_result::NotHeld, "lease already released"))?;
        run(async move { taken.release().await }, None)
    })
}

/// Frees a lease handle, releasing the lease in the background if it was
/// not released. The lost callback does not run after this returns. NULL
/// is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_lease_free(lease: *mut coord_lease) {
    guard_value((), || {
        if !lease.is_null() {
            let l = unsafe { Box::from_raw(lease) };
            l.lost.set(None, std::ptr::null_mut());
            util::drop_in_runtime(l);
        }
    })
}

/// Frees a semaphore handle (leases stay held until released). NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_semaphore_free(semaphore: *mut coord_semaphore) {
    guard_value((), || {
        if !semaphore.is_null() {
            util::drop_in_runtime(unsafe { Box::from_raw(semaphore) });
        }
    })
}
