//! Sessions and ephemeral nodes.

use super::*;

#[test]
fn create_session_rejects_id_zero_and_existing_ids() {
    let mut h = Harness::new();
    h.open(7);
    for id in [0, 7] {
        let (out, _) = h.run(
            0,
            CommandKind::CreateSession {
                identities: Vec::new(),
                session_id: id,
                timeout_ms: 1,
                secret: [0; 16],
            },
        );
        assert!(
            matches!(out.result, Err(Error::BadArguments(_))),
            "{id}: {out:?}"
        );
    }
    let info = h.sm.session(7).expect("session 7 is live");
    assert_eq!((info.timeout_ms, info.secret), (10_000, [7; 16]));
    assert_eq!(h.sm.sessions().len(), 1);
}

#[test]
fn ephemeral_owner_is_the_creating_session() {
    let mut h = Harness::new();
    h.open(9);
    h.create(9, "/e", CreateMode::Ephemeral).unwrap();
    assert_eq!(h.stat("/e").ephemeral_owner, 9);
    assert_eq!(h.sm.ephemerals(9), ["/e"]);
}

#[test]
fn ephemerals_vanish_when_their_session_closes_with_events() {
    let mut h = Harness::new();
    h.open(1);
    h.open(2);
    h.mk("/locks");
    h.create(1, "/locks/b", CreateMode::Ephemeral).unwrap();
    h.create(1, "/a", CreateMode::Ephemeral).unwrap();
    h.create(2, "/locks/other", CreateMode::Ephemeral).unwrap();
    let (out, events) = h.run(1, CommandKind::CloseSession);
    let z = out.zxid;
    assert_eq!(out.result, Ok(CommandResult::SessionClosed));
    // Sorted by path: "/a" before "/locks/b".
    assert_eq!(
        events,
        vec![
            ev(EventType::NodeDeleted, "/a", z),
            ev(EventType::NodeChildrenChanged, "/", z),
            ev(EventType::NodeDeleted, "/locks/b", z),
            ev(EventType::NodeChildrenChanged, "/locks", z),
        ]
    );
    assert!(!h.has("/a") && !h.has("/locks/b"));
    assert!(h.has("/locks/other"));
    assert!(h.sm.session(1).is_none());
    assert_eq!(h.stat("/locks").pzxid, z);
}

#[test]
fn ephemerals_vanish_when_their_session_expires_with_events() {
    let mut h = Harness::new();
    h.open(1);
    h.open(2);
    h.create(1, "/one", CreateMode::EphemeralSequential)
        .unwrap();
    h.create(2, "/two", CreateMode::Ephemeral).unwrap();
    let (out, events) = h.run(0, CommandKind::ExpireSessions(vec![2, 99, 1, 2]));
    let z = out.zxid;
    assert_eq!(out.result, Ok(CommandResult::SessionsExpired(vec![2, 1])));
    assert_eq!(
        events,
        vec![
            ev(EventType::NodeDeleted, "/two", z),
            ev(EventType::NodeChildrenChanged, "/", z),
            ev(EventType::NodeDeleted, "/one0000000000", z),
            ev(EventType::NodeChildrenChanged, "/", z),
        ]
    );
    assert_eq!(h.sm.node_count(), 1);
    assert!(h.sm.sessions().is_empty());
}

#[test]
fn deleting_an_ephemeral_by_hand_takes_it_off_its_sessions_list() {
    let mut h = Harness::new();
    h.open(1);
    h.create(1, "/e", CreateMode::Ephemeral).unwrap();
    h.op(1, delete_op("/e", -1)).unwrap();
    assert!(h.sm.ephemerals(1).is_empty());
    let (_, events) = h.run(1, CommandKind::CloseSession);
    assert!(events.is_empty());
}

#[test]
fn ephemeral_nodes_cannot_have_children() {
    let mut h = Harness::new();
    h.open(1);
    h.create(1, "/e", CreateMode::Ephemeral).unwrap();
    for mode in [CreateMode::Persistent, CreateMode::Ephemeral] {
        let r = h.create(1, "/e/child", mode);
        assert!(matches!(r, Err(Error::NoChildrenForEphemerals(_))), "{r:?}");
    }
}

#[test]
fn ephemeral_create_needs_a_session() {
    let mut h = Harness::new();
    let r = h.create(0, "/e", CreateMode::Ephemeral);
    assert!(matches!(r, Err(Error::BadArguments(_))), "{r:?}");
}

#[test]
fn ops_from_an_unknown_session_are_session_expired() {
    let mut h = Harness::new();
    h.open(1);
    h.run(1, CommandKind::CloseSession);
    assert!(matches!(
        h.create(1, "/x", CreateMode::Persistent),
        Err(Error::SessionExpired(_))
    ));
    let (out, _) = h.run(5, CommandKind::Multi(vec![]));
    assert!(matches!(out.result, Err(Error::SessionExpired(_))));
    // Session 0 is the server itself and may write.
    assert!(h.create(0, "/x", CreateMode::Persistent).is_ok());
}

#[test]
fn closing_an_unknown_session_is_session_expired() {
    let mut h = Harness::new();
    let (out, events) = h.run(3, CommandKind::CloseSession);
    assert!(matches!(out.result, Err(Error::SessionExpired(_))));
    assert!(events.is_empty());
}
