//! Containers and TTL nodes: candidates and the `Reap` command.

use super::super::ReapTarget;
use super::*;

fn reap(h: &mut Harness, targets: Vec<ReapTarget>) -> (u64, Vec<String>, Vec<WatchEvent>) {
    let (out, events) = h.run(0, CommandKind::Reap(targets));
    match out.result {
        Ok(CommandResult::Reaped(paths)) => (out.zxid, paths, events),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn container_is_reaped_after_its_last_child_goes() {
    let mut h = Harness::new();
    h.create(0, "/c", CreateMode::Container).unwrap();
    h.mk("/c/child");
    assert!(h.sm.reap_candidates(h.now, 10).is_empty(), "has a child");
    h.op(0, delete_op("/c/child", -1)).unwrap();
    let targets = h.sm.reap_candidates(h.now, 10);
    assert_eq!(
        targets,
        vec![ReapTarget {
            path: "/c".into(),
            czxid: h.stat("/c").czxid
        }]
    );
    let (z, reaped, events) = reap(&mut h, targets);
    assert_eq!(reaped, ["/c"]);
    assert_eq!(
        events,
        vec![
            ev(EventType::NodeDeleted, "/c", z),
            ev(EventType::NodeChildrenChanged, "/", z)
        ]
    );
    assert!(!h.has("/c"));
}

#[test]
fn container_that_never_had_a_child_is_not_reaped() {
    let mut h = Harness::new();
    let czxid = {
        h.create(0, "/c", CreateMode::Container).unwrap();
        h.stat("/c").czxid
    };
    assert!(h.sm.reap_candidates(h.now + 1_000_000, 10).is_empty());
    let (_, reaped, events) = reap(
        &mut h,
        vec![ReapTarget {
            path: "/c".into(),
            czxid,
        }],
    );
    assert!(reaped.is_empty() && events.is_empty());
    assert!(h.has("/c"));
}

#[test]
fn ttl_node_is_reaped_only_after_its_ttl_since_the_last_change() {
    let mut h = Harness::new();
    h.create(0, "/t", CreateMode::PersistentWithTtl(100))
        .unwrap();
    let czxid = h.stat("/t").czxid;
    let target = || {
        vec![ReapTarget {
            path: "/t".into(),
            czxid,
        }]
    };
    h.now += 60;
    h.op(0, set_op("/t", b"touch", -1)).unwrap(); // mtime moves: the TTL restarts
    h.now += 100;
    assert!(h.sm.reap_candidates(h.now, 10).is_empty());
    assert!(
        reap(&mut h, target()).1.is_empty(),
        "mtime + ttl not passed yet"
    );
    h.now += 1;
    assert_eq!(h.sm.reap_candidates(h.now, 10), target());
    assert_eq!(reap(&mut h, target()).1, ["/t"]);
}

#[test]
fn ttl_node_with_children_is_not_reaped() {
    let mut h = Harness::new();
    h.create(0, "/t", CreateMode::PersistentSequentialWithTtl(10))
        .unwrap();
    h.mk("/t0000000000/kid");
    h.now += 1_000;
    assert!(h.sm.reap_candidates(h.now, 10).is_empty());
}

#[test]
fn recreated_node_with_a_new_czxid_is_not_reaped() {
    let mut h = Harness::new();
    h.create(0, "/c", CreateMode::Container).unwrap();
    h.mk("/c/x");
    h.op(0, delete_op("/c/x", -1)).unwrap();
    let stale = h.sm.reap_candidates(h.now, 10);
    assert_eq!(stale.len(), 1);
    // The container is replaced before the leader's Reap is applied.
    h.op(0, delete_op("/c", -1)).unwrap();
    h.create(0, "/c", CreateMode::Container).unwrap();
    h.mk("/c/y");
    h.op(0, delete_op("/c/y", -1)).unwrap();
    let (_, reaped, events) = reap(&mut h, stale);
    assert!(reaped.is_empty() && events.is_empty());
    assert!(h.has("/c"));
}

#[test]
fn reap_candidates_are_in_path_order_and_at_most_max() {
    let mut h = Harness::new();
    for p in ["/t3", "/t1", "/t2"] {
        h.create(0, p, CreateMode::PersistentWithTtl(1)).unwrap();
    }
    h.mk("/plain");
    h.now += 10;
    let paths: Vec<String> =
        h.sm.reap_candidates(h.now, 2)
            .into_iter()
            .map(|t| t.path)
            .collect();
    assert_eq!(paths, ["/t1", "/t2"]);
    let all = h.sm.reap_candidates(h.now, 10);
    let (_, reaped, events) = reap(&mut h, all);
    assert_eq!(reaped, ["/t1", "/t2", "/t3"]);
    assert_eq!(events.len(), 6);
    assert!(h.sm.reap_candidates(h.now, 10).is_empty());
}
