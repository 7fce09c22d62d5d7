//! The local watch table: which local watchers wait on which path, and the
//! routing of server events to them.
//!
//! Pure data plus channel sends: it owns no lock, no socket and no task. The
//! server keeps at most one watch per path and type for the session; this
//! table fans each event out to every local watcher. Routing is
//! coord-proto's [`watches_reached`], the rule the server's registry follows
//! too (ZooKeeper's: one-shot data/exists/child watchers by event type,
//! persistent watchers of the path get every event, persistent-recursive
//! watchers of the path or an ancestor get created, deleted and data-changed;
//! `EventsLost` after a reconnect reaches every watcher of exactly its path).
//!
//! One-shot watchers leave the table when they fire; persistent ones stay
//! until their [`WatchStream`](super::WatchStream) is dropped or removed.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use coord_proto::proto;
use coord_proto::{WatchEvent, WatchKind, watches_reached};

/// What a watcher receives: an event, or the error that ended it.
pub(crate) type EventResult = Result<WatchEvent, Error>;

pub use coord_proto::{WatchMode, WatcherType};

/// Kinds of one-shot watch, as registered on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OneshotKind {
    /// Set by `get_data`, or `exists` on a node that exists.
    Data,
    /// Set by `exists` on a node that does not exist.
    Exist,
    /// Set by `get_children`.
    Child,
}

type OneshotMap = HashMap<String, Vec<oneshot::Sender<EventResult>>>;
type PersistentMap = HashMap<String, Vec<(u64, mpsc::UnboundedSender<EventResult>)>>;

/// Every local watcher of the session.
#[derive(Debug, Default)]
pub(crate) struct WatchTable {
    data: OneshotMap,
    exist: OneshotMap,
    child: OneshotMap,
    persistent: PersistentMap,
    recursive: PersistentMap,
    next_id: u64,
}

impl WatchTable {
    /// Adds a one-shot watcher.
    pub(crate) fn add_oneshot(
        &mut self,
        kind: OneshotKind,
        path: String,
        tx: oneshot::Sender<EventResult>,
    ) {
        let map = match kind {
            OneshotKind::Data => &mut self.data,
            OneshotKind::Exist => &mut self.exist,
            OneshotKind::Child => &mut self.child,
        };
        let list = map.entry(path).or_default();
        // Callers that gave up on their watch leave closed senders behind.
        list.retain(|tx| !tx.is_closed());
        list.push(tx);
    }

    /// Adds a persistent watcher; returns its id for [`WatchTable::remove_persistent`].
    pub(crate) fn add_persistent(
        &mut self,
        mode: WatchMode,
        path: String,
        tx: mpsc::UnboundedSender<EventResult>,
    ) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.persistent_map(mode)
            .entry(path)
            .or_default()
            .push((id, tx));
        id
    }

    fn persistent_map(&mut self, mode: WatchMode) -> &mut PersistentMap {
        match mode {
            WatchMode::Persistent => &mut self.persistent,
            WatchMode::PersistentRecursive => &mut self.recursive,
        }
    }

    /// Removes one persistent watcher. True when it was the last local watcher
    /// of that path and mode, so that the server's watch should go too.
    pub(crate) fn remove_persistent(&mut self, mode: WatchMode, path: &str, id: u64) -> bool {
        let map = self.persistent_map(mode);
        let Some(list) = map.get_mut(path) else {
            return false;
        };
        let before = list.len();
        list.retain(|(i, _)| *i != id);
        let removed = list.len() < before;
        if list.is_empty() {
            map.remove(path);
        }
        removed && !map.contains_key(path)
    }

    /// True when at least one live watcher of `kind` waits on `path`.
    pub(crate) fn has(&self, path: &str, kind: WatcherType) -> bool {
        let oneshot = |m: &OneshotMap| {
            m.get(path)
                .is_some_and(|l| l.iter().any(|t| !t.is_closed()))
        };
        let persistent = |m: &PersistentMap| m.get(path).is_some_and(|l| !l.is_empty());
        match kind {
            WatcherType::Data => oneshot(&self.data) || oneshot(&self.exist),
            WatcherType::Children => oneshot(&self.child),
            WatcherType::Persistent => persistent(&self.persistent),
            WatcherType::PersistentRecursive => persistent(&self.recursive),
            WatcherType::Any => [
                WatcherType::Data,
                WatcherType::Children,
                WatcherType::Persistent,
                WatcherType::PersistentRecursive,
            ]
            .into_iter()
            .any(|k| self.has(path, k)),
        }
    }

    /// Removes the watchers of `kind` on `path`; each gets `err` and
    /// persistent streams end. Returns how many were removed.
    pub(crate) fn remove(&mut self, path: &str, kind: WatcherType, err: &Error) -> usize {
        let mut n = 0;
        let (data, child, persistent, recursive) = match kind {
            WatcherType::Any => (true, true, true, true),
            WatcherType::Data => (true, false, false, false),
            WatcherType::Children => (false, true, false, false),
            WatcherType::Persistent => (false, false, true, false),
            WatcherType::PersistentRecursive => (false, false, false, true),
        };
        let mut oneshots = Vec::new();
        if data {
            oneshots.extend(self.data.remove(path).unwrap_or_default());
            oneshots.extend(self.exist.remove(path).unwrap_or_default());
        }
        if child {
            oneshots.extend(self.child.remove(path).unwrap_or_default());
        }
        for tx in oneshots {
            n += usize::from(tx.send(Err(err.clone())).is_ok());
        }
        let mut streams = Vec::new();
        if persistent {
            streams.extend(self.persistent.remove(path).unwrap_or_default());
        }
        if recursive {
            streams.extend(self.recursive.remove(path).unwrap_or_default());
        }
        for (_, tx) in streams {
            n += usize::from(tx.send(Err(err.clone())).is_ok());
        }
        n
    }

    /// Delivers a server event to every matching watcher (see the module
    /// docs); one-shot watchers that fire leave the table. Returns the number
    /// of watchers reached.
    pub(crate) fn route(&mut self, ev: &WatchEvent) -> usize {
        let mut n = 0;
        for (kind, path) in watches_reached(ev.kind, &ev.path) {
            let oneshots = match kind {
                WatchKind::Data => &mut self.data,
                WatchKind::Exist => &mut self.exist,
                WatchKind::Child => &mut self.child,
                WatchKind::Persistent => {
                    n += send_all(self.persistent.get(path), ev);
                    continue;
                }
                WatchKind::PersistentRecursive => {
                    n += send_all(self.recursive.get(path), ev);
                    continue;
                }
            };
            for tx in oneshots.remove(path).unwrap_or_default() {
                n += usize::from(tx.send(Ok(ev.clone())).is_ok());
            }
        }
        n
    }

    /// Ends every watcher with `err` (session expired or client closed) and
    /// empties the table.
    pub(crate) fn fail_all(&mut self, err: &Error) {
        for (_, list) in self
            .data
            .drain()
            .chain(self.exist.drain())
            .chain(self.child.drain())
        {
            for tx in list {
                let _ = tx.send(Err(err.clone()));
            }
        }
        for (_, list) in self.persistent.drain().chain(self.recursive.drain()) {
            for (_, tx) in list {
                let _ = tx.send(Err(err.clone()));
            }
        }
    }

    /// The request that re-registers every live watch after a reconnect, or
    /// `None` when there is none. Drops one-shot watchers nobody waits for.
    pub(crate) fn set_watches(&mut self, last_zxid: u64) -> Option<proto::SetWatchesRequest> {
        fn live_oneshots(m: &mut OneshotMap) -> Vec<String> {
            m.retain(|_, l| {
                l.retain(|tx| !tx.is_closed());
                !l.is_empty()
            });
            let mut paths: Vec<String> = m.keys().cloned().collect();
            paths.sort();
            paths
        }
        fn keys(m: &PersistentMap) -> Vec<String> {
            let mut paths: Vec<String> = m.keys().cloned().collect();
            paths.sort();
            paths
        }
        let req = proto::SetWatchesRequest {
            last_zxid,
            data: live_oneshots(&mut self.data),
            exist: live_oneshots(&mut self.exist),
            children: live_oneshots(&mut self.child),
            persistent: keys(&self.persistent),
            persistent_recursive: keys(&self.recursive),
        };
        let empty = req.data.is_empty()
            && req.exist.is_empty()
            && req.children.is_empty()
            && req.persistent.is_empty()
            && req.persistent_recursive.is_empty();
        (!empty).then_some(req)
    }
}

/// Sends `ev` to every persistent watcher in `list`; returns how many took
/// it. Dead senders are left for their stream's drop, which decides whether
/// the server's watch goes too.
fn send_all(
    list: Option<&Vec<(u64, mpsc::UnboundedSender<EventResult>)>>,
    ev: &WatchEvent,
) -> usize {
    list.into_iter()
        .flatten()
        .filter(|(_, tx)| tx.send(Ok(ev.clone())).is_ok())
        .count()
}

/// The proper ancestors of an absolute path, nearest first, ending with `/`.
pub(crate) fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = if path == "/" { "" } else { path };
    std::iter::from_fn(move || {
        let i = rest.rfind('/')?;
        rest = &rest[..i];
        Some(if i == 0 {
            rest = "";
            "/"
        } else {
            &path[..i]
        })
    })
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
