//! Call limits: a timeout and a cancel token that bound every blocking
//! libcoord call the calling thread makes until it clears them
//! (`coord_set_call_limits`). Functions whose wait is the point (lock
//! acquires, campaigns, barrier waits, queue takes, group joins) also take
//! `timeout_ms` and `cancel` arguments; the limits set here apply on top,
//! to those and to every other blocking call (node operations, releases,
//! connects...), without changing their signatures.
//!
//! Owns only the per-thread state; `util::run` reads it. Clean-up work the
//! library does on its own (releasing what a failed multi-lock took,
//! closing a freed client or cache) runs through `util::run_cleanup`, which
//! ignores these limits so that a cancelled token cannot leave anything
//! behind.

use std::cell::RefCell;
use std::time::Duration;

use ::coord_client::embed::CancelToken;

use crate::client::{cancel, coord_cancel_token};
use crate::error::{coord_result, guard};
use crate::util::timeout;

#[derive(Default, Clone)]
pub(crate) struct CallLimits {
    pub(crate) timeout: Option<Duration>,
    pub(crate) cancel: Option<CancelToken>,
}

thread_local! {
    static LIMITS: RefCell<CallLimits> = RefCell::new(CallLimits::default());
}

/// The calling thread's limits.
pub(crate) fn current() -> CallLimits {
    LIMITS.with(|l| l.borrow().clone())
}

/// Bounds every later blocking libcoord call of the calling thread: each
/// call returns `COORD_RESULT_OPERATION_TIMEOUT` once `timeout_ms` has
/// passed since it started (-1: no limit), and `COORD_RESULT_CANCELLED` as
/// soon as `cancel` is cancelled (NULL: none), until the thread calls this
/// again; `coord_set_call_limits(-1, NULL)` clears them. A call that also
/// takes its own `timeout_ms` ends at the earlier of both; a call given its
/// own `cancel` token waits on that one instead of this one.
///
/// What a cut-short call leaves on the server: recipe calls that wait
/// (lock, multi-lock, rwlock and semaphore acquires, campaigns, joins,
/// barrier waits) delete the node they made; a node operation already sent
/// may or may not have been applied (as after `COORD_RESULT_CONNECTION_LOSS`);
/// one cut short before it was sent (e.g. by a token already cancelled) was
/// not.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_BAD_ARGUMENTS` (`timeout_ms`
/// < -1).
/// Ownership: `cancel` is borrowed for the call: the limits keep their own
/// reference, so the token may be freed while they are set (cancelling it
/// is then impossible, and `coord_set_call_limits` drops the reference).
/// Threads: affects only the calling thread (and so never callbacks, which
/// run on the library's callback thread).
#[unsafe(no_mangle)]
pub extern "C" fn coord_set_call_limits(
    timeout_ms: i64,
    cancel: *const coord_cancel_token,
) -> coord_result {
    guard(|| {
        let t = timeout(timeout_ms)?;
        let c = self::cancel(cancel).cloned();
        LIMITS.with(|l| {
            *l.borrow_mut() = CallLimits {
                timeout: t,
                cancel: c,
            }
        });
        Ok(())
    })
}
