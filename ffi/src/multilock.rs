//! `coord_multi_lock`: several mutexes taken together, all or nothing, in
//! one global order (sorted by path, so two multi-locks over overlapping
//! sets cannot deadlock). Wraps [`::coord_client::recipes::MultiLock`]; the
//! only logic here is the ABI's: the token array, and releasing whatever was
//! taken when an acquire fails, times out or is cancelled, so a failed
//! acquire leaves no lock held and no waiting node on the server.

use std::ffi::c_char;
use std::sync::Arc;

use ::coord_client::recipes::MultiLock;

use crate::client::{cancel, client, coord_cancel_token, coord_client};
use crate::error::{Fail, Res, coord_result, guard, guard_value};
use crate::util::{self, handle, need, out_string_array, put, run, timeout};

/// Several mutexes acquired together (see `coord_multi_lock_new`). Safe to
/// share between threads; one acquire at a time per handle.
pub struct coord_multi_lock {
    locks: Arc<MultiLock>,
}

fn multi_lock<'a>(p: *const coord_multi_lock) -> Res<&'a coord_multi_lock> {
    unsafe { handle(p, "multi_lock") }
}

/// A multi-lock over the `n` mutex paths in `paths` (the directories of
/// their waiting lines, the same paths `coord_lock_new` takes, so a
/// multi-lock and single locks on one path exclude each other). Duplicates
/// are dropped; the locks are taken in path order.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NULL_PARAMETER` (`client`,
/// `paths` when `n` > 0, a NULL element, `out`); `COORD_RESULT_INVALID_PATH`
/// (naming `paths[i]`); `COORD_RESULT_BAD_ARGUMENTS` (`n` is 0).
///
/// Ownership: `paths` and its strings are borrowed for the call; `*out` is
/// owned by the caller, free it with `coord_multi_lock_free`.
/// Threads: any thread; no I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_multi_lock_new(
    client: *const coord_client,
    paths: *const *const c_char,
    n: usize,
    out: *mut *mut coord_multi_lock,
) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let c = self::client(client)?;
        if n == 0 {
            return Err(Fail::bad(
                "paths: a multi-lock needs at least one path (n is 0)",
            ));
        }
        if paths.is_null() {
            return Err(Fail::null("paths"));
        }
        // SAFETY: non-NULL, n elements by the caller's promise.
        let raw = unsafe { std::slice::from_raw_parts(paths, n) };
        let owned = raw
            .iter()
            .enumerate()
            .map(|(i, p)| unsafe { util::path(*p, &format!("paths[{i}]")) })
            .collect::<Res<Vec<String>>>()?;
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        let m = Box::new(coord_multi_lock {
            locks: Arc::new(MultiLock::new(c, &refs)),
        });
        unsafe { put(out, Box::into_raw(m)) };
        Ok(())
    })
}

/// The number of distinct locks (the length `coord_multi_lock_acquire`
/// needs for its token array) into `*out_len`.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NULL_PARAMETER`.
/// Threads: any thread; answers at once.
#[unsafe(no_mangle)]
pub extern "C" fn coord_multi_lock_len(
    multi_lock: *const coord_multi_lock,
    out_len: *mut usize,
) -> coord_result {
    guard(|| {
        let out = need(out_len, "out_len")?;
        let m = self::multi_lock(multi_lock)?;
        unsafe { put(out, m.locks.locks().len()) };
        Ok(())
    })
}

/// The lock paths in acquisition order (sorted, duplicates dropped) into
/// `*out_paths` / `*out_len`.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NULL_PARAMETER`.
/// Ownership: `*out_paths` and its strings are owned by the caller; free
/// them with `coord_free_string_array(paths, len)`.
/// Threads: any thread; answers at once.
#[unsafe(no_mangle)]
pub extern "C" fn coord_multi_lock_paths(
    multi_lock: *const coord_multi_lock,
    out_paths: *mut *mut *mut c_char,
    out_len: *mut usize,
) -> coord_result {
    guard(|| {
        need(out_paths, "out_paths")?;
        need(out_len, "out_len")?;
        let m = self::multi_lock(multi_lock)?;
        let paths: Vec<String> = m
            .locks
            .locks()
            .iter()
            .map(|l| l.path().to_string())
            .collect();
        let (p, n) = out_string_array(&paths);
        unsafe {
            put(out_paths, p);
            put(out_len, n);
        }
        Ok(())
    })
}

/// Acquires every lock, in path order, within `timeout_ms` in total (-1:
/// forever), cancellable through `cancel` (NULL: not cancellable). All or
/// nothing: on a timeout, a cancel or any error the locks taken so far are
/// released and every waiting node is deleted before this returns.
/// On success writes one fencing token per lock, in acquisition order (see
/// `coord_multi_lock_paths`), to `out_tokens` if not NULL; it must then have
/// room for `tokens_len` >= `coord_multi_lock_len` tokens.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_LOCK_TIMEOUT`;
/// `COORD_RESULT_CANCELLED`; `COORD_RESULT_BAD_ARGUMENTS` (already held by
/// this handle, `tokens_len` too small, `timeout_ms` < -1);
/// `COORD_RESULT_NULL_PARAMETER`; the connection and session errors
/// (`CONNECTION_LOSS`, `SESSION_EXPIRED`, `CLOSED`).
///
/// Ownership: `out_tokens` is the caller's array, written only on success.
/// Threads: blocks the calling thread; another thread may cancel it.
#[unsafe(no_mangle)]
pub extern "C" fn coord_multi_lock_acquire(
    multi_lock: *const coord_multi_lock,
    timeout_ms: i64,
    cancel: *const coord_cancel_token,
    out_tokens: *mut u64,
    tokens_len: usize,
) -> coord_result {
    guard(|| {
        let m = self::multi_lock(multi_lock)?;
        let n = m.locks.locks().len();
        if !out_tokens.is_null() && tokens_len < n {
            return Err(Fail::bad(format!(
                "tokens_len is {tokens_len}: the multi-lock has {n} locks, one token each"
            )));
        }
        if m.locks.locks().iter().any(|l| l.token().is_some()) {
            return Err(Fail::bad(
                "multi-lock: already held by this handle; release it before acquiring again",
            ));
        }
        let t = timeout(timeout_ms)?;
        let locks = Arc::clone(&m.locks);
        let got = run(
            async move {
                match t {
                    None => locks.acquire().await,
                    Some(t) => locks.acquire_timeout(t).await,
                }
            },
            self::cancel(cancel),
        );
        let tokens = match got {
            Ok(tokens) => tokens,
            Err(e) => {
                // A cancel drops the acquire midway: the lock it waited for
                // deletes its node, the ones already taken are released here.
                let locks = Arc::clone(&m.locks);
                let _ = util::run_cleanup(async move { locks.release().await });
                return Err(e);
            }
        };
        if !out_tokens.is_null() {
            // SAFETY: room for tokens_len >= n tokens by the caller's promise.
            let out = unsafe { std::slice::from_raw_parts_mut(out_tokens, n) };
            out.copy_from_slice(&tokens);
        }
        Ok(())
    })
}

/// Whether this handle holds every one of its locks now (acquired and none
/// lost) into `*out_held`.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NULL_PARAMETER`.
/// Threads: any thread; answers at once.
#[unsafe(no_mangle)]
pub extern "C" fn coord_multi_lock_is_held(
    multi_lock: *const coord_multi_lock,
    out_held: *mut bool,
) -> coord_result {
    guard(|| {
        let out = need(out_held, "out_held")?;
        let m = self::multi_lock(multi_lock)?;
        unsafe { put(out, m.locks.locks().iter().all(|l| l.is_held())) };
        Ok(())
    })
}

/// Releases every lock (in reverse order), trying all of them.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NOT_HELD` when not held; the
/// first error of a release that failed (the others were still tried;
/// a lock whose release failed goes with the session).
/// Threads: blocks for the round trips, bounded by the session timeout.
#[unsafe(no_mangle)]
pub extern "C" fn coord_multi_lock_release(multi_lock: *const coord_multi_lock) -> coord_result {
    guard(|| {
        let m = self::multi_lock(multi_lock)?;
        if m.locks.locks().iter().all(|l| l.token().is_none()) {
            return Err(Fail::new(
                coord_result::NotHeld,
                "multi-lock: not held by this handle",
            ));
        }
        let locks = Arc::clone(&m.locks);
        run(async move { locks.release().await }, None)
    })
}

/// Frees a multi-lock handle; held locks are released in the background.
/// NULL is fine. No call may be using the handle.
#[unsafe(no_mangle)]
pub extern "C" fn coord_multi_lock_free(multi_lock: *mut coord_multi_lock) {
    guard_value((), || {
        if !multi_lock.is_null() {
            util::drop_in_runtime(unsafe { Box::from_raw(multi_lock) });
        }
    })
}
