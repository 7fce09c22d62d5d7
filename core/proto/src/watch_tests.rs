//! The routing rule, case by case: what each event type reaches and consumes.

use super::*;
use EventType::{EventsLost, NodeChildrenChanged, NodeCreated, NodeDataChanged, NodeDeleted};
use WatchKind::{Child, Data, Exist, Persistent, PersistentRecursive};

fn reached(event: EventType, path: &str) -> Vec<(WatchKind, &str)> {
    watches_reached(event, path).collect()
}

#[test]
fn created_and_data_changed_reach_data_exists_persistent_and_recursive_above() {
    for event in [NodeCreated, NodeDataChanged] {
        assert_eq!(
            reached(event, "/a/b"),
            [
                (Data, "/a/b"),
                (Exist, "/a/b"),
                (Persistent, "/a/b"),
                (PersistentRecursive, "/a/b"),
                (PersistentRecursive, "/a"),
                (PersistentRecursive, "/"),
            ]
        );
    }
}

#[test]
fn deleted_also_reaches_the_child_watch_of_the_node() {
    assert!(reaches(NodeDeleted, "/a", Child, "/a"));
    assert!(reaches(NodeDeleted, "/a", Data, "/a"));
    assert!(reaches(NodeDeleted, "/a/b", PersistentRecursive, "/a"));
    assert!(
        !reaches(NodeDeleted, "/a/b", Child, "/a"),
        "the parent gets children-changed"
    );
}

#[test]
fn children_changed_reaches_child_and_persistent_only() {
    assert_eq!(
        reached(NodeChildrenChanged, "/a"),
        [(Child, "/a"), (Persistent, "/a")]
    );
    assert!(!reaches(
        NodeChildrenChanged,
        "/a",
        PersistentRecursive,
        "/a"
    ));
    assert!(!reaches(NodeChildrenChanged, "/a", Data, "/a"));
}

#[test]
fn persistent_watch_sees_only_its_own_path() {
    assert!(!reaches(NodeCreated, "/a/b", Persistent, "/a"));
    assert!(!reaches(NodeDataChanged, "/ab", Persistent, "/a"));
}

#[test]
fn recursive_watch_respects_segment_boundaries() {
    assert!(!reaches(NodeCreated, "/ab", PersistentRecursive, "/a"));
    assert!(reaches(NodeCreated, "/a/b/c", PersistentRecursive, "/a"));
    assert!(reaches(NodeCreated, "/x", PersistentRecursive, "/"));
    assert_eq!(
        reached(NodeDataChanged, "/")
            .into_iter()
            .filter(|(k, _)| *k == PersistentRecursive)
            .count(),
        1,
        "the root is its own only ancestor"
    );
}

#[test]
fn events_lost_reaches_every_watch_on_exactly_its_path() {
    let got = reached(EventsLost, "/a/b");
    assert_eq!(got.len(), KINDS.len());
    assert!(KINDS.iter().all(|k| got.contains(&(*k, "/a/b"))));
    assert!(!reaches(EventsLost, "/a/b", PersistentRecursive, "/a"));
}

#[test]
fn only_data_exists_and_child_watches_are_one_shot() {
    let one_shot: Vec<WatchKind> = KINDS.into_iter().filter(|k| k.is_one_shot()).collect();
    assert_eq!(one_shot, [Data, Exist, Child]);
}
