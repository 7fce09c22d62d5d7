//! The server's watch registry.
//!
//! Watches live in server memory only, never in the log: each is a
//! (connection, path, kind) registration. [`WatchRegistry::fire`] is called by
//! the state-machine store while it still holds the state's write lock, and
//! readers register watches while holding the read lock, so a watch set by a
//! read can never miss the next change. Routing follows ZooKeeper: one-shot
//! data/exists/child watches are consumed when they fire; persistent watches
//! see every event on their path; persistent-recursive watches see created,
//! deleted and data-changed events on their path and everything below it.
//!
//! A connection receives at most one copy of an event, however many of its
//! watches match; the client fans it out to its local watchers.
//!
//! This module does not touch the tree or sockets: events are handed to each
//! connection's [`EventSink`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::state_machine::{EventType, WatchEvent};
use coord_proto::watch::KINDS;
pub use coord_proto::{WatchKind, WatchMode, WatcherType};

/// Identifies one client connection on this server.
pub type ConnId = u64;

/// Where a connection's events go. Must not block: it is called under the
/// state machine's write lock.
pub trait EventSink: Send + Sync {
    /// Queue one event for the connection.
    fn push(&self, event: &WatchEvent);
}

type PathTable = HashMap<String, HashSet<ConnId>>;

#[derive(Default)]
struct Inner {
    tables: [PathTable; 5],
    sinks: HashMap<ConnId, Arc<dyn EventSink>>,
    /// Per connection, what it registered, so disconnect cleanup is O(own watches).
    owned: HashMap<ConnId, HashSet<(WatchKind, String)>>,
}

fn slot(k: WatchKind) -> usize {
    match k {
        WatchKind::Data => 0,
        WatchKind::Exist => 1,
        WatchKind::Child => 2,
        WatchKind::Persistent => 3,
        WatchKind::PersistentRecursive => 4,
    }
}

/// All watches of this server.
#[derive(Default)]
pub struct WatchRegistry {
    inner: Mutex<Inner>,
    /// Events handed to connections since start (one per event per connection).
    delivered: AtomicU64,
}

impl std::fmt::Debug for WatchRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("WatchRegistry")
            .field("connections", &inner.sinks.len())
            .finish()
    }
}

impl WatchRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain maps behind, still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Attaches a connection's sink; events for its watches go there.
    pub fn attach(&self, conn: ConnId, sink: Arc<dyn EventSink>) {
        self.lock().sinks.insert(conn, sink);
    }

    /// Drops every watch of a connection and its sink.
    pub fn detach(&self, conn: ConnId) {
        let mut inner = self.lock();
        inner.sinks.remove(&conn);
        if let Some(owned) = inner.owned.remove(&conn) {
            for (kind, path) in owned {
                remove_entry(&mut inner.tables[slot(kind)], &path, conn);
            }
        }
    }

    /// Registers a watch.
    pub fn add(&self, conn: ConnId, path: &str, kind: WatchKind) {
        let mut inner = self.lock();
        inner.tables[slot(kind)]
            .entry(path.to_string())
            .or_default()
            .insert(conn);
        inner
            .owned
            .entry(conn)
            .or_default()
            .insert((kind, path.to_string()));
    }

    /// Removes a connection's watches of the given kinds on `path`. Returns
    /// whether any existed.
    pub fn remove(&self, conn: ConnId, path: &str, which: WatcherType) -> bool {
        let mut inner = self.lock();
        let mut found = false;
        for kind in KINDS {
            if which.covers(kind) && remove_entry(&mut inner.tables[slot(kind)], path, conn) {
                found = true;
                if let Some(owned) = inner.owned.get_mut(&conn) {
                    owned.remove(&(kind, path.to_string()));
                }
            }
        }
        found
    }

    /// Number of registrations (all kinds, all connections).
    pub fn len(&self) -> usize {
        let inner = self.lock();
        inner
            .tables
            .iter()
            .map(|t| t.values().map(HashSet::len).sum::<usize>())
            .sum()
    }

    /// Events handed to connections since start (one per event per
    /// connection): what a herd would inflate.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends `event` to one connection directly (used when re-registered
    /// watches find a change the client missed).
    pub fn send_to(&self, conn: ConnId, event: &WatchEvent) {
        let sink = self.lock().sinks.get(&conn).cloned();
        if let Some(sink) = sink {
            self.delivered.fetch_add(1, Ordering::Relaxed);
            sink.push(event);
        }
    }

    /// Routes events, in order, to the connections watching them; one-shot
    /// watches are consumed.
    pub fn fire(&self, events: &[WatchEvent]) {
        if events.is_empty() {
            return;
        }
        let mut inner = self.lock();
        let mut targets: Vec<ConnId> = Vec::new();
        for event in events {
            targets.clear();
            let path = event.path.as_str();
            let one_shot: &[WatchKind] = match event.kind {
                EventType::NodeCreated | EventType::NodeDataChanged => {
                    &[WatchKind::Data, WatchKind::Exist]
                }
                EventType::NodeDeleted => &[WatchKind::Data, WatchKind::Exist, WatchKind::Child],
                EventType::NodeChildrenChanged => &[WatchKind::Child],
            };
            for &kind in one_shot {
                if let Some(conns) = inner.tables[slot(kind)].remove(path) {
                    for c in conns {
                        if let Some(owned) = inner.owned.get_mut(&c) {
                            owned.remove(&(kind, path.to_string()));
                        }
                        targets.push(c);
                    }
                }
            }
            if let Some(conns) = inner.tables[slot(WatchKind::Persistent)].get(path) {
                targets.extend(conns.iter().copied());
            }
            let recursive = &inner.tables[slot(WatchKind::PersistentRecursive)];
            if !recursive.is_empty() && event.kind != EventType::NodeChildrenChanged {
                for ancestor in self_and_ancestors(path) {
                    if let Some(conns) = recursive.get(ancestor) {
                        targets.extend(conns.iter().copied());
                    }
                }
            }
            if targets.is_empty() {
                continue;
            }
            targets.sort_unstable();
            targets.dedup();
            for c in &targets {
                if let Some(sink) = inner.sinks.get(c) {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                    sink.push(event);
                }
            }
        }
    }
}

fn remove_entry(table: &mut PathTable, path: &str, conn: ConnId) -> bool {
    let Some(set) = table.get_mut(path) else {
        return false;
    };
    let found = set.remove(&conn);
    if set.is_empty() {
        table.remove(path);
    }
    found
}

/// `/a/b` -> `/a/b`, `/a`, `/`.
fn self_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = if current == "/" {
            None
        } else {
            match current.rfind('/') {
                Some(0) => Some("/"),
                Some(i) => Some(&current[..i]),
                None => None,
            }
        };
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<WatchEvent>>);
    impl EventSink for Collect {
        fn push(&self, event: &WatchEvent) {
            self.0.lock().unwrap().push(event.clone());
        }
    }
    impl Collect {
        fn take(&self) -> Vec<(EventType, String)> {
            std::mem::take(&mut *self.0.lock().unwrap())
                .into_iter()
                .map(|e| (e.kind, e.path))
                .collect()
        }
    }

    fn ev(kind: EventType, path: &str) -> WatchEvent {
        WatchEvent {
            kind,
            path: path.into(),
            zxid: 1,
        }
    }

    fn setup() -> (WatchRegistry, Arc<Collect>) {
        let reg = WatchRegistry::new();
        let sink = Arc::new(Collect::default());
        reg.attach(1, sink.clone());
        (reg, sink)
    }

    #[test]
    fn one_shot_data_watch_fires_once() {
        let (reg, sink) = setup();
        reg.add(1, "/a", WatchKind::Data);
        reg.fire(&[ev(EventType::NodeDataChanged, "/a")]);
        reg.fire(&[ev(EventType::NodeDataChanged, "/a")]);
        assert_eq!(sink.take(), vec![(EventType::NodeDataChanged, "/a".into())]);
        assert!(reg.is_empty());
    }

    #[test]
    fn child_watch_ignores_data_changes_but_sees_delete() {
        let (reg, sink) = setup();
        reg.add(1, "/a", WatchKind::Child);
        reg.fire(&[ev(EventType::NodeDataChanged, "/a")]);
        assert!(sink.take().is_empty());
        reg.fire(&[ev(EventType::NodeDeleted, "/a")]);
        assert_eq!(sink.take(), vec![(EventType::NodeDeleted, "/a".into())]);
    }

    #[test]
    fn connection_gets_one_copy_when_several_watches_match() {
        let (reg, sink) = setup();
        reg.add(1, "/a", WatchKind::Data);
        reg.add(1, "/a", WatchKind::Exist);
        reg.add(1, "/a", WatchKind::Persistent);
        reg.fire(&[ev(EventType::NodeDataChanged, "/a")]);
        assert_eq!(sink.take().len(), 1);
        // The persistent one stays.
        reg.fire(&[ev(EventType::NodeDataChanged, "/a")]);
        assert_eq!(sink.take().len(), 1);
    }

    #[test]
    fn recursive_watch_sees_subtree_but_not_children_changed() {
        let (reg, sink) = setup();
        reg.add(1, "/a", WatchKind::PersistentRecursive);
        reg.fire(&[
            ev(EventType::NodeCreated, "/a/b/c"),
            ev(EventType::NodeChildrenChanged, "/a/b"),
            ev(EventType::NodeDataChanged, "/ab"),
            ev(EventType::NodeDeleted, "/a"),
        ]);
        assert_eq!(
            sink.take(),
            vec![
                (EventType::NodeCreated, "/a/b/c".into()),
                (EventType::NodeDeleted, "/a".into())
            ]
        );
    }

    #[test]
    fn root_recursive_watch_sees_everything() {
        let (reg, sink) = setup();
        reg.add(1, "/", WatchKind::PersistentRecursive);
        reg.fire(&[ev(EventType::NodeCreated, "/x")]);
        assert_eq!(sink.take().len(), 1);
    }

    #[test]
    fn detach_and_remove_drop_registrations() {
        let (reg, _sink) = setup();
        reg.add(1, "/a", WatchKind::Data);
        reg.add(1, "/b", WatchKind::Persistent);
        assert!(reg.remove(1, "/b", WatcherType::Persistent));
        assert!(!reg.remove(1, "/b", WatcherType::Persistent));
        assert!(!reg.remove(1, "/a", WatcherType::Children));
        reg.detach(1);
        assert!(reg.is_empty());
    }
}
