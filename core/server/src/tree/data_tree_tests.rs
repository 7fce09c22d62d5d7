//! Tree-level tests: structure, indexes, undo, walk order.

use super::*;

fn tree_with(paths: &[&str]) -> DataTree {
    let mut t = DataTree::new();
    for (i, p) in paths.iter().enumerate() {
        t.create(p, Bytes::new(), NodeKind::Persistent, i as u64 + 1, 0)
            .unwrap_or_else(|e| panic!("create {p}: {e}"));
    }
    t
}

fn snapshot_view(t: &DataTree) -> Vec<(String, Bytes, Stat, NodeKind)> {
    t.walk()
        .map(|(p, n)| (p.to_string(), n.data().clone(), n.stat(), n.kind()))
        .collect()
}

#[test]
fn root_always_exists_with_an_all_zero_stat() {
    let t = DataTree::new();
    assert_eq!(t.len(), 1);
    assert_eq!(t.node("/").map(Node::stat), Some(Stat::default()));
}

#[test]
fn walk_visits_parents_before_children_in_name_order() {
    let t = tree_with(&["/b", "/a", "/a/z", "/a/y", "/a/y/1", "/c"]);
    let order: Vec<&str> = t.walk().map(|(p, _)| p).collect();
    assert_eq!(order, ["/", "/a", "/a/y", "/a/y/1", "/a/z", "/b", "/c"]);
}

#[test]
fn child_order_is_name_order_even_with_longer_siblings() {
    // "/a" < "/a-b" < "/a/..." bytewise; children of "/" must sort by name only.
    let t = tree_with(&["/a", "/a-b", "/a/x", "/a0"]);
    let root_children: Vec<&str> = t.node("/").unwrap().child_paths().collect();
    assert_eq!(root_children, ["/a", "/a-b", "/a0"]);
}

#[test]
fn undo_reverses_create_delete_and_set_exactly() {
    let mut t = tree_with(&["/a", "/a/b"]);
    let before = snapshot_view(&t);
    let log = vec![
        t.delete("/a/b", -1, 10, true).unwrap(),
        t.create("/a/b", Bytes::from_static(b"x"), NodeKind::Container, 10, 5)
            .unwrap()
            .1,
        t.set_data("/a", Bytes::from_static(b"new"), -1, 10, 5)
            .unwrap()
            .1,
        t.create(
            "/a/e",
            Bytes::new(),
            NodeKind::Ephemeral { owner: 3 },
            10,
            5,
        )
        .unwrap()
        .1,
    ];
    assert_ne!(snapshot_view(&t), before);
    for u in log.into_iter().rev() {
        t.undo(u);
    }
    assert_eq!(snapshot_view(&t), before);
    assert!(t.ephemerals_of(3).is_empty());
    assert_eq!(t.ephemeral_owners().count(), 0);
    assert!(t.reapable_at(i64::MAX, 10).is_empty());
}

#[test]
fn ephemeral_index_follows_creates_and_deletes() {
    let mut t = tree_with(&["/p"]);
    for p in ["/p/b", "/p/a"] {
        t.create(p, Bytes::new(), NodeKind::Ephemeral { owner: 7 }, 5, 0)
            .unwrap();
    }
    let listed: Vec<String> = t.ephemerals_of(7).iter().map(|p| p.to_string()).collect();
    assert_eq!(listed, ["/p/a", "/p/b"]);
    t.delete("/p/a", -1, 6, true).unwrap();
    t.delete("/p/b", -1, 7, true).unwrap();
    assert_eq!(t.ephemeral_owners().count(), 0, "no empty sets are kept");
}

#[test]
fn reap_skips_nodes_that_no_longer_qualify() {
    let mut t = tree_with(&[]);
    t.create("/c", Bytes::new(), NodeKind::Container, 1, 0)
        .unwrap();
    assert!(
        t.reap("/c", 1, 100, 2, true).unwrap().is_none(),
        "never had a child"
    );
    t.create("/c/x", Bytes::new(), NodeKind::Persistent, 2, 0)
        .unwrap();
    assert!(
        t.reap("/c", 1, 100, 3, true).unwrap().is_none(),
        "has a child"
    );
    t.delete("/c/x", -1, 3, true).unwrap();
    assert!(
        t.reap("/c", 99, 100, 4, true).unwrap().is_none(),
        "other czxid"
    );
    assert!(t.reap("/c", 1, 100, 4, true).unwrap().is_some());
    assert!(t.node("/c").is_none());
    assert!(
        t.reap("/c", 1, 100, 5, true).unwrap().is_none(),
        "already gone"
    );
}

#[test]
fn version_wraps_like_a_java_int() {
    let mut t = tree_with(&["/a"]);
    let restored = Node::from_stat(
        Bytes::new(),
        NodeKind::Persistent,
        &Stat {
            version: i32::MAX,
            ..Stat::default()
        },
    );
    t.insert_restored("/w", restored).unwrap();
    let (stat, _) = t.set_data("/w", Bytes::new(), i32::MAX, 9, 0).unwrap();
    assert_eq!(stat.version, i32::MIN);
}
