//! Requests that register watches, as far as limits and checks go: the
//! per-session count (`max_watches_per_session`, every kind counted, checked
//! before a read registers one) and `SetWatches` (every path validated, the
//! count checked, duplicates dropped, then handed to the registry's stepwise
//! re-registration). It answers nothing itself: `dispatch` shapes the replies.

use std::collections::HashSet;

use super::Shared;
use crate::error::Error;
use crate::state_machine::StateMachine;
use crate::tree::validate_path;
use crate::watch::{ConnId, WatchKind};
use coord_proto::acl::perms;
use coord_proto::proto::{self, request::Op as Req};
use coord_proto::wire::watch_mode_from_proto;

fn watch_limit_error(session: u64, count: usize, limit: usize) -> Error {
    Error::TooLarge(format!(
        "session {session:#x} holds {count} watches, limit max_watches_per_session = {limit}"
    ))
}

/// Refuses a read that would register a watch past the session's limit.
/// Runs under the same read lock as the read, so the kind it computes for an
/// `exists` is the one the read registers.
pub(super) fn check_watch_room(
    shared: &Shared,
    sm: &StateMachine,
    conn: ConnId,
    session: u64,
    op: &Req,
) -> Result<(), Error> {
    let (kind, path) = match op {
        Req::Exists(r) if r.watch => match sm.exists(&r.path) {
            Ok(Some(_)) => (WatchKind::Data, &r.path),
            Ok(None) => (WatchKind::Exist, &r.path),
            Err(_) => return Ok(()),
        },
        Req::GetData(r) if r.watch => (WatchKind::Data, &r.path),
        Req::GetChildren(r) if r.watch => (WatchKind::Child, &r.path),
        Req::AddWatch(r) => match watch_mode_from_proto(r.mode) {
            Ok(mode) => (mode.into(), &r.path),
            Err(_) => return Ok(()),
        },
        _ => return Ok(()),
    };
    let limit = shared.cfg.max_watches_per_session;
    shared
        .watches
        .room_for(conn, kind, path, limit)
        .map_err(|count| watch_limit_error(session, count, limit))
}

/// Re-registers a reconnecting client's watches: every path is validated
/// (the whole request is refused on the first bad one, naming it) and the
/// session's watch limit checked before anything is registered; then the
/// registry replays and registers them in bounded steps. Returns the zxid
/// the registration reflects.
pub(super) async fn set_watches(
    shared: &Shared,
    conn: ConnId,
    session: u64,
    r: proto::SetWatchesRequest,
) -> Result<u64, Error> {
    let max_path = shared.read_sm().limits().max_path_bytes;
    let lists = [
        (WatchKind::Data, "data", r.data),
        (WatchKind::Exist, "exist", r.exist),
        (WatchKind::Child, "children", r.children),
        (WatchKind::Persistent, "persistent", r.persistent),
        (
            WatchKind::PersistentRecursive,
            "persistent_recursive",
            r.persistent_recursive,
        ),
    ];
    let mut seen = HashSet::new();
    let mut watches = Vec::new();
    for (kind, name, paths) in lists {
        for (i, path) in paths.into_iter().enumerate() {
            if i % crate::watch::RESUME_STEP == crate::watch::RESUME_STEP - 1 {
                // Long lists: let the other tasks of this worker run.
                tokio::task::yield_now().await;
            }
            if let Err(e) = validate_path(&path, max_path) {
                let detail = format!("SetWatches {name}[{i}]: {}", e.detail());
                return Err(Error::from_code(e.code(), detail));
            }
            if seen.insert((kind, path.clone())) {
                watches.push((kind, path));
            }
        }
    }
    drop(seen);
    // A watch needs READ on its node, as when it is first set (get, exists,
    // children and addWatch check it): a path the session may not read now
    // is not registered again and its missed events are not replayed.
    {
        let sm = shared.read_sm();
        watches.retain(|(_, path)| sm.check_perm(session, path, perms::READ).is_ok());
    }
    let limit = shared.cfg.max_watches_per_session;
    let held = shared.watches.count_of(conn);
    if held + watches.len() > limit {
        return Err(Error::TooLarge(format!(
            "SetWatches of session {session:#x} would hold {} watches, limit \
             max_watches_per_session = {limit}",
            held + watches.len()
        )));
    }
    crate::watch::set_watches(&shared.watches, &shared.sm, conn, r.last_zxid, watches)
        .await
        .ok_or_else(|| Error::ConnectionLoss("the connection closed during SetWatches".into()))
}
