//! The server's watch registry.
//!
//! Watches live in server memory only, never in the log: each is a
//! (connection, path, kind) registration. [`WatchRegistry::fire`] is called by
//! the state-machine store while it still holds the state's write lock, and
//! readers register watches while holding the read lock, so a watch set by a
//! read can never miss the next change. Routing is coord-proto's
//! [`watches_reached`], the same rule the client's watch table follows:
//! one-shot data/exists/child watches are consumed when they fire; persistent
//! watches see every event on their path; persistent-recursive watches see
//! created, deleted and data-changed events on their path and everything
//! below it.
//!
//! A connection receives at most one copy of an event, however many of its
//! watches match; the client fans it out to its local watchers.
//!
//! Every fired event also goes into a bounded `history` so that a client
//! re-registering its watches after a reconnect gets every event it missed
//! (`replay`), or an `EventsLost` event when the history no longer reaches
//! back far enough. While a connection re-registers (in steps, so writes are
//! not stalled), its events are held back and sent with the replayed ones.
//!
//! The registry counts each connection's registrations (every kind); the
//! server refuses a new one past its per-session limit
//! ([`WatchRegistry::room_for`]).
//!
//! This module does not change the tree or touch sockets: events are handed
//! to each connection's [`EventSink`]; `replay` only reads node stats.

mod history;
mod replay;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::state_machine::WatchEvent;
use coord_proto::watch::{KINDS, watches_reached};
pub use coord_proto::{WatchKind, WatchMode, WatcherType};
pub use history::DEFAULT_WATCH_HISTORY_BYTES;
pub(crate) use replay::{RESUME_STEP, set_watches};

use history::History;
use replay::Resume;

/// Identifies one client connection on this server.
pub type ConnId = u64;

/// Where a connection's events go. Must not block: it is called under the
/// state machine's write lock.
pub trait EventSink: Send + Sync {
    /// Queue one event for the connection.
    fn push(&self, event: &WatchEvent);

    /// The session the connection serves (0 before its handshake), for
    /// [`WatchRegistry::fire_checked`]'s permission check.
    fn session(&self) -> u64 {
        0
    }
}

type PathTable = HashMap<String, HashSet<ConnId>>;

struct Inner {
    tables: [PathTable; 5],
    sinks: HashMap<ConnId, Arc<dyn EventSink>>,
    /// Per connection, what it registered, so disconnect cleanup is O(own watches).
    owned: HashMap<ConnId, HashSet<(WatchKind, String)>>,
    /// Recent fired events, for reconnecting clients.
    history: History,
    /// Connections re-registering their watches; their events are held.
    resuming: HashMap<ConnId, Resume>,
}

impl Inner {
    fn add(&mut self, conn: ConnId, path: &str, kind: WatchKind) {
        self.tables[slot(kind)]
            .entry(path.to_string())
            .or_default()
            .insert(conn);
        self.owned
            .entry(conn)
            .or_default()
            .insert((kind, path.to_string()));
    }

    /// Drops `conn`'s one-shot registrations on `path`.
    fn remove_one_shots(&mut self, conn: ConnId, path: &str) {
        for kind in KINDS.into_iter().filter(|k| k.is_one_shot()) {
            if remove_entry(&mut self.tables[slot(kind)], path, conn)
                && let Some(owned) = self.owned.get_mut(&conn)
            {
                owned.remove(&(kind, path.to_string()));
            }
        }
    }

    /// Routes one event, consuming the one-shot watches it reaches; returns
    /// the connections to send it to, each once, with `true` when only a
    /// recursive watch on an ancestor reached it (the watcher never asked
    /// about this node, so its permission to read it is checked at delivery).
    fn route(&mut self, event: &WatchEvent, targets: &mut Vec<(ConnId, bool)>) {
        targets.clear();
        for (kind, path) in watches_reached(event.kind, &event.path) {
            let table = &mut self.tables[slot(kind)];
            if table.is_empty() {
                continue;
            }
            let via_ancestor = kind == WatchKind::PersistentRecursive && path != event.path;
            if !kind.is_one_shot() {
                if let Some(conns) = table.get(path) {
                    targets.extend(conns.iter().map(|&c| (c, via_ancestor)));
                }
            } else if let Some(conns) = table.remove(path) {
                for c in conns {
                    if let Some(owned) = self.owned.get_mut(&c) {
                        owned.remove(&(kind, path.to_string()));
                    }
                    targets.push((c, false));
                }
            }
        }
        // A connection reached both ways keeps the direct (unchecked) entry.
        targets.sort_unstable();
        targets.dedup_by_key(|t| t.0);
    }
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

impl Default for WatchRegistry {
    fn default() -> Self {
        Self::with_history_bytes(DEFAULT_WATCH_HISTORY_BYTES)
    }
}

impl WatchRegistry {
    /// An empty registry whose event history holds the default
    /// [`DEFAULT_WATCH_HISTORY_BYTES`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry whose event history for reconnecting clients holds
    /// at most `history_bytes` (each event is charged its path plus 64 bytes).
    pub fn with_history_bytes(history_bytes: usize) -> Self {
        WatchRegistry {
            inner: Mutex::new(Inner {
                tables: Default::default(),
                sinks: HashMap::new(),
                owned: HashMap::new(),
                history: History::new(history_bytes),
                resuming: HashMap::new(),
            }),
            delivered: AtomicU64::new(0),
        }
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
        inner.resuming.remove(&conn);
        if let Some(owned) = inner.owned.remove(&conn) {
            for (kind, path) in owned {
                remove_entry(&mut inner.tables[slot(kind)], &path, conn);
            }
        }
    }

    /// Registers a watch.
    pub fn add(&self, conn: ConnId, path: &str, kind: WatchKind) {
        self.lock().add(conn, path, kind);
    }

    /// Whether `conn` may register a watch of `kind` on `path` with at most
    /// `limit` registrations: yes when it has fewer, or already has this one
    /// (registering it again adds nothing). `Err` holds its current count.
    pub fn room_for(
        &self,
        conn: ConnId,
        kind: WatchKind,
        path: &str,
        limit: usize,
    ) -> Result<(), usize> {
        let inner = self.lock();
        let Some(owned) = inner.owned.get(&conn) else {
            return if limit > 0 { Ok(()) } else { Err(0) };
        };
        if owned.len() < limit || owned.contains(&(kind, path.to_string())) {
            Ok(())
        } else {
            Err(owned.len())
        }
    }

    /// Registrations of one connection, every kind counted.
    pub fn count_of(&self, conn: ConnId) -> usize {
        self.lock().owned.get(&conn).map_or(0, HashSet::len)
    }

    /// Forgets the event history: the state was replaced wholesale (a
    /// snapshot was installed), so reconnecting clients older than the new
    /// state get `EventsLost`.
    pub fn reset_history(&self) {
        let mut inner = self.lock();
        inner.history.reset();
        for resume in inner.resuming.values_mut() {
            resume.history_lost();
        }
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

    /// Whether `conn` holds a watch of the given kinds on `path`
    /// (ZooKeeper's checkWatches).
    pub fn has(&self, conn: ConnId, path: &str, which: WatcherType) -> bool {
        let inner = self.lock();
        KINDS.into_iter().any(|kind| {
            which.covers(kind)
                && inner.tables[slot(kind)]
                    .get(path)
                    .is_some_and(|conns| conns.contains(&conn))
        })
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

    /// Routes the events of one applied command, in order, to the
    /// connections watching them (one-shot watches are consumed), and keeps
    /// them in the history.
    pub fn fire(&self, events: &[WatchEvent]) {
        self.fire_checked(events.to_vec(), &|_, _| true);
    }

    /// [`WatchRegistry::fire`], but an event that reaches a connection only
    /// through a recursive watch on an ancestor is sent only if
    /// `may_see(session, event)`: no events about nodes the session cannot
    /// read.
    /// The events end in the history (taken, not copied).
    pub fn fire_checked(
        &self,
        events: Vec<WatchEvent>,
        may_see: &dyn Fn(u64, &WatchEvent) -> bool,
    ) {
        if events.is_empty() {
            return;
        }
        let mut guard = self.lock();
        let inner = &mut *guard;
        let first_seq = inner.history.next_seq();
        let mut targets: Vec<(ConnId, bool)> = Vec::new();
        for (seq, event) in (first_seq..).zip(&events) {
            inner.route(event, &mut targets);
            for &(c, via_ancestor) in &targets {
                if via_ancestor {
                    let session = inner.sinks.get(&c).map_or(0, |s| s.session());
                    if !may_see(session, event) {
                        continue;
                    }
                }
                if let Some(resume) = inner.resuming.get_mut(&c) {
                    resume.hold(seq, event);
                } else if let Some(sink) = inner.sinks.get(&c) {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                    sink.push(event);
                }
            }
        }
        inner.history.record(events);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_machine::EventType;

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
