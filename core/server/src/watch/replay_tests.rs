//! Replay on re-registration, against the registry alone.

use std::sync::{Arc, Mutex};

use super::super::{EventSink, WatchKind, WatchRegistry};
use crate::state_machine::{EventType, WatchEvent};
use EventType::{EventsLost, NodeChildrenChanged, NodeCreated, NodeDataChanged, NodeDeleted};

#[derive(Default)]
struct Collect(Mutex<Vec<WatchEvent>>);
impl EventSink for Collect {
    fn push(&self, event: &WatchEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}
impl Collect {
    fn take(&self) -> Vec<(EventType, String, u64)> {
        std::mem::take(&mut *self.0.lock().unwrap())
            .into_iter()
            .map(|e| (e.kind, e.path, e.zxid))
            .collect()
    }
}

fn ev(kind: EventType, path: &str, zxid: u64) -> WatchEvent {
    WatchEvent {
        kind,
        path: path.into(),
        zxid,
    }
}

/// A registry that saw these commands' events (nobody watching), and a
/// fresh connection 1.
fn after(history_bytes: usize, commands: &[&[WatchEvent]]) -> (WatchRegistry, Arc<Collect>) {
    let reg = WatchRegistry::with_history_bytes(history_bytes);
    for events in commands {
        reg.fire(events);
    }
    let sink = Arc::new(Collect::default());
    reg.attach(1, sink.clone());
    (reg, sink)
}

fn never_unchanged(_: WatchKind, _: &str) -> bool {
    false
}

fn owned(e: (EventType, &str, u64)) -> (EventType, String, u64) {
    (e.0, e.1.to_string(), e.2)
}

#[test]
fn missed_events_are_replayed_in_zxid_order_once_each() {
    let (reg, sink) = after(
        1 << 20,
        &[
            &[ev(NodeCreated, "/r/x", 2), ev(NodeChildrenChanged, "/r", 2)],
            &[ev(NodeDataChanged, "/p", 3)],
            &[ev(NodeDataChanged, "/d", 4)],
            &[ev(NodeDeleted, "/p", 5), ev(NodeChildrenChanged, "/", 5)],
            &[ev(NodeDataChanged, "/d", 6)],
        ],
    );
    let watches = [
        (WatchKind::Persistent, "/p"),
        (WatchKind::PersistentRecursive, "/r"),
        (WatchKind::Data, "/d"),
        (WatchKind::Exist, "/d"),
    ];
    reg.resume(1, 1, 6, &watches, never_unchanged);
    assert_eq!(
        sink.take(),
        [
            (NodeCreated, "/r/x", 2),
            (NodeDataChanged, "/p", 3),
            (NodeDataChanged, "/d", 4),
            (NodeDeleted, "/p", 5),
        ]
        .map(owned),
        "the one-shot /d watches take the first change only, one copy for both"
    );
    // Consumed one-shots are gone; persistent ones are registered.
    assert_eq!(reg.len(), 2);
    reg.fire(&[ev(NodeDataChanged, "/d", 7), ev(NodeDataChanged, "/r", 7)]);
    assert_eq!(sink.take(), [(NodeDataChanged, "/r", 7)].map(owned));
}

#[test]
fn events_the_client_already_saw_are_not_replayed() {
    let (reg, sink) = after(
        1 << 20,
        &[
            &[ev(NodeDataChanged, "/p", 2)],
            &[ev(NodeDataChanged, "/p", 3)],
        ],
    );
    reg.resume(1, 2, 3, &[(WatchKind::Persistent, "/p")], never_unchanged);
    assert_eq!(sink.take(), [(NodeDataChanged, "/p", 3)].map(owned));
    reg.resume(1, 3, 3, &[(WatchKind::Data, "/p")], never_unchanged);
    assert!(sink.take().is_empty());
    assert_eq!(reg.len(), 2, "an unfired one-shot watch is registered");
}

#[test]
fn client_older_than_the_history_gets_events_lost_for_changed_paths_only() {
    // Room for one event: zxid 2 is evicted by zxid 3.
    let (reg, sink) = after(
        80,
        &[
            &[ev(NodeDataChanged, "/a", 2)],
            &[ev(NodeDataChanged, "/b", 3)],
        ],
    );
    let watches = [
        (WatchKind::Data, "/a"),
        (WatchKind::Persistent, "/a"),
        (WatchKind::Child, "/b"),
        (WatchKind::PersistentRecursive, "/c"),
        (WatchKind::Data, "/quiet"),
    ];
    reg.resume(1, 1, 3, &watches, |_, p| p == "/quiet");
    assert_eq!(
        sink.take(),
        [
            (EventsLost, "/a", 3),
            (EventsLost, "/b", 3),
            (EventsLost, "/c", 3)
        ]
        .map(owned)
    );
    // Left: the persistent /a, the recursive /c and the spared /quiet.
    assert_eq!(reg.len(), 3);
    reg.fire(&[ev(NodeDataChanged, "/quiet", 4)]);
    assert_eq!(sink.take(), [(NodeDataChanged, "/quiet", 4)].map(owned));
}

#[test]
fn reset_history_makes_older_clients_lose_events() {
    let (reg, sink) = after(1 << 20, &[&[ev(NodeDataChanged, "/a", 2)]]);
    reg.reset_history();
    reg.resume(1, 1, 9, &[(WatchKind::Persistent, "/a")], never_unchanged);
    assert_eq!(sink.take(), [(EventsLost, "/a", 9)].map(owned));
}
