//! Multi: atomicity, ZooKeeper's result shape, ops seeing earlier ops.

use super::*;

fn multi(h: &mut Harness, session: u64, ops: Vec<Op>) -> (u64, Vec<OpResult>, Vec<WatchEvent>) {
    let (out, events) = h.run(session, CommandKind::Multi(ops));
    match out.result {
        Ok(CommandResult::Multi(results)) => (out.zxid, results, events),
        other => panic!("unexpected {other:?}"),
    }
}

fn error_names(results: &[OpResult]) -> Vec<&'static str> {
    results
        .iter()
        .map(|r| match r {
            OpResult::Error(e) => e.name(),
            _ => "OK",
        })
        .collect()
}

#[test]
fn failing_check_leaves_no_partial_change_and_reports_zookeepers_shape() {
    let mut h = Harness::new();
    h.open(1);
    h.mk("/a");
    h.mk("/gone");
    h.create(1, "/eph", CreateMode::Ephemeral).unwrap();
    let before = h.snapshot();
    let (_, results, events) = multi(
        &mut h,
        1,
        vec![
            create_op("/a/new", CreateMode::PersistentSequential),
            set_op("/a", b"changed", -1),
            delete_op("/gone", -1),
            delete_op("/eph", -1),
            check_op("/a", 0), // /a is at version 1 by now
            create_op("/never", CreateMode::Persistent),
        ],
    );
    assert_eq!(
        error_names(&results),
        [
            "ROLLED_BACK",
            "ROLLED_BACK",
            "ROLLED_BACK",
            "ROLLED_BACK",
            "BAD_VERSION",
            "RUNTIME_INCONSISTENCY"
        ]
    );
    assert!(events.is_empty());
    // Nothing changed: same bytes, including parents' counters and the
    // ephemeral index (the ephemeral still goes away with its session).
    assert_eq!(h.snapshot(), before);
    assert_eq!(h.sm.ephemerals(1), ["/eph"]);
    assert!(!h.has("/never"));
    let (_, events) = h.run(1, CommandKind::CloseSession);
    assert_eq!(events.len(), 2);
}

#[test]
fn later_ops_see_the_effects_of_earlier_ops() {
    let mut h = Harness::new();
    h.mk("/x");
    let (z, results, events) = multi(
        &mut h,
        0,
        vec![
            create_op("/p", CreateMode::Persistent),
            create_op("/p/c", CreateMode::Persistent),
            set_op("/p/c", b"1", 0),
            check_op("/p/c", 1),
            delete_op("/x", -1),
            create_op("/x", CreateMode::Container),
            create_op("/p/s-", CreateMode::PersistentSequential),
        ],
    );
    assert_eq!(error_names(&results), ["OK"; 7]);
    assert!(matches!(&results[6], OpResult::Create { path, .. } if path == "/p/s-0000000001"));
    assert_eq!(h.sm.get("/p/c").unwrap().0, Bytes::from_static(b"1"));
    assert_eq!(h.stat("/x").czxid, z);
    // All events in op order, all with the multi's zxid.
    let kinds: Vec<(EventType, &str)> = events.iter().map(|e| (e.kind, e.path.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (EventType::NodeCreated, "/p"),
            (EventType::NodeChildrenChanged, "/"),
            (EventType::NodeCreated, "/p/c"),
            (EventType::NodeChildrenChanged, "/p"),
            (EventType::NodeDataChanged, "/p/c"),
            (EventType::NodeDeleted, "/x"),
            (EventType::NodeChildrenChanged, "/"),
            (EventType::NodeCreated, "/x"),
            (EventType::NodeChildrenChanged, "/"),
            (EventType::NodeCreated, "/p/s-0000000001"),
            (EventType::NodeChildrenChanged, "/p"),
        ]
    );
    assert!(events.iter().all(|e| e.zxid == z));
}

#[test]
fn failure_after_create_then_delete_of_the_same_path_restores_the_original() {
    let mut h = Harness::new();
    h.mk("/a");
    h.op(0, set_op("/a", b"orig", -1)).unwrap();
    let before = h.snapshot();
    let (_, results, _) = multi(
        &mut h,
        0,
        vec![
            delete_op("/a", -1),
            create_op("/a", CreateMode::Ephemeral), // session 0: BadArguments
        ],
    );
    assert_eq!(error_names(&results), ["ROLLED_BACK", "BAD_ARGUMENTS"]);
    assert_eq!(h.snapshot(), before);
    assert_eq!(h.sm.get("/a").unwrap().0, Bytes::from_static(b"orig"));
}

#[test]
fn a_failed_multi_does_not_consume_sequence_numbers() {
    let mut h = Harness::new();
    h.mk("/q");
    let (_, results, _) = multi(
        &mut h,
        0,
        vec![
            create_op("/q/n-", CreateMode::PersistentSequential),
            check_op("/missing", -1),
        ],
    );
    assert_eq!(error_names(&results), ["ROLLED_BACK", "NO_NODE"]);
    assert_eq!(
        h.create(0, "/q/n-", CreateMode::PersistentSequential),
        Ok("/q/n-0000000000".into())
    );
}

#[test]
fn multi_over_max_multi_ops_is_too_large() {
    let limits = Limits {
        max_multi_ops: 2,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(limits);
    let ops = vec![check_op("/", -1); 3];
    let (out, _) = h.run(0, CommandKind::Multi(ops));
    assert_eq!(
        out.result,
        Err(Error::TooLarge(
            "multi has 3 ops, limit max_multi_ops = 2".into()
        ))
    );
    let (_, results, _) = multi(&mut h, 0, vec![check_op("/", -1); 2]);
    assert_eq!(results, vec![OpResult::Check; 2]);
}

#[test]
fn empty_multi_succeeds_and_takes_a_zxid() {
    let mut h = Harness::new();
    let (z, results, events) = multi(&mut h, 0, vec![]);
    assert_eq!((z, results.len(), events.len()), (1, 0, 0));
}
