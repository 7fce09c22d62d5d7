//! Replay on re-registration, against the registry alone.

use std::sync::{Arc, Mutex};

use super::super::{EventSink, WatchKind, WatchRegistry};
use super::{Prepared, RESUME_STEP, Step};
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

/// `RESUME_STEP` persistent watches on paths no event touches: pushes what
/// follows them into the next step.
fn filler() -> Vec<(WatchKind, String)> {
    (0..RESUME_STEP)
        .map(|i| (WatchKind::Persistent, format!("/filler/{i}")))
        .collect()
}

fn begin(reg: &WatchRegistry, last: u64, state: u64, watches: &[(WatchKind, String)]) {
    let refs: Vec<(WatchKind, &str)> = watches.iter().map(|(k, p)| (*k, p.as_str())).collect();
    reg.begin_resume(1, last, state, Prepared::now(&refs));
}

fn finish(reg: &WatchRegistry, state: u64, unchanged: impl Fn(WatchKind, &str) -> bool) {
    for _ in 0..1000 {
        if reg.resume_step(1, state, &unchanged, &|_, _| true) != Step::More {
            return;
        }
    }
    panic!("resume did not finish");
}

#[test]
fn events_during_a_stepwise_resume_are_held_and_sent_once_in_zxid_order() {
    let (reg, sink) = after(1 << 20, &[&[ev(NodeDataChanged, "/late", 2)]]);
    // Step 1: /early; step 2: /late and a recursive watch on / that every
    // change below reaches as well.
    let mut watches = vec![(WatchKind::Persistent, "/early".to_string())];
    watches.extend(filler().into_iter().skip(1));
    watches.push((WatchKind::Persistent, "/late".into()));
    watches.push((WatchKind::PersistentRecursive, "/".into()));
    begin(&reg, 1, 2, &watches);
    assert_eq!(
        reg.resume_step(1, 2, never_unchanged, &|_, _| true),
        Step::More
    );
    // Live while resuming: /early is registered (held), /late is not yet
    // (it will be replayed from the history).
    reg.fire(&[ev(NodeDataChanged, "/early", 3)]);
    reg.fire(&[ev(NodeDataChanged, "/late", 4)]);
    assert!(sink.take().is_empty(), "nothing goes out before the replay");
    finish(&reg, 4, never_unchanged);
    assert_eq!(
        sink.take(),
        [
            (NodeDataChanged, "/late", 2),
            (NodeDataChanged, "/early", 3),
            (NodeDataChanged, "/late", 4),
        ]
        .map(owned),
        "each event once (the recursive watch reaches all three), in zxid order"
    );
    // Afterwards events flow live again.
    reg.fire(&[ev(NodeDataChanged, "/late", 5)]);
    assert_eq!(sink.take(), [(NodeDataChanged, "/late", 5)].map(owned));
    assert_eq!(reg.len(), RESUME_STEP + 2);
}

#[test]
fn history_evicted_during_a_resume_gives_events_lost_to_the_watches_left() {
    // Room for about two events.
    let (reg, sink) = after(160, &[&[ev(NodeDataChanged, "/a", 2)]]);
    let mut watches = filler();
    watches.insert(0, (WatchKind::Persistent, "/a".into()));
    watches.truncate(RESUME_STEP);
    watches.push((WatchKind::Data, "/b".into()));
    watches.push((WatchKind::Persistent, "/c".into()));
    begin(&reg, 1, 2, &watches);
    assert_eq!(
        reg.resume_step(1, 2, never_unchanged, &|_, _| true),
        Step::More
    );
    // Three commands evict what step 2 has not looked at yet.
    for z in 3..=5 {
        reg.fire(&[ev(NodeDataChanged, "/x", z)]);
    }
    finish(&reg, 5, never_unchanged);
    assert_eq!(
        sink.take(),
        [
            (NodeDataChanged, "/a", 2),
            (EventsLost, "/b", 5),
            (EventsLost, "/c", 5)
        ]
        .map(owned)
    );
    // The one-shot /b was consumed by its EventsLost; /a and /c stand.
    assert_eq!(reg.len(), RESUME_STEP + 1);
}

#[test]
fn events_lost_in_a_later_step_consumes_one_shots_registered_earlier() {
    // The history was reset: everything after the client's zxid is lost.
    let (reg, sink) = after(1 << 20, &[&[ev(NodeDataChanged, "/a", 2)]]);
    reg.reset_history();
    let mut watches = vec![(WatchKind::Data, "/a".to_string())];
    watches.extend(filler().into_iter().skip(1));
    watches.push((WatchKind::PersistentRecursive, "/a".into()));
    begin(&reg, 1, 9, &watches);
    // Only /a changed, and only the recursive watch cannot tell.
    let unchanged = |k: WatchKind, p: &str| p != "/a" || k == WatchKind::Data;
    assert_eq!(reg.resume_step(1, 9, unchanged, &|_, _| true), Step::More);
    assert_eq!(
        reg.count_of(1),
        RESUME_STEP,
        "/a's data watch stands so far"
    );
    finish(&reg, 9, unchanged);
    assert_eq!(sink.take(), [(EventsLost, "/a", 9)].map(owned));
    // As in one go: the recursive watch stands, the one-shot one is consumed.
    assert_eq!(reg.count_of(1), RESUME_STEP);
    reg.fire(&[ev(NodeDataChanged, "/a", 10)]);
    assert_eq!(sink.take(), [(NodeDataChanged, "/a", 10)].map(owned));
}

#[test]
fn a_resume_dropped_half_way_stops_holding_events() {
    let (reg, sink) = after(1 << 20, &[]);
    let mut watches = filler();
    watches[0] = (WatchKind::Persistent, "/a".into());
    watches.push((WatchKind::Persistent, "/b".into()));
    begin(&reg, 0, 0, &watches);
    assert_eq!(
        reg.resume_step(1, 0, never_unchanged, &|_, _| true),
        Step::More
    );
    reg.abandon_resume(1);
    assert_eq!(
        reg.resume_step(1, 0, never_unchanged, &|_, _| true),
        Step::Gone
    );
    reg.fire(&[ev(NodeDataChanged, "/a", 1)]);
    assert_eq!(sink.take(), [(NodeDataChanged, "/a", 1)].map(owned));
}

#[test]
fn many_replayed_events_go_out_over_several_steps_and_live_ones_after_them() {
    let n = 2 * RESUME_STEP as u64;
    let commands: Vec<Vec<WatchEvent>> = (1..=n)
        .map(|z| vec![ev(NodeDataChanged, "/p", z)])
        .collect();
    let refs: Vec<&[WatchEvent]> = commands.iter().map(Vec::as_slice).collect();
    let (reg, sink) = after(1 << 20, &refs);
    begin(&reg, 0, n, &[(WatchKind::Persistent, "/p".to_string())]);
    assert_eq!(
        reg.resume_step(1, n, never_unchanged, &|_, _| true),
        Step::More
    );
    let first = sink.take();
    assert_eq!(
        first.len(),
        RESUME_STEP - 1,
        "one step sends a bounded share"
    );
    reg.fire(&[ev(NodeDataChanged, "/p", n + 1)]);
    finish(&reg, n + 1, never_unchanged);
    let zxids: Vec<u64> = first
        .into_iter()
        .chain(sink.take())
        .map(|(_, _, z)| z)
        .collect();
    assert_eq!(zxids, (1..=n + 1).collect::<Vec<_>>());
}
