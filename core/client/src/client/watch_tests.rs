//! Unit tests of the watch table's routing (kept apart to keep `watch.rs` short).

use super::*;
use coord_proto::EventType;

fn ev(kind: EventType, path: &str) -> WatchEvent {
    WatchEvent {
        kind,
        path: path.into(),
        zxid: 7,
    }
}

fn oneshot_on(t: &mut WatchTable, kind: OneshotKind, path: &str) -> oneshot::Receiver<EventResult> {
    let (tx, rx) = oneshot::channel();
    t.add_oneshot(kind, path.into(), tx);
    rx
}

fn stream_on(
    t: &mut WatchTable,
    mode: WatchMode,
    path: &str,
) -> (u64, mpsc::UnboundedReceiver<EventResult>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (t.add_persistent(mode, path.into(), tx), rx)
}

fn fired(rx: &mut oneshot::Receiver<EventResult>) -> Option<EventType> {
    rx.try_recv()
        .ok()
        .map(|r| r.map(|e| e.kind).unwrap_or_else(|e| panic!("{e}")))
}

fn drained(rx: &mut mpsc::UnboundedReceiver<EventResult>) -> Vec<Result<EventType, Error>> {
    let mut out = Vec::new();
    while let Ok(r) = rx.try_recv() {
        out.push(r.map(|e| e.kind));
    }
    out
}

#[test]
fn created_and_data_changed_fire_data_and_exists_watchers_once() {
    for kind in [EventType::NodeCreated, EventType::NodeDataChanged] {
        let mut t = WatchTable::default();
        let mut data = oneshot_on(&mut t, OneshotKind::Data, "/a");
        let mut data2 = oneshot_on(&mut t, OneshotKind::Data, "/a");
        let mut exist = oneshot_on(&mut t, OneshotKind::Exist, "/a");
        let mut child = oneshot_on(&mut t, OneshotKind::Child, "/a");
        let mut other = oneshot_on(&mut t, OneshotKind::Data, "/b");
        assert_eq!(t.route(&ev(kind, "/a")), 3);
        assert_eq!(fired(&mut data), Some(kind));
        assert_eq!(fired(&mut data2), Some(kind));
        assert_eq!(fired(&mut exist), Some(kind));
        assert_eq!(fired(&mut child), None);
        assert_eq!(fired(&mut other), None);
        // One-shot: a second event reaches nobody of those.
        assert_eq!(t.route(&ev(kind, "/a")), 0);
    }
}

#[test]
fn deleted_fires_data_exists_and_child_watchers() {
    let mut t = WatchTable::default();
    let mut data = oneshot_on(&mut t, OneshotKind::Data, "/a");
    let mut exist = oneshot_on(&mut t, OneshotKind::Exist, "/a");
    let mut child = oneshot_on(&mut t, OneshotKind::Child, "/a");
    assert_eq!(t.route(&ev(EventType::NodeDeleted, "/a")), 3);
    for rx in [&mut data, &mut exist, &mut child] {
        assert_eq!(fired(rx), Some(EventType::NodeDeleted));
    }
}

#[test]
fn children_changed_fires_only_child_watchers() {
    let mut t = WatchTable::default();
    let mut data = oneshot_on(&mut t, OneshotKind::Data, "/a");
    let mut exist = oneshot_on(&mut t, OneshotKind::Exist, "/a");
    let mut child = oneshot_on(&mut t, OneshotKind::Child, "/a");
    let (_, mut rec) = stream_on(&mut t, WatchMode::PersistentRecursive, "/a");
    assert_eq!(t.route(&ev(EventType::NodeChildrenChanged, "/a")), 1);
    assert_eq!(fired(&mut child), Some(EventType::NodeChildrenChanged));
    assert_eq!(fired(&mut data), None);
    assert_eq!(fired(&mut exist), None);
    assert!(
        drained(&mut rec).is_empty(),
        "recursive watchers skip children-changed"
    );
    assert!(
        t.has("/a", WatcherType::Data),
        "data watchers are still armed"
    );
}

#[test]
fn persistent_watchers_get_all_four_kinds_on_their_path_and_stay() {
    let mut t = WatchTable::default();
    let (_, mut p) = stream_on(&mut t, WatchMode::Persistent, "/a");
    let kinds = [
        EventType::NodeCreated,
        EventType::NodeDataChanged,
        EventType::NodeChildrenChanged,
        EventType::NodeDeleted,
    ];
    for k in kinds {
        assert_eq!(t.route(&ev(k, "/a")), 1);
    }
    assert_eq!(
        t.route(&ev(EventType::NodeCreated, "/a/b")),
        0,
        "not below the path"
    );
    let got: Vec<_> = drained(&mut p).into_iter().map(Result::unwrap).collect();
    assert_eq!(got, kinds);
}

#[test]
fn recursive_watchers_get_changes_on_the_path_and_below_only() {
    let mut t = WatchTable::default();
    let (_, mut rec) = stream_on(&mut t, WatchMode::PersistentRecursive, "/a");
    let (_, mut root) = stream_on(&mut t, WatchMode::PersistentRecursive, "/");
    t.route(&ev(EventType::NodeCreated, "/a"));
    t.route(&ev(EventType::NodeDataChanged, "/a/b/c"));
    t.route(&ev(EventType::NodeDeleted, "/a/b"));
    t.route(&ev(EventType::NodeChildrenChanged, "/a"));
    t.route(&ev(EventType::NodeCreated, "/ab"));
    let got: Vec<_> = drained(&mut rec).into_iter().map(Result::unwrap).collect();
    assert_eq!(
        got,
        [
            EventType::NodeCreated,
            EventType::NodeDataChanged,
            EventType::NodeDeleted
        ]
    );
    assert_eq!(
        drained(&mut root).len(),
        4,
        "the root sees all but children-changed"
    );
}

#[test]
fn removing_the_last_persistent_watcher_asks_for_server_removal() {
    let mut t = WatchTable::default();
    let (a, _ra) = stream_on(&mut t, WatchMode::Persistent, "/a");
    let (b, _rb) = stream_on(&mut t, WatchMode::Persistent, "/a");
    assert!(!t.remove_persistent(WatchMode::Persistent, "/a", a));
    assert!(
        !t.remove_persistent(WatchMode::PersistentRecursive, "/a", b),
        "other mode"
    );
    assert!(t.remove_persistent(WatchMode::Persistent, "/a", b));
    assert!(
        !t.remove_persistent(WatchMode::Persistent, "/a", b),
        "already gone"
    );
    assert!(!t.has("/a", WatcherType::Persistent));
}

#[test]
fn remove_by_kind_ends_matching_watchers_with_the_error() {
    let mut t = WatchTable::default();
    let mut data = oneshot_on(&mut t, OneshotKind::Data, "/a");
    let mut child = oneshot_on(&mut t, OneshotKind::Child, "/a");
    let (_, mut p) = stream_on(&mut t, WatchMode::Persistent, "/a");
    let err = Error::Cancelled("removed".into());
    assert_eq!(t.remove("/a", WatcherType::Data, &err), 1);
    assert_eq!(data.try_recv().unwrap(), Err(err.clone()));
    assert!(t.has("/a", WatcherType::Children));
    assert_eq!(t.remove("/a", WatcherType::Any, &err), 2);
    assert_eq!(child.try_recv().unwrap(), Err(err.clone()));
    assert_eq!(drained(&mut p), [Err(err)]);
    assert!(!t.has("/a", WatcherType::Any));
}

#[test]
fn set_watches_lists_every_live_watch_with_the_last_zxid() {
    let mut t = WatchTable::default();
    assert!(t.set_watches(5).is_none(), "nothing to re-register");
    let _d = oneshot_on(&mut t, OneshotKind::Data, "/d");
    let _e = oneshot_on(&mut t, OneshotKind::Exist, "/e");
    let _c = oneshot_on(&mut t, OneshotKind::Child, "/c");
    drop(oneshot_on(&mut t, OneshotKind::Data, "/abandoned"));
    let (_, _p) = stream_on(&mut t, WatchMode::Persistent, "/p");
    let (_, _r) = stream_on(&mut t, WatchMode::PersistentRecursive, "/r");
    let req = t.set_watches(42).unwrap();
    assert_eq!(req.last_zxid, 42);
    assert_eq!(req.data, ["/d"]);
    assert_eq!(req.exist, ["/e"]);
    assert_eq!(req.children, ["/c"]);
    assert_eq!(req.persistent, ["/p"]);
    assert_eq!(req.persistent_recursive, ["/r"]);
}

#[test]
fn fail_all_ends_every_watcher_with_the_error() {
    let mut t = WatchTable::default();
    let mut d = oneshot_on(&mut t, OneshotKind::Data, "/d");
    let (_, mut p) = stream_on(&mut t, WatchMode::PersistentRecursive, "/");
    let err = Error::SessionExpired("gone".into());
    t.fail_all(&err);
    assert_eq!(d.try_recv().unwrap(), Err(err.clone()));
    assert_eq!(drained(&mut p), [Err(err)]);
    assert_eq!(
        p.try_recv(),
        Err(mpsc::error::TryRecvError::Disconnected),
        "the stream ends"
    );
    assert!(t.set_watches(0).is_none());
}

#[test]
fn ancestors_run_from_the_parent_up_to_the_root() {
    assert_eq!(ancestors("/a/b/c").collect::<Vec<_>>(), ["/a/b", "/a", "/"]);
    assert_eq!(ancestors("/a").collect::<Vec<_>>(), ["/"]);
    assert!(ancestors("/").next().is_none());
}

#[test]
fn events_lost_reaches_every_watcher_of_exactly_its_path() {
    let mut t = WatchTable::default();
    let mut data = oneshot_on(&mut t, OneshotKind::Data, "/a");
    let mut child = oneshot_on(&mut t, OneshotKind::Child, "/a");
    let (_, mut persistent) = stream_on(&mut t, WatchMode::Persistent, "/a");
    let (_, mut recursive) = stream_on(&mut t, WatchMode::PersistentRecursive, "/a");
    let (_, mut above) = stream_on(&mut t, WatchMode::PersistentRecursive, "/");
    assert_eq!(t.route(&ev(EventType::EventsLost, "/a")), 4);
    assert_eq!(fired(&mut data), Some(EventType::EventsLost));
    assert_eq!(fired(&mut child), Some(EventType::EventsLost));
    assert_eq!(drained(&mut persistent), [Ok(EventType::EventsLost)]);
    assert_eq!(drained(&mut recursive), [Ok(EventType::EventsLost)]);
    assert!(
        drained(&mut above).is_empty(),
        "an ancestor's watch has its own"
    );
    // The one-shots are consumed, the streams stay.
    assert_eq!(t.route(&ev(EventType::EventsLost, "/a")), 2);
}
