//! Watch re-registration after a reconnect (`SetWatches`): the client sends
//! its watches and the last zxid it saw; the server sends every event it
//! missed, then registers what is left.
//!
//! When the history still reaches back to the client's zxid, every retained
//! event after it that reaches one of the watches (coord-proto's routing,
//! the same as for live events) is sent, in zxid order and once per event; a
//! one-shot watch is consumed by the first, as ZooKeeper does. When it does
//! not, each path whose node may have changed since gets one `EventsLost`
//! event, which reaches every watch on that path (one-shot ones are
//! consumed) and tells the client to re-read. A node that exists with every
//! zxid of its stat at or below the client's is known unchanged and is spared.
//!
//! All of it runs under the state's read lock (held by the caller) and the
//! registry's lock, so nothing is applied meanwhile: the replayed events go
//! out before any later live event and before the `SetWatches` reply.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::Ordering;

use coord_proto::proto;
use coord_proto::watch::watches_reached;

use super::{ConnId, WatchKind, WatchRegistry};
use crate::state_machine::{EventType, StateMachine, WatchEvent};

/// Re-registers a reconnecting client's watches for `conn` (see the module
/// docs). The caller holds the state's read lock (`sm`).
pub(crate) fn set_watches(
    registry: &WatchRegistry,
    sm: &StateMachine,
    conn: ConnId,
    req: &proto::SetWatchesRequest,
) {
    let last = req.last_zxid;
    let lists = [
        (WatchKind::Data, &req.data),
        (WatchKind::Exist, &req.exist),
        (WatchKind::Child, &req.children),
        (WatchKind::Persistent, &req.persistent),
        (WatchKind::PersistentRecursive, &req.persistent_recursive),
    ];
    // A path the tree refuses can never fire: it is not registered.
    let watches: Vec<(WatchKind, &str)> = lists
        .iter()
        .flat_map(|(kind, paths)| paths.iter().map(move |p| (*kind, p.as_str())))
        .filter(|(_, p)| sm.exists(p).is_ok())
        .collect();
    let unchanged = |kind: WatchKind, path: &str| {
        kind != WatchKind::PersistentRecursive
            && matches!(sm.exists(path), Ok(Some(s)) if s.czxid.max(s.mzxid).max(s.pzxid) <= last)
    };
    registry.resume(conn, last, sm.last_zxid(), &watches, unchanged);
}

impl WatchRegistry {
    /// Sends `conn` what it missed since `last_zxid` for `watches` and
    /// registers the ones still standing. `state_zxid` is the state's applied
    /// zxid; `unchanged` says whether a watch is known to have missed nothing
    /// (consulted only when the history does not reach back to `last_zxid`).
    pub(crate) fn resume(
        &self,
        conn: ConnId,
        last_zxid: u64,
        state_zxid: u64,
        watches: &[(WatchKind, &str)],
        unchanged: impl Fn(WatchKind, &str) -> bool,
    ) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let sink = inner.sinks.get(&conn).cloned();
        let send = |e: &WatchEvent| {
            if let Some(sink) = &sink {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                sink.push(e);
            }
        };
        let standing: Vec<(WatchKind, String)> = if last_zxid >= inner.history.floor(state_zxid) {
            let mut pending: HashSet<(WatchKind, &str)> = watches.iter().copied().collect();
            for e in inner.history.after(last_zxid) {
                let mut hit = false;
                for key in watches_reached(e.kind, &e.path) {
                    hit |= if key.0.is_one_shot() {
                        pending.remove(&key)
                    } else {
                        pending.contains(&key)
                    };
                }
                if hit {
                    send(e);
                }
            }
            pending
                .into_iter()
                .map(|(k, p)| (k, p.to_string()))
                .collect()
        } else {
            let lost: BTreeSet<&str> = watches
                .iter()
                .filter(|(k, p)| !unchanged(*k, p))
                .map(|(_, p)| *p)
                .collect();
            for path in &lost {
                send(&WatchEvent {
                    kind: EventType::EventsLost,
                    path: (*path).to_string(),
                    zxid: state_zxid,
                });
            }
            watches
                .iter()
                .filter(|(k, p)| !(k.is_one_shot() && lost.contains(p)))
                .map(|(k, p)| (*k, (*p).to_string()))
                .collect()
        };
        for (kind, path) in standing {
            inner.add(conn, &path, kind);
        }
    }
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
