//! Group membership: `coord_group_join` (an ephemeral member node with a
//! payload, held by a `coord_membership`), `coord_group_members` (who is in
//! a group now) and `coord_group_watch` (the member list after every
//! change, through a callback). Wraps [`::coord_client::recipes::Group`];
//! converts only.

use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex, MutexGuard};

use ::coord_client::embed;
use ::coord_client::recipes::group::Member;
use ::coord_client::recipes::{Group, Membership};

use crate::callbacks::{UserData, dispatch};
use crate::client::{cancel, client, coord_cancel_token, coord_client};
use crate::error::{Fail, Res, coord_result, guard, guard_value};
use crate::lost::{LostCallback, coord_lost_fn};
use crate::util::{self, handle, need, out_bytes, out_string, put, run, timeout};
use crate::watch::coord_watch;

/// One member of a group: its name and payload.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct coord_member {
    /// The member name (one path segment). Owned by the array.
    pub name: *mut c_char,
    /// The member's payload (NULL when empty). Owned by the array.
    pub payload: *mut u8,
    /// Length of `payload`.
    pub payload_len: usize,
}

/// Our membership in a group, from `coord_group_join`. Free with
/// `coord_membership_free` (which leaves the group in the background) or
/// leave first with `coord_membership_leave`. Safe to share between threads.
pub struct coord_membership {
    membership: Mutex<Option<Arc<Membership>>>,
    lost: LostCallback,
}

impl coord_membership {
    fn current(&self) -> Res<Arc<Membership>> {
        self.slot()
            .clone()
            .ok_or_else(|| Fail::new(coord_result::NotHeld, "membership: already left the group"))
    }

    fn slot(&self) -> MutexGuard<'_, Option<Arc<Membership>>> {
        self.membership.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn membership<'a>(p: *const coord_membership) -> Res<&'a coord_membership> {
    unsafe { handle(p, "membership") }
}

fn members_out(members: &[Member]) -> (*mut coord_member, usize) {
    if members.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    let out: Box<[coord_member]> = members
        .iter()
        .map(|(name, payload)| {
            let (payload, payload_len) = out_bytes(payload);
            coord_member {
                name: out_string(name),
                payload,
                payload_len,
            }
        })
        .collect();
    let n = out.len();
    (Box::into_raw(out).cast::<coord_member>(), n)
}

/// Joins the group at `path` (created if missing) as `member_name` (one
/// path segment) with `payload_len` bytes of `payload` (NULL allowed when
/// 0). The member node is ephemeral: it goes when our session ends. Bounded
/// by `timeout_ms` (-1: the request timeout only) and cancellable through
/// `cancel` (NULL: not cancellable); a join that times out or is cancelled
/// deletes the member node it may have made.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NODE_EXISTS` (another live
/// session holds that name); `COORD_RESULT_BAD_ARGUMENTS` (the name is not
/// one segment; `timeout_ms` < -1); `COORD_RESULT_OPERATION_TIMEOUT`;
/// `COORD_RESULT_CANCELLED`; `COORD_RESULT_NULL_PARAMETER`;
/// `COORD_RESULT_INVALID_PATH`; `COORD_RESULT_INVALID_UTF8`; connection and
/// session errors.
///
/// Ownership: arguments are borrowed for the call; `*out` is owned by the
/// caller, free it with `coord_membership_free`.
/// Threads: blocks the calling thread; another thread may cancel it.
#[unsafe(no_mangle)]
pub extern "C" fn coord_group_join(
    client: *const coord_client,
    path: *const c_char,
    member_name: *const c_char,
    payload: *const u8,
    payload_len: usize,
    timeout_ms: i64,
    cancel: *const coord_cancel_token,
    out: *mut *mut coord_membership,
) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let name = unsafe { util::text(member_name, "member_name") }?;
        let payload = unsafe { util::bytes(payload, payload_len, "payload") }?;
        let t = timeout(timeout_ms)?;
        let joined = run(
            async move {
                let join = Group::join(&c, &path, &name, payload);
                match t {
                    None => join.await,
                    Some(t) => match tokio::time::timeout(t, join).await {
                        Ok(r) => r,
                        Err(_) => Err(::coord_client::Error::OperationTimeout(format!(
                            "group join of {name} under {path}: no answer within {} ms",
                            t.as_millis()
                        ))),
                    },
                }
            },
            self::cancel(cancel),
        )?;
        let m = Box::new(coord_membership {
            membership: Mutex::new(Some(Arc::new(joined))),
            lost: LostCallback::default(),
        });
        unsafe { put(out, Box::into_raw(m)) };
        Ok(())
    })
}

/// The members of the group at `path`, sorted by name (none when the group
/// does not exist), into `*out_members` / `*out_len` (NULL and 0 when none).
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NULL_PARAMETER`;
/// `COORD_RESULT_INVALID_PATH`; connection and session errors.
/// Ownership: `*out_members` (names and payloads included) is owned by the
/// caller; free it with `coord_free_members(members, len)`.
/// Threads: blocks for the reads, bounded by the session timeout.
#[unsafe(no_mangle)]
pub extern "C" fn coord_group_members(
    client: *const coord_client,
    path: *const c_char,
    out_members: *mut *mut coord_member,
    out_len: *mut usize,
) -> coord_result {
    guard(|| {
        need(out_members, "out_members")?;
        need(out_len, "out_len")?;
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let members = run(async move { Group::members(&c, &path).await }, None)?;
        let (p, n) = members_out(&members);
        unsafe {
            put(out_members, p);
            put(out_len, n);
        }
        Ok(())
    })
}

/// Frees a member array from `coord_group_members` (or one a members
/// callback does not own), given its length. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_free_members(members: *mut coord_member, len: usize) {
    // SAFETY: made by Box::into_raw in members_out with len elements.
    guard_value((), || unsafe {
        util::free_array(members, len, |m| {
            util::free_string(m.name);
            util::free_array(m.payload, m.payload_len, |_| {});
        })
    })
}

/// A members callback. `result` is `COORD_RESULT_OK` with the full member
/// list (`members`, `len`; NULL and 0 for none), or the error that ended
/// the watch (e.g. `SESSION_EXPIRED`; then no more calls). `members` is
/// borrowed for the duration of the call. Runs on the library's callback
/// thread, never after `coord_watch_free` of its watch returned.
#[allow(non_camel_case_types)]
pub type coord_members_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        result: coord_result,
        members: *const coord_member,
        len: usize,
    ),
>;

/// Follows the members of the group at `path`: `callback` runs with the
/// current list at once, then with the full list after every join, leave or
/// payload change (a burst may be reported once, its last state always),
/// until `*out_watch` is freed with `coord_watch_free` or the client closed.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NULL_PARAMETER` (`callback`,
/// `out_watch`, ...); `COORD_RESULT_INVALID_PATH`.
/// Ownership: `*out_watch` is owned by the caller; `userdata` is passed back
/// untouched.
/// Threads: returns at once; callbacks run on the library's callback thread.
#[unsafe(no_mangle)]
pub extern "C" fn coord_group_watch(
    client: *const coord_client,
    path: *const c_char,
    callback: coord_members_fn,
    userdata: *mut c_void,
    out_watch: *mut *mut coord_watch,
) -> coord_result {
    guard(|| {
        let out = need(out_watch, "out_watch")?;
        let f = callback.ok_or_else(|| Fail::null("callback"))?;
        let ud = UserData(userdata);
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let stream = {
            let _entered = embed::handle()?.enter();
            Group::watch_members(&c, &path)
        };
        let w = coord_watch::spawn(stream, move |slot, item| {
            dispatch(slot, move || {
                let ud = ud;
                let (result, (p, n)) = match item {
                    Ok(m) => (coord_result::Ok, members_out(&m)),
                    Err(e) => (coord_result::from_error(&e), (std::ptr::null_mut(), 0)),
                };
                // SAFETY: a C function pointer registered with this userdata.
                unsafe { f(ud.0, result, p, n) };
                coord_free_members(p, n);
            })
        })?;
        unsafe { put(out, w) };
        Ok(())
    })
}

/// Replaces our payload (watchers of the group see the change).
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NOT_HELD` (left already);
/// `COORD_RESULT_NO_NODE` (membership lost); `COORD_RESULT_NULL_PARAMETER`;
/// connection and session errors.
/// Ownership: `payload` is borrowed for the call.
/// Threads: blocks for one round trip, bounded by the session timeout.
#[unsafe(no_mangle)]
pub extern "C" fn coord_membership_update(
    membership: *const coord_membership,
    payload: *const u8,
    payload_len: usize,
) -> coord_result {
    guard(|| {
        let m = self::membership(membership)?.current()?;
        let payload = unsafe { util::bytes(payload, payload_len, "payload") }?;
        run(async move { m.update(payload).await }, None)
    })
}

/// Whether our membership was lost (session expired or member node
/// deleted) into `*out_lost`; true also after `coord_membership_leave`.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NULL_PARAMETER`.
/// Threads: any thread; answers at once.
#[unsafe(no_mangle)]
pub extern "C" fn coord_membership_is_lost(
    membership: *const coord_membership,
    out_lost: *mut bool,
) -> coord_result {
    guard(|| {
        let out = need(out_lost, "out_lost")?;
        let h = self::membership(membership)?;
        let lost = h.slot().as_ref().is_none_or(|m| m.is_lost());
        unsafe { put(out, lost) };
        Ok(())
    })
}

/// Registers `callback(userdata)` to run once when our membership is lost
/// (session expired or member node deleted by someone else; not on leave),
/// on the library's callback thread. NULL unregisters; after this call
/// returns the previous callback does not run any more.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NULL_PARAMETER`
/// (`membership`); `COORD_RESULT_NOT_HELD` (left already).
/// Ownership: `userdata` is passed back untouched.
#[unsafe(no_mangle)]
pub extern "C" fn coord_membership_on_lost(
    membership: *const coord_membership,
    callback: coord_lost_fn,
    userdata: *mut c_void,
) -> coord_result {
    guard(|| {
        let h = self::membership(membership)?;
        h.lost.set(callback, userdata);
        if callback.is_some() {
            let m = h.current()?;
            h.lost.arm(Some(m.lost_signal()));
        }
        Ok(())
    })
}

/// Leaves the group: deletes our member node (only while our session owns
/// it) and waits for it. The lost callback does not run after this. The
/// handle must still be freed.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NOT_HELD` (left already);
/// `COORD_RESULT_NULL_PARAMETER`; connection and session errors (the node
/// then goes with the session).
/// Threads: blocks for one round trip, bounded by the session timeout.
#[unsafe(no_mangle)]
pub extern "C" fn coord_membership_leave(membership: *const coord_membership) -> coord_result {
    guard(|| {
        let h = self::membership(membership)?;
        let m = h.slot().take().ok_or_else(|| {
            Fail::new(coord_result::NotHeld, "membership: already left the group")
        })?;
        h.lost.disarm();
        let m = Arc::try_unwrap(m).map_err(|_| {
            Fail::bad("membership: another thread is using it; leave after its call returns")
        })?;
        run(async move { m.leave().await }, None)
    })
}

/// Frees a membership, leaving the group in the background if still in it.
/// Its lost callback does not run after this returns. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_membership_free(membership: *mut coord_membership) {
    guard_value((), || {
        if membership.is_null() {
            return;
        }
        let h = unsafe { Box::from_raw(membership) };
        h.lost.set(None, std::ptr::null_mut());
        util::drop_in_runtime(h);
    })
}
