//! Leader election: `coord_election` (campaign with an identity, resign,
//! is-leader, lost callback), the current leader of a path and a leader
//! observer callback. Wraps [`::coord_client::recipes::Election`].

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use ::coord_client::embed;
use ::coord_client::recipes::{Election, LeaderInfo};

use crate::callbacks::{UserData, dispatch};
use crate::client::{cancel, client, coord_cancel_token, coord_client};
use crate::error::{Fail, Res, coord_result, guard, guard_value};
use crate::lost::{LostCallback, coord_lost_fn};
use crate::util::{self, handle, need, out_bytes, out_string, put, run, timeout};
use crate::watch::coord_watch;

/// A leader: who leads an election and the term's fencing token.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct coord_leader {
    /// Full path of the leader's candidate node.
    pub node: *mut c_char,
    /// The identity the leader campaigned with (NULL when empty).
    pub identity: *mut u8,
    /// Length of `identity`.
    pub identity_len: usize,
    /// The term's fencing token; strictly increases from leader to leader.
    pub token: u64,
}

fn leader_out(info: &LeaderInfo) -> coord_leader {
    let (identity, identity_len) = out_bytes(&info.identity);
    coord_leader {
        node: out_string(&info.node),
        identity,
        identity_len,
        token: info.token,
    }
}

fn free_leader_fields(l: &coord_leader) {
    unsafe { util::free_string(l.node) };
    crate::util::coord_free_bytes(l.identity, l.identity_len);
}

/// One candidate in the election at a path. Create with
/// `coord_election_new`, free with `coord_election_free` (which resigns).
pub struct coord_election {
    election: Arc<Election>,
    lost: LostCallback,
}

fn election<'a>(p: *const coord_election) -> Res<&'a coord_election> {
    unsafe { handle(p, "election") }
}

/// A candidate for the election at `path` that campaigns with `identity`
/// (`identity_len` bytes, what others read as the leader's identity).
///
/// Ownership: arguments are borrowed for the call; `*out` is owned by the
/// caller, free it with `coord_election_free`.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_election_new(
    client: *const coord_client,
    path: *const c_char,
    identity: *const u8,
    identity_len: usize,
    out: *mut *mut coord_election,
) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let c = self::client(client)?;
        let path = unsafe { util::path(path, "path") }?;
        let identity = unsafe { util::bytes(identity, identity_len, "identity") }?;
        let e = Box::new(coord_election {
            election: Arc::new(Election::new(c, &path, identity)),
            lost: LostCallback::default(),
        });
        unsafe { put(out, Box::into_raw(e)) };
        Ok(())
    })
}

/// Waits until this candidate is elected (at once if it already leads), at
/// most `timeout_ms` (-1: forever; `COORD_RESULT_LOCK_TIMEOUT` afterwards),
/// cancellable through `cancel` (NULL: not cancellable). Writes the term's
/// token to `*out_token` if not NULL. On timeout or cancel the candidate
/// leaves the line.
#[unsafe(no_mangle)]
pub extern "C" fn coord_election_campaign(
    election: *const coord_election,
    timeout_ms: i64,
    cancel: *const coord_cancel_token,
    out_token: *mut u64,
) -> coord_result {
    guard(|| {
        let h = self::election(election)?;
        let t = timeout(timeout_ms)?;
        let e = Arc::clone(&h.election);
        let info = run(
            async move {
                match t {
                    None => e.campaign().await,
                    Some(t) => e.campaign_timeout(t).await,
                }
            },
            self::cancel(cancel),
        )?;
        h.lost.arm(h.election.lost_signal());
        unsafe { put(out_token, info.token) };
        Ok(())
    })
}

/// Gives up leadership (the next candidate is elected). Does nothing when
/// not leading. The lost callback of the term does not run after this.
///
/// Results: `COORD_RESULT_OK`; argument errors; request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_election_resign(election: *const coord_election) -> coord_result {
    guard(|| {
        let h = self::election(election)?;
        h.lost.disarm();
        let e = Arc::clone(&h.election);
        run(async move { e.resign().await }, None)
    })
}

/// Whether this candidate leads now (elected, not resigned, not lost).
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O; answers at once.
#[unsafe(no_mangle)]
pub extern "C" fn coord_election_is_leader(
    election: *const coord_election,
    out_leader: *mut bool,
) -> coord_result {
    guard(|| {
        let out = need(out_leader, "out_leader")?;
        let h = self::election(election)?;
        unsafe { put(out, h.election.is_leader()) };
        Ok(())
    })
}

/// Registers `callback(userdata)` to run when this candidate's term is lost
/// (session expired or its node deleted; not on resign): on the library's
/// callback thread, once per term. NULL unregisters; after this call returns
/// the previous callback does not run any more.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_election_on_lost(
    election: *const coord_election,
    callback: coord_lost_fn,
    userdata: *mut c_void,
) -> coord_result {
    guard(|| {
        let h = self::election(election)?;
        h.lost.set(callback, userdata);
        h.lost.arm(h.election.lost_signal());
        Ok(())
    })
}

/// Frees a candidate: resigns in the background if it leads, and its lost
/// callback does not run after this returns. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_election_free(election: *mut coord_election) {
    guard_value((), || {
        if election.is_null() {
            return;
        }
        let h = unsafe { Box::from_raw(election) };
        h.lost.set(None, std::ptr::null_mut());
        util::drop_in_runtime(h);
    })
}

/// The current leader of the election at `path` (no standing needed):
/// `*out_leader` is the leader, or NULL when nobody campaigns.
///
/// Ownership: `*out_leader` is owned by the caller; free it with
/// `coord_leader_free`.
///
/// Results: `COORD_RESULT_OK` (nobody leads included); argument errors;
/// request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_election_leader(
    client: *const coord_client,
    path: *const c_char,
    out_leader: *mut *mut coord_leader,
) -> coord_result {
    guard(|| {
        let out = need(out_leader, "out_leader")?;
        let c = self::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let info = run(async move { Election::leader(&c, &path).await }, None)?;
        let p = info.map_or(std::ptr::null_mut(), |i| {
            Box::into_raw(Box::new(leader_out(&i)))
        });
        unsafe { put(out, p) };
        Ok(())
    })
}

/// Frees a leader from `coord_election_leader`. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_leader_free(leader: *mut coord_leader) {
    guard_value((), || {
        if !leader.is_null() {
            let l = unsafe { Box::from_raw(leader) };
            free_leader_fields(&l);
        }
    })
}

/// A leader observer callback. `result` is `COORD_RESULT_OK` for a change
/// of leader, with `leader` the new leader or NULL for "nobody"; otherwise
/// the observer ended with that error (e.g. `SESSION_EXPIRED`; `leader`
/// NULL) and calls back no more. Freeing the observer or closing its client
/// ends it normally: no final call (as for `coord_watch_event`). `leader`
/// is borrowed for the duration of the call. Runs on the library's callback
/// thread, never after `coord_watch_free` returned.
#[allow(non_camel_case_types)]
pub type coord_leader_fn = Option<
    unsafe extern "C" fn(userdata: *mut c_void, result: coord_result, leader: *const coord_leader),
>;

/// Follows the leader of the election at `path`: `callback` runs with the
/// current leader at once, then on each change (no repeats), until
/// `*out_watch` is freed with `coord_watch_free` (or the client closed).
///
/// Ownership: `*out_watch` is owned by the caller.
///
/// Results: `COORD_RESULT_OK`; argument errors (`callback` NULL). Returns
/// at once; errors later reach the callback.
#[unsafe(no_mangle)]
pub extern "C" fn coord_election_observe(
    client: *const coord_client,
    path: *const c_char,
    callback: coord_leader_fn,
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
            Election::observe(&c, &path)
        };
        let w = coord_watch::spawn(stream, move |slot, item| {
            dispatch(slot, move || {
                let ud = ud;
                let (result, leader) = match item {
                    Ok(l) => (coord_result::Ok, l.as_ref().map(leader_out)),
                    Err(e) => (coord_result::from_error(&e), None),
                };
                let p = leader.as_ref().map_or(std::ptr::null(), |l| l as *const _);
                // SAFETY: a C function pointer registered with this userdata.
                unsafe { f(ud.0, result, p) };
                if let Some(l) = &leader {
                    free_leader_fields(l);
                }
            })
        })?;
        unsafe { put(out, w) };
        Ok(())
    })
}
